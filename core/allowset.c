/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Layout. A lookup touches two cache lines: one slot word, then one record.
 *
 *  - slots: one open-addressing array (linear probing) of 64-bit words,
 *    sized once by allowset_new() to 3/2 of the bound and never resized on
 *    the insert path: the high 32 bits are a tag (half of the key's hash),
 *    the low 32 bits a record reference. 0 is an empty slot, a reference of
 *    REF_TOMB a removed one. A removal never moves another key (a reader
 *    scanning past it would miss it); tombstones are cleared by building a
 *    fresh array and swapping it in by pointer (RCU) once they pass 1/8 of
 *    the slots.
 *  - records: the verdict path's fields, 32 bytes for IPv4 and 48 for IPv6,
 *    in two pools of chunks that never move. Next to each record, in the
 *    same chunk but on other cache lines, the cold part (first insertion
 *    time, names and server) that only views read.
 *  - scopes and owners are interned (struct itab, rculfhash) into 32-bit
 *    ids; a scope id is never reused, so a reader that resolved a scope
 *    just before it went cannot find another client's entries under its id
 *    (after 2^32 - 1 scopes, new ones are refused: -ENOSPC). A scoped
 *    lookup pays one rculfhash lookup for its scope first.
 *
 * Reclamation. Records, slot arrays, names and interned nodes are reused or
 * freed only after an RCU grace period: a reader inside allowset_lookup()
 * never sees a record change key or its memory go. Removed records wait on
 * a limbo list; one call_rcu() at a time covers a whole batch, and when no
 * record is free the writer waits for a grace period (synchronize_rcu(),
 * counted in as->waits, not exported: rare, since each pool has a slack of
 * 1/8 of the bound plus CHUNK records).
 *
 * Fields a reader reads while the writer changes them (expiry, source,
 * link, hits, names pointer) are single atomic words; the key fields of a
 * record are written before the slot that publishes it (release) and not
 * again until a grace period has passed.
 */
#include "core/allowset.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

/* Inline read-side primitives: the verdict path calls them per packet. */
#define _LGPL_SOURCE
#include <urcu.h>
#include <urcu/rculfhash.h>

#define CHUNK	     1024u	 /* records per pool chunk */
#define REF_TOMB     1u		 /* slot reference of a removed key */
#define REF_BASE     2u		 /* record index + REF_BASE = reference */
#define REF_V6	     0x80000000u /* the reference is in the IPv6 pool */
#define MAX_ENTRIES  (1u << 28)
#define HITS_CEILING (UINT32_MAX - 65536u) /* hits stop here, never wrap */
#define EXP_MAX	     (UINT64_MAX >> 2)

/* The verdict path's part of an entry. IPv6 records (struct rec6) start
 * with the same fields. */
struct rec {
	_Atomic uint64_t exp_src; /* expires_ms << 2 | enum allowset_source */
	_Atomic uint64_t link;	  /* allowset_link(), 0 when unbound */
	_Atomic uint32_t hits;	  /* relaxed, bumped by readers */
	uint32_t owner;		  /* writer-only: owner id (0 = nobody); list link when free */
	uint32_t scope;		  /* scope id, 0 = the unset scope */
	uint8_t a4[4];		  /* IPv4 address; with scope, one word to compare */
};

struct rec6 {
	struct rec r;
	uint8_t a6[16];
};

_Static_assert(sizeof(struct rec) == 32, "IPv4 record is half a cache line");
_Static_assert(sizeof(struct rec6) == 48, "IPv6 record");

/* Names are replaced as a whole (copy, publish, free after a grace period),
 * so a reader always sees one consistent list. */
struct allowset_meta {
	struct rcu_head rcu;
	unsigned nnames;
	size_t len;
	char server[ALLOWSET_SERVER_LEN];
	char names[]; /* NUL-separated, len bytes (at most ALLOWSET_NAMES_LEN) */
};

static void free_meta_rcu_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct allowset_meta, rcu));
}

/* What only views read. */
struct cold {
	uint64_t added_ms;
	struct allowset_meta *_Atomic meta;
};

struct chunk {
	struct cold cold[CHUNK];
	_Alignas(64) unsigned char hot[]; /* CHUNK records of the pool's stride */
};

/* Records of one family. Indices below used have been handed out; a freed
 * record goes to limbo, then (with a grace period started) to wait, then
 * to free. Writer-only except chunks[], which readers follow. */
struct pool {
	size_t stride;
	uint32_t cap, used;
	uint32_t free_head, limbo_head, wait_head; /* index + 1, 0 = empty */
	struct chunk *_Atomic *chunks;
};

struct slots {
	struct rcu_head rcu;
	uint32_t n;
	_Atomic uint64_t w[];
};

/* Interned addresses: scopes (refs = records in that scope) and owners
 * (refs = records counted against them). */
struct inode {
	struct cds_lfht_node node, node_id;
	struct rcu_head rcu;
	struct addr key;
	/* Atomic only so that ThreadSanitizer sees the publication that
	 * cds_lfht_add() makes (liburcu is not instrumented). */
	_Atomic uint32_t id;
	unsigned refs;
	uint64_t reclaim_ms; /* owners: last scan for their expired entries */
};

struct itab {
	struct cds_lfht *bykey, *byid;
	uint32_t next_id;
};

/* How many scoped entries exist for an address, whatever their scope: lets
 * a gateway denial say "other-client" without a scan. Writer-maintained. */
struct allowset_addrref {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	struct addr addr;
	_Atomic unsigned count;
};

/* The refusal ring's key. */
struct allowset_key {
	struct addr scope;
	struct addr addr;
};

struct key {
	uint32_t sid;
	bool v6;
	uint8_t a[16];
	uint64_t w4; /* IPv4: the record's scope and a4 words, as memory holds them */
};

struct allowset {
	struct slots *_Atomic slots;
	struct pool p4, p6;
	uint64_t seed;
	size_t max_entries;
	unsigned names_per_addr;
	uint32_t tombs;	    /* writer: tombstones in the current slots */
	unsigned iterating; /* writer: inside a walk; no slot rebuild */
	struct itab scopes, owners;
	struct cds_lfht *byaddr;
	_Atomic uint64_t entries;
	struct allowset_stats st; /* writer-only fields; entries is above */
	uint64_t waits;		  /* synchronize_rcu() for want of a free record */
	/* One grace period in flight at a time covers the wait lists. */
	struct rcu_head gp_rcu;
	_Atomic bool gp_done;
	bool gp_pending;
	/* Ring of keys refused for lack of room; written by the writer, read
	 * by anyone: each slot is a seqlock-free copy guarded by a sequence. */
	struct {
		_Atomic uint32_t seq;
		struct allowset_key key;
		struct allowset_refusal info;
	} refused[ALLOWSET_OVERCAP_RING];
	unsigned refused_next;
};

