/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/allowset.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>

#include <urcu.h>
#include <urcu/rculfhash.h>

#include "core/util.h"

struct allowset_key {
	struct addr scope;
	struct addr addr;
};

/* Names are replaced as a whole (copy, publish, free after a grace period),
 * so a reader always sees one consistent list. */
struct allowset_meta {
	struct rcu_head rcu;
	unsigned nnames;
	size_t len;
	char server[ALLOWSET_SERVER_LEN];
	char names[]; /* NUL-separated, len bytes (at most ALLOWSET_NAMES_LEN) */
};

struct allowset_entry {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	struct allowset_key key;
	enum allowset_source source;
	uint64_t added_ms;
	_Atomic uint64_t expires_ms;
	_Atomic uint64_t hits;
	/* The client's link (allowset_link()), 0 when unbound. One word, so a
	 * reader never sees half of an old binding and half of a new one. */
	_Atomic uint64_t link;
	struct allowset_meta *_Atomic meta;
	struct allowset_owner *owner; /* writer-only; NULL: counted against nobody */
};

/* Who caused entries to be learned (a local uid or a LAN client, as the stub
 * names them), and how many entries count against them: the per-owner quota.
 * Writer-only; kept in an rculfhash only because the table is there. */
struct allowset_owner {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	struct addr key;
	unsigned count;
	uint64_t reclaim_ms; /* last scan for this owner's expired entries */
};

/* How many scoped entries exist for an address, whatever their scope: lets
 * a gateway denial say "other-client" without a scan. Writer-maintained. */
struct allowset_addrref {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	struct addr addr;
	_Atomic unsigned count;
};

struct allowset {
	struct cds_lfht *ht;
	struct cds_lfht *byaddr;
	struct cds_lfht *owners;
	size_t max_entries;
	unsigned names_per_addr;
	_Atomic uint64_t entries;
	struct allowset_stats st; /* writer-only fields; entries is above */
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

static void make_key(struct allowset_key *k, const struct addr *scope, const struct addr *a)
{
	memset(k, 0, sizeof(*k));
	if (scope)
		k->scope = *scope;
	k->addr = *a;
}

/* Five 64-bit words, multiply-xorshift mixed: the key is fixed-size and
 * zero-padded, and the table is bounded, so this needs to be fast, not
 * keyed. */
static unsigned long hash_key(const struct allowset_key *k)
{
	uint64_t w[sizeof(*k) / 8], h = 0x9e3779b97f4a7c15ULL;

	_Static_assert(sizeof(*k) % 8 == 0, "allowset key is whole words");
	memcpy(w, k, sizeof(w));
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return (unsigned long)h;
}

/* Iterate entries. liburcu's cds_lfht_for_each_entry() computes
 * container_of(NULL), which UBSan rightly reports; this walks nodes. */
#define for_each_entry(ht, it, e)                                                                  \
	for (cds_lfht_first((ht), (it));                                                           \
	     cds_lfht_iter_get_node(it) &&                                                         \
	     ((e) = caa_container_of(cds_lfht_iter_get_node(it), struct allowset_entry, node), 1); \
	     cds_lfht_next((ht), (it)))

static unsigned long hash_addr(const struct addr *a)
{
	struct allowset_key k;

	make_key(&k, NULL, a);
	return hash_key(&k);
}

static int match_addr(struct cds_lfht_node *node, const void *key)
{
	const struct allowset_addrref *r = caa_container_of(node, struct allowset_addrref, node);

	return addr_equal(&r->addr, key);
}

static struct allowset_addrref *find_ref(struct allowset *as, const struct addr *a)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(as->byaddr, hash_addr(a), match_addr, a, &it);
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
		r->addr = *a;
		cds_lfht_node_init(&r->node);
		cds_lfht_add(as->byaddr, hash_addr(a), &r->node);
	}
	if (delta > 0) {
		atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
	} else if (atomic_fetch_sub_explicit(&r->count, 1, memory_order_relaxed) == 1) {
		if (cds_lfht_del(as->byaddr, &r->node) == 0)
			call_rcu(&r->rcu, free_ref_rcu);
	}
	return 0;
}

