/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/wire: the answer filter (wire_filter_answer), DESIGN.md invariant 7.
 * Hand-built answers with compression pointers that lead into the records
 * removed; checks of counts, names, TTLs, OPT, the musl low-byte rule, SVCB
 * hints; then a sweep: every subset of kept addresses, every truncation and
 * every single-byte change of the base answers. The rule checked everywhere:
 * no output ever carries an address that keep() refused, and what is kept
 * is there.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "core/addr.h"
#include "core/util.h"
#include "dns/wire.h"

int main(void);

#define RR_MAX 64

struct mb {
	uint8_t b[4096];
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
/* "www.example." as labels; returns the offset where it starts */
static size_t name(struct mb *m, const char *s)
{
	size_t at = m->len;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);

		put8(m, (unsigned)n);
		memcpy(m->b + m->len, s, n);
		m->len += n;
		s += n + (dot ? 1 : 0);
	}
	put8(m, 0);
	return at;
}
static void ptr(struct mb *m, size_t off)
{
	put16(m, 0xc000 | (unsigned)off);
}
static void hdr(struct mb *m, unsigned an, unsigned ns, unsigned ar)
{
	m->len = 0;
	put16(m, 0x1234);
	put16(m, 0x8180);
	put16(m, 1);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}
static void rrhead(struct mb *m, unsigned type, unsigned cls, uint32_t ttl, unsigned rdlen)
{
	put16(m, type);
	put16(m, cls);
	put32(m, ttl);
	put16(m, rdlen);
}
static void a4(struct mb *m, unsigned last)
{
	put8(m, 198);
	put8(m, 51);
	put8(m, 100);
	put8(m, last);
}

/* keep: 198.51.100.x / 2001:db8::x with bit x of mask set */
static bool keep_mask(void *arg, const struct addr *a)
{
	uint64_t mask = *(const uint64_t *)arg;
	unsigned last = a->family == AF_INET ? a->b[3] : a->b[15];

	return last < 64 && (mask >> last & 1);
}

/* The test's own reading of what a client takes as an address (not the
 * filter's code): A/AAAA by the low byte of the type with RDLENGTH 4/16 in
 * any class and section, and the ipv4hint (4) / ipv6hint (6) values of IN
 * SVCB/HTTPS records. Every one must pass keep_mask. */
static void check_addr(const struct addr *a, uint64_t mask)
{
	char buf[ADDR_STRLEN];

	CHECK_MSG(keep_mask(&mask, a), "output carries %s, which keep() refused",
		  addr_format(a, buf, sizeof(buf)));
}

static void check_output(const struct wire_msg *m, uint64_t mask)
{
	for (size_t i = 0; i < m->nrr; i++) {
		const struct wire_rr *rr = &m->rr[i];
		const uint8_t *d = m->buf + rr->rdata_off;
		struct addr a;
		size_t p, end = rr->rdlen;

		if ((rr->type & 0xff) == 1 && rr->rdlen == 4) {
			addr_from_v4(&a, d);
			check_addr(&a, mask);
		} else if ((rr->type & 0xff) == 28 && rr->rdlen == 16) {
			addr_from_v6(&a, d);
			check_addr(&a, mask);
		}
		if ((rr->type != 64 && rr->type != 65) || rr->rclass != 1 || end < 3)
			continue;
		for (p = 2; p < end && d[p]; p += 1 + (size_t)d[p])
			;
		for (p++; p + 4 <= end;) {
			unsigned key = (unsigned)d[p] << 8 | d[p + 1],
				 vl = (unsigned)d[p + 2] << 8 | d[p + 3];

			p += 4;
			for (size_t k = 0; key == 4 && k + 4 <= vl && p + k + 4 <= end; k += 4) {
				addr_from_v4(&a, d + p + k);
				check_addr(&a, mask);
			}
			for (size_t k = 0; key == 6 && k + 16 <= vl && p + k + 16 <= end; k += 16) {
				addr_from_v6(&a, d + p + k);
				check_addr(&a, mask);
			}
			p += vl;
		}
	}
}

/* Decode a name of our own test output (pointers followed, at most 64). */
static bool dname(const uint8_t *b, size_t len, size_t off, char *s, size_t cap, size_t *next)
{
	size_t used = 0;
	unsigned jumps = 0;
	bool jumped = false;

	for (;;) {
		uint8_t c;

		if (off >= len)
			return false;
		c = b[off];
		if ((c & 0xc0) == 0xc0) {
			if (off + 1 >= len || ++jumps > 64)
				return false;
			if (!jumped)
				*next = off + 2;
			jumped = true;
			off = (size_t)(c & 0x3f) << 8 | b[off + 1];
			continue;
		}
		if (c == 0) {
			if (!jumped)
				*next = off + 1;
			s[used] = '\0';
			return true;
		}
		if (off + 1 + c > len || used + c + 2 > cap)
			return false;
		memcpy(s + used, b + off + 1, c);
		used += c;
		s[used++] = '.';
		off += 1 + (size_t)c;
	}
}

