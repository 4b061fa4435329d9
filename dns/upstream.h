/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Upstream: the Protective DNS servers as one service. It picks a server by
 * priority and health, sends a query over that server's encrypted transport
 * (dns/doh.c or dns/dot.c), fails over once to the next server on timeout or
 * error, and calls back exactly once. It sends plain DNS (dns/plain.c) only
 * to the servers of a forward zone with insecure_plain_dns, whose answers
 * come over a channel nothing authenticates (the status 0 clause below does
 * not hold for them).
 *
 * The transport contract shared by doh_client and dot_client:
 *   - *_query() copies the query; on success the callback runs exactly once,
 *     later, on the loop (never from inside *_query()); on failure *_query()
 *     returns -errno and there is no callback.
 *   - status 0: answer/len is the server's DNS message, borrowed for the
 *     duration of the callback, and came over a TLS channel whose server
 *     identity was verified (CA + name, and SPKI pins when configured).
 *   - status < 0: -ETIMEDOUT (no answer in time), -EACCES (server identity
 *     refused: chain, name or pin), -ECONNREFUSED / -ENETUNREACH / -ECONNRESET
 *     (connection), -EPROTO (TLS or HTTP protocol error, bad status or content
 *     type, bad framing), -EMSGSIZE (answer larger than allowed), -ECANCELED
 *     (client freed), -ENOMEM.
 *   - *_free() cancels everything in flight: each pending callback runs once
 *     with -ECANCELED before it returns.
 */
#ifndef ZTDNS_UPSTREAM_H
#define ZTDNS_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define UPSTREAM_MAX_ANSWER 65535

typedef void (*upstream_done_cb)(void *arg, int status, const uint8_t *answer, size_t len);

/* Counters every transport keeps (per server). */
struct upstream_transport_stats {
	uint64_t queries;	   /* accepted by *_query() */
	uint64_t answers;	   /* status 0 callbacks */
	uint64_t timeouts;	   /* -ETIMEDOUT */
	uint64_t identity_errors;  /* -EACCES: CA, name or pin mismatch */
	uint64_t conn_errors;	   /* connect/reset */
	uint64_t protocol_errors;  /* -EPROTO, -EMSGSIZE */
	uint64_t connections;	   /* TCP+TLS connections opened */
	uint64_t resumed;	   /* TLS sessions resumed */
	uint64_t inflight;	   /* queries waiting now */
	uint64_t inflight_refused; /* *_query() refused: in-flight bound reached */
	uint64_t syn_retries;	   /* DoT: fresh SYNs for an unanswered connect */
	uint64_t stale_closed;	   /* connections given up: nothing received in time */
};

/* ---- the service over all configured servers ---- */

#include <stdbool.h>

struct ev_loop;
struct conf;
struct upstream;

#define UPSTREAM_BACKOFF_MIN_MS 1000
#define UPSTREAM_BACKOFF_MAX_MS 30000
#define UPSTREAM_MIN_ATTEMPT_MS 100 /* no second attempt with less time left */

/* Called exactly once per upstream_query(): status as in the transport
 * contract; server is the configured name of the server that answered (or
 * failed last), a static string owned by the upstream. */
typedef void (*upstream_answer_cb)(void *arg, int status, const uint8_t *answer, size_t len,
				   const char *server);

struct upstream_server_stats {
	const char *name;
	const char *proto; /* "doh" / "dot" / "dns" */
	int priority;
	bool healthy;
	unsigned consecutive_failures;
	uint64_t selected;			/* attempts sent to this server */
	uint64_t failovers;			/* attempts that moved on from this server */
	uint64_t latency_ms_sum, latency_count; /* successful answers */
	uint64_t latency_buckets[8];		/* <=1, 2, 5, 10, 50, 100, 1000, more ms */
	struct upstream_transport_stats t;
};

/* Create a transport client per configured server (copied from c; c may be
 * freed afterwards), presenting client_cert/client_key (PEM paths, both or
 * neither; copied) to the servers. Returns NULL with *err = -errno. */
