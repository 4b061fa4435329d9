/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/cache: hand-built answers stored and read back. TTLs counting down
 * (rounded up, never past the expiry), nothing served at or after the
 * expiry, the three bounds (entries, bytes, negative) each counted,
 * RFC 2308 negative lifetimes (SOA TTL and MINIMUM, nothing without an
 * SOA), case-insensitive names, identities kept apart, a refused renewal
 * removing the entry, flush, and what is never cached.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dns/cache.h"
#include "dns/wire.h"

int main(void);

#define RR_MAX 64

struct mb {
	uint8_t b[20000];
	size_t len;
};

static void put8(struct mb *m, unsigned v)
{
	m->b[m->len++] = (uint8_t)v;
}
static void put16(struct mb *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}
static void put32(struct mb *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}
static void name(struct mb *m, const char *s)
{
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);

		put8(m, (unsigned)n);
		memcpy(m->b + m->len, s, n);
		m->len += n;
		s += n + (dot ? 1 : 0);
	}
	put8(m, 0);
}
static void hdr(struct mb *m, unsigned flags, const char *q, unsigned qtype, unsigned an,
		unsigned ns)
{
	m->len = 0;
	put16(m, 0x1234);
	put16(m, flags);
	put16(m, 1);
	put16(m, an);
	put16(m, ns);
	put16(m, 0);
	name(m, q);
	put16(m, qtype);
	put16(m, 1);
}
static void rr_a(struct mb *m, const char *owner, uint32_t ttl, unsigned last)
{
	name(m, owner);
	put16(m, WIRE_TYPE_A);
	put16(m, 1);
	put32(m, ttl);
	put16(m, 4);
	put8(m, 198);
	put8(m, 51);
	put8(m, 100);
	put8(m, last);
}
static void rr_soa(struct mb *m, const char *owner, uint32_t ttl, uint32_t minimum)
{
	name(m, owner);
	put16(m, 6);
	put16(m, 1);
	put32(m, ttl);
	put16(m, 22);
	put8(m, 0); /* mname "." */
	put8(m, 0); /* rname "." */
	put32(m, 1);
	put32(m, 3600);
	put32(m, 600);
	put32(m, 86400);
	put32(m, minimum);
}

static struct wire_rr rrs[RR_MAX];

static bool parse(const struct mb *b, struct wire_msg *m)
{
	return wire_msg_parse(b->b, b->len, rrs, RR_MAX, m) == WIRE_OK;
}

static struct cache_key key(const char *n, unsigned qtype, uint32_t identity)
{
	struct cache_key k;

	memset(&k, 0, sizeof(k));
	wire_name_from_str(n, &k.qname);
	k.qtype = (uint16_t)qtype;
	k.qclass = 1;
	k.identity = identity;
	return k;
}

/* The TTL of the first answer record of the message in out. */
static uint32_t first_ttl(const uint8_t *out, size_t len)
{
	struct wire_msg m;
	struct wire_rr r[RR_MAX];

	if (wire_msg_parse(out, len, r, RR_MAX, &m) != WIRE_OK || m.nrr == 0)
		return UINT32_MAX;
	return m.rr[0].ttl;
}

static const struct cache_limits lim = {
    .max_entries = 8, .max_bytes = 1u << 20, .negative_max = 2, .max_ttl = 86400};

