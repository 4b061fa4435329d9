/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The allowset: a lock-free hash of addresses a flow may be opened to, keyed
 * by (scope, address). Scope is the unset address in host and sidecar mode,
 * and the client's address in gateway mode. Open addressing over fixed-size
 * records (32 bytes for IPv4, 48 for IPv6); names and server, which only
 * views read, are kept apart. The layout is in allowset.c.
 *
 * Concurrency: exactly one writer thread (the event loop) calls every
 * function marked "writer"; any number of reader threads may call the
 * functions marked "any registered thread" at the same time: they never
 * lock, allocate or write shared state except an entry's relaxed hit
 * counter (count_hit). What they read is reused or freed only after an RCU
 * grace period (liburcu). Every thread that calls them, the writer
 * included, must be registered with allowset_reader_register(), and no
 * writer function may be called inside another's callback (allowset_walk).
 * The writer may wait for a grace period (rarely: when every free record
 * still waits for one), so it must not hold an RCU read lock of its own.
 *
 * Expired entries stay in the table for ALLOWSET_EXPIRED_KEEP_MS after their
 * expiry, so that a denial can say "expired N s ago"; when the table is full
 * they are the first to go. An entry still within its expiry is never
 * evicted: a full table refuses the insertion and counts it (over-cap).
 */
#ifndef ZTDNS_ALLOWSET_H
#define ZTDNS_ALLOWSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define ALLOWSET_EXPIRED_KEEP_MS (10 * 60 * 1000)
#define ALLOWSET_NAMES_LEN	 512 /* bytes of names kept per entry, NUL-separated */
#define ALLOWSET_SERVER_LEN	 32
#define ALLOWSET_OVERCAP_RING	 256 /* recently refused addresses, for over-cap */

enum allowset_source { ALLOWSET_LEARNED = 1, ALLOWSET_MANUAL = 2 };

enum allowset_result {
	ALLOWSET_MISS = 0,    /* never in the table (or forgotten) */
	ALLOWSET_HIT = 1,     /* present and not expired */
	ALLOWSET_EXPIRED = 2, /* present but expired */
};

/* A copy of an entry, for logs and explanations. */
struct allowset_view {
	struct addr scope, addr;
	enum allowset_source source;
	uint64_t added_ms;   /* monotonic ms of the first insertion */
	uint64_t expires_ms; /* monotonic ms */
	uint64_t hits;
	unsigned nnames;
	char names[ALLOWSET_NAMES_LEN]; /* "a.example, b.example" */
	char server[ALLOWSET_SERVER_LEN];
};

struct allowset_stats {
	uint64_t entries;	/* now in the table, expired ones included */
	uint64_t inserts;	/* new entries */
	uint64_t refreshes;	/* existing entries extended */
	uint64_t full;		/* insertions refused: table full (over-cap) */
	uint64_t evicted;	/* expired entries removed to make room */
	uint64_t swept;		/* expired entries removed by the sweep */
	uint64_t names_dropped; /* names not remembered: names_per_addr bound */
	uint64_t removed;	/* revoked / flushed */
	uint64_t quota;		/* insertions refused: the owner's quota was reached */
};

struct allowset;

/* Create a table for at most max_entries entries (1 .. 2^28) and
 * names_per_addr names per entry. The slot array (12 bytes per entry) is
 * allocated here; records as they are used. Returns NULL with errno set. */
struct allowset *allowset_new(size_t max_entries, unsigned names_per_addr);

/* Writer. Free the table and every entry; NULL-safe; sets *as to NULL.
 * No reader may be inside allowset_lookup() any more. */
void allowset_free(struct allowset **as);

/* Register / unregister the calling thread as a reader (RCU). */
void allowset_reader_register(void);
void allowset_reader_unregister(void);

/* Writer. Allow (scope, a) until expires_ms (monotonic ms). An existing entry
 * keeps the later expiry and gains the name. name and server may be NULL;
 * both are copied. scope NULL means the unset scope.
 * Returns 0, or -ENOSPC when the table is full of unexpired entries (counted
 * in stats.full and remembered for over-cap verdicts), -ENOMEM, -EINVAL (a
 * is neither IPv4 nor IPv6). */
int allowset_add(struct allowset *as, const struct addr *scope, const struct addr *a,
		 uint64_t expires_ms, enum allowset_source src, const char *name,
		 const char *server, uint64_t now_ms);

/* A gateway client's link, packed in one word for allowset_add_linked():
 * the low 15 bits of the interface index and the 48-bit MAC address (never
 * 0). The interface bits alone do not tell interfaces apart; the verdict
 * first checks the source against the arrival interface's own subnets,
 * which are disjoint between interfaces. */
uint64_t allowset_link(uint32_t ifindex, const uint8_t mac[6]);

/* Writer. allowset_add() for a client scope bound to link (allowset_link();
 * 0: unbound). Refreshing an entry with a non-zero link rebinds it. */
int allowset_add_linked(struct allowset *as, const struct addr *scope, uint64_t link,
			const struct addr *a, uint64_t expires_ms, enum allowset_source src,
			const char *name, const char *server, uint64_t now_ms);