uint64_t allowset_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Keyed with a per-table random seed: the addresses come from answers that
 * a hostile authority may choose, and linear probing punishes clusters. */
static uint64_t hash_key(const struct allowset *as, const struct key *k)
{
	uint64_t w0, w1;

	if (!k->v6) {
		uint32_t a;

		memcpy(&a, k->a, 4);
		return mix64(as->seed ^ ((uint64_t)k->sid << 32 | a));
	}
	memcpy(&w0, k->a, 8);
	memcpy(&w1, k->a + 8, 8);
	return mix64(mix64(mix64(as->seed ^ k->sid ^ (1ULL << 63)) ^ w0) ^ w1);
}

static unsigned long hash_addr(const struct allowset *as, const struct addr *a)
{
	uint64_t w0, w1;

	memcpy(&w0, a->b, 8);
	memcpy(&w1, a->b + 8, 8);
	return (unsigned long)mix64(mix64(mix64(as->seed ^ a->family) ^ w0) ^ w1);
}

/* ---- pools */

static struct pool *pool_of(struct allowset *as, uint32_t ref)
{
	return ref & REF_V6 ? &as->p6 : &as->p4;
}

static uint32_t ref_index(uint32_t ref)
{
	return (ref & ~REF_V6) - REF_BASE;
}

static struct chunk *chunk_of(const struct pool *p, uint32_t idx)
{
	return atomic_load_explicit(&p->chunks[idx / CHUNK], memory_order_acquire);
}

static struct rec *rec_at(const struct pool *p, uint32_t idx)
{
	return (struct rec *)(void *)(chunk_of(p, idx)->hot + (size_t)(idx % CHUNK) * p->stride);
}

static struct cold *cold_at(const struct pool *p, uint32_t idx)
{
	return &chunk_of(p, idx)->cold[idx % CHUNK];
}

/* rec_at() with the stride known at compile time: the verdict path. */
static inline struct rec *rec_of(struct allowset *as, uint32_t ref)
{
	uint32_t idx = ref_index(ref);

	if (ref & REF_V6)
		return (struct rec *)(void *)(chunk_of(&as->p6, idx)->hot +
					      (size_t)(idx % CHUNK) * sizeof(struct rec6));
	return (struct rec *)(void *)(chunk_of(&as->p4, idx)->hot +
				      (size_t)(idx % CHUNK) * sizeof(struct rec));
}

static struct cold *cold_of(struct allowset *as, uint32_t ref)
{
	return cold_at(pool_of(as, ref), ref_index(ref));
}

static int pool_init(struct pool *p, size_t stride, uint32_t cap)
{
	p->stride = stride;
	p->cap = cap;
	p->chunks = calloc((cap + CHUNK - 1) / CHUNK, sizeof(*p->chunks));
	return p->chunks ? 0 : -ENOMEM;
}

/* Move every record of list *from onto *to; with release, free their names
 * (a grace period has passed since they left the table). */
static void pool_move(struct pool *p, uint32_t *from, uint32_t *to, bool release)
{
	while (*from) {
		uint32_t idx = *from - 1;
		struct rec *r = rec_at(p, idx);

		if (release) {
			struct cold *c = cold_at(p, idx);

			free(atomic_load_explicit(&c->meta, memory_order_relaxed));
			atomic_store_explicit(&c->meta, NULL, memory_order_relaxed);
		}
		*from = r->owner;
		r->owner = *to;
		*to = idx + 1;
	}
}

static void gp_done_cb(struct rcu_head *h)
{
	struct allowset *as = caa_container_of(h, struct allowset, gp_rcu);

	atomic_store_explicit(&as->gp_done, true, memory_order_release);
}

/* Writer. Recycle what a finished grace period covers, and start one for
 * the limbo lists. Never blocks. */
static void reclaim(struct allowset *as)
{
	if (as->gp_pending && atomic_load_explicit(&as->gp_done, memory_order_acquire)) {
		pool_move(&as->p4, &as->p4.wait_head, &as->p4.free_head, true);
		pool_move(&as->p6, &as->p6.wait_head, &as->p6.free_head, true);
		as->gp_pending = false;
	}
	if (!as->gp_pending && (as->p4.limbo_head || as->p6.limbo_head)) {
		pool_move(&as->p4, &as->p4.limbo_head, &as->p4.wait_head, false);
		pool_move(&as->p6, &as->p6.limbo_head, &as->p6.wait_head, false);
		atomic_store_explicit(&as->gp_done, false, memory_order_relaxed);
		as->gp_pending = true;
		call_rcu(&as->gp_rcu, gp_done_cb);
	}
}

/* Writer, outside any read-side section. Make sure p can hand out one
 * record: a free one, room for one more, or (rarely) a grace period waited
 * for here. */
static void pool_reserve(struct allowset *as, struct pool *p)
{
	reclaim(as);
	if (p->free_head || p->used < p->cap || (!p->limbo_head && !p->wait_head))
		return;
	synchronize_rcu();
	as->waits++;
	pool_move(p, &p->wait_head, &p->free_head, true);
	pool_move(p, &p->limbo_head, &p->free_head, true);
}

/* Writer. A zeroed record of p, or -ENOSPC / -ENOMEM. */
static int pool_get(struct pool *p, uint32_t *idx)
{
	if (p->free_head) {
		*idx = p->free_head - 1;
		p->free_head = rec_at(p, *idx)->owner;
	} else if (p->used < p->cap) {
		if (p->used % CHUNK == 0) {
			size_t sz = sizeof(struct chunk) + CHUNK * p->stride;
			struct chunk *c = aligned_alloc(64, (sz + 63) & ~(size_t)63);

			if (!c)
				return -ENOMEM;
			memset(c, 0, sz);
			atomic_store_explicit(&p->chunks[p->used / CHUNK], c, memory_order_release);
		}
		*idx = p->used++;
	} else {
		return -ENOSPC;
	}
	memset(rec_at(p, *idx), 0, p->stride);
	return 0;
}

