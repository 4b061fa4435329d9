/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dot_query: drive dns/dot.c against a real DoT server, for
 * test/integration/t_dot.sh.
 *
 *   dot_query --addr IP [--addr IP]... [--port P] --name TLSNAME [--ca FILE]
 *             [--pin B64]... [--cert F --key F] [--count N] [--parallel K]
 *             [--timeout-ms T] [--rounds R] [--gap-ms G] [--idle-ms I]
 *             [--free-after A] [--verbose]
 *             QNAME A|AAAA|MIX
 *
 * Each round sends N queries, at most K in flight, each with its own ID (MIX
 * alternates A and AAAA). Rounds are G ms apart (the connection may be
 * closed by the idle timeout I in between). Every answer is checked against
 * its own query (ID, question) and printed; --free-after A frees the client
 * from inside the A-th answer's callback (the rest are cancelled):
 *   answer ID TYPE rcode=R addrs=A,B
 *   error ID TYPE status=-E (strerror)
 * then "round R done" after each round, and at the end one summary line:
 *   summary queries=.. answers=.. mismatched=.. eacces=.. etimedout=..
 *   other_errors=.. cancelled=.. connections=.. resumed=.. identity_errors=..
 *   protocol_errors=.. conn_errors=.. timeouts=.. elapsed_ms=..
 * Exit: 0 every answer fine, 2 some -EACCES, 3 some -ETIMEDOUT, 4 other
 * errors or a mismatched answer, 1 usage/set-up error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "core/addr.h"
#include "core/log.h"
#include "dns/dot.h"
#include "dns/tls.h"
#include "dns/wire.h"
#include "policy/conf.h"

#define DQ_MAX_COUNT 100000

struct dq_query {
	struct dq_state *s;
	uint16_t id;
	uint16_t qtype;
};

struct dq_state {
	struct ev_loop *loop;
	struct dot_client *client;
	struct wire_name qname;
	const char *qtype_arg;
	unsigned count, parallel, rounds, round;
	unsigned sent, done, inflight;
	uint32_t timeout_ms, gap_ms;
	ev_timer gap;
	struct dq_query *queries;
	unsigned long answers, mismatched, eacces, etimedout, other, cancelled;
	unsigned long free_after; /* free the client inside this answer's callback */
	uint16_t next_id;
};

static void dq_fill(struct dq_state *s);

static uint16_t dq_qtype(const struct dq_state *s, unsigned i)
{
	if (!strcmp(s->qtype_arg, "AAAA"))
		return WIRE_TYPE_AAAA;
	if (!strcmp(s->qtype_arg, "MIX"))
		return i % 2 ? WIRE_TYPE_AAAA : WIRE_TYPE_A;
	return WIRE_TYPE_A;
}

static const char *dq_type_name(uint16_t t)
{
	return t == WIRE_TYPE_AAAA ? "AAAA" : "A";
}

static void dq_print_answer(struct dq_state *s, struct dq_query *q, const uint8_t *ans, size_t len)
{
	struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS];
	struct wire_found found[64];
	struct wire_chain chain;
	struct wire_msg m;
	char a[ADDR_STRLEN];
	enum wire_err e;

	e = wire_msg_parse(ans, len, rr, WIRE_DEFAULT_MAX_RECORDS, &m);
	if (e == WIRE_OK)
		e = wire_answer_matches(&m, q->id, &s->qname, q->qtype, WIRE_CLASS_IN);
	if (e == WIRE_OK)
		e = wire_chain_extract(&m, WIRE_DEFAULT_MAX_CHAIN, found, 64, &chain);
	if (e != WIRE_OK) {
		s->mismatched++;
		printf("mismatch %u %s: %s\n", q->id, dq_type_name(q->qtype), wire_strerror(e));
		return;
	}
	s->answers++;
	printf("answer %u %s rcode=%u addrs=", q->id, dq_type_name(q->qtype), m.rcode);
	for (size_t i = 0; i < chain.nfound; i++)
		printf("%s%s", i ? "," : "", addr_format(&found[i].addr, a, sizeof(a)));
	printf("\n");
}