/* Filter m0 with mask; on WIRE_OK re-parse and check the invariant. */
static enum wire_err run(const uint8_t *buf, size_t len, uint64_t mask, struct wire_msg *out,
			 struct wire_filter_result *res, uint8_t *obuf, size_t *olen)
{
	static struct wire_rr rr[RR_MAX], rr2[RR_MAX];
	struct wire_msg m;
	enum wire_err e = wire_msg_parse(buf, len, rr, RR_MAX, &m);

	if (e)
		return e;
	e = wire_filter_answer(&m, keep_mask, &mask, obuf, WIRE_MAX_MSG, olen, res);
	if (e)
		return e;
	e = wire_msg_parse(obuf, *olen, rr2, RR_MAX, out);
	CHECK_MSG(e == WIRE_OK, "filtered output does not parse: %s", wire_strerror(e));
	if (e)
		return e;
	CHECK(out->nrr + res->removed == m.nrr);
	check_output(out, mask);
	return WIRE_OK;
}

/*
 * www.example A: CNAME to cdn.example (target compressed onto the question's
 * "example"), then five A records for cdn.example: the first with its owner
 * a pointer into the CNAME's RDATA, the others pointing at the FIRST A
 * record's owner... which is itself a pointer, and an authority SOA whose
 * names point into the A records; an additional A (198.51.100.9) and OPT.
 */
static size_t base1(struct mb *m)
{
	size_t q, cn_target, first_owner, rdl;

	hdr(m, 6, 1, 2);
	q = name(m, "www.example");
	put16(m, 1);
	put16(m, 1);
	ptr(m, q); /* CNAME owner */
	rrhead(m, 5, 1, 300, 0);
	rdl = m->len - 2;
	cn_target = m->len;
	put8(m, 3);
	memcpy(m->b + m->len, "cdn", 3);
	m->len += 3;
	ptr(m, q + 4); /* "example" */
	m->b[rdl] = 0;
	m->b[rdl + 1] = (uint8_t)(m->len - rdl - 2);
	for (unsigned i = 1; i <= 5; i++) {
		if (i == 1) {
			first_owner = m->len;
			ptr(m, cn_target);
		} else {
			ptr(m, first_owner);
		}
		rrhead(m, 1, 1, 60 + i, 4);
		a4(m, i);
	}
	/* authority: SOA example. ns.cdn.example. (ptr into an A owner) */
	ptr(m, q + 4);
	rrhead(m, 6, 1, 900, 0);
	rdl = m->len - 2;
	put8(m, 2);
	put8(m, 'n');
	put8(m, 's');
	ptr(m, first_owner);
	put8(m, 4);
	memcpy(m->b + m->len, "host", 4);
	m->len += 4;
	ptr(m, first_owner);
	for (unsigned i = 0; i < 5; i++)
		put32(m, 1000 + i);
	m->b[rdl] = 0;
	m->b[rdl + 1] = (uint8_t)(m->len - rdl - 2);
	/* additional: A 198.51.100.9 for ns.cdn.example, then OPT */
	ptr(m, first_owner);
	rrhead(m, 1, 1, 77, 4);
	a4(m, 9);
	put8(m, 0);
	rrhead(m, 41, 1232, 0, 0);
	return m->len;
}