static void test_ttl(void)
{
	struct cache *c = cache_new(&lim, 1);
	struct cache_key k = key("www.example.com", WIRE_TYPE_A, 0);
	struct cache_stats st;
	struct wire_msg m;
	struct mb b;
	uint8_t out[4096];
	size_t len;
	const char *srv = NULL;

	hdr(&b, 0x8180, "www.example.com", WIRE_TYPE_A, 2, 0);
	rr_a(&b, "www.example.com", 300, 1);
	rr_a(&b, "www.example.com", 60, 2);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, "pdns", 1000000) == 0);
	CHECK(cache_lookup(c, &k, 1000000, out, sizeof(out), &len, &srv) == 0);
	CHECK(len == b.len);
	CHECK_STREQ(srv, "pdns");
	CHECK(first_ttl(out, len) == 300);
	/* 0.1 s later: rounded up to 1 s */
	CHECK(cache_lookup(c, &k, 1000100, out, sizeof(out), &len, NULL) == 0);
	CHECK(first_ttl(out, len) == 299);
	CHECK(cache_lookup(c, &k, 1030000, out, sizeof(out), &len, NULL) == 0);
	CHECK(first_ttl(out, len) == 270);
	/* the second record's TTL went down too */
	{
		struct wire_msg o;
		struct wire_rr r[RR_MAX];

		CHECK(wire_msg_parse(out, len, r, RR_MAX, &o) == WIRE_OK);
		CHECK(o.nrr == 2 && o.rr[1].ttl == 30);
	}
	/* The entry lives 60 s (the smallest TTL): just before, a TTL of 0
	 * rounded; at 60 s, gone (never stale). */
	CHECK(cache_lookup(c, &k, 1059999, out, sizeof(out), &len, NULL) == 0);
	CHECK(cache_lookup(c, &k, 1060000, out, sizeof(out), &len, NULL) == -ENOENT);
	cache_get_stats(c, &st);
	CHECK(st.hits == 4 && st.misses == 1 && st.expired == 1 && st.entries == 0);
	CHECK(st.bytes == 0);
	/* A buffer too small is a miss, never a partial copy. */
	CHECK(cache_insert(c, &k, &m, NULL, 2000000) == 0);
	CHECK(cache_lookup(c, &k, 2000000, out, 10, &len, NULL) == -ENOSPC);
	cache_free(&c);
	CHECK(c == NULL);
	cache_free(&c);
}

static void test_ttl_cap(void)
{
	struct cache_limits l = lim;
	struct cache *c;
	struct cache_key k = key("a.example", WIRE_TYPE_A, 0);
	struct wire_msg m;
	struct mb b;
	uint8_t out[4096];
	size_t len;

	l.max_ttl = 100;
	c = cache_new(&l, 2);
	hdr(&b, 0x8180, "a.example", WIRE_TYPE_A, 1, 0);
	rr_a(&b, "a.example", 5000, 1);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == 0);
	CHECK(cache_lookup(c, &k, 0, out, sizeof(out), &len, NULL) == 0);
	CHECK(first_ttl(out, len) == 100);
	CHECK(cache_lookup(c, &k, 100000, out, sizeof(out), &len, NULL) == -ENOENT);
	cache_free(&c);
}

static void test_uncacheable(void)
{
	struct cache *c = cache_new(&lim, 3);
	struct cache_key k = key("a.example", WIRE_TYPE_A, 0);
	struct cache_stats st;
	struct wire_msg m;
	struct mb b;
	uint8_t out[4096];
	size_t len;

	/* TTL 0 */
	hdr(&b, 0x8180, "a.example", WIRE_TYPE_A, 1, 0);
	rr_a(&b, "a.example", 0, 1);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == -ENODATA);
	/* SERVFAIL */
	hdr(&b, 0x8182, "a.example", WIRE_TYPE_A, 0, 0);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == -ENODATA);
	/* TC */
	hdr(&b, 0x8380, "a.example", WIRE_TYPE_A, 1, 0);
	rr_a(&b, "a.example", 60, 1);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == -ENODATA);
	/* NXDOMAIN without an SOA (RFC 2308 §5) */
	hdr(&b, 0x8183, "a.example", WIRE_TYPE_A, 0, 0);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == -ENODATA);
	/* NODATA without an SOA */
	hdr(&b, 0x8180, "a.example", WIRE_TYPE_A, 0, 0);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == -ENODATA);
	cache_get_stats(c, &st);
	CHECK(st.uncacheable == 5 && st.inserts == 0 && st.entries == 0);
	CHECK(cache_lookup(c, &k, 0, out, sizeof(out), &len, NULL) == -ENOENT);
	/* Too big for one entry */
	hdr(&b, 0x8180, "a.example", WIRE_TYPE_A, 700, 0);
	for (unsigned i = 0; i < 700; i++)
		rr_a(&b, "a.example", 60, i & 0xff);
	{
		static struct wire_rr big[1300];

		CHECK(wire_msg_parse(b.b, b.len, big, 1300, &m) == WIRE_OK);
		CHECK(m.len > CACHE_ENTRY_MAX);
		CHECK(cache_insert(c, &k, &m, NULL, 0) == -E2BIG);
	}
	cache_get_stats(c, &st);
	CHECK(st.too_big == 1);
	cache_free(&c);
}

