/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exception subnets: longest-prefix match over hand-picked overlaps and
 * boundaries, then thousands of random lookups checked against a linear scan.
 */
#include "policy/exceptions.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/util.h"
#include "test/unit/check.h"

static struct prefix pfx(const char *s)
{
	struct prefix p;

	memset(&p, 0, sizeof(p));
	if (addr_prefix_parse(s, &p) < 0) {
		fprintf(stderr, "bad test prefix %s\n", s);
		abort();
	}
	return p;
}

/* The prefix that a matches, as text, or "-". */
static const char *match_str(const struct exceptions *ex, const char *a, char *buf, size_t len)
{
	const struct prefix *p;
	struct addr x;

	if (addr_parse(a, &x) < 0) {
		fprintf(stderr, "bad test address %s\n", a);
		abort();
	}
	p = exceptions_match(ex, &x);
	if (!p)
		return "-";
	return addr_prefix_format(p, buf, len);
}

#define EXPECT_MATCH(ex, a, want)                                                                  \
	do {                                                                                       \
		char b_[PREFIX_STRLEN];                                                            \
		CHECK_STREQ(match_str((ex), (a), b_, sizeof(b_)), (want));                         \
	} while (0)

static struct exceptions *build(const char *const *list, size_t n)
{
	struct prefix p[64];
	struct exceptions *ex;

	for (size_t i = 0; i < n; i++)
		p[i] = pfx(list[i]);
	ex = exceptions_new(p, n);
	CHECK(ex != NULL);
	return ex;
}

static void test_empty(void)
{
	struct exceptions *ex = exceptions_new(NULL, 0);
	static const char *const v4only[] = {"11.0.0.0/8"};

	CHECK(ex != NULL);
	CHECK(exceptions_count(ex) == 0);
	EXPECT_MATCH(ex, "11.1.2.3", "-");
	EXPECT_MATCH(ex, "2a00::1", "-");
	EXPECT_MATCH(ex, "0.0.0.0", "-");
	EXPECT_MATCH(ex, "::", "-");
	exceptions_free(&ex);
	CHECK(ex == NULL);
	exceptions_free(&ex);
	exceptions_free(NULL);
	CHECK(exceptions_match(NULL, NULL) == NULL);

	/* A table with only one family answers nothing for the other. */
	ex = build(v4only, 1);
	EXPECT_MATCH(ex, "2a00::1", "-");
	EXPECT_MATCH(ex, "b00::", "-"); /* same leading bits as 11.0.0.0 */
	exceptions_free(&ex);
}

static void test_overlaps(void)
{
	/* Given shortest first and longest first: the order must not matter. */
	static const char *const up[] = {"11.0.0.0/8", "11.1.0.0/16", "11.1.2.0/24", "11.1.2.3/32",
					 "11.1.2.128/25"};
	static const char *const down[] = {"11.1.2.128/25", "11.1.2.3/32", "11.1.2.0/24",
					   "11.1.0.0/16", "11.0.0.0/8"};
	const char *const *orders[] = {up, down};

	for (size_t o = 0; o < 2; o++) {
		struct exceptions *ex = build(orders[o], 5);

		CHECK(exceptions_count(ex) == 5);
		EXPECT_MATCH(ex, "11.1.2.3", "11.1.2.3/32");
		EXPECT_MATCH(ex, "11.1.2.4", "11.1.2.0/24");
		EXPECT_MATCH(ex, "11.1.2.2", "11.1.2.0/24");
		EXPECT_MATCH(ex, "11.1.2.127", "11.1.2.0/24");
		EXPECT_MATCH(ex, "11.1.2.128", "11.1.2.128/25");
		EXPECT_MATCH(ex, "11.1.2.255", "11.1.2.128/25");
		EXPECT_MATCH(ex, "11.1.3.0", "11.1.0.0/16");
		EXPECT_MATCH(ex, "11.1.255.255", "11.1.0.0/16");
		EXPECT_MATCH(ex, "11.2.0.0", "11.0.0.0/8");
		EXPECT_MATCH(ex, "11.0.0.0", "11.0.0.0/8");
		EXPECT_MATCH(ex, "11.255.255.255", "11.0.0.0/8");
		EXPECT_MATCH(ex, "10.255.255.255", "-");
		EXPECT_MATCH(ex, "12.0.0.0", "-");
		exceptions_free(&ex);
	}
}

