/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Gateway: the outbound TCP SYNs the verdict denied in the last minutes, so
 * that a SYN from the WAN side that crosses one (a simultaneous open: the
 * LAN client connect()ed from port c to an unproven peer, the peer connects
 * back from the same port to port c) is refused even where a port forward
 * would let it in. The gateway cannot see the LAN host's sockets, so it
 * remembers the tuples instead.
 *
 * Bounded: a fixed table of CROSSING_WAYS-way sets, chosen by a keyed hash
 * of the LAN client's address and port. When a set is full of live records
 * the oldest is evicted (counted), and the set fails closed: until the
 * evicted record would have expired, every inbound SYN toward a client port
 * of that set is treated as crossing. A LAN client that floods denied SYNs
 * can thus shut port forwards (of ports hashing to the sets it filled) for
 * one TTL, but never open one.
 *
 * Thread-safe: the verdict threads record and match, the loop reads the
 * counters; each call takes the table's mutex for a few dozen compares.
 */
#ifndef ZTDNS_CROSSING_H
#define ZTDNS_CROSSING_H

#include <stdbool.h>
#include <stdint.h>

#include "core/addr.h"

#define CROSSING_WAYS	    4
#define CROSSING_SETS	    1024 /* 4,096 records */
#define CROSSING_DEFAULT_MS (120 * 1000)

struct crossing;

struct crossing_stats {
	uint64_t recorded;	      /* denied SYNs remembered (new or refreshed) */
	uint64_t evicted;	      /* live records pushed out by a full set */
	uint64_t sets_failing_closed; /* sets in the fail-closed state now */
};

/* A new, empty table keeping records for ttl_ms. NULL when out of memory.
 * Free with crossing_free(). */
struct crossing *crossing_new(uint32_t ttl_ms);

/* NULL-safe; sets *c to NULL. */
void crossing_free(struct crossing **c);

/* Remember a denied SYN from client:cport to peer:pport. */
void crossing_record(struct crossing *c, const struct addr *client, uint16_t cport,
		     const struct addr *peer, uint16_t pport, uint64_t now_ms);

/* Would a SYN from peer:pport to client:cport cross a denied one? True for a
 * live record of that tuple, and for any tuple of a set failing closed. */
bool crossing_match(const struct crossing *c, const struct addr *client, uint16_t cport,
		    const struct addr *peer, uint16_t pport, uint64_t now_ms);

void crossing_get_stats(const struct crossing *c, uint64_t now_ms, struct crossing_stats *st);

#endif