/* Writer. allowset_add_linked() on behalf of owner (a key the caller chooses, e.g.
 * a local uid or a LAN client; copied; NULL = nobody): a new entry counts
 * against the owner that caused it, at most quota of them (0 = no quota).
 * A renewal of an existing entry, by anyone, is always accepted and does not
 * move it to another owner; an entry leaves its owner's count when it leaves
 * the table. Before refusing, the owner's own expired entries are reclaimed
 * (at most once a second per owner). Returns what allowset_add() returns,
 * or -EDQUOT when the owner is at its quota (counted in stats.quota; the
 * caller must treat the address as not learned, like -ENOSPC). */
int allowset_add_owned(struct allowset *as, const struct addr *scope, uint64_t link,
		       const struct addr *a, uint64_t expires_ms, enum allowset_source src,
		       const char *name, const char *server, uint64_t now_ms,
		       const struct addr *owner, uint32_t quota);

/* Writer. Entries counted against owner now (expired ones in the keep
 * window included). */
unsigned allowset_owner_entries(struct allowset *as, const struct addr *owner);

/* Writer. Owners with at least one entry. */
size_t allowset_owner_count(struct allowset *as);

/* Writer. Remove (scope, a). Returns 0 or -ENOENT. */
int allowset_remove(struct allowset *as, const struct addr *scope, const struct addr *a);

/* Writer. Remove every entry; returns how many. */
size_t allowset_flush(struct allowset *as);

/* Writer. Remove entries expired for longer than ALLOWSET_EXPIRED_KEEP_MS. */
void allowset_sweep(struct allowset *as, uint64_t now_ms);

/* Any registered thread. Look (scope, a) up at now_ms; if view is not NULL it
 * receives a copy of the entry (on HIT and EXPIRED). count_hit: bump the
 * entry's hit counter (relaxed; it stops near 2^32 instead of wrapping);
 * explain passes false. Lock-free, never allocates. */
enum allowset_result allowset_lookup(struct allowset *as, const struct addr *scope,
				     const struct addr *a, uint64_t now_ms,
				     struct allowset_view *view, bool count_hit);

/* Any registered thread. The verdict path's lookup: like allowset_lookup()
 * but it copies only the expiry, the source and (link not NULL) the link
 * binding (set on HIT and EXPIRED), never the names. */
enum allowset_result allowset_probe(struct allowset *as, const struct addr *scope,
				    const struct addr *a, uint64_t now_ms, uint64_t *expires_ms,
				    enum allowset_source *source, uint64_t *link, bool count_hit);

/* Why an address an answer carried is not in the table (DESIGN.md
 * invariant 7: the stub removed it from the answer). */
enum allowset_refusal_reason {
	ALLOWSET_REFUSED_FULL = 1,	  /* the table was full (over-cap) */
	ALLOWSET_REFUSED_PER_NAME = 2,	  /* past limits.addrs_per_name (over-cap) */
	ALLOWSET_REFUSED_NEVER_LEARN = 3, /* an addr_never_learn() class */
	ALLOWSET_REFUSED_QUOTA = 4,	  /* the client's limits.learned_per_client (over-cap) */
};

#define ALLOWSET_REFUSED_NAME_LEN 96

/* A copy of one remembered refusal. */
struct allowset_refusal {
	enum allowset_refusal_reason reason;
	unsigned cls;			      /* enum addr_class for NEVER_LEARN, else 0 */
	uint64_t at_ms;			      /* monotonic ms */
	char name[ALLOWSET_REFUSED_NAME_LEN]; /* the name asked, cut short if longer */
};

/* Writer. Remember that an answer for name carried (scope, a) and that it was
 * not learned, for explanations and verdict reasons; kept in the ring of the
 * ALLOWSET_OVERCAP_RING latest refusals (a full table is remembered by
 * allowset_add() itself). name may be NULL; it is copied. */
void allowset_note_refused(struct allowset *as, const struct addr *scope, const struct addr *a,
			   enum allowset_refusal_reason reason, unsigned cls, const char *name,
			   uint64_t now_ms);

/* Any registered thread. The latest remembered refusal of (scope, a) into
 * *out (may be NULL); false if there is none in the ring. */
bool allowset_refusal_get(struct allowset *as, const struct addr *scope, const struct addr *a,
			  struct allowset_refusal *out);

/* Any registered thread. Was (scope, a) refused recently, for any reason? */
bool allowset_was_refused(struct allowset *as, const struct addr *scope, const struct addr *a);

/* Writer. Turn every unexpired scoped entry (a client's, or the gateway's
 * own) into an unscoped one with the same expiry, names and server: what
 * per-client allowances become when a gateway switches to shared ones.
 * Returns how many entries moved. */
size_t allowset_unscope(struct allowset *as, uint64_t now_ms);

/* Any registered thread. Does any scoped entry (any client's, expired or
 * not) exist for a? For "other-client" denials in gateway mode. */
bool allowset_scoped_elsewhere(struct allowset *as, const struct addr *a);

/* The scope of the machine's own flows and lookups in gateway mode (an
 * address of family AF_LOCAL, which no packet carries). */
const struct addr *allowset_scope_self(void);

/* Writer. Call fn for every entry (expired ones too) until it returns
 * non-zero; returns that value or 0. fn must not change the table. */
int allowset_walk(struct allowset *as, int (*fn)(const struct allowset_view *v, void *arg),
		  void *arg);

void allowset_get_stats(struct allowset *as, struct allowset_stats *st);
size_t allowset_capacity(const struct allowset *as);

/* CLOCK_MONOTONIC in milliseconds, the time base of every *_ms above. */
uint64_t allowset_now_ms(void);

#endif