static void test_negative(void)
{
	struct cache *c = cache_new(&lim, 4);
	struct cache_key k = key("nx.example", WIRE_TYPE_A, 0);
	struct cache_stats st;
	struct wire_msg m;
	struct mb b;
	uint8_t out[4096];
	size_t len;

	/* NXDOMAIN, SOA TTL 3600, MINIMUM 30: lives 30 s */
	hdr(&b, 0x8183, "nx.example", WIRE_TYPE_A, 0, 1);
	rr_soa(&b, "example", 3600, 30);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == 0);
	CHECK(cache_lookup(c, &k, 10000, out, sizeof(out), &len, NULL) == 0);
	CHECK((out[3] & 0xf) == WIRE_RCODE_NXDOMAIN);
	CHECK(first_ttl(out, len) == 3590);
	CHECK(cache_lookup(c, &k, 30000, out, sizeof(out), &len, NULL) == -ENOENT);
	/* NODATA, SOA TTL 20 < MINIMUM 300: lives 20 s */
	k = key("nodata.example", WIRE_TYPE_AAAA, 0);
	hdr(&b, 0x8180, "nodata.example", WIRE_TYPE_AAAA, 0, 1);
	rr_soa(&b, "example", 20, 300);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == 0);
	CHECK(cache_lookup(c, &k, 19999, out, sizeof(out), &len, NULL) == 0);
	CHECK(cache_lookup(c, &k, 20000, out, sizeof(out), &len, NULL) == -ENOENT);
	/* The negative bound (2): the third evicts the least recently used
	 * negative entry, never a positive one. */
	{
		struct cache_key pos = key("pos.example", WIRE_TYPE_A, 0);
		struct cache_key n1 = key("n1.example", WIRE_TYPE_A, 0);
		struct cache_key n2 = key("n2.example", WIRE_TYPE_A, 0);
		struct cache_key n3 = key("n3.example", WIRE_TYPE_A, 0);
		struct wire_msg pm;
		struct mb pb;

		hdr(&pb, 0x8180, "pos.example", WIRE_TYPE_A, 1, 0);
		rr_a(&pb, "pos.example", 600, 9);
		CHECK(parse(&pb, &pm));
		CHECK(cache_insert(c, &pos, &pm, NULL, 100000) == 0);
		hdr(&b, 0x8183, "n1.example", WIRE_TYPE_A, 0, 1);
		rr_soa(&b, "example", 600, 600);
		CHECK(parse(&b, &m));
		CHECK(cache_insert(c, &n1, &m, NULL, 100001) == 0);
		CHECK(cache_insert(c, &n2, &m, NULL, 100002) == 0);
		CHECK(cache_lookup(c, &n1, 100003, out, sizeof(out), &len, NULL) == 0);
		CHECK(cache_insert(c, &n3, &m, NULL, 100004) == 0);
		cache_get_stats(c, &st);
		CHECK(st.negative_full == 1 && st.negative_entries == 2 && st.entries == 3);
		CHECK(cache_lookup(c, &n2, 100005, out, sizeof(out), &len, NULL) == -ENOENT);
		CHECK(cache_lookup(c, &n1, 100005, out, sizeof(out), &len, NULL) == 0);
		CHECK(cache_lookup(c, &n3, 100005, out, sizeof(out), &len, NULL) == 0);
		CHECK(cache_lookup(c, &pos, 100005, out, sizeof(out), &len, NULL) == 0);
	}
	cache_get_stats(c, &st);
	CHECK(st.negative == 5);
	cache_free(&c);
	/* negative_max 0: no negative caching at all */
	{
		struct cache_limits l = lim;

		l.negative_max = 0;
		c = cache_new(&l, 5);
		CHECK(cache_insert(c, &k, &m, NULL, 0) == -ENODATA);
		cache_free(&c);
	}
}