/* Writer. Back to limbo: readers may still be reading it. */
static void pool_put(struct pool *p, uint32_t idx)
{
	rec_at(p, idx)->owner = p->limbo_head;
	p->limbo_head = idx + 1;
}

static void pool_free(struct pool *p)
{
	for (uint32_t i = 0; i < p->used; i++)
		free(atomic_load_explicit(&cold_at(p, i)->meta, memory_order_relaxed));
	for (uint32_t i = 0; i < (p->used + CHUNK - 1) / CHUNK; i++)
		free(atomic_load_explicit(&p->chunks[i], memory_order_relaxed));
	free(p->chunks);
}

/* ---- interned addresses */

static void key_norm(struct addr *out, const struct addr *a)
{
	memset(out, 0, sizeof(*out));
	out->family = a->family;
	memcpy(out->b, a->b, sizeof(out->b));
}

static uint32_t inode_id(const struct inode *n)
{
	return atomic_load_explicit(&n->id, memory_order_acquire);
}

static int match_inode(struct cds_lfht_node *node, const void *key)
{
	const struct inode *n = caa_container_of(node, struct inode, node);

	return memcmp(&n->key, key, sizeof(n->key)) == 0;
}

static int match_inode_id(struct cds_lfht_node *node, const void *key)
{
	const struct inode *n = caa_container_of(node, struct inode, node_id);

	return inode_id(n) == *(const uint32_t *)key;
}

/* Read lock held. */
static struct inode *itab_find(struct allowset *as, struct itab *t, const struct addr *a)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct addr k;

	key_norm(&k, a);
	cds_lfht_lookup(t->bykey, hash_addr(as, &k), match_inode, &k, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct inode, node) : NULL;
}

/* Writer, read lock held. */
static struct inode *itab_by_id(struct itab *t, uint32_t id)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(t->byid, mix64(id), match_inode_id, &id, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct inode, node_id) : NULL;
}

/* Writer, read lock held. Find or create (with no reference yet). Ids are
 * never reused: -ENOSPC once 2^32 - 1 have been handed out. */
static int itab_get(struct allowset *as, struct itab *t, const struct addr *a, struct inode **out)
{
	struct inode *n = itab_find(as, t, a);

	if (!n) {
		if (t->next_id == UINT32_MAX)
			return -ENOSPC;
		n = calloc(1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		key_norm(&n->key, a);
		atomic_store_explicit(&n->id, ++t->next_id, memory_order_release);
		cds_lfht_node_init(&n->node);
		cds_lfht_node_init(&n->node_id);
		cds_lfht_add(t->byid, mix64(t->next_id), &n->node_id);
		cds_lfht_add(t->bykey, hash_addr(as, &n->key), &n->node);
	}
	*out = n;
	return 0;
}

static void free_inode_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct inode, rcu));
}

/* Writer, read lock held. Drop n if nothing refers to it. */
static void itab_unused(struct itab *t, struct inode *n)
{
	if (n->refs == 0 && cds_lfht_del(t->bykey, &n->node) == 0) {
		cds_lfht_del(t->byid, &n->node_id);
		call_rcu(&n->rcu, free_inode_rcu);
	}
}

static void itab_put(struct itab *t, struct inode *n)
{
	n->refs--;
	itab_unused(t, n);
}

static int itab_init(struct itab *t, unsigned long init)
{
	t->bykey = cds_lfht_new(init, init, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	t->byid = cds_lfht_new(init, init, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	return t->bykey && t->byid ? 0 : -ENOMEM;
}

static void itab_destroy(struct itab *t)
{
	if (t->bykey)
		cds_lfht_destroy(t->bykey, NULL);
	if (t->byid)
		cds_lfht_destroy(t->byid, NULL);
}

/* ---- "other-client" counters */

static int match_addr(struct cds_lfht_node *node, const void *key)
{
	const struct allowset_addrref *r = caa_container_of(node, struct allowset_addrref, node);

	return addr_equal(&r->addr, key);
}

static struct allowset_addrref *find_ref(struct allowset *as, const struct addr *a)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct addr k;

	key_norm(&k, a);
	cds_lfht_lookup(as->byaddr, hash_addr(as, &k), match_addr, &k, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct allowset_addrref, node) : NULL;
}

static void free_ref_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct allowset_addrref, rcu));
}

/* Writer, read lock held. Count one more (delta 1) or one less (-1) scoped
 * entry for a. Returns -ENOMEM when a new counter cannot be allocated. */
static int ref_update(struct allowset *as, const struct addr *a, int delta)
{
	struct allowset_addrref *r = find_ref(as, a);

	if (!r) {
		if (delta < 0)
			return 0;
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		key_norm(&r->addr, a);
		cds_lfht_node_init(&r->node);
		cds_lfht_add(as->byaddr, hash_addr(as, &r->addr), &r->node);
	}
	if (delta > 0) {
		atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
	} else if (atomic_fetch_sub_explicit(&r->count, 1, memory_order_relaxed) == 1) {
		if (cds_lfht_del(as->byaddr, &r->node) == 0)
			call_rcu(&r->rcu, free_ref_rcu);
	}
	return 0;
}

/* ---- keys and slots */

/* Build the key of (scope, a). With create, intern the scope (writer, read
 * lock held; *scn receives it); without, a scope never seen means no entry
 * (false). False too for an address that is neither IPv4 nor IPv6. */
static inline bool key_make(struct allowset *as, struct key *k, const struct addr *scope,
			    const struct addr *a, struct inode **scn)
{
	memset(k, 0, sizeof(*k));
	if (a->family == AF_INET) {
		memcpy(k->a, a->b, 4);
	} else if (a->family == AF_INET6) {
		k->v6 = true;
		memcpy(k->a, a->b, 16);
	} else {
		return false;
	}
	if (scope && scope->family) {
		struct inode *n = itab_find(as, &as->scopes, scope);

		if (scn)
			*scn = n;
		if (!n)
			return false;
		k->sid = inode_id(n);
	} else if (scn) {
		*scn = NULL;
	}
	memcpy(&k->w4, &k->sid, 4);
	memcpy((uint8_t *)&k->w4 + 4, k->a, 4);
	return true;
}

