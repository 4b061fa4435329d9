/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network change watcher: an rtnetlink socket subscribed to link, address
 * and route changes (IPv4 and IPv6), on the libev loop. Each burst of
 * changes read in one wake-up calls the callback once; the daemon uses it to
 * end the upstream back-off (dns/upstream.h: upstream_reset_backoff), since
 * the reason a server failed (no route, no address, link down) may be gone.
 * Only notifications from the kernel are read; nothing is ever sent.
 */
#ifndef ZTDNS_NETWATCH_H
#define ZTDNS_NETWATCH_H

#include <stdint.h>

struct ev_loop;
struct netwatch;

/* Datagrams read per wake-up at most; the rest waits for the next one. */
#define NETWATCH_BUDGET 64
/* One datagram: rtnetlink notifications are one message each, far smaller. */
#define NETWATCH_BUF 8192

struct netwatch_stats {
	uint64_t events;  /* link/address/route messages read */
	uint64_t changes; /* callbacks made (one per wake-up with events) */
	uint64_t overrun; /* ENOBUFS: notifications lost, counted as a change */
};

/* Open and subscribe; cb(arg) runs from the loop after changes. Returns the
 * watcher (free with netwatch_free) or NULL with *err = -errno. */
struct netwatch *netwatch_new(struct ev_loop *loop, void (*cb)(void *arg), void *arg, int *err);

void netwatch_get_stats(const struct netwatch *w, struct netwatch_stats *st);

/* Stop and close. NULL-safe; sets *w to NULL. Not from inside cb. */
void netwatch_free(struct netwatch **w);

#endif