static void test_bounds(void)
{
	struct cache *c = cache_new(&lim, 6);
	struct cache_stats st;
	struct wire_msg m;
	struct mb b;
	uint8_t out[4096];
	size_t len;
	char n[64];

	/* max_entries 8: ten names, the two least recently used go */
	for (unsigned i = 0; i < 10; i++) {
		struct cache_key k;

		snprintf(n, sizeof(n), "h%u.example", i);
		k = key(n, WIRE_TYPE_A, 0);
		hdr(&b, 0x8180, n, WIRE_TYPE_A, 1, 0);
		rr_a(&b, n, 600, i);
		CHECK(parse(&b, &m));
		CHECK(cache_insert(c, &k, &m, NULL, i) == 0);
		if (i == 5) { /* h0 used again: h1 and h2 are the oldest */
			k = key("h0.example", WIRE_TYPE_A, 0);
			CHECK(cache_lookup(c, &k, 6, out, sizeof(out), &len, NULL) == 0);
		}
	}
	cache_get_stats(c, &st);
	CHECK(st.entries == 8 && st.full_entries == 2 && st.evicted == 2);
	for (unsigned i = 0; i < 10; i++) {
		struct cache_key k;

		snprintf(n, sizeof(n), "h%u.example", i);
		k = key(n, WIRE_TYPE_A, 0);
		CHECK_MSG((cache_lookup(c, &k, 20, out, sizeof(out), &len, NULL) == 0) ==
			      (i != 1 && i != 2),
			  "h%u", i);
	}
	/* expired entries go before any live one */
	{
		struct cache_key k = key("short.example", WIRE_TYPE_A, 0);

		cache_flush(c);
		hdr(&b, 0x8180, "short.example", WIRE_TYPE_A, 1, 0);
		rr_a(&b, "short.example", 1, 1);
		CHECK(parse(&b, &m));
		CHECK(cache_insert(c, &k, &m, NULL, 0) == 0);
		for (unsigned i = 0; i < 8; i++) {
			struct cache_key k2;

			snprintf(n, sizeof(n), "l%u.example", i);
			k2 = key(n, WIRE_TYPE_A, 0);
			hdr(&b, 0x8180, n, WIRE_TYPE_A, 1, 0);
			rr_a(&b, n, 600, i);
			CHECK(parse(&b, &m));
			CHECK(cache_insert(c, &k2, &m, NULL, 5000 + i) == 0);
		}
		cache_get_stats(c, &st);
		CHECK(st.entries == 8 && st.expired >= 1);
		CHECK(st.evicted == 2); /* none more than before */
	}
	cache_free(&c);
	/* max_bytes: the smallest allowed bound holds a few entries only */
	{
		struct cache_limits l = lim;
		uint64_t last_bytes = 0;

		l.max_entries = 1000;
		l.max_bytes = CACHE_ENTRY_MAX;
		c = cache_new(&l, 7);
		for (unsigned i = 0; i < 200; i++) {
			struct cache_key k;

			snprintf(n, sizeof(n), "b%u.example", i);
			k = key(n, WIRE_TYPE_A, 0);
			hdr(&b, 0x8180, n, WIRE_TYPE_A, 20, 0);
			for (unsigned j = 0; j < 20; j++)
				rr_a(&b, n, 600, j);
			CHECK(parse(&b, &m));
			CHECK(cache_insert(c, &k, &m, NULL, i) == 0);
			cache_get_stats(c, &st);
			CHECK(st.bytes <= CACHE_ENTRY_MAX);
			last_bytes = st.bytes;
		}
		CHECK(st.full_bytes > 0 && st.entries < 200 && last_bytes > 0);
		cache_free(&c);
	}
	/* bad bounds */
	{
		struct cache_limits l = lim;

		l.max_entries = 0;
		CHECK(cache_new(&l, 0) == NULL);
		l = lim;
		l.max_bytes = 10;
		CHECK(cache_new(&l, 0) == NULL);
		l = lim;
		l.negative_max = l.max_entries + 1;
		CHECK(cache_new(&l, 0) == NULL);
	}
}

