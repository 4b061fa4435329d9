/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DNS over TLS client (RFC 7858) for one Protective DNS server, on the
 * libev loop: non-blocking TCP connect and TLS handshake, RFC 7766 §8
 * two-byte length framing, many queries pipelined on one connection and
 * matched by ID in any order, connection reuse with an idle timeout, one
 * reconnect when the server closes a connection under queries, TLS session
 * resumption. It implements the transport contract of dns/upstream.h.
 *
 * Nothing read from a connection is delivered before the server's identity
 * (CA + name, and SPKI pins when configured) was verified on it; a
 * connection whose identity fails completes every query with -EACCES.
 *
 * The process must ignore SIGPIPE (the daemon does): OpenSSL writes to the
 * socket with write(2).
 */
#ifndef ZTDNS_DOT_H
#define ZTDNS_DOT_H

#include <stddef.h>
#include <stdint.h>

#include "dns/upstream.h"
#include "policy/conf.h"

struct ev_loop;
struct dot_client;

/* Queries in flight (queued while connecting, or sent) per client; one more
 * is refused with -EAGAIN and counted in inflight_refused. */
#define DOT_MAX_INFLIGHT 256
/* Close a connection with no query in flight after this long. */
#define DOT_IDLE_TIMEOUT_MS 10000
/* Give up on one address when TCP connect + TLS handshake take longer. */
#define DOT_CONNECT_TIMEOUT_MS 5000
/* A SYN unanswered this long is replaced by a fresh one (the kernel's initial
 * RTO, without its exponential back-off), while queries wait, until
 * DOT_CONNECT_TIMEOUT_MS. */
#define DOT_SYN_RETRY_MS 1000

/*
 * A client for server srv (DoT: srv->tls_name must be set; srv->addrs[0 ..
 * naddrs) on srv->port, tried in order on connect failure), with an optional
 * client certificate and key (PEM files, both or neither). Everything needed
 * later is copied (srv's addresses, name, pins; the files are read now), so
 * srv and the strings may be freed after the call. No connection is opened
 * until the first query.
 *
 * Returns the client (free with dot_client_free) or NULL with *err (may be
 * NULL) set to -EINVAL (bad server, unreadable CA/cert/key: the reason is
 * logged) or -ENOMEM.
 */
struct dot_client *dot_client_new(struct ev_loop *loop, const struct conf_server *srv,
				  const char *client_cert, const char *client_key, int *err);

/*
 * Send query q (len bytes, a whole DNS message of 12 .. 65535 bytes; copied)
 * with a deadline of timeout_ms from now (0 is refused). The ID on the wire
 * is the client's own; the answer passed to cb carries q's original ID again.
 * cb runs exactly once, later, from the loop, per dns/upstream.h; the answer
 * it gets is borrowed for the duration of the call. cb may call
 * dot_client_query() and dot_client_free() on this client.
 *
 * Returns 0, -EINVAL (bad arguments), -EAGAIN (DOT_MAX_INFLIGHT reached),
 * -ECANCELED (client being freed) or -ENOMEM; no callback on failure.
 */
int dot_client_query(struct dot_client *c, const uint8_t *q, size_t len, uint32_t timeout_ms,
		     upstream_done_cb cb, void *arg);

/* Idle timeout for later connections, in ms (0: DOT_IDLE_TIMEOUT_MS). */
void dot_client_set_idle_timeout(struct dot_client *c, uint32_t ms);

/*
 * Counters (dns/upstream.h). answers, timeouts, identity_errors,
 * conn_errors and protocol_errors count callbacks by status; protocol_errors
 * also counts answers whose ID matched no query (ignored). connections
 * counts connections whose handshake and identity check succeeded, resumed
 * those among them that resumed a TLS session, syn_retries the fresh SYNs of
 * DOT_SYN_RETRY_MS, stale_closed the connections closed because a query
 * timed out with nothing received on them since it was written (its other
 * queries are resent once on a new connection).
 */
void dot_client_get_stats(const struct dot_client *c, struct upstream_transport_stats *st);

/*
 * Close the connection and cancel every query: each pending callback runs
 * once with -ECANCELED before this returns. NULL-safe; sets *c to NULL.
 * Safe to call from one of the client's own callbacks (the memory is then
 * released when that callback has returned).
 */
void dot_client_free(struct dot_client **c);

#endif