static void test_families(void)
{
	static const char *const list[] = {"10.0.0.0/8", "a00::/8", "::ffff:0:0/96",
					   "2001:db8::/32", "2001:db8:1::/48"};
	struct exceptions *ex = build(list, ARRAY_SIZE(list));

	/* 10.x and a00:: share their first 8 bits but never each other's prefix. */
	EXPECT_MATCH(ex, "10.1.2.3", "10.0.0.0/8");
	EXPECT_MATCH(ex, "a00::1", "a00::/8");
	EXPECT_MATCH(ex, "aff:ffff::", "a00::/8");
	EXPECT_MATCH(ex, "b00::", "-");
	/* A v4-mapped address is IPv6 here: it matches v6 prefixes only. */
	EXPECT_MATCH(ex, "::ffff:10.1.2.3", "::ffff:0.0.0.0/96");
	EXPECT_MATCH(ex, "11.1.2.3", "-");
	EXPECT_MATCH(ex, "2001:db8:1:2::1", "2001:db8:1::/48");
	EXPECT_MATCH(ex, "2001:db8:2::1", "2001:db8::/32");
	exceptions_free(&ex);
}

static void test_host_routes_and_boundaries(void)
{
	static const char *const list[] = {
	    "192.0.2.0/24",  "198.51.100.7/32", "203.0.113.0/31",
	    "100.64.0.0/10", "2001:db8::/32",	"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128",
	    "2a00::1/128",   "2a00::/127",	"fe80::/10",
	    "128.0.0.0/1",   "2c00::/7",
	};
	struct exceptions *ex = build(list, ARRAY_SIZE(list));

	/* /24: first, last, one before, one after */
	EXPECT_MATCH(ex, "192.0.2.0", "192.0.2.0/24");
	EXPECT_MATCH(ex, "192.0.2.255", "192.0.2.0/24");
	/* 192.0.1.255 and 192.0.3.0 are in 128.0.0.0/1 only */
	EXPECT_MATCH(ex, "192.0.1.255", "128.0.0.0/1");
	EXPECT_MATCH(ex, "192.0.3.0", "128.0.0.0/1");
	/* /32 */
	EXPECT_MATCH(ex, "198.51.100.7", "198.51.100.7/32");
	EXPECT_MATCH(ex, "198.51.100.6", "128.0.0.0/1");
	EXPECT_MATCH(ex, "198.51.100.8", "128.0.0.0/1");
	/* /31 */
	EXPECT_MATCH(ex, "203.0.113.0", "203.0.113.0/31");
	EXPECT_MATCH(ex, "203.0.113.1", "203.0.113.0/31");
	EXPECT_MATCH(ex, "203.0.113.2", "128.0.0.0/1");
	/* /10 not on an octet boundary */
	EXPECT_MATCH(ex, "100.64.0.0", "100.64.0.0/10");
	EXPECT_MATCH(ex, "100.127.255.255", "100.64.0.0/10");
	EXPECT_MATCH(ex, "100.63.255.255", "-");
	EXPECT_MATCH(ex, "100.128.0.0", "-");
	/* /1 */
	EXPECT_MATCH(ex, "127.255.255.255", "-");
	EXPECT_MATCH(ex, "128.0.0.0", "128.0.0.0/1");
	EXPECT_MATCH(ex, "255.255.255.255", "128.0.0.0/1");
	/* IPv6 /32 with a /128 at its very end */
	EXPECT_MATCH(ex, "2001:db8::", "2001:db8::/32");
	EXPECT_MATCH(ex, "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", "2001:db8::/32");
	EXPECT_MATCH(ex, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
		     "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128");
	EXPECT_MATCH(ex, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "-");
	EXPECT_MATCH(ex, "2001:db9::", "-");
	/* /127 containing a /128 */
	EXPECT_MATCH(ex, "2a00::", "2a00::/127");
	EXPECT_MATCH(ex, "2a00::1", "2a00::1/128");
	EXPECT_MATCH(ex, "2a00::2", "-");
	/* /10 and /7 */
	EXPECT_MATCH(ex, "febf:ffff::1", "fe80::/10");
	EXPECT_MATCH(ex, "fec0::", "-");
	EXPECT_MATCH(ex, "2dff:ffff::", "2c00::/7");
	EXPECT_MATCH(ex, "2e00::", "-");
	EXPECT_MATCH(ex, "2bff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "-");
	exceptions_free(&ex);
}

static void test_duplicates_and_bad_input(void)
{
	struct prefix p[4];
	struct exceptions *ex;

	p[0] = pfx("11.0.0.0/8");
	p[1] = pfx("11.0.0.0/8");
	p[2] = pfx("11.0.0.0/9");
	/* Host bits left in by a caller are ignored, not matched on. */
	p[3] = pfx("11.0.0.0/16");
	p[3].addr.b[3] = 0x55;
	p[3].len = 8;
	ex = exceptions_new(p, 4);
	CHECK(ex != NULL);
	CHECK(exceptions_count(ex) == 2);
	EXPECT_MATCH(ex, "11.200.0.0", "11.0.0.0/8");
	EXPECT_MATCH(ex, "11.0.0.0", "11.0.0.0/9");
	exceptions_free(&ex);

	/* The table keeps its own copy. */
	p[0] = pfx("11.0.0.0/8");
	ex = exceptions_new(p, 1);
	p[0] = pfx("12.0.0.0/8");
	EXPECT_MATCH(ex, "11.1.1.1", "11.0.0.0/8");
	EXPECT_MATCH(ex, "12.1.1.1", "-");
	exceptions_free(&ex);

	/* A prefix without a family or with a length past the family's bits. */
	memset(&p[0], 0, sizeof(p[0]));
	errno = 0;
	CHECK(exceptions_new(p, 1) == NULL && errno == EINVAL);
	p[0] = pfx("11.0.0.0/8");
	p[0].len = 33;
	errno = 0;
	CHECK(exceptions_new(p, 1) == NULL && errno == EINVAL);

	/* /0 is refused by the config, but the table itself handles it. */
	p[0] = pfx("0.0.0.0/0");
	p[1] = pfx("11.0.0.0/8");
	ex = exceptions_new(p, 2);
	EXPECT_MATCH(ex, "1.2.3.4", "0.0.0.0/0");
	EXPECT_MATCH(ex, "11.2.3.4", "11.0.0.0/8");
	EXPECT_MATCH(ex, "2a00::", "-");
	exceptions_free(&ex);
}

/* xorshift64*: fixed seed, same sequence on every machine. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void clear_host_bits(struct prefix *p)
{
	for (unsigned i = p->len; i < 128; i++)
		p->addr.b[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
}

static const struct prefix *brute(const struct prefix *list, size_t n, const struct addr *a)
{
	const struct prefix *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (addr_prefix_contains(&list[i], a) && (!best || list[i].len > best->len))
			best = &list[i];
	return best;
}

static void test_random(void)
{
	enum { NPREFIX = 600, NLOOKUP = 20000 };
	static struct prefix list[NPREFIX];
	/* Few distinct bases so that prefixes nest and overlap a lot. */
	static uint8_t bases[4][16];
	struct exceptions *ex;
	unsigned mismatches = 0, hits = 0, longer = 0;

	for (int b = 0; b < 4; b++)
		for (int i = 0; i < 16; i++)
			bases[b][i] = (uint8_t)rng();
	for (int i = 0; i < NPREFIX; i++) {
		struct prefix *p = &list[i];
		bool v6 = rng() & 1;
		unsigned bits = v6 ? 128 : 32;

		memset(p, 0, sizeof(*p));
		p->addr.family = v6 ? AF_INET6 : AF_INET;
		memcpy(p->addr.b, bases[rng() % 4], bits / 8);
		/* flip a few bits past a random point so siblings appear */
		for (int k = 0; k < 3; k++) {
			unsigned bit = (unsigned)(rng() % bits);

			p->addr.b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
		}
		/* No very short prefixes: they would cover every address and
		 * the misses would go untested. */
		p->len = (uint8_t)(bits / 8 + rng() % (bits - bits / 8 + 1));
		clear_host_bits(p);
	}
	ex = exceptions_new(list, NPREFIX);
	CHECK(ex != NULL);
	if (!ex)
		return;
	for (int i = 0; i < NLOOKUP; i++) {
		struct addr a;
		const struct prefix *want, *got;
		bool v6 = rng() & 1;
		unsigned bits = v6 ? 128 : 32;

		memset(&a, 0, sizeof(a));
		a.family = v6 ? AF_INET6 : AF_INET;
		if (i % 4 == 0) {
			for (unsigned k = 0; k < bits / 8; k++)
				a.b[k] = (uint8_t)rng();
		} else {
			/* near a base: a few random bit flips */
			memcpy(a.b, bases[rng() % 4], bits / 8);
			for (int k = 0; k < 2; k++) {
				unsigned bit = (unsigned)(rng() % bits);

				a.b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			}
		}
		want = brute(list, NPREFIX, &a);
		got = exceptions_match(ex, &a);
		if (want)
			hits++;
		/* count the lookups where a shorter prefix also contained a */
		for (size_t k = 0; want && k < NPREFIX; k++) {
			if (list[k].len < want->len && addr_prefix_contains(&list[k], &a)) {
				longer++;
				break;
			}
		}
		if ((want == NULL) != (got == NULL) ||
		    (want && (want->len != got->len || !addr_equal(&want->addr, &got->addr))))
			mismatches++;
	}
	CHECK_MSG(mismatches == 0, "%u of %d lookups differ from the linear scan", mismatches,
		  NLOOKUP);
	/* The test is only worth something if lookups hit, missed, and had to
	 * choose between nested prefixes. */
	CHECK_MSG(hits > NLOOKUP / 4, "only %u hits", hits);
	CHECK_MSG(hits < NLOOKUP - NLOOKUP / 10, "only %u misses", NLOOKUP - hits);
	CHECK_MSG(longer > NLOOKUP / 10, "only %u nested matches", longer);
	printf("random: %d prefixes (%zu distinct), %d lookups, %u hits (%u nested)\n", NPREFIX,
	       exceptions_count(ex), NLOOKUP, hits, longer);
	exceptions_free(&ex);
}