static void test_base1(void)
{
	static uint8_t o[WIRE_MAX_MSG];
	struct mb m;
	size_t len = base1(&m), olen;
	struct wire_msg out;
	struct wire_filter_result res;
	struct wire_chain ch;
	struct wire_found found[16];
	struct wire_name owner, want;
	uint64_t mask;

	/* keep 2 and 4: the A record whose owner the others point at goes */
	CHECK(run(m.b, len, (1u << 2) | (1u << 4), &out, &res, o, &olen) == WIRE_OK);
	CHECK(res.removed == 4); /* A 1, 3, 5 and the additional A 9 */
	CHECK(res.removed_asked == 3 && res.kept_asked == 2);
	CHECK(out.ancount == 3 && out.nscount == 1 && out.arcount == 1 && out.edns);
	CHECK(wire_answer_matches(&out, 0x1234, &out.qname, 1, 1) == WIRE_OK);
	CHECK(wire_chain_extract(&out, 8, found, 16, &ch) == WIRE_OK);
	CHECK(ch.nnames == 2 && ch.nfound == 2);
	CHECK(ch.nfound == 2 && found[0].addr.b[3] == 2 && found[1].addr.b[3] == 4);
	CHECK(ch.nfound == 2 && found[0].ttl == 62 && found[1].ttl == 64);
	wire_name_from_str("cdn.example", &want);
	for (size_t i = 1; i < 3; i++)
		CHECK(wire_rr_owner(&out, &out.rr[i], &owner) == WIRE_OK &&
		      wire_name_equal(&owner, &want));
	/* the SOA's names still decode (they pointed into a removed record) */
	{
		char n1[256], n2[256];
		size_t p = out.rr[3].rdata_off, end = p + out.rr[3].rdlen;

		CHECK(out.rr[3].type == 6 && out.rr[3].section == WIRE_SEC_AUTHORITY);
		CHECK(dname(o, olen, p, n1, sizeof(n1), &p) && strcmp(n1, "ns.cdn.example.") == 0);
		CHECK(dname(o, olen, p, n2, sizeof(n2), &p) &&
		      strcmp(n2, "host.cdn.example.") == 0);
		CHECK(end - p == 20 && o[p + 3] == (1000 & 0xff) && o[p + 19] == (1004 & 0xff));
	}
	/* header: ID, flags, RCODE unchanged */
	CHECK(o[0] == 0x12 && o[1] == 0x34 && o[2] == 0x81 && o[3] == 0x80);

	/* keep everything: nothing to filter */
	mask = ~0ull;
	{
		static struct wire_rr rr[RR_MAX];
		struct wire_msg mm;

		CHECK(wire_msg_parse(m.b, len, rr, RR_MAX, &mm) == WIRE_OK);
		CHECK(!wire_filter_needed(&mm, keep_mask, &mask));
		mask = 1u << 9;
		CHECK(wire_filter_needed(&mm, keep_mask, &mask));
	}
	/* keep nothing: every asked record goes, the CNAME stays */
	CHECK(run(m.b, len, 0, &out, &res, o, &olen) == WIRE_OK);
	CHECK(res.removed == 6 && res.removed_asked == 5 && res.kept_asked == 0);
	CHECK(out.ancount == 1 && out.rr[0].type == 5);
}

/* An AAAA/HTTPS/odd-type answer: www.example HTTPS with ipv4hint and
 * ipv6hint, AAAA records, a CAA (type 257) of RDLENGTH 4 that musl would
 * read as an A record, and an A in class CH. */
static size_t base2(struct mb *m, unsigned qtype)
{
	size_t q, rdl;

	hdr(m, 6, 0, 0);
	q = name(m, "www.example");
	put16(m, qtype);
	put16(m, 1);
	/* HTTPS 1 . ipv4hint=198.51.100.1,198.51.100.2 ipv6hint=2001:db8::3 */
	ptr(m, q);
	rrhead(m, 65, 1, 300, 0);
	rdl = m->len - 2;
	put16(m, 1);
	put8(m, 0);
	put16(m, 4); /* ipv4hint */
	put16(m, 8);
	a4(m, 1);
	a4(m, 2);
	put16(m, 6); /* ipv6hint */
	put16(m, 16);
	put16(m, 0x2001);
	put16(m, 0x0db8);
	for (int i = 0; i < 5; i++)
		put16(m, 0);
	put16(m, 3);
	m->b[rdl + 1] = (uint8_t)(m->len - rdl - 2);
	/* HTTPS 2 . ipv4hint=198.51.100.4 */
	ptr(m, q);
	rrhead(m, 65, 1, 300, 0);
	rdl = m->len - 2;
	put16(m, 2);
	put8(m, 0);
	put16(m, 4);
	put16(m, 4);
	a4(m, 4);
	m->b[rdl + 1] = (uint8_t)(m->len - rdl - 2);
	for (unsigned i = 5; i <= 6; i++) {
		ptr(m, q);
		rrhead(m, 28, 1, 300, 16);
		put16(m, 0x2001);
		put16(m, 0x0db8);
		for (int k = 0; k < 5; k++)
			put16(m, 0);
		put16(m, i);
	}
	ptr(m, q); /* CAA: 0 issue "" ... 4 bytes */
	rrhead(m, 257, 1, 300, 4);
	a4(m, 7);
	ptr(m, q); /* A in class CH */
	rrhead(m, 1, 3, 300, 4);
	a4(m, 8);
	return m->len;
}

