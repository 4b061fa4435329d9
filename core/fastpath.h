/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The opt-in kernel fast path (ruleset.fast_path): learned destinations are
 * mirrored into ipsets with a timeout equal to their allowance, and a rule
 * before the NFQUEUE rule accepts new flows to them in the kernel, so known
 * destinations skip the userspace round trip. The daemon stays the source of
 * truth: a destination not yet in the set still goes to NFQUEUE and gets its
 * verdict from the allowset, so mirroring can be asynchronous (batched
 * netlink messages to the ipset subsystem, at most every FASTPATH_FLUSH_MS,
 * no process spawned) without ever letting through what the allowset would
 * refuse. Revocation and flush remove at once: they are in the kernel
 * before fastpath_del() / fastpath_flush_all() return. A removal that
 * fails (or whose acknowledgement is lost) empties every set instead
 * (failsafe_flushes), so the kernel never accepts what was revoked; an add
 * that fails is counted and the flow is judged by the queue.
 *
 * Sets: ztdns4/ztdns6 (hash:ip, the machine's own flows and host/sidecar
 * mode) and, in gateway mode with per-client allowances, ztdns4c/ztdns6c
 * (hash:net,net keyed client,destination).
 */
#ifndef ZTDNS_FASTPATH_H
#define ZTDNS_FASTPATH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/addr.h"

struct ev_loop;
struct conf;
struct fastpath;

#define FASTPATH_SET4	   "ztdns4"
#define FASTPATH_SET6	   "ztdns6"
#define FASTPATH_SET4C	   "ztdns4c"
#define FASTPATH_SET6C	   "ztdns6c"
#define FASTPATH_FLUSH_MS  50
#define FASTPATH_BATCH_MAX 4096 /* pending commands; past it, counted and dropped */

struct fastpath_stats {
	uint64_t added, removed, batches;
	uint64_t errors;	   /* operations the kernel refused or did not acknowledge */
	uint64_t dropped;	   /* not mirrored: batch full (the flow still works via NFQUEUE) */
	uint64_t failsafe_flushes; /* sets emptied because a removal failed */
};

/* Create (or reuse, emptied) the sets for c. Returns NULL with *err. */
struct fastpath *fastpath_new(struct ev_loop *loop, const struct conf *c, int *err);

/* Flush pending commands, then destroy the sets unless keep is set (the
 * rules referring to them must be gone first). NULL-safe; sets *f NULL. */
void fastpath_free(struct fastpath **f, bool keep);

/* Mirror an allowance: scope NULL/self for the machine's own (or every
 * client's) flows, a client address for a per-client one. */
void fastpath_add(struct fastpath *f, const struct addr *scope, const struct addr *a,
		  uint32_t seconds);
void fastpath_del(struct fastpath *f, const struct addr *scope, const struct addr *a);
void fastpath_flush_all(struct fastpath *f);

/* Destroy whichever of our sets exist (ztdnsd --remove-ruleset, after the
 * rules that refer to them are gone). Returns 0 or -errno. */
int fastpath_remove_sets(void);

void fastpath_get_stats(const struct fastpath *f, struct fastpath_stats *st);

/* Run pending commands now (also done by a timer). */
void fastpath_sync(struct fastpath *f);

#endif