/* exceptions_coverage(): the union, per family, in addresses (IPv4) and
 * /64s (IPv6, longer prefixes counted as a whole /64). */
static void test_coverage(void)
{
	static const struct {
		const char *list[6];
		uint64_t v4, v6;
	} rows[] = {
	    {{NULL}, 0, 0},
	    {{"0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"}, (uint64_t)1 << 32, UINT64_MAX},
	    {{"11.0.0.0/8", "11.1.0.0/16", "11.1.2.0/24"}, (uint64_t)1 << 24, 0},
	    {{"11.1.0.0/16", "11.0.0.0/8"}, (uint64_t)1 << 24, 0},
	    {{"11.0.0.0/8", "12.0.0.0/16", "192.0.2.1/32"}, ((uint64_t)1 << 24) + 65536 + 1, 0},
	    {{"2a00::/16", "2a00:1::/32", "2a01::/64", "2a01::1/128", "2a02::1/128"},
	     0,
	     ((uint64_t)1 << 48) + 1 + 1},
	    {{"2a00::/17", "2a00:8000::/17"}, 0, (uint64_t)1 << 48},
	    /* Host bits are ignored, as exceptions_new() does (set below). */
	    {{"11.0.0.0/24", "11.0.0.0/24"}, 256, 0},
	    {{"::/1"}, 0, (uint64_t)1 << 63},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct prefix p[6];
		size_t n = 0;

		for (; n < 6 && rows[i].list[n]; n++)
			p[n] = pfx(rows[i].list[n]);
		/* The first of two equal prefixes with host bits set still
		 * counts once. */
		if (i == 7)
			p[0].addr.b[3] = 7;
		CHECK_MSG(exceptions_coverage(p, n, AF_INET) == rows[i].v4, "row %zu: v4 %llu", i,
			  (unsigned long long)exceptions_coverage(p, n, AF_INET));
		CHECK_MSG(exceptions_coverage(p, n, AF_INET6) == rows[i].v6, "row %zu: v6 %llu", i,
			  (unsigned long long)exceptions_coverage(p, n, AF_INET6));
	}
	CHECK(exceptions_coverage(NULL, 0, AF_INET) == 0);
	CHECK(exceptions_coverage(NULL, 0, 0) == 0);
}

