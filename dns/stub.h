/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local DNS stub: plain DNS in from applications (UDP and TCP, RFC 1035
 * §4.2, RFC 7766), the Protective DNS servers out (dns/upstream.c, encrypted
 * only), and in between the one rule that makes ztdns work: the addresses an
 * answer proves are put in the allowset BEFORE the answer is sent back
 * (DESIGN.md invariant 2), and only those on the question's CNAME chain in
 * the answer section (invariant 3).
 *
 * Bounds: pending queries in total and per client (limits.pending_*),
 * allowset entries per client (limits.learned_per_client), TCP connections
 * in total and per client and their idle time (limits.tcp_*), pipelined
 * queries per connection, output buffered per connection
 * (STUB_TCP_OUT_MAX); each hit is counted. A client is a LAN address in
 * gateway mode and, for local sockets, the uid that owns the querying
 * socket (found with sock_diag, dns/peeruid.h); a local socket whose uid is
 * not found shares one "unknown" client. When accept() runs out of
 * descriptors the TCP listener pauses (UTIL_ACCEPT_PAUSE_S).
 */
#ifndef ZTDNS_STUB_H
#define ZTDNS_STUB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/addr.h"

struct ev_loop;
struct conf;
struct upstream;
struct allowset;
struct stub;

#define STUB_TCP_OUT_MAX   (1u << 20)
#define STUB_UDP_BUDGET	   64	      /* datagrams read per wake-up */
#define STUB_UDP_RCVBUF	   (4u << 20) /* receive buffer asked for each UDP listener */
#define STUB_FAIR_MIN	   4	      /* an owner's fair share of upstream slots, at least */
#define STUB_UPSTREAM_EDNS 1232	      /* our UDP size toward the upstream message */
#define STUB_CANARY	   "use-application-dns.net"

struct stub_stats {
	uint64_t udp_queries, tcp_queries;
	uint64_t rcodes[6]; /* answers sent: NOERROR..REFUSED */
	uint64_t rcode_other;
	uint64_t dropped;	   /* not answered: QR set, too short, unparsable header */
	uint64_t formerr;	   /* malformed queries answered FORMERR/NOTIMP/BADVERS */
	uint64_t pending_full;	   /* refused: limits.pending_queries reached */
	uint64_t client_full;	   /* refused: limits.pending_per_client reached */
	uint64_t fair_refused;	   /* refused: the owner held its fair share of upstream slots */
	uint64_t udp_rcvbuf_drops; /* datagrams the kernel dropped: a listener's buffer was full */
	uint64_t tcp_conns, tcp_refused, tcp_idle_closed, tcp_out_overflow;
	uint64_t tcp_client_full; /* connections refused: limits.tcp_per_client */
	uint64_t accept_paused;	  /* accept() failed (EMFILE...): listener paused */
	uint64_t owner_unknown;	  /* local socket's uid not found: "unknown" client */
	uint64_t learn_quota;	  /* addresses not learned: limits.learned_per_client */
	uint64_t truncated;	  /* UDP answers cut with TC=1 */
	uint64_t canary;	  /* use-application-dns.net answered locally */
	uint64_t upstream_errors; /* SERVFAIL because no server answered */
	uint64_t bad_answers;	  /* SERVFAIL: unparsable or mismatched answer */
	uint64_t chain_errors;	  /* SERVFAIL: CNAME loop, conflict, too deep */
	uint64_t learned;	  /* addresses put in the allowset */
	uint64_t learn_refused;	  /* allowset full (over-cap) */
	uint64_t learn_special;	  /* loopback, link-local, multicast...: never learned */
	uint64_t addrs_dropped;	  /* addresses past limits.addrs_per_name */
	/* invariant 7: records removed from answers because their address
	 * was not learned, by why */
	uint64_t removed_over_cap;    /* past limits.addrs_per_name */
	uint64_t removed_full;	      /* the allowset was full (or out of memory) */
	uint64_t removed_never_learn; /* a never-learn class (addr_never_learn) */
	uint64_t removed_unproven;    /* not on the chain: other section, name, type or class */
	uint64_t answers_filtered;    /* answers sent with records removed */
	uint64_t answers_emptied;     /* SERVFAIL: none of what was asked was left */
	uint64_t filter_errors;	      /* SERVFAIL: the filtered answer could not be built */
	uint64_t never_learn[ADDR_CLASS__COUNT]; /* never-learn addresses seen, by class */
	uint64_t local_prefixes_dropped;	 /* interface prefixes past ADDR_LOCAL_MAX */
	uint64_t scope_refused;			 /* gateway: REFUSED, source not in the arrival
						  * interface's client subnets (or no interface) */
	uint64_t scope_no_neigh;		 /* gateway: SERVFAIL, no usable neighbour entry
						  * (MAC) for the source on that interface */
	uint64_t pending;			 /* in flight now */
	uint64_t tcp_open;			 /* TCP connections open now */
};