static int match_owner(struct cds_lfht_node *node, const void *key)
{
	const struct allowset_owner *o = caa_container_of(node, struct allowset_owner, node);

	return memcmp(&o->key, key, sizeof(o->key)) == 0;
}

/* Writer, read lock held. */
static struct allowset_owner *find_owner(struct allowset *as, const struct addr *key)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(as->owners, hash_addr(key), match_owner, key, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct allowset_owner, node) : NULL;
}

static void free_owner_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct allowset_owner, rcu));
}

/* Writer, read lock held. One entry less for o; the owner goes with its
 * last entry, so the owner table is never larger than the entry table. */
static void owner_put(struct allowset *as, struct allowset_owner *o)
{
	if (--o->count == 0 && cds_lfht_del(as->owners, &o->node) == 0)
		call_rcu(&o->rcu, free_owner_rcu);
}

static int match_key(struct cds_lfht_node *node, const void *key)
{
	const struct allowset_entry *e = caa_container_of(node, struct allowset_entry, node);

	return memcmp(&e->key, key, sizeof(e->key)) == 0;
}

struct allowset *allowset_new(size_t max_entries, unsigned names_per_addr)
{
	struct allowset *as;
	unsigned long init = 1024;

	if (max_entries == 0 || names_per_addr == 0) {
		errno = EINVAL;
		return NULL;
	}
	as = calloc(1, sizeof(*as));
	if (!as)
		return NULL;
	as->max_entries = max_entries;
	as->names_per_addr = names_per_addr;
	/* Buckets for the whole bound up front (at most 2^20): the table never
	 * waits for a resize on the insert path. */
	while (init < max_entries && init < (1UL << 20))
		init <<= 1;
	as->ht = cds_lfht_new(init, init, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	as->byaddr = cds_lfht_new(init, init, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	as->owners = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (!as->ht || !as->byaddr || !as->owners) {
		if (as->ht)
			cds_lfht_destroy(as->ht, NULL);
		if (as->byaddr)
			cds_lfht_destroy(as->byaddr, NULL);
		if (as->owners)
			cds_lfht_destroy(as->owners, NULL);
		free(as);
		errno = ENOMEM;
		return NULL;
	}
	return as;
}

static void free_meta_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct allowset_meta, rcu));
}

static void free_entry_rcu(struct rcu_head *h)
{
	struct allowset_entry *e = caa_container_of(h, struct allowset_entry, rcu);

	free(atomic_load_explicit(&e->meta, memory_order_relaxed));
	free(e);
}

/* Unlink e and free it after a grace period. Caller holds the read lock. */
static void drop_entry(struct allowset *as, struct allowset_entry *e)
{
	if (cds_lfht_del(as->ht, &e->node) == 0) {
		if (e->key.scope.family)
			ref_update(as, &e->key.addr, -1);
		if (e->owner)
			owner_put(as, e->owner);
		atomic_fetch_sub_explicit(&as->entries, 1, memory_order_relaxed);
		call_rcu(&e->rcu, free_entry_rcu);
	}
}

