/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * doh_query: drive dns/doh.c against a real server, for the integration
 * tests and by hand.
 *
 *   doh_query --url URL --bootstrap IP [--bootstrap IP]... [--ca FILE]
 *             [--pin B64]... [--cert F --key F] [--tls-name NAME]
 *             [--count N] [--parallel K] [--timeout-ms T] [--cancel-after N]
 *             [--quiet] [--verbose] QNAME QTYPE
 *
 * Sends COUNT queries for QNAME/QTYPE, at most PARALLEL in flight; the next
 * query is sent from the callback of the previous one (the re-entrant path
 * the stub uses). Prints one line per answer ("answer rcode=... addrs=...")
 * or error ("error status=-N (text)"), then one summary line:
 *
 *   summary queries=N answers=N connections=N errors=N timeouts=N identity=N
 *           conn=N protocol=N canceled=N refused=N elapsed_ms=N
 *
 * --cancel-after N frees the client from inside the Nth answer's callback:
 * every query still in flight must then be called back once with -ECANCELED.
 * The tool also checks the transport contract itself: a callback from inside
 * doh_client_query(), or a second callback for one query, exits 8.
 *
 * Exit: 0 every query answered (or, with --cancel-after, answered or
 * cancelled), 1 client refused its configuration, 2 identity error (-EACCES),
 * 3 timeout, 4 connection error, 5 protocol or other error, 8 contract
 * violated, 9 watchdog, 64 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>
#include <openssl/evp.h>

#include "core/addr.h"
#include "core/log.h"
#include "dns/doh.h"
#include "dns/wire.h"

#define MAX_COUNT 1000000
#define EDNS_SIZE 1232

struct run;

struct slot {
	struct run *r;
	unsigned idx;
	uint16_t id;
	unsigned calls;
};

struct run {
	struct ev_loop *loop;
	struct doh_client *client;
	struct slot *slots;
	unsigned count, parallel, sent, finished;
	uint32_t timeout_ms;
	unsigned cancel_after; /* 0: never */
	bool quiet;
	bool in_query;
	bool violated;
	struct wire_name qname;
	uint16_t qtype;
	struct upstream_transport_stats st; /* taken before the client is freed */
	bool have_stats;
	unsigned answers, timeouts, identity, conn, protocol, canceled, refused;
	ev_timer watchdog;
	bool watchdog_fired;
};

int main(int argc, char **argv);

static void usage(void)
{
	fprintf(stderr,
		"usage: doh_query --url URL --bootstrap IP [--bootstrap IP]... [--ca FILE]\n"
		"                 [--pin B64]... [--cert F --key F] [--tls-name NAME]\n"
		"                 [--count N] [--parallel K] [--timeout-ms T] [--cancel-after N]\n"
		"                 [--quiet] [--verbose] QNAME QTYPE\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_qtype(const char *s, uint16_t *out)
{
	static const struct {
		const char *name;
		uint16_t type;
	} types[] = {{"A", WIRE_TYPE_A},	 {"AAAA", WIRE_TYPE_AAAA},
		     {"CNAME", WIRE_TYPE_CNAME}, {"HTTPS", WIRE_TYPE_HTTPS},
		     {"SVCB", WIRE_TYPE_SVCB},	 {"ANY", WIRE_TYPE_ANY}};
	unsigned long v;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(s, types[i].name) == 0) {
			*out = types[i].type;
			return 0;
		}
	}
	if (parse_uint(s, 65535, &v) < 0)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* RFC 7469 form: base64 of 32 bytes, 44 characters with one '='. */
static int parse_pin(const char *s, uint8_t out[32])
{
	unsigned char buf[48];

	if (strlen(s) != 44 || s[43] != '=' || s[42] == '=')
		return -EINVAL;
	if (EVP_DecodeBlock(buf, (const unsigned char *)s, 44) != 33)
		return -EINVAL;
	memcpy(out, buf, 32);
	return 0;
}

static const char *rcode_name(unsigned rcode)
{
	switch (rcode) {
	case WIRE_RCODE_NOERROR:
		return "NOERROR";
	case WIRE_RCODE_FORMERR:
		return "FORMERR";
	case WIRE_RCODE_SERVFAIL:
		return "SERVFAIL";
	case WIRE_RCODE_NXDOMAIN:
		return "NXDOMAIN";
	case WIRE_RCODE_REFUSED:
		return "REFUSED";
	default:
		return "OTHER";
	}
}

static void send_more(struct run *r);

static void print_answer(struct run *r, struct slot *s, const uint8_t *ans, size_t len)
{
	struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS];
	struct wire_found found[64];
	struct wire_chain chain;
	struct wire_msg m;
	enum wire_err e;
	char line[4096], a[ADDR_STRLEN];
	size_t off;

	e = wire_msg_parse(ans, len, rr, WIRE_DEFAULT_MAX_RECORDS, &m);
	if (e == WIRE_OK)
		e = wire_answer_matches(&m, s->id, &r->qname, r->qtype, WIRE_CLASS_IN);
	if (e == WIRE_OK)
		e = wire_chain_extract(&m, WIRE_DEFAULT_MAX_CHAIN, found, 64, &chain);
	if (e != WIRE_OK) {
		r->protocol++;
		printf("error status=bad-answer (%s)\n", wire_strerror(e));
		return;
	}
	r->answers++;
	if (r->quiet)
		return;
	off = (size_t)snprintf(line, sizeof(line), "answer rcode=%s addrs=", rcode_name(m.rcode));
	for (size_t i = 0; i < chain.nfound && off < sizeof(line); i++) {
		int n = snprintf(line + off, sizeof(line) - off, "%s%s", i ? "," : "",
				 addr_format(&found[i].addr, a, sizeof(a)));

		if (n < 0)
			break;
		off += (size_t)n;
	}
	printf("%s\n", line);
}