static void dq_done(void *arg, int status, const uint8_t *ans, size_t len)
{
	struct dq_query *q = arg;
	struct dq_state *s = q->s;

	if (status == 0) {
		dq_print_answer(s, q, ans, len);
	} else {
		printf("error %u %s status=%d (%s)\n", q->id, dq_type_name(q->qtype), status,
		       strerror(-status));
		if (status == -EACCES)
			s->eacces++;
		else if (status == -ETIMEDOUT)
			s->etimedout++;
		else
			s->other++;
		s->cancelled += status == -ECANCELED;
	}
	s->inflight--;
	s->done++;
	if (s->free_after && s->answers == s->free_after && s->client) {
		/* re-entrant free: the rest are cancelled before this returns */
		dot_client_free(&s->client);
		printf("freed inflight=%u\n", s->inflight);
		ev_break(s->loop, EVBREAK_ALL);
		return;
	}
	if (s->client)
		dq_fill(s);
}

static void dq_gap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dq_state *s = (struct dq_state *)((char *)w - offsetof(struct dq_state, gap));

	(void)loop;
	(void)revents;
	dq_fill(s);
}

/* Keep up to parallel queries in flight; end rounds; stop the loop. */
static void dq_fill(struct dq_state *s)
{
	uint8_t buf[512];
	size_t len;

	while (s->sent < s->count && s->inflight < s->parallel) {
		struct dq_query *q = &s->queries[s->round * s->count + s->sent];
		int r;

		q->s = s;
		q->id = ++s->next_id;
		q->qtype = dq_qtype(s, s->sent);
		if (wire_build_query(q->id, &s->qname, q->qtype, true, 1232, buf, sizeof(buf),
				     &len) != WIRE_OK) {
			fprintf(stderr, "dot_query: cannot build query\n");
			exit(1);
		}
		r = dot_client_query(s->client, buf, len, s->timeout_ms, dq_done, q);
		s->sent++;
		if (r < 0) {
			printf("refused %u status=%d (%s)\n", q->id, r, strerror(-r));
			s->other++;
			s->done++;
			continue;
		}
		s->inflight++;
	}
	if (s->done < s->count)
		return;
	printf("round %u done\n", s->round + 1);
	fflush(stdout);
	s->round++;
	s->sent = s->done = 0;
	if (s->round >= s->rounds) {
		ev_break(s->loop, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&s->gap, s->gap_ms / 1000.0, 0.);
	ev_timer_start(s->loop, &s->gap);
}

static unsigned long dq_num(const char *opt, const char *v, unsigned long max)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > max) {
		fprintf(stderr, "dot_query: bad %s '%s'\n", opt, v);
		exit(1);
	}
	return n;
}

