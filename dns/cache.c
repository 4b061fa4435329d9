/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dns/cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define WIRE_TYPE_SOA 6

/* Fixed part of an entry's cost against max_bytes. */
#define ENTRY_OVERHEAD 96

enum kind { KIND_POS = 0, KIND_NEG = 1 };

struct entry {
	struct entry *hnext;	   /* hash chain */
	struct entry *prev, *next; /* LRU list of its kind, head most recent */
	struct cache_key key;
	uint64_t inserted_ms, expires_ms, used_ms;
	uint32_t hits;
	uint16_t rcode;
	uint8_t kind;
	char server[CACHE_SERVER_MAX];
	size_t len, nttl;
	size_t cost;
	uint16_t *ttl_off; /* offsets of the TTL fields in msg (not OPT) */
	uint8_t *msg;
};

struct lru {
	struct entry *head, *tail;
	uint64_t n;
};

struct cache {
	struct cache_limits lim;
	uint64_t seed;
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	struct lru lru[2];
	uint64_t bytes;
	uint64_t swept_ms;
	struct cache_stats st;
};

static uint64_t key_hash(const struct cache *c, const struct cache_key *k)
{
	uint64_t h = 0xcbf29ce484222325ull ^ c->seed; /* FNV-1a, seeded */
	uint8_t tail[8];

	for (size_t i = 0; i < k->qname.len; i++)
		h = (h ^ k->qname.b[i]) * 0x100000001b3ull;
	memcpy(tail, &k->qtype, 2);
	memcpy(tail + 2, &k->qclass, 2);
	memcpy(tail + 4, &k->identity, 4);
	for (size_t i = 0; i < sizeof(tail); i++)
		h = (h ^ tail[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static bool key_equal(const struct cache_key *a, const struct cache_key *b)
{
	return a->qtype == b->qtype && a->qclass == b->qclass && a->identity == b->identity &&
	       a->qname.len == b->qname.len && memcmp(a->qname.b, b->qname.b, a->qname.len) == 0;
}

struct cache *cache_new(const struct cache_limits *lim, uint64_t seed)
{
	struct cache *c;

	if (!lim->max_entries || lim->max_entries > CACHE_MAX_ENTRIES ||
	    lim->max_bytes < CACHE_ENTRY_MAX || lim->negative_max > lim->max_entries) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->lim = *lim;
	c->seed = seed;
	c->nbuckets = 16;
	while (c->nbuckets < lim->max_entries)
		c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	return c;
}

static void lru_unlink(struct lru *l, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
	l->n--;
}

static void lru_push(struct lru *l, struct entry *e)
{
	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	else
		l->tail = e;
	l->head = e;
	l->n++;
}

static struct entry **bucket_of(struct cache *c, const struct cache_key *k)
{
	return &c->buckets[key_hash(c, k) & (c->nbuckets - 1)];
}

static void entry_remove(struct cache *c, struct entry *e)
{
	struct entry **pp = bucket_of(c, &e->key);

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(&c->lru[e->kind], e);
	c->bytes -= e->cost;
	free(e->ttl_off);
	free(e->msg);
	free(e);
}

static struct entry *find(struct cache *c, const struct cache_key *k)
{
	for (struct entry *e = *bucket_of(c, k); e; e = e->hnext)
		if (key_equal(&e->key, k))
			return e;
	return NULL;
}

void cache_free(struct cache **cp)
{
	if (!cp || !*cp)
		return;
	cache_flush(*cp);
	free((*cp)->buckets);
	free(*cp);
	*cp = NULL;
}

uint64_t cache_flush(struct cache *c)
{
	uint64_t n = 0;

	for (int k = 0; k < 2; k++)
		while (c->lru[k].head) {
			entry_remove(c, c->lru[k].head);
			n++;
		}
	c->st.flushed += n;
	return n;
}

static void sweep(struct cache *c, uint64_t now_ms)
{
	for (int k = 0; k < 2; k++)
		for (struct entry *e = c->lru[k].head, *next; e; e = next) {
			next = e->next;
			if (now_ms >= e->expires_ms) {
				c->st.expired++;
				entry_remove(c, e);
			}
		}
	c->swept_ms = now_ms;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Is m a negative answer (RFC 2308 §1: NXDOMAIN, or NOERROR with no record
 * of the question's type for... any owner in the answer section)? */
static bool is_negative(const struct wire_msg *m)
{
	if (m->rcode == WIRE_RCODE_NXDOMAIN)
		return true;
	for (size_t i = 0; i < m->nrr; i++)
		if (m->rr[i].section == WIRE_SEC_ANSWER &&
		    (m->rr[i].type == m->qtype || m->qtype == WIRE_TYPE_ANY ||
		     m->qtype == WIRE_TYPE_CNAME))
			return false;
	return true;
}

/* The lifetime of m in seconds (0: do not cache). */
static uint32_t lifetime(const struct cache *c, const struct wire_msg *m, bool negative)
{
	uint32_t t = c->lim.max_ttl;
	bool soa = false;

	for (size_t i = 0; i < m->nrr; i++) {
		const struct wire_rr *rr = &m->rr[i];

		if (rr->type == WIRE_TYPE_OPT)
			continue;
		t = UTIL_MIN(t, rr->ttl);
		/* RFC 2308 §5: the negative TTL is the SOA's TTL and MINIMUM,
		 * the SOA of the authority section. */
		if (negative && rr->section == WIRE_SEC_AUTHORITY && rr->type == WIRE_TYPE_SOA &&
		    rr->rdlen >= 22) {
			t = UTIL_MIN(t, rd32(m->buf + rr->rdata_off + rr->rdlen - 4));
			soa = true;
		}
	}
	if (negative && !soa)
		return 0; /* RFC 2308 §5: without an SOA, not cached */
	return t;
}

/* Make room for one entry of kind with cost bytes: expired first (a full
 * sweep at most every CACHE_SWEEP_MS), then the least recently used. */
static void make_room(struct cache *c, enum kind kind, size_t cost, uint64_t now_ms)
{
	bool ent = c->lru[0].n + c->lru[1].n >= c->lim.max_entries;
	bool byt = c->bytes + cost > c->lim.max_bytes;
	bool neg = kind == KIND_NEG && c->lru[KIND_NEG].n >= c->lim.negative_max;

	if (!ent && !byt && !neg)
		return;
	if (now_ms - c->swept_ms >= CACHE_SWEEP_MS || now_ms < c->swept_ms)
		sweep(c, now_ms);
	if (kind == KIND_NEG && c->lru[KIND_NEG].n >= c->lim.negative_max) {
		c->st.negative_full++;
		while (c->lru[KIND_NEG].n >= c->lim.negative_max && c->lru[KIND_NEG].tail) {
			c->st.evicted++;
			entry_remove(c, c->lru[KIND_NEG].tail);
		}
	}
	ent = c->lru[0].n + c->lru[1].n >= c->lim.max_entries;
	byt = c->bytes + cost > c->lim.max_bytes;
	if (ent)
		c->st.full_entries++;
	if (byt)
		c->st.full_bytes++;
	while ((c->lru[0].n + c->lru[1].n >= c->lim.max_entries ||
		c->bytes + cost > c->lim.max_bytes) &&
	       (c->lru[0].tail || c->lru[1].tail)) {
		struct entry *p = c->lru[0].tail, *n = c->lru[1].tail;
		struct entry *victim = !p ? n : !n ? p : (p->used_ms <= n->used_ms ? p : n);

		c->st.evicted++;
		entry_remove(c, victim);
	}
}

int cache_insert(struct cache *c, const struct cache_key *key, const struct wire_msg *m,
		 const char *server, uint64_t now_ms)
{
	bool negative;
	uint32_t life;
	struct entry *e, *old;
	size_t nttl = 0;

	if ((m->flags & WIRE_FLAG_TC) ||
	    (m->rcode != WIRE_RCODE_NOERROR && m->rcode != WIRE_RCODE_NXDOMAIN)) {
		c->st.uncacheable++;
		return -ENODATA;
	}
	negative = is_negative(m);
	life = lifetime(c, m, negative);
	if (!life || (negative && !c->lim.negative_max)) {
		c->st.uncacheable++;
		return -ENODATA;
	}
	if (m->len > CACHE_ENTRY_MAX) {
		c->st.too_big++;
		return -E2BIG;
	}
	old = find(c, key);
	if (old)
		entry_remove(c, old);
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->msg = malloc(m->len);
	e->ttl_off = calloc(m->nrr ? m->nrr : 1, sizeof(*e->ttl_off));
	if (!e->msg || !e->ttl_off) {
		free(e->msg);
		free(e->ttl_off);
		free(e);
		return -ENOMEM;
	}
	memcpy(e->msg, m->buf, m->len);
	for (size_t i = 0; i < m->nrr; i++) {
		const struct wire_rr *rr = &m->rr[i];

		if (rr->type == WIRE_TYPE_OPT)
			continue;
		/* TTL precedes RDLENGTH (RFC 1035 §4.1.3); capped so that no
		 * record is served past the entry's life. */
		e->ttl_off[nttl] = (uint16_t)(rr->rdata_off - 6);
		wr32(e->msg + e->ttl_off[nttl], UTIL_MIN(rr->ttl, c->lim.max_ttl));
		nttl++;
	}
	e->key = *key;
	e->len = m->len;
	e->nttl = nttl;
	e->rcode = m->rcode;
	e->kind = negative ? KIND_NEG : KIND_POS;
	e->inserted_ms = e->used_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)life * 1000u;
	e->cost = ENTRY_OVERHEAD + m->len + m->nrr * sizeof(*e->ttl_off);
	if (server)
		snprintf(e->server, sizeof(e->server), "%s", server);
	make_room(c, e->kind, e->cost, now_ms);
	{
		struct entry **b = bucket_of(c, key);

		e->hnext = *b;
		*b = e;
	}
	lru_push(&c->lru[e->kind], e);
	c->bytes += e->cost;
	c->st.inserts++;
	if (negative)
		c->st.negative++;
	return 0;
}

int cache_lookup(struct cache *c, const struct cache_key *key, uint64_t now_ms, uint8_t *out,
		 size_t cap, size_t *outlen, const char **server)
{
	struct entry *e = find(c, key);
	uint32_t age;

	if (e && now_ms >= e->expires_ms) {
		c->st.expired++;
		entry_remove(c, e);
		e = NULL;
	}
	if (!e || e->len > cap) {
		c->st.misses++;
		return e ? -ENOSPC : -ENOENT;
	}
	/* Rounded up: a served TTL never reaches past the entry's expiry. */
	age = now_ms <= e->inserted_ms ? 0 : (uint32_t)((now_ms - e->inserted_ms + 999) / 1000);
	memcpy(out, e->msg, e->len);
	for (size_t i = 0; i < e->nttl; i++) {
		uint32_t t = rd32(e->msg + e->ttl_off[i]);

		wr32(out + e->ttl_off[i], t > age ? t - age : 0);
	}
	*outlen = e->len;
	if (server)
		*server = e->server;
	e->used_ms = now_ms;
	e->hits++;
	lru_unlink(&c->lru[e->kind], e);
	lru_push(&c->lru[e->kind], e);
	c->st.hits++;
	return 0;
}

void cache_refuse(struct cache *c, const struct cache_key *key)
{
	struct entry *e = find(c, key);

	c->st.renew_refused++;
	if (e)
		entry_remove(c, e);
}

void cache_get_stats(const struct cache *c, struct cache_stats *st)
{
	*st = c->st;
	st->entries = c->lru[0].n + c->lru[1].n;
	st->negative_entries = c->lru[KIND_NEG].n;
	st->bytes = c->bytes;
}

unsigned cache_foreach(const struct cache *c, uint64_t now_ms, unsigned max,
		       void (*cb)(void *arg, const struct cache_item *it), void *arg)
{
	const struct entry *p = c->lru[0].head, *n = c->lru[1].head;
	unsigned count = 0;

	/* Merge the two lists, most recently used first. */
	while ((p || n) && count < max) {
		const struct entry *e;
		struct cache_item it;

		if (!n || (p && p->used_ms >= n->used_ms)) {
			e = p;
			p = p->next;
		} else {
			e = n;
			n = n->next;
		}
		if (now_ms >= e->expires_ms)
			continue;
		it.key = &e->key;
		it.rcode = e->rcode;
		it.negative = e->kind == KIND_NEG;
		it.ttl_left = (uint32_t)((e->expires_ms - now_ms) / 1000);
		it.hits = e->hits;
		it.len = e->len;
		cb(arg, &it);
		count++;
	}
	return count;
}

unsigned cache_counters(const struct cache_stats *st, struct cache_counter *out)
{
	unsigned i = 0;

	out[i++] = (struct cache_counter){"hits", st->hits, false};
	out[i++] = (struct cache_counter){"misses", st->misses, false};
	out[i++] = (struct cache_counter){"inserts", st->inserts, false};
	out[i++] = (struct cache_counter){"negative", st->negative, false};
	out[i++] = (struct cache_counter){"uncacheable", st->uncacheable, false};
	out[i++] = (struct cache_counter){"too_big", st->too_big, false};
	out[i++] = (struct cache_counter){"expired", st->expired, false};
	out[i++] = (struct cache_counter){"evicted", st->evicted, false};
	out[i++] = (struct cache_counter){"full_entries", st->full_entries, false};
	out[i++] = (struct cache_counter){"full_bytes", st->full_bytes, false};
	out[i++] = (struct cache_counter){"negative_full", st->negative_full, false};
	out[i++] = (struct cache_counter){"renew_refused", st->renew_refused, false};
	out[i++] = (struct cache_counter){"flushed", st->flushed, false};
	out[i++] = (struct cache_counter){"entries", st->entries, true};
	out[i++] = (struct cache_counter){"bytes", st->bytes, true};
	out[i++] = (struct cache_counter){"negative_entries", st->negative_entries, true};
	return i;
}

/* policy/conf.c bounds cache.max_entries and cache.max_bytes with these
 * numbers (policy does not include dns/). */
_Static_assert(CACHE_MAX_ENTRIES == 1048576, "cache.max_entries bound in policy/conf.c");
_Static_assert(CACHE_ENTRY_MAX == 16384, "cache.max_bytes bound in policy/conf.c");