static inline bool rec_matches(const struct rec *r, uint32_t ref, const struct key *k)
{
	uint64_t w;

	if (ref & REF_V6)
		return k->v6 && r->scope == k->sid &&
		       memcmp(((const struct rec6 *)(const void *)r)->a6, k->a, 16) == 0;
	_Static_assert(offsetof(struct rec, a4) == offsetof(struct rec, scope) + 4,
		       "scope and a4 are one word");
	memcpy(&w, &r->scope, 8);
	return !k->v6 && w == k->w4;
}

static uint32_t slot_home(const struct slots *s, uint64_t h)
{
	return (uint32_t)(((h & 0xffffffffu) * s->n) >> 32);
}

/* Look k up in s: its slot position and reference (found) or, in *freepos
 * (if not NULL), the first reusable slot of its probe sequence (UINT32_MAX:
 * none). */
static inline bool slot_find(struct allowset *as, const struct slots *s, const struct key *k,
			     uint64_t h, uint32_t *pos, uint32_t *refp, uint32_t *freepos)
{
	uint32_t i = slot_home(s, h), tag = (uint32_t)(h >> 32);

	if (freepos)
		*freepos = UINT32_MAX;
	for (uint32_t probes = 0; probes < s->n; probes++) {
		uint64_t w = atomic_load_explicit(&s->w[i], memory_order_acquire);
		uint32_t ref = (uint32_t)w;

		if (w == 0) {
			if (freepos && *freepos == UINT32_MAX)
				*freepos = i;
			return false;
		}
		if (ref == REF_TOMB) {
			if (freepos && *freepos == UINT32_MAX)
				*freepos = i;
		} else if ((uint32_t)(w >> 32) == tag && rec_matches(rec_of(as, ref), ref, k)) {
			/* The reference read here, never the slot again: the
			 * writer may have emptied it since. */
			*pos = i;
			*refp = ref;
			return true;
		}
		if (++i == s->n)
			i = 0;
	}
	return false;
}

static struct slots *slots_new(uint32_t n)
{
	struct slots *s = calloc(1, sizeof(*s) + (size_t)n * sizeof(s->w[0]));

	if (s)
		s->n = n;
	return s;
}

static struct slots *slots_cur(struct allowset *as)
{
	return atomic_load_explicit(&as->slots, memory_order_acquire);
}

static void rec_key(struct allowset *as, uint32_t ref, struct key *k)
{
	struct rec *r = rec_of(as, ref);

	memset(k, 0, sizeof(*k));
	k->sid = r->scope;
	k->v6 = ref & REF_V6;
	if (k->v6)
		memcpy(k->a, ((struct rec6 *)(void *)r)->a6, 16);
	else
		memcpy(k->a, r->a4, 4);
	memcpy(&k->w4, &r->scope, 8);
}

static void rec_addr(struct allowset *as, uint32_t ref, struct addr *a)
{
	struct rec *r = rec_of(as, ref);

	if (ref & REF_V6)
		addr_from_v6(a, ((struct rec6 *)(void *)r)->a6);
	else
		addr_from_v4(a, r->a4);
}

static void free_slots_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct slots, rcu));
}

/* Writer. Replace the slots by a copy without tombstones once they are
 * 1/8 of the array (or force). On allocation failure the old array stays:
 * slower probes, same answers. */
static void slots_rebuild(struct allowset *as, bool force)
{
	struct slots *old = slots_cur(as), *s;

	if (as->iterating || (!force && as->tombs < old->n / 8) || as->tombs == 0)
		return;
	s = slots_new(old->n);
	if (!s)
		return;
	for (uint32_t i = 0; i < old->n; i++) {
		uint64_t w = atomic_load_explicit(&old->w[i], memory_order_relaxed);
		uint32_t ref = (uint32_t)w, j;
		struct key k;

		if (w == 0 || ref == REF_TOMB)
			continue;
		rec_key(as, ref, &k);
		j = slot_home(s, hash_key(as, &k));
		while (atomic_load_explicit(&s->w[j], memory_order_relaxed))
			j = j + 1 == s->n ? 0 : j + 1;
		atomic_store_explicit(&s->w[j], w, memory_order_relaxed);
	}
	atomic_store_explicit(&as->slots, s, memory_order_release);
	as->tombs = 0;
	call_rcu(&old->rcu, free_slots_rcu);
}

/* ---- table */

struct allowset *allowset_new(size_t max_entries, unsigned names_per_addr)
{
	struct allowset *as;
	unsigned long init = 64; /* side tables: they grow with gateway clients */
	uint32_t cap, n;

