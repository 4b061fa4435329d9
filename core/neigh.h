/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's neighbour table (ARP / NDP) as the gateway stub reads it: the
 * link-layer address a LAN client's IP address resolves to on the interface
 * its query came from. That address, not the source address the client
 * writes into its packets, is what a gateway scope is bound to (DESIGN.md
 * invariant 10).
 *
 * One NETLINK_ROUTE socket, opened before privileges are dropped; each
 * lookup is one RTM_GETNEIGH request for one (interface, address) answered
 * by the kernel before sendto() returns, so it never waits on the network.
 * The kernel's table is the cache: nothing is kept here.
 */
#ifndef ZTDNS_NEIGH_H
#define ZTDNS_NEIGH_H

#include <stdint.h>

#include "core/addr.h"

struct neigh;

struct neigh_stats {
	uint64_t lookups;
	uint64_t found;	   /* a usable entry (reachable, stale, delay, probe, permanent) */
	uint64_t missing;  /* no entry for the address on that interface */
	uint64_t unusable; /* incomplete, failed, noarp, or no 6-byte address */
	uint64_t errors;   /* netlink failures */
};

/* Open the netlink socket. Returns NULL with *err = -errno. */
struct neigh *neigh_new(int *err);

/* NULL-safe; sets *n to NULL. */
void neigh_free(struct neigh **n);

/* The MAC address ip resolves to on interface ifindex, copied to mac.
 * Returns 0, -ENOENT (no entry), -EHOSTUNREACH (an entry without a usable
 * address: incomplete, failed, noarp) or another -errno. */
int neigh_lookup(struct neigh *n, uint32_t ifindex, const struct addr *ip, uint8_t mac[6]);

void neigh_get_stats(const struct neigh *n, struct neigh_stats *st);

#endif