static void done_cb(void *arg, int status, const uint8_t *ans, size_t len)
{
	struct slot *s = arg;
	struct run *r = s->r;

	if (r->in_query) {
		fprintf(stderr, "contract violated: callback from inside doh_client_query()\n");
		r->violated = true;
	}
	if (++s->calls != 1) {
		fprintf(stderr, "contract violated: query %u called back %u times\n", s->idx,
			s->calls);
		r->violated = true;
		return;
	}
	r->finished++;
	switch (status) {
	case 0:
		print_answer(r, s, ans, len);
		break;
	case -ECANCELED:
		r->canceled++;
		break;
	default:
		if (status == -ETIMEDOUT)
			r->timeouts++;
		else if (status == -EACCES)
			r->identity++;
		else if (status == -ECONNREFUSED || status == -ECONNRESET || status == -ENETUNREACH)
			r->conn++;
		else
			r->protocol++;
		if (!r->quiet || r->finished <= 5)
			printf("error status=%d (%s)\n", status, strerror(-status));
		break;
	}
	if (status != -ECANCELED && status != 0 && (ans || len)) {
		fprintf(stderr, "contract violated: an answer with status %d\n", status);
		r->violated = true;
	}
	if (r->cancel_after && status == 0 && r->answers == r->cancel_after && r->client) {
		doh_client_get_stats(r->client, &r->st);
		r->have_stats = true;
		doh_client_free(&r->client); /* re-entrant free, from our own callback */
	}
	send_more(r);
}