	if (max_entries == 0 || max_entries > MAX_ENTRIES || names_per_addr == 0) {
		errno = EINVAL;
		return NULL;
	}
	as = calloc(1, sizeof(*as));
	if (!as)
		return NULL;
	if (getrandom(&as->seed, sizeof(as->seed), GRND_NONBLOCK) != sizeof(as->seed))
		as->seed = allowset_now_ms() * 0x9e3779b97f4a7c15ULL ^ (uintptr_t)as;
	as->max_entries = max_entries;
	as->names_per_addr = names_per_addr;
	/* Slack for records waiting for a grace period. */
	cap = (uint32_t)(max_entries + max_entries / 8 + CHUNK);
	n = (uint32_t)(max_entries + max_entries / 2);
	if (n < 16)
		n = 16;
	as->byaddr = cds_lfht_new(init, init, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	as->slots = slots_new(n);
	if (!as->byaddr || !as->slots || pool_init(&as->p4, sizeof(struct rec), cap) < 0 ||
	    pool_init(&as->p6, sizeof(struct rec6), cap) < 0 || itab_init(&as->scopes, init) < 0 ||
	    itab_init(&as->owners, init) < 0) {
		if (as->byaddr)
			cds_lfht_destroy(as->byaddr, NULL);
		itab_destroy(&as->scopes);
		itab_destroy(&as->owners);
		free(as->p4.chunks);
		free(as->p6.chunks);
		free(as->slots);
		free(as);
		errno = ENOMEM;
		return NULL;
	}
	return as;
}

/* Writer, read lock held. Remove the entry in slot pos of the current
 * slots; its record is reused after a grace period. */
static void drop_at(struct allowset *as, uint32_t pos)
{
	struct slots *s = slots_cur(as);
	uint32_t ref = (uint32_t)atomic_load_explicit(&s->w[pos], memory_order_relaxed);
	struct rec *r = rec_of(as, ref);

	atomic_store_explicit(&s->w[pos], REF_TOMB, memory_order_release);
	as->tombs++;
	if (r->scope) {
		struct inode *sc = itab_by_id(&as->scopes, r->scope);
		struct addr a;

		rec_addr(as, ref, &a);
		ref_update(as, &a, -1);
		if (sc)
			itab_put(&as->scopes, sc);
	}
	if (r->owner) {
		struct inode *o = itab_by_id(&as->owners, r->owner);

		if (o)
			itab_put(&as->owners, o);
	}
	atomic_fetch_sub_explicit(&as->entries, 1, memory_order_relaxed);
	pool_put(pool_of(as, ref), ref_index(ref));
}

/* Every live slot of the current array, as (position, reference). The
 * array is not rebuilt meanwhile (iterating). */
#define for_each_slot(as, s, i, ref)                                                               \
	for (uint32_t i = 0; i < (s)->n; i++)                                                      \
		if (((ref) = (uint32_t)atomic_load_explicit(&(s)->w[i], memory_order_relaxed)) >=  \
		    REF_BASE)

void allowset_free(struct allowset **asp)
{
	struct allowset *as;

	if (!asp || !*asp)
		return;
	as = *asp;
	allowset_flush(as);
	/* Wait for every callback (names, nodes, slots, gp_done_cb) before
	 * the table goes away. */
	rcu_barrier();
	cds_lfht_destroy(as->byaddr, NULL);
	itab_destroy(&as->scopes);
	itab_destroy(&as->owners);
	pool_free(&as->p4);
	pool_free(&as->p6);
	free(slots_cur(as));
	free(as);
	*asp = NULL;
}

void allowset_reader_register(void)
{
	rcu_register_thread();
}

void allowset_reader_unregister(void)
{
	rcu_unregister_thread();
}

static bool meta_has_name(const struct allowset_meta *m, const char *name)
{
	size_t off = 0;

	for (unsigned i = 0; i < m->nnames; i++) {
		const char *n = m->names + off;

		if (strcasecmp(n, name) == 0)
			return true;
		off += strlen(n) + 1;
	}
	return false;
}

/* Build a new meta from an old one (may be NULL) plus a name. Returns NULL
 * with *unchanged set when nothing would change. */
static struct allowset_meta *meta_with(struct allowset *as, const struct allowset_meta *old,
				       const char *name, const char *server, bool *unchanged)
{
	struct allowset_meta *m;
	size_t nlen = name ? strlen(name) + 1 : 0;

	*unchanged = false;
	if ((old || (!name && !server)) && (!name || (old && meta_has_name(old, name))) &&
	    (!server || (old && strcmp(old->server, server) == 0))) {
		*unchanged = true;
		return NULL;
	}
	/* Sized to what it holds: most entries carry one short name. */
	m = calloc(1, sizeof(*m) + (old ? old->len : 0) + nlen);
	if (!m)
		return NULL;
	if (old) {
		memcpy(m->names, old->names, old->len);
		m->len = old->len;
		m->nnames = old->nnames;
		memcpy(m->server, old->server, sizeof(m->server));
	}
	if (server)
		snprintf(m->server, sizeof(m->server), "%s", server);
	if (name && !(old && meta_has_name(old, name))) {
		if (m->nnames >= as->names_per_addr || m->len + nlen > ALLOWSET_NAMES_LEN) {
			as->st.names_dropped++;
		} else {
			memcpy(m->names + m->len, name, nlen);
			m->len += nlen;
			m->nnames++;
		}
	}
	return m;
}

static uint64_t rec_expires(const struct rec *r)
{
	return atomic_load_explicit(&r->exp_src, memory_order_acquire) >> 2;
}

/* Remove every entry expired at now_ms (only those of owner, if not NULL);
 * when only_keep_window, only those past the keep window. Writer, read lock
 * held. Returns how many. */
static size_t remove_expired(struct allowset *as, uint64_t now_ms, bool only_keep_window,
			     const struct inode *owner)
{
	struct slots *s = slots_cur(as);
	uint32_t ref;
	size_t n = 0;

	as->iterating++;
	for_each_slot(as, s, i, ref)
	{
		struct rec *r = rec_of(as, ref);
		uint64_t exp = rec_expires(r);

		if (exp > now_ms || (owner && r->owner != inode_id(owner)))
			continue;
		if (only_keep_window && now_ms - exp < ALLOWSET_EXPIRED_KEEP_MS)
			continue;
		drop_at(as, i);
		n++;
	}
	as->iterating--;
	return n;
}

static void make_rkey(struct allowset_key *k, const struct addr *scope, const struct addr *a)
{
	memset(k, 0, sizeof(*k));
	if (scope && scope->family)
		key_norm(&k->scope, scope);
	key_norm(&k->addr, a);
}

static void remember_refused(struct allowset *as, const struct allowset_key *k,
			     enum allowset_refusal_reason reason, unsigned cls, const char *name,
			     uint64_t now_ms)
{
	unsigned i = as->refused_next++ % ALLOWSET_OVERCAP_RING;
	struct allowset_refusal *r = &as->refused[i].info;

	/* Odd sequence = slot being written; readers retry or skip it. */
	atomic_fetch_add_explicit(&as->refused[i].seq, 1, memory_order_acq_rel);
	as->refused[i].key = *k;
	r->reason = reason;
	r->cls = cls;
	r->at_ms = now_ms;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	atomic_fetch_add_explicit(&as->refused[i].seq, 1, memory_order_release);
}

void allowset_note_refused(struct allowset *as, const struct addr *scope, const struct addr *a,
			   enum allowset_refusal_reason reason, unsigned cls, const char *name,
			   uint64_t now_ms)
{
	struct allowset_key k;

	make_rkey(&k, scope, a);
	remember_refused(as, &k, reason, cls, name, now_ms);
}

bool allowset_refusal_get(struct allowset *as, const struct addr *scope, const struct addr *a,
			  struct allowset_refusal *out)
{
	struct allowset_key k, copy;
	struct allowset_refusal info, best = {0};
	bool found = false;

