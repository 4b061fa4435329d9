/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DoH client (RFC 8484): DNS messages POSTed over HTTP/2 to one Protective
 * DNS server, with libcurl's multi_socket API driven by the caller's libev
 * loop. One client is one server (one struct conf_server). It implements the
 * transport contract of dns/upstream.h exactly: copied queries, exactly one
 * callback per accepted query, always later on the loop, -ECANCELED for
 * everything still in flight when the client is freed.
 *
 * Security properties a caller can rely on:
 *   - the server's host name is pinned to its configured bootstrap addresses
 *     (no plain DNS is ever needed or sent), and connections to any other
 *     address are refused before connect();
 *   - no proxy is ever used, whatever the environment says (http_proxy...);
 *   - the certificate is verified against ca_file (only that file; the system
 *     store when ca_file is NULL) and the URL host, which must equal
 *     tls_name; when pins are configured the leaf certificate's SPKI SHA-256
 *     must be one of them (libcurl checks the leaf only, not the chain);
 *   - HTTPS only, no redirects, answers bounded to UPSTREAM_MAX_ANSWER bytes,
 *     HTTP status 200 and Content-Type application/dns-message required.
 *
 * Connections are reused and multiplexed (HTTP/2, at most
 * DOH_MAX_CONNECTIONS per client); easy handles come from a pool of at most
 * DOH_MAX_INFLIGHT, created on demand and reused, so after warm-up a query
 * allocates nothing.
 */
#ifndef ZTDNS_DOH_H
#define ZTDNS_DOH_H

#include <stddef.h>
#include <stdint.h>

#include "dns/upstream.h"
#include "policy/conf.h"

struct ev_loop;
struct doh_client;

/* Queries in flight per client; doh_client_query() returns -EAGAIN past it
 * and counts inflight_refused. */
#define DOH_MAX_INFLIGHT 256
/* TCP+TLS connections per client at most (HTTP/2 normally needs one). */
#define DOH_MAX_CONNECTIONS 4
/* TCP_USER_TIMEOUT of each connection: bytes unacknowledged this long end it. */
#define DOH_USER_TIMEOUT_MS 2000

/*
 * Create a client for srv (srv->proto must be CONF_PROTO_DOH) on loop.
 * client_cert and client_key are PEM file paths for mTLS, both or neither.
 * Everything is checked here, so that a configuration mistake is reported at
 * start-up and not as a failed query: the URL must be https with a host
 * equal to srv->tls_name (case-insensitive) and a port equal to srv->port,
 * naddrs >= 1, ca_file readable, the client certificate and key loadable and
 * matching. Each refusal is logged with its reason.
 *
 * Nothing is borrowed: srv and the strings are copied. Returns the client
 * (free with doh_client_free) or NULL with *err set to -EINVAL (bad
 * configuration), -ENOMEM, or -EIO (libcurl could not be initialised). err
 * may be NULL.
 */
struct doh_client *doh_client_new(struct ev_loop *loop, const struct conf_server *srv,
				  const char *client_cert, const char *client_key, int *err);

/*
 * Send the DNS message q (len bytes, 12..65535; copied) and call cb(arg, ...)
 * once, later, from the loop, as dns/upstream.h describes. timeout_ms (> 0)
 * bounds the whole exchange, connection set-up included.
 *
 * Returns 0 (accepted), -EINVAL (bad arguments), -EAGAIN (DOH_MAX_INFLIGHT
 * queries already in flight), -ECANCELED (the client is being freed: called
 * from a callback run by doh_client_free), -ENOMEM or -EIO (libcurl refused
 * the transfer); no callback on failure. May be called from any callback of
 * this client.
 */
int doh_client_query(struct doh_client *c, const uint8_t *q, size_t len, uint32_t timeout_ms,
		     upstream_done_cb cb, void *arg);

/*
 * Cancel everything in flight (each pending callback runs once with
 * -ECANCELED before this returns), close the connections and free the
 * client. NULL-safe; sets *c to NULL. May be called from one of the client's
 * own callbacks: the memory is then released when that callback returns.
 */
void doh_client_free(struct doh_client **c);

/* Copy the client's counters into *st. "resumed" stays 0: libcurl does not
 * report TLS session resumption. "connections" sums CURLINFO_NUM_CONNECTS. */
void doh_client_get_stats(const struct doh_client *c, struct upstream_transport_stats *st);

/*
 * Judge one HTTP response (RFC 8484 §4.2): status must be 200 and the media
 * type of content_type application/dns-message (case-insensitive,
 * parameters allowed), else -EPROTO; len above max is -EMSGSIZE; a body
 * shorter than a DNS header (12 bytes) is -EPROTO. Pure function, reads
 * body[0 .. min(len, max)) at most (here only the length is judged) and
 * content_type up to its NUL; content_type and body may be NULL. Returns 0
 * when the body may be handed on as a DNS message.
 */
int doh_response_check(long http_status, const char *content_type, const uint8_t *body, size_t len,
		       size_t max);

#endif
