/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "core/allowset.h"
#include "core/control.h"
#include "core/crossing.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/nfqueue.h"
#include "core/util.h"
#include "dns/cache.h"
#include "dns/stub.h"
#include "dns/upstream.h"

struct metrics_client {
	struct metrics *m;
	int fd;
	ev_io rio, wio;
	ev_timer timer;
	size_t inlen;
	char in[METRICS_REQ_MAX];
	char *out;
	size_t outlen, outoff;
};

struct metrics {
	struct ev_loop *loop;
	struct daemon *d;
	int fd;
	ev_io io;
	ev_timer pause; /* accept stopped after EMFILE/ENFILE */
	uint64_t accept_paused;
	char unix_path[108];
	struct metrics_client *clients[METRICS_MAX_CLIENTS];
};

/* ---- exposition ---- */

static void counter(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
}

static void gauge(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* Label values are our own names or configured server names; escape anyway
 * (text format: backslash, double quote, newline). */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 2 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			buf[o++] = '\\';
			buf[o++] = *s == '\n' ? 'n' : *s;
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void upstream_metrics(FILE *f, const struct upstream *up, const char *identity)
{
	static const unsigned edges[7] = {1, 2, 5, 10, 50, 100, 1000};

	for (unsigned i = 0; up && i < upstream_count(up); i++) {
		struct upstream_server_stats ss;
		char n[160], lbl[256];
		uint64_t cum = 0;

		upstream_get_server_stats(up, i, &ss);
		snprintf(lbl, sizeof(lbl), "server=\"%s\",protocol=\"%s\",identity=\"%s\"",
			 esc(ss.name, n, sizeof(n)), ss.proto, identity);
		fprintf(f, "ztdns_upstream_queries_total{%s} %llu\n", lbl,
			(unsigned long long)ss.t.queries);
		fprintf(f, "ztdns_upstream_answers_total{%s} %llu\n", lbl,
			(unsigned long long)ss.t.answers);
		fprintf(f, "ztdns_upstream_failures_total{%s,reason=\"timeout\"} %llu\n", lbl,
			(unsigned long long)ss.t.timeouts);
		fprintf(f, "ztdns_upstream_failures_total{%s,reason=\"identity\"} %llu\n", lbl,
			(unsigned long long)ss.t.identity_errors);
		fprintf(f, "ztdns_upstream_failures_total{%s,reason=\"connect\"} %llu\n", lbl,
			(unsigned long long)ss.t.conn_errors);
		fprintf(f, "ztdns_upstream_failures_total{%s,reason=\"protocol\"} %llu\n", lbl,
			(unsigned long long)ss.t.protocol_errors);
		fprintf(f, "ztdns_upstream_connections_total{%s} %llu\n", lbl,
			(unsigned long long)ss.t.connections);
		fprintf(f, "ztdns_upstream_tls_resumed_total{%s} %llu\n", lbl,
			(unsigned long long)ss.t.resumed);
		fprintf(f, "ztdns_upstream_healthy{%s} %d\n", lbl, ss.healthy ? 1 : 0);
		for (unsigned b = 0; b < 7; b++) {
			cum += ss.latency_buckets[b];
			fprintf(f, "ztdns_upstream_latency_ms_bucket{%s,le=\"%u\"} %llu\n", lbl,
				edges[b], (unsigned long long)cum);
		}
		cum += ss.latency_buckets[7];
		fprintf(f, "ztdns_upstream_latency_ms_bucket{%s,le=\"+Inf\"} %llu\n", lbl,
			(unsigned long long)cum);
		fprintf(f, "ztdns_upstream_latency_ms_sum{%s} %llu\n", lbl,
			(unsigned long long)ss.latency_ms_sum);
		fprintf(f, "ztdns_upstream_latency_ms_count{%s} %llu\n", lbl,
			(unsigned long long)ss.latency_count);
	}
}

void metrics_render(struct daemon *d, FILE *f)
{
	static const char *const rcodes[6] = {"NOERROR",  "FORMERR", "SERVFAIL",
					      "NXDOMAIN", "NOTIMP",  "REFUSED"};
	struct allowset_stats as;
	struct stub_stats ss = {0};

	counter(f, "ztdns_verdicts_total", "Verdicts given, by reason.");
	for (unsigned r = 0; r < VERDICT_REASON_COUNT; r++)
		fprintf(f, "ztdns_verdicts_total{reason=\"%s\",verdict=\"%s\"} %llu\n",
			verdict_reason_name(r), verdict_reason_accepts(r) ? "accept" : "deny",
			(unsigned long long)d->cnt.verdicts[r]);
	counter(f, "ztdns_would_deny_total", "Audit mode: denials turned into accepts.");
	fprintf(f, "ztdns_would_deny_total %llu\n", (unsigned long long)d->cnt.would_deny);
	gauge(f, "ztdns_break_glass_open", "1 while an operator's break-glass is open.");
	fprintf(f, "ztdns_break_glass_open %d\n",
		breakglass_is_open(&d->bg, allowset_now_ms()) ? 1 : 0);
	counter(f, "ztdns_break_glass_opened_total", "Break-glass openings by an operator.");
	fprintf(f, "ztdns_break_glass_opened_total %llu\n",
		(unsigned long long)d->cnt.break_glass_opened);
	counter(f, "ztdns_break_glass_flows_total",
		"Flows accepted only because the break-glass was open.");
	fprintf(f, "ztdns_break_glass_flows_total %llu\n",
		(unsigned long long)d->cnt.break_glass_flows);
	counter(f, "ztdns_packet_errors_total", "Packets whose headers could not be parsed.");
	for (unsigned e = 1; e < ARRAY_SIZE(d->cnt.packet_errors); e++)
		fprintf(f, "ztdns_packet_errors_total{error=\"%s\"} %llu\n", packet_strerror(e),
			(unsigned long long)d->cnt.packet_errors[e]);

	counter(f, "ztdns_queue_packets_total", "Packets read from NFQUEUE, by outcome.");
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct nfqueue_stats st;
		struct nfqueue_kernel_stats ks;
		unsigned q = nfqueue_num(d->queues[i]);

		nfqueue_get_stats(d->queues[i], &st);
		fprintf(f, "ztdns_queue_packets_total{queue=\"%u\",outcome=\"accepted\"} %llu\n", q,
			(unsigned long long)st.accepted);
		fprintf(f, "ztdns_queue_packets_total{queue=\"%u\",outcome=\"dropped\"} %llu\n", q,
			(unsigned long long)st.dropped);
		fprintf(f, "ztdns_queue_packets_total{queue=\"%u\",outcome=\"rejected\"} %llu\n", q,
			(unsigned long long)st.rejected);
		fprintf(f, "ztdns_queue_enobufs_total{queue=\"%u\"} %llu\n", q,
			(unsigned long long)st.enobufs);
		fprintf(f, "ztdns_queue_send_errors_total{queue=\"%u\"} %llu\n", q,
			(unsigned long long)st.send_errors);
		if (nfqueue_kernel_stats((uint16_t)q, &ks) == 0) {
			fprintf(f, "ztdns_queue_kernel_overflow_total{queue=\"%u\"} %u\n", q,
				ks.queue_dropped);
			fprintf(f, "ztdns_queue_kernel_socket_drops_total{queue=\"%u\"} %u\n", q,
				ks.user_dropped);
			fprintf(f, "ztdns_queue_waiting{queue=\"%u\"} %u\n", q, ks.queue_total);
		}
	}

	allowset_get_stats(d->allowset, &as);
	gauge(f, "ztdns_allowset_entries", "Allowances in the table (expired ones included).");
	fprintf(f, "ztdns_allowset_entries %llu\n", (unsigned long long)as.entries);
	gauge(f, "ztdns_allowset_capacity", "The bound on allowances (limits.learned_max).");
	fprintf(f, "ztdns_allowset_capacity %zu\n", allowset_capacity(d->allowset));
	counter(f, "ztdns_allowset_full_total", "Allowances refused: the table was full.");
	fprintf(f, "ztdns_allowset_full_total %llu\n", (unsigned long long)as.full);
	counter(f, "ztdns_allowset_evictions_total", "Expired allowances removed to make room.");
	fprintf(f, "ztdns_allowset_evictions_total %llu\n", (unsigned long long)as.evicted);
	counter(f, "ztdns_allowset_swept_total", "Expired allowances removed by the sweep.");
	fprintf(f, "ztdns_allowset_swept_total %llu\n", (unsigned long long)as.swept);
	counter(f, "ztdns_allowset_quota_total",
		"Allowances refused: the client's limits.learned_per_client was reached.");
	fprintf(f, "ztdns_allowset_quota_total %llu\n", (unsigned long long)as.quota);
	gauge(f, "ztdns_allowset_owners", "Clients (LAN addresses, local uids) with allowances.");
	fprintf(f, "ztdns_allowset_owners %zu\n", allowset_owner_count(d->allowset));

	if (d->crossing) {
		struct crossing_stats cs;

		crossing_get_stats(d->crossing, allowset_now_ms(), &cs);
		counter(f, "ztdns_crossing_recorded_total",
			"Gateway: denied outbound SYNs remembered against crossing SYNs.");
		fprintf(f, "ztdns_crossing_recorded_total %llu\n", (unsigned long long)cs.recorded);
		counter(f, "ztdns_crossing_evicted_total",
			"Gateway: live records pushed out of a full set (the set fails closed).");
		fprintf(f, "ztdns_crossing_evicted_total %llu\n", (unsigned long long)cs.evicted);
		gauge(f, "ztdns_crossing_sets_failing_closed",
		      "Gateway: sets refusing every WAN SYN toward their client ports now.");
		fprintf(f, "ztdns_crossing_sets_failing_closed %llu\n",
			(unsigned long long)cs.sets_failing_closed);
	}

	if (d->stub)
		stub_get_stats(d->stub, &ss);
	counter(f, "ztdns_dns_queries_total", "Queries received by the stub.");
	fprintf(f, "ztdns_dns_queries_total{transport=\"udp\"} %llu\n",
		(unsigned long long)ss.udp_queries);
	fprintf(f, "ztdns_dns_queries_total{transport=\"tcp\"} %llu\n",
		(unsigned long long)ss.tcp_queries);
	counter(f, "ztdns_dns_answers_total", "Answers sent by the stub, by RCODE.");
	for (unsigned i = 0; i < 6; i++)
		fprintf(f, "ztdns_dns_answers_total{rcode=\"%s\"} %llu\n", rcodes[i],
			(unsigned long long)ss.rcodes[i]);
	fprintf(f, "ztdns_dns_answers_total{rcode=\"other\"} %llu\n",
		(unsigned long long)ss.rcode_other);
	counter(f, "ztdns_dns_dropped_total", "Queries not answered at all (unusable).");
	fprintf(f, "ztdns_dns_dropped_total %llu\n", (unsigned long long)ss.dropped);
	counter(f, "ztdns_dns_learned_total", "Addresses put in the allowset from answers.");
	fprintf(f, "ztdns_dns_learned_total %llu\n", (unsigned long long)ss.learned);
	counter(f, "ztdns_dns_refused_total", "Queries refused at a bound, by bound.");
	fprintf(f, "ztdns_dns_refused_total{bound=\"pending_queries\"} %llu\n",
		(unsigned long long)ss.pending_full);
	fprintf(f, "ztdns_dns_refused_total{bound=\"pending_per_client\"} %llu\n",
		(unsigned long long)ss.client_full);
	fprintf(f, "ztdns_dns_refused_total{bound=\"tcp_connections\"} %llu\n",
		(unsigned long long)ss.tcp_refused);
	fprintf(f, "ztdns_dns_refused_total{bound=\"client_subnet\"} %llu\n",
		(unsigned long long)ss.scope_refused);
	fprintf(f, "ztdns_dns_refused_total{bound=\"client_neighbour\"} %llu\n",
		(unsigned long long)ss.scope_no_neigh);
	fprintf(f, "ztdns_dns_refused_total{bound=\"tcp_per_client\"} %llu\n",
		(unsigned long long)ss.tcp_client_full);
	fprintf(f, "ztdns_dns_refused_total{bound=\"upstream_fair_share\"} %llu\n",
		(unsigned long long)ss.fair_refused);
	counter(f, "ztdns_dns_udp_buffer_drops_total",
		"Queries the kernel dropped: a stub UDP socket's receive buffer was full.");
	fprintf(f, "ztdns_dns_udp_buffer_drops_total %llu\n",
		(unsigned long long)ss.udp_rcvbuf_drops);
	counter(f, "ztdns_dns_not_learned_total",
		"Answer addresses not put in the allowset, by why.");
	fprintf(f, "ztdns_dns_not_learned_total{why=\"learned_max\"} %llu\n",
		(unsigned long long)ss.learn_refused);
	fprintf(f, "ztdns_dns_not_learned_total{why=\"learned_per_client\"} %llu\n",
		(unsigned long long)ss.learn_quota);
	fprintf(f, "ztdns_dns_not_learned_total{why=\"special\"} %llu\n",
		(unsigned long long)ss.learn_special);
	counter(f, "ztdns_dns_unknown_owner_total",
		"Local queries or connections whose socket's uid was not found.");
	fprintf(f, "ztdns_dns_unknown_owner_total %llu\n", (unsigned long long)ss.owner_unknown);
	gauge(f, "ztdns_dns_tcp_connections", "Stub TCP connections open now.");
	fprintf(f, "ztdns_dns_tcp_connections %llu\n", (unsigned long long)ss.tcp_open);
	counter(f, "ztdns_dns_tcp_idle_closed_total", "Stub TCP connections closed idle.");
	fprintf(f, "ztdns_dns_tcp_idle_closed_total %llu\n",
		(unsigned long long)ss.tcp_idle_closed);
	counter(f, "ztdns_accept_paused_total",
		"Listeners paused because accept() ran out of descriptors, by listener.");
	fprintf(f, "ztdns_accept_paused_total{listener=\"stub\"} %llu\n",
		(unsigned long long)ss.accept_paused);
	if (d->control) {
		struct control_stats cs;

		control_get_stats(d->control, &cs);
		fprintf(f, "ztdns_accept_paused_total{listener=\"control\"} %llu\n",
			(unsigned long long)cs.accept_paused);
	}
	fprintf(f, "ztdns_accept_paused_total{listener=\"metrics\"} %llu\n",
		(unsigned long long)metrics_accept_paused(d->metrics));
	counter(f, "ztdns_dns_bad_answers_total", "Upstream answers refused, by why.");
	fprintf(f, "ztdns_dns_bad_answers_total{why=\"mismatch\"} %llu\n",
		(unsigned long long)ss.bad_answers);
	fprintf(f, "ztdns_dns_bad_answers_total{why=\"chain\"} %llu\n",
		(unsigned long long)ss.chain_errors);
	{
		struct stub_counter why[STUB_REMOVED_WHYS];
		unsigned n = stub_removed_counters(&ss, why);

		counter(f, "ztdns_dns_answer_records_removed_total",
			"Answer records removed because their address was not learned, by why.");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "ztdns_dns_answer_records_removed_total{why=\"%s\"} %llu\n",
				why[i].name, (unsigned long long)why[i].value);
	}
	if (d->stub && stub_cache(d->stub)) {
		struct cache_counter cn[CACHE_COUNTERS];
		struct cache_stats cst;
		unsigned n;

		cache_get_stats(stub_cache(d->stub), &cst);
		n = cache_counters(&cst, cn);
		for (unsigned i = 0; i < n; i++) {
			char mname[96];

			snprintf(mname, sizeof(mname), "ztdns_cache_%s%s", cn[i].name,
				 cn[i].gauge ? "" : "_total");
			if (cn[i].gauge)
				gauge(f, mname, "Answer cache, now (ztdnsctl cache stats).");
			else
				counter(f, mname, "Answer cache (ztdnsctl cache stats).");
			fprintf(f, "%s %llu\n", mname, (unsigned long long)cn[i].value);
		}
	}
	counter(f, "ztdns_dns_answers_filtered_total", "Answers sent with records removed.");
	fprintf(f, "ztdns_dns_answers_filtered_total %llu\n",
		(unsigned long long)ss.answers_filtered);
	counter(f, "ztdns_dns_answers_emptied_total",
		"Answers turned into SERVFAIL: nothing asked was left after removal.");
	fprintf(f, "ztdns_dns_answers_emptied_total %llu\n",
		(unsigned long long)ss.answers_emptied);
	counter(f, "ztdns_dns_never_learn_total", "Never-learn addresses in answers, by class.");
	for (unsigned c = 1; c < ADDR_CLASS__COUNT; c++)
		fprintf(f, "ztdns_dns_never_learn_total{class=\"%s\"} %llu\n", addr_class_name(c),
			(unsigned long long)ss.never_learn[c]);
	gauge(f, "ztdns_dns_pending", "Queries waiting for an upstream answer.");
	fprintf(f, "ztdns_dns_pending %llu\n", (unsigned long long)ss.pending);

	counter(f, "ztdns_upstream_queries_total", "Queries sent to each Protective DNS server.");
	counter(f, "ztdns_upstream_answers_total", "Answers from each server.");
	counter(f, "ztdns_upstream_failures_total", "Failed exchanges, by reason (TLS included).");
	counter(f, "ztdns_upstream_connections_total", "TLS connections opened.");
	counter(f, "ztdns_upstream_tls_resumed_total", "TLS sessions resumed.");
	gauge(f, "ztdns_upstream_healthy", "1 if the server is not in back-off.");
	fprintf(f, "# HELP ztdns_upstream_latency_ms Answer latency per server.\n"
		   "# TYPE ztdns_upstream_latency_ms histogram\n");
	upstream_metrics(f, d->upstream, "default");
	for (unsigned i = 0; i < d->nid_upstream && i < d->conf->nidentities; i++) {
		char pb[PREFIX_STRLEN];

		upstream_metrics(
		    f, d->id_upstream[i],
		    addr_prefix_format(&d->conf->identities[i].subnet, pb, sizeof(pb)));
	}

	counter(f, "ztdns_reloads_total", "Configuration reloads, by result.");
	fprintf(f, "ztdns_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)d->cnt.reloads);
	fprintf(f, "ztdns_reloads_total{result=\"failed\"} %llu\n",
		(unsigned long long)d->cnt.reload_failures);
	counter(f, "ztdns_journal_saves_total", "Warm-restart journal writes, by result.");
	fprintf(f, "ztdns_journal_saves_total{result=\"ok\"} %llu\n",
		(unsigned long long)(d->jst.saves - d->jst.save_errors));
	fprintf(f, "ztdns_journal_saves_total{result=\"failed\"} %llu\n",
		(unsigned long long)d->jst.save_errors);
}