	make_rkey(&k, scope, a);
	for (unsigned i = 0; i < ALLOWSET_OVERCAP_RING; i++) {
		uint32_t s1 = atomic_load_explicit(&as->refused[i].seq, memory_order_acquire);

		if (s1 == 0 || (s1 & 1))
			continue;
		memcpy(&copy, &as->refused[i].key, sizeof(copy));
		/* A key torn by a concurrent write either mismatches (skipped:
		 * the slot is being replaced anyway) or is caught below. */
		if (memcmp(&copy, &k, sizeof(k)) != 0)
			continue;
		if (out)
			memcpy(&info, &as->refused[i].info, sizeof(info));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&as->refused[i].seq, memory_order_relaxed) != s1)
			continue;
		if (!out)
			return true;
		if (!found || info.at_ms >= best.at_ms)
			best = info;
		found = true;
	}
	if (found && out) {
		best.name[sizeof(best.name) - 1] = '\0';
		*out = best;
	}
	return found;
}

bool allowset_was_refused(struct allowset *as, const struct addr *scope, const struct addr *a)
{
	return allowset_refusal_get(as, scope, a, NULL);
}

uint64_t allowset_link(uint32_t ifindex, const uint8_t mac[6])
{
	uint64_t w = (uint64_t)((ifindex & 0x7fff) | 0x8000) << 48;

	for (int i = 0; i < 6; i++)
		w |= (uint64_t)mac[i] << (8 * (5 - i));
	return w;
}

int allowset_add(struct allowset *as, const struct addr *scope, const struct addr *a,
		 uint64_t expires_ms, enum allowset_source src, const char *name,
		 const char *server, uint64_t now_ms)
{
	return allowset_add_owned(as, scope, 0, a, expires_ms, src, name, server, now_ms, NULL, 0);
}

int allowset_add_linked(struct allowset *as, const struct addr *scope, uint64_t link,
			const struct addr *a, uint64_t expires_ms, enum allowset_source src,
			const char *name, const char *server, uint64_t now_ms)
{
	return allowset_add_owned(as, scope, link, a, expires_ms, src, name, server, now_ms, NULL,
				  0);
}

/* Writer, read lock held. May owner key have one more entry? Creates its
 * record when needed (*op, NULL when owner is NULL). Returns 0, -EDQUOT,
 * -ENOSPC or -ENOMEM. Expired entries of the owner still in the keep window
 * are reclaimed first, at most once a second per owner (the scan walks the
 * whole table), so an owner's quota is its unexpired entries. */
static int owner_admit(struct allowset *as, const struct allowset_key *k, const struct addr *key,
		       uint32_t quota, const char *name, uint64_t now_ms, struct inode **op)
{
	struct inode *o;
	int rc;

	*op = NULL;
	if (!key)
		return 0;
	rc = itab_get(as, &as->owners, key, &o);
	if (rc < 0)
		return rc;
	if (quota && o->refs >= quota && now_ms - o->reclaim_ms >= 1000) {
		o->reclaim_ms = now_ms;
		o->refs++; /* keep o alive while its entries go */
		as->st.evicted += remove_expired(as, now_ms, false, o);
		o->refs--;
	}
	if (quota && o->refs >= quota) {
		as->st.quota++;
		/* Explained as over-cap, like a full table. */
		remember_refused(as, k, ALLOWSET_REFUSED_QUOTA, 0, name, now_ms);
		itab_unused(&as->owners, o);
		return -EDQUOT;
	}
	*op = o;
	return 0;
}

/* Writer, read lock held. Extend the entry in slot pos. */
static int refresh(struct allowset *as, uint32_t ref, uint64_t link, uint64_t expires_ms,
		   enum allowset_source src, const char *name, const char *server)
{
	struct rec *r = rec_of(as, ref);
	struct cold *c = cold_of(as, ref);
	struct allowset_meta *old = atomic_load_explicit(&c->meta, memory_order_relaxed), *m;
	uint64_t es = atomic_load_explicit(&r->exp_src, memory_order_relaxed);
	uint64_t exp = es >> 2, source = es & 3;
	bool unchanged;

	/* The latest lookup's link wins (an address handed to another host by
	 * DHCP moves with its next lookup). */
	if (link)
		atomic_store_explicit(&r->link, link, memory_order_release);
	/* A manual allow stays manual; a lookup does not demote it. */
	if (src == ALLOWSET_MANUAL)
		source = ALLOWSET_MANUAL;
	if (exp < expires_ms)
		exp = expires_ms;
	atomic_store_explicit(&r->exp_src, exp << 2 | source, memory_order_release);
	as->st.refreshes++;
	m = meta_with(as, old, name, server, &unchanged);
	if (m) {
		atomic_store_explicit(&c->meta, m, memory_order_release);
		if (old)
			call_rcu(&old->rcu, free_meta_rcu_cb);
		return 0;
	}
	return unchanged ? 0 : -ENOMEM;
}