/* Random nested and disjoint prefixes inside 10.0.0.0/16, counted against
 * a scan of all 65,536 addresses through exceptions_match(). */
static void test_coverage_random(void)
{
	enum { NPREFIX = 40, ROUNDS = 30 };
	struct prefix p[NPREFIX];
	uint64_t seed = 0x2545f4914f6cdd1dULL;

	for (int r = 0; r < ROUNDS; r++) {
		struct exceptions *ex;
		uint64_t scan = 0;

		for (int i = 0; i < NPREFIX; i++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			memset(&p[i], 0, sizeof(p[i]));
			p[i].addr.family = AF_INET;
			p[i].addr.b[0] = 10;
			p[i].addr.b[2] = (uint8_t)(seed >> 8);
			p[i].addr.b[3] = (uint8_t)(seed >> 16);
			p[i].len = (uint8_t)(17 + (seed >> 24) % 16);
			clear_host_bits(&p[i]);
		}
		ex = exceptions_new(p, NPREFIX);
		CHECK(ex != NULL);
		for (unsigned a = 0; a < 65536 && ex; a++) {
			struct addr x = {.family = AF_INET,
					 .b = {10, 0, (uint8_t)(a >> 8), (uint8_t)a}};

			scan += exceptions_match(ex, &x) != NULL;
		}
		CHECK_MSG(exceptions_coverage(p, NPREFIX, AF_INET) == scan,
			  "round %d: %llu vs %llu", r,
			  (unsigned long long)exceptions_coverage(p, NPREFIX, AF_INET),
			  (unsigned long long)scan);
		exceptions_free(&ex);
	}
}

