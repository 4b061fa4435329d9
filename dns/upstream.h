/*
 * Upstream: the Protective DNS servers as one service. It picks a server by
 * priority and health, sends a query over that server's encrypted transport
 * (dns/doh.c or dns/dot.c), fails over once to the next server on timeout or
 * error, and calls back exactly once. It never sends plain DNS anywhere.
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
	uint64_t queries;         /* accepted by *_query() */
	uint64_t answers;         /* status 0 callbacks */
	uint64_t timeouts;        /* -ETIMEDOUT */
	uint64_t identity_errors; /* -EACCES: CA, name or pin mismatch */
	uint64_t conn_errors;     /* connect/reset */
	uint64_t protocol_errors; /* -EPROTO, -EMSGSIZE */
	uint64_t connections;     /* TCP+TLS connections opened */
	uint64_t resumed;         /* TLS sessions resumed */
	uint64_t inflight;        /* queries waiting now */
	uint64_t inflight_refused; /* *_query() refused: in-flight bound reached */
};

#endif