int allowset_add_owned(struct allowset *as, const struct addr *scope, uint64_t link,
		       const struct addr *a, uint64_t expires_ms, enum allowset_source src,
		       const char *name, const char *server, uint64_t now_ms,
		       const struct addr *owner, uint32_t quota)
{
	struct allowset_key rk;
	struct key k;
	struct inode *sc = NULL, *o = NULL;
	struct pool *p;
	struct slots *s;
	struct rec *r;
	struct cold *c;
	uint32_t pos, freepos, idx, ref = 0;
	uint64_t h;
	bool unchanged, scoped = scope && scope->family;
	int rc = 0;

	if (a->family != AF_INET && a->family != AF_INET6)
		return -EINVAL;
	if (expires_ms > EXP_MAX)
		expires_ms = EXP_MAX;
	p = a->family == AF_INET6 ? &as->p6 : &as->p4;
	pool_reserve(as, p);
	slots_rebuild(as, false);
	make_rkey(&rk, scope, a);
	rcu_read_lock();
	s = slots_cur(as);
	if (key_make(as, &k, scope, a, NULL)) {
		h = hash_key(as, &k);
		if (slot_find(as, s, &k, h, &pos, &ref, NULL)) {
			rc = refresh(as, ref, link, expires_ms, src, name, server);
			goto out;
		}
	}
	if (atomic_load_explicit(&as->entries, memory_order_relaxed) >= as->max_entries) {
		as->st.evicted += remove_expired(as, now_ms, false, NULL);
		if (atomic_load_explicit(&as->entries, memory_order_relaxed) >= as->max_entries) {
			as->st.full++;
			remember_refused(as, &rk, ALLOWSET_REFUSED_FULL, 0, name, now_ms);
			rc = -ENOSPC;
			goto out;
		}
	}
	/* A renewal (above) never counts: the entry stays with the owner that
	 * first learned it. Only a new entry needs room in the owner's quota
	 * (a full table is reported first: it is the bound everyone shares). */
	rc = owner_admit(as, &rk, owner, quota, name, now_ms, &o);
	if (rc < 0)
		goto out;
	/* Only now: the removals above may have dropped the scope's last
	 * entry, and with it the scope. */
	if (scoped) {
		rc = itab_get(as, &as->scopes, scope, &sc);
		if (rc < 0)
			goto out_owner;
	}
	/* The scope may be new: key and probe again (the removal above may
	 * also have freed a slot nearer the key's home). */
	key_make(as, &k, scope, a, NULL);
	h = hash_key(as, &k);
	slot_find(as, s, &k, h, &pos, &ref, &freepos);
	if (freepos == UINT32_MAX) {
		rc = -ENOSPC; /* no reusable slot: only while a walk holds tombstones */
		as->st.full++;
		remember_refused(as, &rk, ALLOWSET_REFUSED_FULL, 0, name, now_ms);
		goto out_owner;
	}
	if (scoped && ref_update(as, a, 1) < 0) {
		/* Without its counter the entry would be invisible to
		 * "other-client": refuse it rather than keep it half-known. */
		rc = -ENOMEM;
		goto out_owner;
	}
	rc = pool_get(p, &idx);
	if (rc < 0) {
		if (scoped)
			ref_update(as, a, -1);
		rc = -ENOMEM;
		goto out_owner;
	}
	r = rec_at(p, idx);
	c = cold_at(p, idx);
	ref = (idx + REF_BASE) | (k.v6 ? REF_V6 : 0);
	r->scope = k.sid;
	if (k.v6)
		memcpy(((struct rec6 *)(void *)r)->a6, k.a, 16);
	else
		memcpy(r->a4, k.a, 4);
	atomic_store_explicit(&r->exp_src, expires_ms << 2 | (uint64_t)(src & 3),
			      memory_order_relaxed);
	atomic_store_explicit(&r->link, link, memory_order_relaxed);
	atomic_store_explicit(&r->hits, 0, memory_order_relaxed);
	c->added_ms = now_ms;
	/* NULL is fine: no names. */
	atomic_store_explicit(&c->meta, meta_with(as, NULL, name, server, &unchanged),
			      memory_order_relaxed);
	if (o) {
		o->refs++;
		r->owner = inode_id(o);
	}
	if (sc)
		sc->refs++;
	if ((uint32_t)atomic_load_explicit(&s->w[freepos], memory_order_relaxed) == REF_TOMB)
		as->tombs--;
	/* Publish: every field above before the slot that leads to them. */
	atomic_store_explicit(&s->w[freepos], (h >> 32) << 32 | ref, memory_order_release);
	atomic_fetch_add_explicit(&as->entries, 1, memory_order_relaxed);
	as->st.inserts++;
	goto out;
out_owner:
	/* The entry did not make it: records made for it go too. */
	if (o)
		itab_unused(&as->owners, o);
	if (sc)
		itab_unused(&as->scopes, sc);
out:
	rcu_read_unlock();
	return rc;
}

int allowset_remove(struct allowset *as, const struct addr *scope, const struct addr *a)
{
	struct key k;
	uint32_t pos, ref = 0;
	int rc = -ENOENT;

	reclaim(as);
	rcu_read_lock();
	if (key_make(as, &k, scope, a, NULL) &&
	    slot_find(as, slots_cur(as), &k, hash_key(as, &k), &pos, &ref, NULL)) {
		drop_at(as, pos);
		as->st.removed++;
		rc = 0;
	}
	rcu_read_unlock();
	return rc;
}

size_t allowset_flush(struct allowset *as)
{
	struct slots *s;
	uint32_t ref;
	size_t n = 0;

	reclaim(as);
	rcu_read_lock();
	s = slots_cur(as);
	as->iterating++;
	for_each_slot(as, s, i, ref)
	{
		drop_at(as, i);
		n++;
	}
	as->iterating--;
	slots_rebuild(as, true);
	rcu_read_unlock();
	as->st.removed += n;
	return n;
}

void allowset_sweep(struct allowset *as, uint64_t now_ms)
{
	reclaim(as);
	rcu_read_lock();
	as->st.swept += remove_expired(as, now_ms, true, NULL);
	slots_rebuild(as, false);
	rcu_read_unlock();
}

/* Read lock held. A copy of the entry ref into v; scope is its scope, es
 * its exp_src word as the caller read it (once: the verdict and the view
 * must agree). */
static void fill_view(struct allowset *as, uint32_t ref, const struct addr *scope, uint64_t es,
		      struct allowset_view *v)
{
	struct rec *r = rec_of(as, ref);
	struct cold *c = cold_of(as, ref);
	const struct allowset_meta *m = atomic_load_explicit(&c->meta, memory_order_acquire);
	size_t off = 0, out = 0;

	memset(&v->scope, 0, sizeof(v->scope));
	if (scope && scope->family)
		key_norm(&v->scope, scope);
	rec_addr(as, ref, &v->addr);
	v->source = (enum allowset_source)(es & 3);
	v->added_ms = c->added_ms;
	v->expires_ms = es >> 2;
	v->hits = atomic_load_explicit(&r->hits, memory_order_relaxed);
	v->nnames = 0;
	v->names[0] = '\0';
	v->server[0] = '\0';
	if (!m)
		return;
	memcpy(v->server, m->server, sizeof(v->server));
	for (unsigned i = 0; i < m->nnames; i++) {
		const char *n = m->names + off;
		size_t len = strlen(n);
		int w = snprintf(v->names + out, sizeof(v->names) - out, "%s%s", i ? ", " : "", n);

		if (w < 0 || (size_t)w >= sizeof(v->names) - out)
			break;
		out += (size_t)w;
		off += len + 1;
		v->nnames++;
	}
}