struct upstream *upstream_new(struct ev_loop *loop, const struct conf *c, const char *client_cert,
			      const char *client_key, int *err);

/* upstream_new() also sets up one service per c->fzones[i] (forward_zones,
 * same transports and client certificate), owned by the returned one. */

/* The service that answers qname (lowercase wire form, dns/wire.h): the
 * forward zone with the longest suffix of qname on a label boundary, else u
 * itself. Borrowed: lives as long as u. */
struct wire_name;
struct upstream *upstream_route(struct upstream *u, const struct wire_name *qname);

/* Free every client; queries in flight complete with -ECANCELED first.
 * NULL-safe; sets *u to NULL. */
void upstream_free(struct upstream **u);

/* Ask the servers (query copied). The whole exchange, failover included,
 * takes at most the configured upstream timeout. Returns 0 (cb will run
 * exactly once, later) or -errno (no callback). */
int upstream_query(struct upstream *u, const uint8_t *q, size_t len, upstream_answer_cb cb,
		   void *arg);

/* Every server out of back-off at once: called when a link, an address or
 * a route changed (core/netwatch.c), since the reason a server failed may be
 * gone; its next query goes to the preferred server again. */
void upstream_reset_backoff(struct upstream *u);

/* Has a server answered (a DNS message over a verified channel, whatever
 * its rcode) since upstream_new()? */
bool upstream_answered(const struct upstream *u);

#define UPSTREAM_READY_PROBE_MS 1000

/* Call cb(arg) once, from the loop, when a server answers for the first
 * time. Until then the upstream asks "invalid. SOA" itself (RFC 6761 §6.4:
 * every resolver answers it at once, NXDOMAIN, without recursion), one
 * query at a time, at most every UPSTREAM_READY_PROBE_MS, so that readiness
 * does not wait for an application's first lookup. cb may not free u.
 * Returns 0, or -EALREADY when a callback is already registered. */
int upstream_when_answered(struct upstream *u, void (*cb)(void *arg), void *arg);

unsigned upstream_count(const struct upstream *u);

/* The service of forward zone i (0 .. upstream_zone_count()), in the order
 * of conf->fzones; borrowed, lives as long as u. NULL past the end. */
unsigned upstream_zone_count(const struct upstream *u);
const struct upstream *upstream_zone(const struct upstream *u, unsigned i);

/* A transport of the caller's own in place of DoH/DoT, for the replay tests
 * (test/unit/test_stub.c, test_failover.c): recorded answers, no network.
 * query() keeps the transport contract above (server: the configured name;
 * the callback later, never from inside query(); -errno and no callback on
 * refusal); cancel() completes every query of that server still pending
 * with -ECANCELED (upstream_free() calls it); slots is the in-flight bound
 * upstream_slots() reports; now_ms (optional) is the monotonic clock the
 * back-off and deadlines read. ops and ctx must outlive the upstream. */
struct upstream_replay_ops {
	int (*query)(void *ctx, const char *server, const uint8_t *q, size_t len,
		     uint32_t timeout_ms, upstream_done_cb cb, void *cb_arg);
	void (*cancel)(void *ctx, const char *server);
	uint64_t (*now_ms)(void *ctx);
	unsigned slots;
};

/* As upstream_new(), every server (and forward zone server) on ops: no
 * client certificate, no socket. Returns NULL with *err = -errno (-EINVAL:
 * ops without query or cancel). */
struct upstream *upstream_new_replay(struct ev_loop *loop, const struct conf *c,
				     const struct upstream_replay_ops *ops, void *ctx, int *err);

/* How many queries the servers take at once: the smallest in-flight bound
 * of the configured servers' transports (DOH_MAX_INFLIGHT, DOT_MAX_INFLIGHT).
 * The stub shares these slots fairly among its clients. */
unsigned upstream_slots(const struct upstream *u);
void upstream_get_server_stats(const struct upstream *u, unsigned i,
			       struct upstream_server_stats *st);
#endif