void allowset_free(struct allowset **asp)
{
	struct allowset *as;
	struct cds_lfht_iter it;
	struct allowset_entry *e;

	if (!asp || !*asp)
		return;
	as = *asp;
	rcu_read_lock();
	for_each_entry(as->ht, &it, e) drop_entry(as, e);
	rcu_read_unlock();
	/* Wait for every callback before the table goes away. */
	rcu_barrier();
	cds_lfht_destroy(as->ht, NULL);
	cds_lfht_destroy(as->byaddr, NULL);
	cds_lfht_destroy(as->owners, NULL);
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
	if (old && (!name || meta_has_name(old, name)) &&
	    (!server || strcmp(old->server, server) == 0)) {
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

static struct allowset_entry *find(struct allowset *as, const struct allowset_key *k)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(as->ht, hash_key(k), match_key, k, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct allowset_entry, node) : NULL;
}

/* Remove every entry expired at now_ms (only those of owner, if not NULL);
 * when only_keep_window, only those past the keep window. Caller holds the
 * read lock. Returns how many. */
static size_t remove_expired(struct allowset *as, uint64_t now_ms, bool only_keep_window,
			     const struct allowset_owner *owner)
{
	struct cds_lfht_iter it;
	struct allowset_entry *e;
	size_t n = 0;

	for_each_entry(as->ht, &it, e)
	{
		uint64_t exp = atomic_load_explicit(&e->expires_ms, memory_order_relaxed);

		if (exp > now_ms || (owner && e->owner != owner))
			continue;
		if (only_keep_window && now_ms - exp < ALLOWSET_EXPIRED_KEEP_MS)
			continue;
		drop_entry(as, e);
		n++;
	}
	return n;
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

	make_key(&k, scope, a);
	remember_refused(as, &k, reason, cls, name, now_ms);
}

bool allowset_refusal_get(struct allowset *as, const struct addr *scope, const struct addr *a,
			  struct allowset_refusal *out)
{
	struct allowset_key k, copy;
	struct allowset_refusal info, best = {0};
	bool found = false;

	make_key(&k, scope, a);
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
 * record when needed (*op, NULL when owner is NULL). Returns 0, -EDQUOT or
 * -ENOMEM. Expired entries of the owner still in the keep window are
 * reclaimed first, at most once a second per owner (the scan walks the
 * whole table), so an owner's quota is its unexpired entries. */
static int owner_admit(struct allowset *as, const struct allowset_key *k, const struct addr *key,
		       uint32_t quota, const char *name, uint64_t now_ms,
		       struct allowset_owner **op)
{
	struct allowset_owner *o;

	*op = NULL;
	if (!key)
		return 0;
	o = find_owner(as, key);
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			return -ENOMEM;
		o->key = *key;
		cds_lfht_node_init(&o->node);
		cds_lfht_add(as->owners, hash_addr(key), &o->node);
	}
	if (quota && o->count >= quota && now_ms - o->reclaim_ms >= 1000) {
		size_t n;

		o->reclaim_ms = now_ms;
		o->count++; /* keep o alive while its entries go */
		n = remove_expired(as, now_ms, false, o);
		o->count--;
		as->st.evicted += n;
	}
	if (quota && o->count >= quota) {
		as->st.quota++;
		/* Explained as over-cap, like a full table. */
		remember_refused(as, k, ALLOWSET_REFUSED_QUOTA, 0, name, now_ms);
		return -EDQUOT;
	}
	*op = o;
	return 0;
}

int allowset_add_owned(struct allowset *as, const struct addr *scope, uint64_t link,
		       const struct addr *a, uint64_t expires_ms, enum allowset_source src,
		       const char *name, const char *server, uint64_t now_ms,
		       const struct addr *owner, uint32_t quota)
{
	struct allowset_key k;
	struct allowset_entry *e;
	struct allowset_meta *m;
	struct allowset_owner *o = NULL;
	struct cds_lfht_node *ret;
	bool unchanged;
	int rc = 0;

	make_key(&k, scope, a);
	rcu_read_lock();
	e = find(as, &k);
	if (e) {
		struct allowset_meta *old = atomic_load_explicit(&e->meta, memory_order_acquire);

		/* The latest lookup's link wins (an address handed to another
		 * host by DHCP moves with its next lookup). */
		if (link)
			atomic_store_explicit(&e->link, link, memory_order_release);
		if (atomic_load_explicit(&e->expires_ms, memory_order_relaxed) < expires_ms)
			atomic_store_explicit(&e->expires_ms, expires_ms, memory_order_release);
		/* A manual allow stays manual; a lookup does not demote it. */
		if (src == ALLOWSET_MANUAL)
			e->source = ALLOWSET_MANUAL;
		m = meta_with(as, old, name, server, &unchanged);
		if (m) {
			atomic_store_explicit(&e->meta, m, memory_order_release);
			if (old)
				call_rcu(&old->rcu, free_meta_rcu);
		} else if (!unchanged) {
			rc = -ENOMEM;
		}
		as->st.refreshes++;
		goto out;
	}
	if (atomic_load_explicit(&as->entries, memory_order_relaxed) >= as->max_entries) {
		as->st.evicted += remove_expired(as, now_ms, false, NULL);
		if (atomic_load_explicit(&as->entries, memory_order_relaxed) >= as->max_entries) {
			as->st.full++;
			remember_refused(as, &k, ALLOWSET_REFUSED_FULL, 0, name, now_ms);
			rc = -ENOSPC;
			goto out;
		}
	}
	/* A renewal (above) never counts: the entry stays with the owner that
	 * first learned it. Only a new entry needs room in the owner's quota
	 * (a full table is reported first: it is the bound everyone shares). */
	rc = owner_admit(as, &k, owner, quota, name, now_ms, &o);
	if (rc < 0)
		goto out;
	e = calloc(1, sizeof(*e));
	if (!e) {
		rc = -ENOMEM;
		goto out_owner;
	}
	e->key = k;
	e->owner = o;
	if (o)
		o->count++;
	e->source = src;
	e->added_ms = now_ms;
	atomic_init(&e->expires_ms, expires_ms);
	atomic_init(&e->link, link);
	m = meta_with(as, NULL, name, server, &unchanged);
	atomic_init(&e->meta, m); /* NULL is fine: no names */
	cds_lfht_node_init(&e->node);
	ret = cds_lfht_add_unique(as->ht, hash_key(&k), match_key, &k, &e->node);
	if (ret != &e->node) {
		/* Only one writer exists, so this cannot happen; be safe. */
		free(m);
		free(e);
		if (o)
			o->count--;
		rc = -EEXIST;
		goto out_owner;
	}
	atomic_fetch_add_explicit(&as->entries, 1, memory_order_relaxed);
	as->st.inserts++;
	if (k.scope.family && ref_update(as, a, 1) < 0) {
		/* Without its counter the entry would be invisible to
		 * "other-client"; undo it rather than keep it half-known. */
		cds_lfht_del(as->ht, &e->node);
		atomic_fetch_sub_explicit(&as->entries, 1, memory_order_relaxed);
		call_rcu(&e->rcu, free_entry_rcu);
		if (o)
			o->count--;
		rc = -ENOMEM;
		goto out_owner;
	}
	goto out;
out_owner:
	/* The entry did not make it: an owner record made for it goes too. */
	if (o && o->count == 0 && cds_lfht_del(as->owners, &o->node) == 0)
		call_rcu(&o->rcu, free_owner_rcu);
out:
	rcu_read_unlock();
	return rc;
}

int allowset_remove(struct allowset *as, const struct addr *scope, const struct addr *a)
{
	struct allowset_key k;
	struct allowset_entry *e;
	int rc = -ENOENT;

	make_key(&k, scope, a);
	rcu_read_lock();
	e = find(as, &k);
	if (e) {
		drop_entry(as, e);
		as->st.removed++;
		rc = 0;
	}
	rcu_read_unlock();
	return rc;
}

size_t allowset_flush(struct allowset *as)
{
	struct cds_lfht_iter it;
	struct allowset_entry *e;
	size_t n = 0;

	rcu_read_lock();
	for_each_entry(as->ht, &it, e)
	{
		drop_entry(as, e);
		n++;
	}
	rcu_read_unlock();
	as->st.removed += n;
	return n;
}

void allowset_sweep(struct allowset *as, uint64_t now_ms)
{
	rcu_read_lock();
	as->st.swept += remove_expired(as, now_ms, true, NULL);
	rcu_read_unlock();
}

static void fill_view(const struct allowset_entry *e, struct allowset_view *v)
{
	const struct allowset_meta *m = atomic_load_explicit(&e->meta, memory_order_acquire);
	size_t off = 0, out = 0;

	v->scope = e->key.scope;
	v->addr = e->key.addr;
	v->source = e->source;
	v->added_ms = e->added_ms;
	v->expires_ms = atomic_load_explicit(&e->expires_ms, memory_order_acquire);
	v->hits = atomic_load_explicit(&e->hits, memory_order_relaxed);
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

enum allowset_result allowset_probe(struct allowset *as, const struct addr *scope,
				    const struct addr *a, uint64_t now_ms, uint64_t *expires_ms,
				    enum allowset_source *source, uint64_t *link, bool count_hit)
{
	struct allowset_key k;
	struct allowset_entry *e;
	enum allowset_result r = ALLOWSET_MISS;

	make_key(&k, scope, a);
	rcu_read_lock();
	e = find(as, &k);
	if (e) {
		uint64_t exp = atomic_load_explicit(&e->expires_ms, memory_order_acquire);

		r = exp > now_ms ? ALLOWSET_HIT : ALLOWSET_EXPIRED;
		if (count_hit && r == ALLOWSET_HIT)
			atomic_fetch_add_explicit(&e->hits, 1, memory_order_relaxed);
		*expires_ms = exp;
		*source = e->source;
		if (link)
			*link = atomic_load_explicit(&e->link, memory_order_acquire);
	}
	rcu_read_unlock();
	return r;
}

enum allowset_result allowset_lookup(struct allowset *as, const struct addr *scope,
				     const struct addr *a, uint64_t now_ms,
				     struct allowset_view *view, bool count_hit)
{
	struct allowset_key k;
	struct allowset_entry *e;
	enum allowset_result r = ALLOWSET_MISS;

	make_key(&k, scope, a);
	rcu_read_lock();
	e = find(as, &k);
	if (e) {
		uint64_t exp = atomic_load_explicit(&e->expires_ms, memory_order_acquire);

		r = exp > now_ms ? ALLOWSET_HIT : ALLOWSET_EXPIRED;
		if (count_hit && r == ALLOWSET_HIT)
			atomic_fetch_add_explicit(&e->hits, 1, memory_order_relaxed);
		if (view)
			fill_view(e, view);
	}
	rcu_read_unlock();
	return r;
}

int allowset_walk(struct allowset *as, int (*fn)(const struct allowset_view *v, void *arg),
		  void *arg)
{
	struct cds_lfht_iter it;
	struct allowset_entry *e;
	struct allowset_view v;
	int rc = 0;

	rcu_read_lock();
	for_each_entry(as->ht, &it, e)
	{
		fill_view(e, &v);
		rc = fn(&v, arg);
		if (rc)
			break;
	}
	rcu_read_unlock();
	return rc;
}

size_t allowset_unscope(struct allowset *as, uint64_t now_ms)
{
	struct cds_lfht_iter it;
	struct allowset_entry *e;
	size_t n = 0;

	rcu_read_lock();
	for_each_entry(as->ht, &it, e)
	{
		struct allowset_meta *m = atomic_load_explicit(&e->meta, memory_order_acquire);
		uint64_t exp = atomic_load_explicit(&e->expires_ms, memory_order_relaxed);
		size_t off = 0;

		if (!e->key.scope.family || exp <= now_ms)
			continue;
		/* The global copy first, then drop the scoped one: a reader
		 * never finds neither. Names are carried over one by one. */
		if (!m || m->nnames == 0) {
			allowset_add(as, NULL, &e->key.addr, exp, e->source, NULL,
				     m ? m->server : NULL, now_ms);
		}
		for (unsigned i = 0; m && i < m->nnames; i++) {
			const char *name = m->names + off;

			allowset_add(as, NULL, &e->key.addr, exp, e->source, name, m->server,
				     now_ms);
			off += strlen(name) + 1;
		}
		drop_entry(as, e);
		n++;
	}
	rcu_read_unlock();
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
	struct allowset_owner *o;
	unsigned n;

	rcu_read_lock();
	o = find_owner(as, owner);
	n = o ? o->count : 0;
	rcu_read_unlock();
	return n;
}

size_t allowset_owner_count(struct allowset *as)
{
	unsigned long n = 0;
	long approx_before, approx_after;

	rcu_read_lock();
	cds_lfht_count_nodes(as->owners, &approx_before, &n, &approx_after);
	rcu_read_unlock();
	return n;
}

size_t allowset_capacity(const struct allowset *as)
{
	return as->max_entries;
}