static void test_base2(void)
{
	static uint8_t o[WIRE_MAX_MSG];
	struct mb m;
	size_t len = base2(&m, 65), olen;
	struct wire_msg out;
	struct wire_filter_result res;

	/* everything but the HTTPS hint 2: the first HTTPS record goes whole */
	CHECK(run(m.b, len, 0x1ffu & ~(1u << 2), &out, &res, o, &olen) == WIRE_OK);
	CHECK(res.removed == 1 && res.removed_asked == 1 && res.kept_asked == 1);
	CHECK(out.ancount == 5 && out.rr[0].type == 65 && o[out.rr[0].rdata_off + 1] == 2);
	/* the CAA and the CH A are addresses to a client: removed unless kept */
	CHECK(run(m.b, len, 0x1ffu & ~((1u << 7) | (1u << 8)), &out, &res, o, &olen) == WIRE_OK);
	CHECK(res.removed == 2 && res.removed_asked == 0 && out.ancount == 4);
	/* AAAA question: only the AAAA records are "asked" */
	len = base2(&m, 28);
	CHECK(run(m.b, len, (1u << 5), &out, &res, o, &olen) == WIRE_OK);
	CHECK(res.removed == 5 && res.removed_asked == 1 && res.kept_asked == 1);
	CHECK(run(m.b, len, 0, &out, &res, o, &olen) == WIRE_OK);
	CHECK(res.removed == 6 && res.removed_asked == 2 && res.kept_asked == 0 &&
	      out.ancount == 0);
}

/* Many records whose owners chain through pointers: the output stays
 * compressed (no bigger than the input) whatever is removed. */
static void test_compression(void)
{
	static uint8_t o[WIRE_MAX_MSG];
	struct mb m;
	size_t q, olen, first = 0;
	struct wire_msg out;
	struct wire_filter_result res;

	hdr(&m, 60, 0, 0);
	q = name(&m, "a-rather-long-label-to-make-names-expensive.www.example");
	put16(&m, 1);
	put16(&m, 1);
	for (unsigned i = 0; i < 60; i++) {
		if (i == 0) {
			first = m.len;
			ptr(&m, q);
		} else {
			ptr(&m, first);
		}
		rrhead(&m, 1, 1, 30, 4);
		a4(&m, i);
	}
	for (unsigned step = 1; step < 8; step++) {
		uint64_t mask = 0;

		for (unsigned i = 0; i < 60; i += step)
			mask |= 1ull << i;
		CHECK(run(m.b, m.len, mask, &out, &res, o, &olen) == WIRE_OK);
		CHECK(olen <= m.len);
		CHECK(out.ancount == (60 + step - 1) / step);
	}
}

/* The sweep: subsets, truncations, one-byte changes. */
static void sweep_one(const uint8_t *b, size_t len, unsigned *filtered)
{
	static uint8_t o[WIRE_MAX_MSG];
	struct wire_msg out;
	struct wire_filter_result res;
	size_t olen;
	static const uint64_t masks[] = {0, 0x2, 0x14, 0x155, 0x2aa, 0x3ff, ~0ull};

	for (size_t i = 0; i < ARRAY_SIZE(masks); i++) {
		uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */

		memcpy(copy, b, len);
		if (run(copy, len, masks[i], &out, &res, o, &olen) == WIRE_OK)
			(*filtered)++;
		free(copy);
	}
}

static void test_sweep(void)
{
	struct mb m;
	unsigned filtered = 0, before = check_failed;
	size_t lens[3];
	struct mb bases[3];

	lens[0] = base1(&bases[0]);
	lens[1] = base2(&bases[1], 65);
	lens[2] = base2(&bases[2], 28);
	for (unsigned k = 0; k < 3; k++) {
		/* every subset of the ten addresses */
		for (uint64_t mask = 0; mask < 1024; mask++) {
			static uint8_t o[WIRE_MAX_MSG];
			struct wire_msg out;
			struct wire_filter_result res;
			size_t olen;
			uint64_t sh = mask << 1;

			if (run(bases[k].b, lens[k], sh, &out, &res, o, &olen) == WIRE_OK)
				filtered++;
			else
				CHECK_MSG(0, "base %u mask %llx refused", k,
					  (unsigned long long)sh);
		}
		for (size_t l = 0; l < lens[k]; l++)
			sweep_one(bases[k].b, l, &filtered);
		for (size_t p = 0; p < lens[k]; p++) {
			static const uint8_t vals[] = {0x00, 0x01, 0x04, 0x1c, 0x3f, 0xc0, 0xff};

			for (size_t v = 0; v < ARRAY_SIZE(vals); v++) {
				m = bases[k];
				m.b[p] = vals[v];
				sweep_one(m.b, lens[k], &filtered);
				m.b[p] = bases[k].b[p] ^ 0x01;
				sweep_one(m.b, lens[k], &filtered);
			}
		}
	}
	printf("sweep: %u filtered outputs checked\n", filtered);
	CHECK(filtered > 3000);
	CHECK_MSG(check_failed == before, "%u sweep failures", check_failed - before);
}

int main(void)
{
	test_base1();
	test_base2();
	test_compression();
	test_sweep();
	CHECK_DONE();
}