static void dq_usage(void)
{
	fprintf(
	    stderr,
	    "usage: dot_query --addr IP [--port P] --name TLSNAME [--ca FILE] "
	    "[--pin B64]... [--cert F --key F] [--count N] [--parallel K] "
	    "[--timeout-ms T] [--rounds R] [--gap-ms G] [--idle-ms I] [--free-after A] [--verbose] "
	    "QNAME A|AAAA|MIX\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"addr", required_argument, NULL, 'a'},
					     {"port", required_argument, NULL, 'p'},
					     {"name", required_argument, NULL, 'n'},
					     {"ca", required_argument, NULL, 'c'},
					     {"pin", required_argument, NULL, 'P'},
					     {"cert", required_argument, NULL, 'C'},
					     {"key", required_argument, NULL, 'K'},
					     {"count", required_argument, NULL, 'N'},
					     {"parallel", required_argument, NULL, 'j'},
					     {"timeout-ms", required_argument, NULL, 't'},
					     {"rounds", required_argument, NULL, 'r'},
					     {"gap-ms", required_argument, NULL, 'g'},
					     {"idle-ms", required_argument, NULL, 'i'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"free-after", required_argument, NULL, 'F'},
					     {NULL, 0, NULL, 0}};
	struct conf_server srv;
	struct upstream_transport_stats st;
	struct dq_state s;
	struct timespec t0, t1;
	const char *cert = NULL, *key = NULL;
	uint32_t idle_ms = 0;
	int opt, err, rc;

	memset(&srv, 0, sizeof(srv));
	memset(&s, 0, sizeof(s));
	srv.proto = CONF_PROTO_DOT;
	srv.port = 853;
	srv.name = "dot_query";
	s.count = 1;
	s.parallel = 1;
	s.rounds = 1;
	s.timeout_ms = 3000;
	s.gap_ms = 0;
	log_init("dot_query", LOG_INFO, false);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			if (srv.naddrs >= CONF_MAX_SERVER_ADDRS ||
			    addr_parse(optarg, &srv.addrs[srv.naddrs]) < 0) {
				fprintf(stderr, "dot_query: bad --addr '%s'\n", optarg);
				return 1;
			}
			srv.naddrs++;
			break;
		case 'p':
			srv.port = (uint16_t)dq_num("--port", optarg, 65535);
			break;
		case 'n':
			srv.tls_name = optarg;
			break;
		case 'c':
			srv.ca_file = optarg;
			break;
		case 'P':
			if (srv.npins >= CONF_MAX_PINS ||
			    conf_pin_parse(optarg, srv.pins[srv.npins])) {
				fprintf(stderr, "dot_query: bad --pin '%s'\n", optarg);
				return 1;
			}
			srv.npins++;
			break;
		case 'C':
			cert = optarg;
			break;
		case 'K':
			key = optarg;
			break;
		case 'N':
			s.count = (unsigned)dq_num("--count", optarg, DQ_MAX_COUNT);
			break;
		case 'j':
			s.parallel = (unsigned)dq_num("--parallel", optarg, DQ_MAX_COUNT);
			break;
		case 't':
			s.timeout_ms = (uint32_t)dq_num("--timeout-ms", optarg, 600000);
			break;
		case 'r':
			s.rounds = (unsigned)dq_num("--rounds", optarg, 100);
			break;
		case 'g':
			s.gap_ms = (uint32_t)dq_num("--gap-ms", optarg, 600000);
			break;
		case 'i':
			idle_ms = (uint32_t)dq_num("--idle-ms", optarg, 600000);
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'F':
			s.free_after = dq_num("--free-after", optarg, DQ_MAX_COUNT);
			break;
		default:
			dq_usage();
		}
	}
	if (argc - optind != 2 || !srv.naddrs || !srv.tls_name || !s.count || !s.parallel ||
	    !s.rounds || !s.timeout_ms)
		dq_usage();
	if (wire_name_from_str(argv[optind], &s.qname) != WIRE_OK) {
		fprintf(stderr, "dot_query: bad name '%s'\n", argv[optind]);
		return 1;
	}
	s.qtype_arg = argv[optind + 1];
	if (strcmp(s.qtype_arg, "A") && strcmp(s.qtype_arg, "AAAA") && strcmp(s.qtype_arg, "MIX"))
		dq_usage();
	if (s.count * s.rounds > DQ_MAX_COUNT)
		dq_usage();
	signal(SIGPIPE, SIG_IGN); /* dot.h: OpenSSL writes with write(2) */
	setvbuf(stdout, NULL, _IOLBF, 0);

	s.queries = calloc(s.count * s.rounds, sizeof(*s.queries));
	s.loop = ev_default_loop(0);
	if (!s.queries || !s.loop)
		return 1;
	s.client = dot_client_new(s.loop, &srv, cert, key, &err);
	if (!s.client) {
		fprintf(stderr, "dot_query: dot_client_new: %s\n", strerror(-err));
		free(s.queries);
		return 1;
	}
	dot_client_set_idle_timeout(s.client, idle_ms);
	ev_timer_init(&s.gap, dq_gap_cb, 0., 0.);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	dq_fill(&s);
	ev_run(s.loop, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	memset(&st, 0, sizeof(st));
	dot_client_get_stats(s.client, &st); /* zeros after --free-after */
	printf("summary queries=%llu answers=%lu mismatched=%lu eacces=%lu etimedout=%lu "
	       "other_errors=%lu cancelled=%lu connections=%llu resumed=%llu identity_errors=%llu "
	       "protocol_errors=%llu conn_errors=%llu timeouts=%llu inflight_refused=%llu "
	       "elapsed_ms=%lld\n",
	       (unsigned long long)st.queries, s.answers, s.mismatched, s.eacces, s.etimedout,
	       s.other, s.cancelled, (unsigned long long)st.connections,
	       (unsigned long long)st.resumed, (unsigned long long)st.identity_errors,
	       (unsigned long long)st.protocol_errors, (unsigned long long)st.conn_errors,
	       (unsigned long long)st.timeouts, (unsigned long long)st.inflight_refused,
	       (long long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	dot_client_free(&s.client);
	ev_timer_stop(s.loop, &s.gap);
	ev_loop_destroy(s.loop);
	free(s.queries);

	if (s.eacces)
		rc = 2;
	else if (s.etimedout)
		rc = 3;
	else if (s.other || s.mismatched)
		rc = 4;
	else
		rc = 0;
	return rc;
}