/* Read lock held. The reference of (scope, a), 0 when absent. */
static uint32_t find(struct allowset *as, const struct addr *scope, const struct addr *a)
{
	struct key k;
	uint32_t pos, ref = 0;

	if (!key_make(as, &k, scope, a, NULL) ||
	    !slot_find(as, slots_cur(as), &k, hash_key(as, &k), &pos, &ref, NULL))
		return 0;
	return ref;
}

/* Read lock held. HIT or EXPIRED for r at now_ms, bumping its hits. */
static enum allowset_result judge(struct rec *r, uint64_t exp, uint64_t now_ms, bool count_hit)
{
	if (exp <= now_ms)
		return ALLOWSET_EXPIRED;
	/* Relaxed, and stops short of wrapping: no ordering is needed, and a
	 * few racing bumps past the ceiling are harmless. */
	if (count_hit && atomic_load_explicit(&r->hits, memory_order_relaxed) < HITS_CEILING)
		atomic_fetch_add_explicit(&r->hits, 1, memory_order_relaxed);
	return ALLOWSET_HIT;
}

enum allowset_result allowset_probe(struct allowset *as, const struct addr *scope,
				    const struct addr *a, uint64_t now_ms, uint64_t *expires_ms,
				    enum allowset_source *source, uint64_t *link, bool count_hit)
{
	enum allowset_result res = ALLOWSET_MISS;
	uint32_t ref;

	rcu_read_lock();
	ref = find(as, scope, a);
	if (ref) {
		struct rec *r = rec_of(as, ref);
		uint64_t es = atomic_load_explicit(&r->exp_src, memory_order_acquire);

		res = judge(r, es >> 2, now_ms, count_hit);
		*expires_ms = es >> 2;
		*source = (enum allowset_source)(es & 3);
		if (link)
			*link = atomic_load_explicit(&r->link, memory_order_acquire);
	}
	rcu_read_unlock();
	return res;
}

enum allowset_result allowset_lookup(struct allowset *as, const struct addr *scope,
				     const struct addr *a, uint64_t now_ms,
				     struct allowset_view *view, bool count_hit)
{
	enum allowset_result res = ALLOWSET_MISS;
	uint32_t ref;

	rcu_read_lock();
	ref = find(as, scope, a);
	if (ref) {
		struct rec *r = rec_of(as, ref);
		uint64_t es = atomic_load_explicit(&r->exp_src, memory_order_acquire);

		res = judge(r, es >> 2, now_ms, count_hit);
		if (view)
			fill_view(as, ref, scope, es, view);
	}
	rcu_read_unlock();
	return res;
}

/* Writer, read lock held. The scope address of a record's scope id. */
static const struct addr *scope_addr(struct allowset *as, uint32_t sid)
{
	struct inode *n = sid ? itab_by_id(&as->scopes, sid) : NULL;

	return n ? &n->key : NULL;
}

int allowset_walk(struct allowset *as, int (*fn)(const struct allowset_view *v, void *arg),
		  void *arg)
{
	struct allowset_view v;
	struct slots *s;
	uint32_t ref;
	int rc = 0;

	rcu_read_lock();
	s = slots_cur(as);
	as->iterating++;
	for_each_slot(as, s, i, ref)
	{
		struct rec *r = rec_of(as, ref);

		fill_view(as, ref, scope_addr(as, r->scope),
			  atomic_load_explicit(&r->exp_src, memory_order_relaxed), &v);
		rc = fn(&v, arg);
		if (rc)
			break;
	}
	as->iterating--;
	rcu_read_unlock();
	return rc;
}

size_t allowset_unscope(struct allowset *as, uint64_t now_ms)
{
	struct slots *s;
	uint32_t ref;
	size_t n = 0;

	/* No read lock across allowset_add(): it may wait for a grace
	 * period. The writer is the only one that frees what it reads here. */
	s = slots_cur(as);
	as->iterating++;
	for_each_slot(as, s, i, ref)
	{
		struct rec *r = rec_of(as, ref);
		const struct allowset_meta *m =
		    atomic_load_explicit(&cold_of(as, ref)->meta, memory_order_relaxed);
		uint64_t es = atomic_load_explicit(&r->exp_src, memory_order_relaxed);
		enum allowset_source src = (enum allowset_source)(es & 3);
		size_t off = 0;
		struct addr a;

		if (!r->scope || es >> 2 <= now_ms)
			continue;
		rec_addr(as, ref, &a);
		/* The global copy first, then drop the scoped one: a reader
		 * never finds neither. Names are carried over one by one; m
		 * stays (only a refresh of this entry would replace it). */
		if (!m || m->nnames == 0)
			allowset_add(as, NULL, &a, es >> 2, src, NULL, m ? m->server : NULL,
				     now_ms);
		for (unsigned j = 0; m && j < m->nnames; j++) {
			const char *name = m->names + off;

			allowset_add(as, NULL, &a, es >> 2, src, name, m->server, now_ms);
			off += strlen(name) + 1;
		}
		rcu_read_lock();
		drop_at(as, i);
		rcu_read_unlock();
		n++;
	}
	as->iterating--;
	slots_rebuild(as, false);
	return n;
}

bool allowset_scoped_elsewhere(struct allowset *as, const struct addr *a)
{
	struct allowset_addrref *r;
	bool found;

	rcu_read_lock();
	r = find_ref(as, a);
	found = r && atomic_load_explicit(&r->count, memory_order_relaxed) > 0;
	rcu_read_unlock();
	return found;
}

const struct addr *allowset_scope_self(void)
{
	/* A family no packet has: the gateway's own flows and lookups. */
	static const struct addr self = {.family = AF_LOCAL};

	return &self;
}

void allowset_get_stats(struct allowset *as, struct allowset_stats *st)
{
	*st = as->st;
	st->entries = atomic_load_explicit(&as->entries, memory_order_relaxed);
}

unsigned allowset_owner_entries(struct allowset *as, const struct addr *owner)
{
	struct inode *o;
	unsigned n;

	rcu_read_lock();
	o = itab_find(as, &as->owners, owner);
	n = o ? o->refs : 0;
	rcu_read_unlock();
	return n;
}

size_t allowset_owner_count(struct allowset *as)
{
	unsigned long n = 0;
	long approx_before, approx_after;

	rcu_read_lock();
	cds_lfht_count_nodes(as->owners.bykey, &approx_before, &n, &approx_after);
	rcu_read_unlock();
	return n;
}

size_t allowset_capacity(const struct allowset *as)
{
	return as->max_entries;
}