/* ---- the HTTP side ---- */

static void client_close(struct metrics_client *cl)
{
	struct metrics *m = cl->m;

	ev_io_stop(m->loop, &cl->rio);
	ev_io_stop(m->loop, &cl->wio);
	ev_timer_stop(m->loop, &cl->timer);
	close(cl->fd);
	for (unsigned i = 0; i < METRICS_MAX_CLIENTS; i++)
		if (m->clients[i] == cl)
			m->clients[i] = NULL;
	free(cl->out);
	free(cl);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics_client *cl = container_of(w, struct metrics_client, wio);

	(void)loop;
	(void)revents;
	while (cl->outoff < cl->outlen) {
		ssize_t n = send(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			break;
		}
		cl->outoff += (size_t)n;
	}
	client_close(cl);
}

static void respond(struct metrics_client *cl, const char *status, const char *ctype,
		    const char *body, size_t blen)
{
	char *resp = NULL;
	size_t rlen = 0;
	FILE *f = open_memstream(&resp, &rlen);

	if (!f) {
		client_close(cl);
		return;
	}
	fprintf(
	    f,
	    "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
	    status, ctype, blen);
	fwrite(body, 1, blen, f);
	fclose(f);
	cl->out = resp;
	cl->outlen = rlen;
	ev_io_stop(cl->m->loop, &cl->rio);
	ev_io_start(cl->m->loop, &cl->wio);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics_client *cl = container_of(w, struct metrics_client, rio);
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(cl->fd, cl->in + cl->inlen, sizeof(cl->in) - 1 - cl->inlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(cl);
		return;
	}
	cl->inlen += (size_t)n;
	cl->in[cl->inlen] = '\0';
	if (!strstr(cl->in, "\r\n\r\n") && !strstr(cl->in, "\n\n")) {
		if (cl->inlen >= sizeof(cl->in) - 1)
			respond(cl, "431 Request Header Fields Too Large", "text/plain", "", 0);
		return;
	}
	if (strncmp(cl->in, "GET /metrics ", 13) == 0 ||
	    strncmp(cl->in, "GET /metrics?", 13) == 0) {
		char *body = NULL;
		size_t blen = 0;
		FILE *f = open_memstream(&body, &blen);

		if (!f) {
			client_close(cl);
			return;
		}
		metrics_render(cl->m->d, f);
		fclose(f);
		respond(cl, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, blen);
		free(body);
	} else {
		respond(cl, "404 Not Found", "text/plain", "GET /metrics\n", 13);
	}
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	client_close(container_of(w, struct metrics_client, timer));
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct metrics *m = container_of(w, struct metrics, pause);

	(void)revents;
	ev_io_start(loop, &m->io);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics *m = container_of(w, struct metrics, io);
	struct metrics_client *cl;
	unsigned slot;
	int fd;

	(void)revents;
	fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (UTIL_ACCEPT_MUST_PAUSE(errno)) {
			m->accept_paused++;
			log_ratelimited(LOG_WARNING, "metrics: accept: %s; pausing %.1f s",
					strerror(errno), UTIL_ACCEPT_PAUSE_S);
			ev_io_stop(loop, &m->io);
			ev_timer_set(&m->pause, UTIL_ACCEPT_PAUSE_S, 0.);
			ev_timer_start(loop, &m->pause);
		}
		return;
	}
	for (slot = 0; slot < METRICS_MAX_CLIENTS && m->clients[slot]; slot++)
		;
	cl = slot < METRICS_MAX_CLIENTS ? calloc(1, sizeof(*cl)) : NULL;
	if (!cl) {
		close(fd);
		return;
	}
	cl->m = m;
	cl->fd = fd;
	m->clients[slot] = cl;
	ev_io_init(&cl->rio, on_read, fd, EV_READ);
	ev_io_init(&cl->wio, on_write, fd, EV_WRITE);
	ev_timer_init(&cl->timer, on_timeout, METRICS_TIMEOUT_S, 0.);
	ev_io_start(loop, &cl->rio);
	ev_timer_start(loop, &cl->timer);
}

