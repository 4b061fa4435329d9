/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The stub's answer cache: answers as the client gets them (already
 * filtered by the stub, invariant 7), keyed by (question name
 * case-insensitively, type, class, identity). The identity is the upstream
 * a query goes to (gateway.client_identities: one per route, 0 the default),
 * so one client's policy answer is never served to another identity. The
 * stub's upstream query never carries DO or CD, so the client's DO/CD bits
 * are not part of the key: every answer is one to a DO=0, CD=0 question.
 *
 * Bounds, each counted when hit: entries (max_entries), bytes (max_bytes,
 * the messages plus the per-entry overhead), negative entries
 * (negative_max, RFC 2308 NXDOMAIN / NODATA). When a bound is reached the
 * expired entries go first, then the least recently used live entry of the
 * kind that hit it. A single answer larger than CACHE_ENTRY_MAX is not kept.
 *
 * Lifetime: the smallest TTL of the records (capped at max_ttl), for a
 * negative answer also the SOA MINIMUM (RFC 2308 §5); an answer that gives
 * none (NODATA without SOA, TTL 0, TC set, SERVFAIL...) is not cached. TTLs
 * count down in what cache_lookup() returns; an entry is never returned at
 * or past its expiry (nothing stale), so it never outlives the allowance
 * its addresses were given (the stub's allowance is at least the clamped
 * TTL plus grace). Event loop thread only; nothing here parses bytes that
 * wire_msg_parse() has not checked.
 */
#ifndef ZTDNS_CACHE_H
#define ZTDNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/wire.h"

#define CACHE_ENTRY_MAX	  16384 /* bytes of one cached message at most */
#define CACHE_SWEEP_MS	  1000	/* a full sweep of expired entries at most this often */
#define CACHE_SERVER_MAX  64	/* server name kept per entry (for the allowset's record) */
#define CACHE_MAX_ENTRIES (1u << 20)
#define CACHE_MAX_BYTES	  (1ull << 32)

struct cache;

struct cache_limits {
	uint32_t max_entries;  /* 1 .. CACHE_MAX_ENTRIES */
	uint64_t max_bytes;    /* >= CACHE_ENTRY_MAX */
	uint32_t negative_max; /* <= max_entries; 0: no negative caching */
	uint32_t max_ttl;      /* seconds: TTLs are capped at it (ttl.max) */
};

struct cache_key {
	struct wire_name qname; /* lowercase (struct wire_name always is) */
	uint16_t qtype, qclass;
	uint32_t identity;
};

struct cache_stats {
	uint64_t hits, misses;
	uint64_t inserts;	/* entries stored (replacing one counts once) */
	uint64_t negative;	/* of which negative (RFC 2308) */
	uint64_t uncacheable;	/* answers not kept: no lifetime (see above) */
	uint64_t too_big;	/* answers over CACHE_ENTRY_MAX, not kept */
	uint64_t expired;	/* entries removed at their expiry */
	uint64_t evicted;	/* live entries removed to make room */
	uint64_t full_entries;	/* times max_entries was reached */
	uint64_t full_bytes;	/* times max_bytes was reached */
	uint64_t negative_full; /* times negative_max was reached */
	uint64_t renew_refused; /* hits not served: their allowance was not renewed */
	uint64_t flushed;	/* entries removed by cache_flush() */
	/* now */
	uint64_t entries, bytes, negative_entries;
};

/* A new, empty cache with these bounds (copied). NULL on ENOMEM or bad
 * bounds (errno set). */
struct cache *cache_new(const struct cache_limits *lim, uint64_t seed);

/* NULL-safe; sets *c to NULL. */
void cache_free(struct cache **c);

/* Keep the answer m (parsed by wire_msg_parse(), its buffer is copied) for
 * key, replacing what key had. m's compression pointers must lead only to
 * names (wire_filter_answer() output): the TTL fields are rewritten in
 * place, which must not change any name. Returns 0, -ENODATA when the answer has no
 * lifetime (not cached, counted), -E2BIG over CACHE_ENTRY_MAX, -ENOMEM.
 * server (may be NULL) is copied, cut at CACHE_SERVER_MAX - 1 bytes. */
int cache_insert(struct cache *c, const struct cache_key *key, const struct wire_msg *m,
		 const char *server, uint64_t now_ms);

/* The answer for key, if one is live at now_ms: copied into out (cap
 * bytes), every TTL lowered by the entry's age (rounded up to the second),
 * *outlen its length, *server (if not NULL) the server it came from,
 * borrowed until the next call on c. Returns 0 (a hit), -ENOENT (a miss;
 * an expired entry is removed) or -ENOSPC (cap too small, counted as a
 * miss). */
int cache_lookup(struct cache *c, const struct cache_key *key, uint64_t now_ms, uint8_t *out,
		 size_t cap, size_t *outlen, const char **server);

/* Remove key's entry because its allowance could not be renewed (counted
 * in renew_refused). */
void cache_refuse(struct cache *c, const struct cache_key *key);

/* Remove every entry; returns how many. */
uint64_t cache_flush(struct cache *c);

void cache_get_stats(const struct cache *c, struct cache_stats *st);

/* One live entry, for `ztdnsctl cache list`. Borrowed for the callback. */
struct cache_item {
	const struct cache_key *key;
	uint16_t rcode;
	bool negative;
	uint32_t ttl_left; /* seconds */
	uint32_t hits;
	size_t len;
};
/* Call cb for every live entry, most recently used first, at most max
 * times; returns how many were visited. */
unsigned cache_foreach(const struct cache *c, uint64_t now_ms, unsigned max,
		       void (*cb)(void *arg, const struct cache_item *it), void *arg);

/* The counters by name, for the two renderers (status, metrics): fills out
 * (CACHE_COUNTERS entries) and returns CACHE_COUNTERS. */
#define CACHE_COUNTERS 16
struct cache_counter {
	const char *name;
	uint64_t value;
	bool gauge;
};
unsigned cache_counters(const struct cache_stats *st, struct cache_counter *out);

#endif