/* Groups: each prefix keeps its group's name, duplicates keep the first. */
static void test_groups(void)
{
	struct prefix p[4];
	const char *g[4] = {"corp", NULL, "/etc/ztdns/provider.txt", "other"};
	struct exceptions *ex;
	struct addr a;

	CHECK(addr_prefix_parse("198.51.100.0/24", &p[0]) == 0);
	CHECK(addr_prefix_parse("203.0.113.0/24", &p[1]) == 0);
	CHECK(addr_prefix_parse("2001:db8::/32", &p[2]) == 0);
	CHECK(addr_prefix_parse("198.51.100.0/24", &p[3]) == 0); /* duplicate */
	ex = exceptions_new_grouped(p, g, 4);
	CHECK(ex != NULL && exceptions_count(ex) == 3);
	CHECK(addr_parse("198.51.100.7", &a) == 0);
	CHECK_STREQ(exceptions_group(ex, exceptions_match(ex, &a)), "corp");
	CHECK(addr_parse("203.0.113.9", &a) == 0);
	CHECK(exceptions_match(ex, &a) != NULL);
	CHECK(exceptions_group(ex, exceptions_match(ex, &a)) == NULL);
	CHECK(addr_parse("2001:db8::1", &a) == 0);
	CHECK_STREQ(exceptions_group(ex, exceptions_match(ex, &a)), "/etc/ztdns/provider.txt");
	CHECK(exceptions_group(ex, NULL) == NULL);
	CHECK(exceptions_group(ex, &p[0]) == NULL); /* not a pointer into the table */
	exceptions_free(&ex);
	ex = exceptions_new(p, 2);
	CHECK(addr_parse("198.51.100.7", &a) == 0);
	CHECK(exceptions_group(ex, exceptions_match(ex, &a)) == NULL);
	exceptions_free(&ex);
}

int main(void)
{
	test_groups();
	test_empty();
	test_overlaps();
	test_families();
	test_host_routes_and_boundaries();
	test_duplicates_and_bad_input();
	test_random();
	test_coverage();
	test_coverage_random();
	CHECK_DONE();
}