static void test_keys(void)
{
	struct cache *c = cache_new(&lim, 8);
	struct cache_key k = key("WWW.Example.COM", WIRE_TYPE_A, 1);
	struct cache_key lower = key("www.example.com", WIRE_TYPE_A, 1);
	struct cache_key other_id = key("www.example.com", WIRE_TYPE_A, 2);
	struct cache_key aaaa = key("www.example.com", WIRE_TYPE_AAAA, 1);
	struct cache_key other_name = key("www.example.org", WIRE_TYPE_A, 1);
	struct cache_stats st;
	struct wire_msg m;
	struct mb b;
	uint8_t out[4096];
	size_t len;

	hdr(&b, 0x8180, "www.example.com", WIRE_TYPE_A, 1, 0);
	rr_a(&b, "www.example.com", 600, 1);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &k, &m, NULL, 0) == 0);
	/* the name case-insensitively (wire_name is lowercase) */
	CHECK(cache_lookup(c, &lower, 0, out, sizeof(out), &len, NULL) == 0);
	/* another identity, another type, another name: misses */
	CHECK(cache_lookup(c, &other_id, 0, out, sizeof(out), &len, NULL) == -ENOENT);
	CHECK(cache_lookup(c, &aaaa, 0, out, sizeof(out), &len, NULL) == -ENOENT);
	CHECK(cache_lookup(c, &other_name, 0, out, sizeof(out), &len, NULL) == -ENOENT);
	/* identity 2 gets its own answer, both kept */
	hdr(&b, 0x8180, "www.example.com", WIRE_TYPE_A, 1, 0);
	rr_a(&b, "www.example.com", 600, 2);
	CHECK(parse(&b, &m));
	CHECK(cache_insert(c, &other_id, &m, NULL, 0) == 0);
	CHECK(cache_lookup(c, &lower, 0, out, sizeof(out), &len, NULL) == 0);
	CHECK(out[len - 1] == 1);
	CHECK(cache_lookup(c, &other_id, 0, out, sizeof(out), &len, NULL) == 0);
	CHECK(out[len - 1] == 2);
	/* replacing keeps one entry */
	CHECK(cache_insert(c, &other_id, &m, NULL, 0) == 0);
	cache_get_stats(c, &st);
	CHECK(st.entries == 2 && st.inserts == 3);
	/* a refused renewal removes the entry, counted */
	cache_refuse(c, &lower);
	CHECK(cache_lookup(c, &lower, 0, out, sizeof(out), &len, NULL) == -ENOENT);
	CHECK(cache_lookup(c, &other_id, 0, out, sizeof(out), &len, NULL) == 0);
	cache_get_stats(c, &st);
	CHECK(st.renew_refused == 1 && st.entries == 1);
	/* flush */
	CHECK(cache_flush(c) == 1);
	CHECK(cache_lookup(c, &other_id, 0, out, sizeof(out), &len, NULL) == -ENOENT);
	cache_get_stats(c, &st);
	CHECK(st.flushed == 1 && st.entries == 0 && st.bytes == 0);
	cache_free(&c);
}

static unsigned seen;
static void count_item(void *arg, const struct cache_item *it)
{
	(void)arg;
	CHECK(it->ttl_left <= 600);
	seen++;
}

static void test_foreach(void)
{
	struct cache *c = cache_new(&lim, 9);
	struct cache_counter cn[CACHE_COUNTERS];
	struct cache_stats st;
	struct wire_msg m;
	struct mb b;
	char n[64];

	for (unsigned i = 0; i < 4; i++) {
		struct cache_key k;

		snprintf(n, sizeof(n), "f%u.example", i);
		k = key(n, WIRE_TYPE_A, 0);
		hdr(&b, 0x8180, n, WIRE_TYPE_A, 1, 0);
		rr_a(&b, n, i ? 600 : 1, i);
		CHECK(parse(&b, &m));
		CHECK(cache_insert(c, &k, &m, NULL, 0) == 0);
	}
	CHECK(cache_foreach(c, 2000, 100, count_item, NULL) == 3); /* f0 expired */
	CHECK(seen == 3);
	CHECK(cache_foreach(c, 2000, 2, count_item, NULL) == 2);
	cache_get_stats(c, &st);
	CHECK(cache_counters(&st, cn) == CACHE_COUNTERS);
	CHECK_STREQ(cn[0].name, "hits");
	cache_free(&c);
}

int main(void)
{
	test_ttl();
	test_ttl_cap();
	test_uncacheable();
	test_negative();
	test_bounds();
	test_keys();
	test_foreach();
	CHECK_DONE();
}
