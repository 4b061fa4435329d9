/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Plain DNS client (RFC 1035 over UDP, RFC 7766 TCP when an answer is
 * truncated) for one forward-zone server that the operator chose to trust
 * without encryption (forward_zones[].insecure_plain_dns): an in-cluster or
 * on-link resolver such as kube-dns. It implements the transport contract of
 * dns/upstream.h, except that nothing authenticates the channel: an on-path
 * attacker can forge answers, and what they answer becomes allowed.
 *
 * What it checks instead: each query goes out on a fresh connected socket
 * (the kernel picks a random source port and delivers only datagrams from the
 * server's address and port), with a random ID; an answer is taken only when
 * its ID, QR bit and question (name without regard to case, type, class)
 * match the query. Anything else is counted (protocol_errors) and ignored.
 * Every socket carries PLAIN_SOCKET_MARK (SO_MARK, which needs CAP_NET_ADMIN,
 * so no unprivileged process can set it): the ruleset lets only marked
 * packets reach these servers and leaves them out of the intercept_dns
 * redirect (core/ruleset.c).
 */
#ifndef ZTDNS_PLAIN_H
#define ZTDNS_PLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "dns/upstream.h"
#include "policy/conf.h"

struct ev_loop;
struct plain_client;

/* Queries in flight per client; one more is refused with -EAGAIN and
 * counted in inflight_refused. Each holds one socket. */
#define PLAIN_MAX_INFLIGHT 256
/* The packet mark of the client's sockets (core/ruleset.c matches it). */
#define PLAIN_SOCKET_MARK 0x5a7d0053u

/* A client for srv (srv->proto CONF_PROTO_DNS; srv->addrs[0 .. naddrs) on
 * srv->port, the next address tried when a socket cannot be set up or
 * connected). mark: SO_MARK of its sockets, 0 for none (the unit tests,
 * which run without CAP_NET_ADMIN). Copies what it needs. Returns NULL with
 * *err (may be NULL) = -EINVAL or -ENOMEM. */
struct plain_client *plain_client_new(struct ev_loop *loop, const struct conf_server *srv,
				      uint32_t mark, int *err);

/* As dot_client_query(): q (12 .. 65535 bytes, one question) is copied and
 * sent with an ID of the client's own; cb gets q's ID back. Returns 0,
 * -EINVAL, -EAGAIN (PLAIN_MAX_INFLIGHT), -ENOMEM, or the socket's -errno
 * when no address could be used (no callback then). */
int plain_client_query(struct plain_client *c, const uint8_t *q, size_t len, uint32_t timeout_ms,
		       upstream_done_cb cb, void *arg);

/* Counters (dns/upstream.h): connections counts TCP fallbacks. */
void plain_client_get_stats(const struct plain_client *c, struct upstream_transport_stats *st);

/* Cancel every query (-ECANCELED, before it returns). NULL-safe; sets *c to
 * NULL. Safe from one of the client's own callbacks. */
void plain_client_free(struct plain_client **c);

#endif