uint64_t metrics_accept_paused(const struct metrics *m)
{
	return m ? m->accept_paused : 0;
}

struct metrics *metrics_new(struct ev_loop *loop, const char *spec, struct daemon *d, int *err)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int one = 1, rc;

	if (!m) {
		*err = -ENOMEM;
		return NULL;
	}
	m->fd = -1;
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
		mode_t old;

		if (strlen(spec + 5) >= sizeof(sun->sun_path)) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, spec + 5, strlen(spec + 5));
		snprintf(m->unix_path, sizeof(m->unix_path), "%s", spec + 5);
		sl = sizeof(*sun);
		m->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (m->fd < 0) {
			rc = -errno;
			goto fail;
		}
		unlink(m->unix_path);
		old = umask(0117); /* 0660: a scraper in our group may read it */
		rc = bind(m->fd, (struct sockaddr *)&ss, sl);
		umask(old);
	} else {
		char host[ADDR_STRLEN + 2];
		const char *colon = strrchr(spec, ':');
		struct addr a;
		size_t hl;

		if (!colon) {
			rc = -EINVAL;
			goto fail;
		}
		hl = (size_t)(colon - spec);
		if (spec[0] == '[' && hl >= 2) {
			memcpy(host, spec + 1, hl - 2);
			host[hl - 2] = '\0';
		} else if (hl < sizeof(host)) {
			memcpy(host, spec, hl);
			host[hl] = '\0';
		} else {
			rc = -EINVAL;
			goto fail;
		}
		if (addr_parse(host, &a) < 0) {
			rc = -EINVAL;
			goto fail;
		}
		if (a.family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
			memcpy(&sin->sin_addr, a.b, 4);
			sl = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
			memcpy(&sin6->sin6_addr, a.b, 16);
			sl = sizeof(*sin6);
		}
		m->fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (m->fd < 0) {
			rc = -errno;
			goto fail;
		}
		setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		rc = bind(m->fd, (struct sockaddr *)&ss, sl);
	}
	if (rc < 0 || listen(m->fd, 16) < 0) {
		rc = -errno;
		goto fail;
	}
	m->loop = loop;
	m->d = d;
	ev_io_init(&m->io, on_accept, m->fd, EV_READ);
	ev_init(&m->pause, on_accept_pause);
	ev_io_start(loop, &m->io);
	return m;
fail:
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	*err = rc;
	return NULL;
}

void metrics_free(struct metrics **mp)
{
	struct metrics *m;

	if (!mp || !*mp)
		return;
	m = *mp;
	for (unsigned i = 0; i < METRICS_MAX_CLIENTS; i++)
		if (m->clients[i])
			client_close(m->clients[i]);
	ev_io_stop(m->loop, &m->io);
	ev_timer_stop(m->loop, &m->pause);
	close(m->fd);
	if (m->unix_path[0])
		unlink(m->unix_path);
	free(m);
	*mp = NULL;
}