static void send_more(struct run *r)
{
	while (r->client && r->sent < r->count && r->sent - r->finished < r->parallel) {
		struct slot *s = &r->slots[r->sent];
		uint8_t q[512];
		size_t qlen;
		int rc;

		s->r = r;
		s->idx = r->sent;
		s->id = (uint16_t)(random() & 0xffff);
		if (wire_build_query(s->id, &r->qname, r->qtype, true, EDNS_SIZE, q, sizeof(q),
				     &qlen) != WIRE_OK) {
			fprintf(stderr, "cannot build the query\n");
			exit(64);
		}
		r->in_query = true;
		rc = doh_client_query(r->client, q, qlen, r->timeout_ms, done_cb, s);
		r->in_query = false;
		r->sent++;
		if (rc < 0) {
			/* refused synchronously: no callback will come */
			r->finished++;
			r->refused++;
			if (rc != -EAGAIN)
				r->protocol++;
			printf("error status=%d (%s) at submit\n", rc, strerror(-rc));
		}
	}
	if (r->finished >= r->count || (!r->client && r->sent == r->finished))
		ev_break(r->loop, EVBREAK_ALL);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	(void)revents;
	r->watchdog_fired = true;
	ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"bootstrap", required_argument, NULL, 'b'},
	    {"ca", required_argument, NULL, 'c'},
	    {"pin", required_argument, NULL, 'p'},
	    {"cert", required_argument, NULL, 'C'},
	    {"key", required_argument, NULL, 'K'},
	    {"tls-name", required_argument, NULL, 'n'},
	    {"count", required_argument, NULL, 'N'},
	    {"parallel", required_argument, NULL, 'P'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"cancel-after", required_argument, NULL, 'x'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	struct conf_server srv = {0};
	struct run r = {0};
	char *cert = NULL, *key = NULL;
	unsigned long v;
	struct timespec t0, t1;
	int opt, err = 0, ret = 0, level = LOG_WARNING;
	long elapsed_ms;

	r.count = 1;
	r.parallel = 1;
	r.timeout_ms = 3000;
	srv.name = "test";
	srv.proto = CONF_PROTO_DOH;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			srv.url = optarg;
			break;
		case 'b':
			if (srv.naddrs >= CONF_MAX_SERVER_ADDRS ||
			    addr_parse(optarg, &srv.addrs[srv.naddrs]) < 0) {
				fprintf(stderr, "bad or too many --bootstrap: %s\n", optarg);
				return 64;
			}
			srv.naddrs++;
			break;
		case 'c':
			srv.ca_file = optarg;
			break;
		case 'p':
			if (srv.npins >= CONF_MAX_PINS ||
			    parse_pin(optarg, srv.pins[srv.npins]) < 0) {
				fprintf(stderr, "bad or too many --pin: %s\n", optarg);
				return 64;
			}
			srv.npins++;
			break;
		case 'C':
			cert = optarg;
			break;
		case 'K':
			key = optarg;
			break;
		case 'n':
			srv.tls_name = optarg;
			break;
		case 'N':
		case 'P':
		case 't':
		case 'x':
			if (parse_uint(optarg, MAX_COUNT, &v) < 0 || (v == 0 && opt != 'x')) {
				fprintf(stderr, "bad number: %s\n", optarg);
				return 64;
			}
			if (opt == 'N')
				r.count = (unsigned)v;
			else if (opt == 'P')
				r.parallel = (unsigned)v;
			else if (opt == 't')
				r.timeout_ms = (uint32_t)v;
			else
				r.cancel_after = (unsigned)v;
			break;
		case 'q':
			r.quiet = true;
			break;
		case 'v':
			level = LOG_DEBUG;
			break;
		default:
			usage();
			return 64;
		}
	}
	if (optind + 2 != argc || !srv.url || !srv.naddrs) {
		usage();
		return 64;
	}
	if (wire_name_from_str(argv[optind], &r.qname) != WIRE_OK ||
	    parse_qtype(argv[optind + 1], &r.qtype) < 0) {
		fprintf(stderr, "bad QNAME or QTYPE\n");
		return 64;
	}
	log_init("doh_query", level, false);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	r.slots = calloc(r.count, sizeof(*r.slots));
	r.loop = ev_default_loop(0);
	if (!r.slots || !r.loop) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	r.client = doh_client_new(r.loop, &srv, cert, key, &err);
	if (!r.client) {
		printf("client refused: %s\n", strerror(-err));
		ret = 1;
		goto out;
	}
	/* A backstop only: curl's per-query timeout must end every query. */
	ev_timer_init(&r.watchdog, on_watchdog,
		      r.timeout_ms / 1000.0 * ((double)r.count / r.parallel + 1) + 5.0, 0.);
	r.watchdog.data = &r;
	ev_timer_start(r.loop, &r.watchdog);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	send_more(&r);
	if (r.finished < r.count)
		ev_run(r.loop, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ev_timer_stop(r.loop, &r.watchdog);
	elapsed_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (!r.have_stats)
		doh_client_get_stats(r.client, &r.st);
	doh_client_free(&r.client);
	printf("summary queries=%llu answers=%u connections=%llu errors=%u timeouts=%u "
	       "identity=%u conn=%u protocol=%u canceled=%u refused=%u elapsed_ms=%ld\n",
	       (unsigned long long)r.st.queries, r.answers, (unsigned long long)r.st.connections,
	       r.timeouts + r.identity + r.conn + r.protocol, r.timeouts, r.identity, r.conn,
	       r.protocol, r.canceled, r.refused, elapsed_ms);
	if (r.sent != r.finished) {
		fprintf(stderr, "contract violated: %u queries sent, %u called back\n", r.sent,
			r.finished);
		r.violated = true;
	}
	if (r.violated)
		ret = 8;
	else if (r.watchdog_fired)
		ret = 9;
	else if (r.identity)
		ret = 2;
	else if (r.timeouts)
		ret = 3;
	else if (r.conn)
		ret = 4;
	else if (r.protocol || r.refused || (r.canceled && !r.cancel_after) ||
		 (!r.cancel_after && r.finished != r.count))
		ret = 5;
out:
	free(r.slots);
	if (r.loop)
		ev_loop_destroy(r.loop);
	/* doh.c initialised libcurl once for the process; balance it so that
	 * valgrind sees no global state left behind. */
	curl_global_cleanup();
	return ret;
}