/* Open every configured listener and answer on loop. c, up and as must
 * outlive the stub (c can be replaced with stub_set_conf()). Returns NULL
 * with *err = -errno (EADDRINUSE, EACCES...). */
struct stub *stub_new(struct ev_loop *loop, const struct conf *c, struct upstream *up,
		      struct allowset *as, int *err);

/* Swap the configuration read for TTLs, bounds and scoping (listeners and
 * the pool size stay as they were created). c must outlive the stub. */
void stub_set_conf(struct stub *s, const struct conf *c);

/* Swap the upstream (after a reload). Queries in flight on the old one
 * complete before it is freed by the caller. */
void stub_set_upstream(struct stub *s, struct upstream *up);

#define STUB_MAX_ROUTES 16

/* Gateway: clients in a subnet ask through their own upstream (their own
 * client certificate, so the Protective DNS server applies their policy).
 * The longest matching subnet on the query's arrival interface wins;
 * others use the default upstream. The array is copied; the upstreams must
 * outlive the routes (replace them with another call, n 0 to clear). */
struct stub_route {
	struct prefix subnet;
	uint32_t ifindex; /* the LAN interface; 0: any (old lan_interfaces form) */
	struct upstream *up;
};
void stub_set_routes(struct stub *s, const struct stub_route *routes, unsigned n);

/* Close every listener and connection. Queries still in flight must have
 * been completed (free the upstream first: they complete with -ECANCELED).
 * NULL-safe; sets *s to NULL. */
void stub_free(struct stub **s);

void stub_get_stats(const struct stub *s, struct stub_stats *st);

/* The answer cache (dns/cache.h), for `ztdnsctl cache` and the counters:
 * borrowed, NULL when cache.enabled is false; valid until the next
 * stub_set_conf() (a reload starts an empty cache). */
struct cache *stub_cache(struct stub *s);

/* The records removed from answers, by why ("over-cap", "full",
 * "never-learn", "unproven"): the one list both renderers (status, metrics)
 * print. Fills out and returns STUB_REMOVED_WHYS. */
#define STUB_REMOVED_WHYS 4
struct stub_counter {
	const char *name;
	uint64_t value;
};
unsigned stub_removed_counters(const struct stub_stats *st, struct stub_counter *out);

/* The never-learn class of a (addr_never_learn()) with this namespace's
 * interface subnets (refreshed when older than STUB_LOCAL_REFRESH_S) and
 * the configured NAT64 prefixes: the one table the stub, `explain` and
 * `allow` use. Control plane only. */
#define STUB_LOCAL_REFRESH_S 5
enum addr_class stub_classify(struct stub *s, const struct addr *a, bool *embedded);

/* Called after each address an answer put in the allowset (before the
 * answer is sent), e.g. to mirror it into the kernel fast path. */
typedef void (*stub_learn_cb)(void *arg, const struct addr *scope, const struct addr *a,
			      uint64_t expires_ms, uint64_t now_ms);
void stub_set_learn_hook(struct stub *s, stub_learn_cb cb, void *arg);

/* Log each answered query to q (dns/querylog.h; NULL: none). Borrowed: the
 * caller keeps it valid, or sets another, until stub_free(). */
struct querylog;
void stub_set_querylog(struct stub *s, struct querylog *q);

#endif
