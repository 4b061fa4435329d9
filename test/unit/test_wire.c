/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/wire: tables of raw messages (offsets in the comments), then sweeps
 * over them: every truncation, single-byte mutations, every output size.
 * Each input the parser sees is copied into an exact-size heap buffer so
 * that AddressSanitizer catches a read of even one byte past the end.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "core/util.h"
#include "dns/wire.h"

int main(void);

#define B16(x)			    (uint8_t)((x) >> 8), (uint8_t)(x)
#define B32(x)			    (uint8_t)((x) >> 24), (uint8_t)((x) >> 16), (uint8_t)((x) >> 8), (uint8_t)(x)
#define HDR(id, fl, qd, an, ns, ar) B16(id), B16(fl), B16(qd), B16(an), B16(ns), B16(ar)
#define PTR(off)		    (uint8_t)(0xc0 | ((off) >> 8)), (uint8_t)(off)
#define RR(t, c, ttl, rdl)	    B16(t), B16(c), B32(ttl), B16(rdl)
#define OPT(size, ttl, rdl)	    0, RR(41, size, ttl, rdl)
/* www.example.com at 12..28 (example.com at 16, com at 24), QTYPE, QCLASS IN:
 * the question ends at 33 */
#define Q_WWW(t)                                                                                   \
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, B16(t), B16(1)
#define V6(last) 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last

#define RESP 0x8180 /* QR RD RA */

/* ---- valid answers ---------------------------------------------------- */

/* clang-format off */

/* www.example.com A: one A, owner compressed to the question */
static const uint8_t ans_a[] = {
	HDR(0x1234, RESP, 1, 1, 0, 0), Q_WWW(1),
	/* 33 */ PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1,
};

/* WwW.ExAmple.COM AAAA: two AAAA, the second owner "WWW" + pointer to
 * "ExAmple.COM" (mixed case everywhere, partial compression) */
static const uint8_t ans_aaaa[] = {
	HDR(0xabcd, RESP, 1, 2, 0, 0),
	/* 12 */ 3, 'W', 'w', 'W', 7, 'E', 'x', 'A', 'm', 'p', 'l', 'e', 3, 'C', 'O', 'M', 0,
	B16(28), B16(1),
	/* 33 */ PTR(12), RR(28, 1, 600, 16), V6(1),
	/* 61 */ 3, 'W', 'W', 'W', PTR(16), RR(28, 1, 600, 16), V6(2),
};

/* A.Example.com A: a chain of three CNAMEs (a -> b.example.net ->
 * C.EXAMPLE.org -> d.example.com), two A for d (the second owner a pointer to
 * a pointer), a decoy A for x.example.com in the answer and an A for d in
 * the authority section: neither may be extracted. */
static const uint8_t ans_cname3[] = {
	HDR(0x0001, RESP, 1, 6, 1, 0),
	/* 12 */ 1, 'A', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, B16(1), B16(1),
	/* 31 */ PTR(12), RR(5, 1, 300, 15),
	/* 43 */ 1, 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'n', 'e', 't', 0,
	/* 58 */ PTR(43), RR(5, 1, 120, 15),
	/* 70 */ 1, 'C', 7, 'E', 'X', 'A', 'M', 'P', 'L', 'E', 3, 'o', 'r', 'g', 0,
	/* 85 */ PTR(70), RR(5, 1, 600, 4),
	/* 97 */ 1, 'd', PTR(14),
	/* 101 */ PTR(97), RR(1, 1, 60, 4), 203, 0, 113, 7,
	/* 117 */ PTR(101), RR(1, 1, 60, 4), 203, 0, 113, 8,
	/* 133 */ 1, 'x', PTR(14), RR(1, 1, 60, 4), 198, 51, 100, 66,
	/* 151, authority */ PTR(97), RR(1, 1, 60, 4), 198, 51, 100, 77,
};

/* svc.example.com HTTPS: two ServiceMode records with hints (the second
 * with mandatory=ipv4hint and an uncompressed TargetName), an A in the
 * additional section (not extracted), and an OPT with DO */
static const uint8_t ans_https[] = {
	HDR(0x4242, RESP, 1, 2, 0, 2),
	/* 12 */ 3, 's', 'v', 'c', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
	B16(65), B16(1),
	/* 33 */ PTR(12), RR(65, 1, 3600, 42),
	/* 45 */ B16(1), 0,
		B16(1), B16(3), 2, 'h', '2',
		B16(4), B16(8), 192, 0, 2, 10, 192, 0, 2, 11,
		B16(6), B16(16), V6(0x10),
	/* 87 */ PTR(12), RR(65, 1, 3600, 31),
	/* 99 */ B16(2), 1, 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		B16(0), B16(2), B16(4),
		B16(4), B16(4), 192, 0, 2, 12,
	/* 130, additional */ PTR(12), RR(1, 1, 300, 4), 198, 51, 100, 50,
	/* 146 */ OPT(1232, 0x8000, 0),
};

/* example.com HTTPS in AliasMode, with an ipv4hint that must be ignored
 * (RFC 9460 §2.4.2) */
static const uint8_t ans_alias[] = {
	HDR(0x0505, RESP, 1, 1, 0, 0),
	/* 12 */ 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, B16(65), B16(1),
	/* 29 */ PTR(12), RR(65, 1, 300, 27),
	/* 41 */ B16(0), 3, 's', 'v', 'c', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		B16(4), B16(4), 192, 0, 2, 99,
};

/* www.example.com A with the address only in authority and additional */
static const uint8_t ans_outside[] = {
	HDR(0x0606, RESP, 1, 0, 1, 1), Q_WWW(1),
	/* 33, authority */ PTR(12), RR(1, 1, 300, 4), 198, 51, 100, 1,
	/* 49, additional */ PTR(12), RR(1, 1, 300, 4), 198, 51, 100, 2,
};

/* www.example.com A, plus an A for mail.example.com in the same answer */
static const uint8_t ans_unrelated[] = {
	HDR(0x0707, RESP, 1, 2, 0, 0), Q_WWW(1),
	/* 33 */ PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1,
	/* 49 */ 4, 'm', 'a', 'i', 'l', PTR(16), RR(1, 1, 300, 4), 198, 51, 100, 25,
};

/* www.example.com AAAA with an A of the same owner in the answer: only the
 * asked type is taken */
static const uint8_t ans_othertype[] = {
	HDR(0x0808, RESP, 1, 2, 0, 0), Q_WWW(28),
	/* 33 */ PTR(12), RR(28, 1, 300, 16), V6(0x53),
	/* 61 */ PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 53,
};

/* clang-format on */

struct valid {
	const char *what;
	const uint8_t *msg;
	size_t len;
	size_t nexp;
	const char *expect[6];
	const char *decoy[4]; /* in the message but never to be extracted */
	unsigned nnames;
	const char *last; /* last name of the chain */
	uint32_t min_ttl;
};

#define MSG(a) a, sizeof(a)
/* clang-format off */
static const struct valid valid[] = {
	{"A", MSG(ans_a), 1, {"192.0.2.1"}, {NULL}, 1, "www.example.com", UINT32_MAX},
	{"AAAA mixed case", MSG(ans_aaaa), 2, {"2001:db8::1", "2001:db8::2"}, {NULL},
	 1, "www.example.com", UINT32_MAX},
	{"CNAME chain of 3", MSG(ans_cname3), 2, {"203.0.113.7", "203.0.113.8"},
	 {"198.51.100.66", "198.51.100.77"}, 4, "d.example.com", 120},
	{"HTTPS hints", MSG(ans_https), 4,
	 {"192.0.2.10", "192.0.2.11", "2001:db8::10", "192.0.2.12"}, {"198.51.100.50"},
	 1, "svc.example.com", UINT32_MAX},
	{"HTTPS AliasMode", MSG(ans_alias), 0, {NULL}, {"192.0.2.99"}, 1, "example.com", UINT32_MAX},
	{"authority/additional only", MSG(ans_outside), 0, {NULL}, {"198.51.100.1", "198.51.100.2"},
	 1, "www.example.com", UINT32_MAX},
	{"unrelated name", MSG(ans_unrelated), 1, {"192.0.2.1"}, {"198.51.100.25"},
	 1, "www.example.com", UINT32_MAX},
	{"other type", MSG(ans_othertype), 1, {"2001:db8::53"}, {"192.0.2.53"},
	 1, "www.example.com", UINT32_MAX},
};
/* clang-format on */

/* ---- helpers ------------------------------------------------------------ */

/* The input in an exact-size heap buffer (ASan sees any overread). */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	if (!b)
		abort();
	if (n)
		memcpy(b, p, n);
	return b;
}

static struct addr A(const char *s) {
	struct addr a;

	if (addr_parse(s, &a) != 0)
		abort();
	return a;
}

static bool
chain_has(const struct wire_chain *c, const char *s)
{
	struct addr a = A(s);

	for (size_t i = 0; i < c->nfound; i++)
		if (addr_equal(&c->found[i].addr, &a))
			return true;
	return false;
}

static bool in_list(const char *const *list, size_t n, const struct addr *a)
{
	for (size_t i = 0; i < n && list[i]; i++) {
		struct addr b = A(list[i]);

		if (addr_equal(&b, a))
			return true;
	}
	return false;
}

static const char *fmt(const struct wire_name *n)
{
	static char buf[WIRE_NAME_STRLEN];

	return wire_name_format(n, buf, sizeof(buf));
}

static struct wire_name N(const char *s) {
	struct wire_name n;

	if (wire_name_from_str(s, &n) != WIRE_OK)
		abort();
	return n;
}

/* Parse and extract with the defaults: the whole path the stub takes. */
static enum wire_err
parse_extract(const uint8_t *msg, size_t len, struct wire_chain *c, struct wire_found *found,
	      size_t found_max)
{
	struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS];
	struct wire_msg m;
	uint8_t *copy = dup_exact(msg, len);
	enum wire_err err;

	c->nfound = 0;
	c->nnames = 0;
	err = wire_msg_parse(copy, len, rr, ARRAY_SIZE(rr), &m);
	if (!err)
		err = wire_chain_extract(&m, WIRE_DEFAULT_MAX_CHAIN, found, found_max, c);
	free(copy);
	return err;
}

/* A tiny message writer for the inputs that are easier to generate than to
 * type (long chains, long names, pointer chains, SvcParams variants). */
struct mb {
	uint8_t b[8192];
	size_t n;
};

static void mb_put(struct mb *m, const void *p, size_t n)
{
	if (m->n + n > sizeof(m->b))
		abort();
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void mb_u16(struct mb *m, unsigned v)
{
	uint8_t b[2] = {B16(v)};

	mb_put(m, b, 2);
}

static void mb_name(struct mb *m, const char *s)
{
	struct wire_name n = N(s);

	mb_put(m, n.b, n.len);
}

static void mb_hdr(struct mb *m, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
		   unsigned ar)
{
	uint8_t h[] = {HDR(id, flags, qd, an, ns, ar)};

	m->n = 0;
	mb_put(m, h, sizeof(h));
}

static void mb_rr(struct mb *m, unsigned type, unsigned ttl, unsigned rdlen)
{
	uint8_t b[] = {RR(type, 1, ttl, rdlen)};

	mb_put(m, b, sizeof(b));
}

static void mb_a(struct mb *m, const char *owner, uint8_t last)
{
	uint8_t a[4] = {192, 0, 2, last};

	mb_name(m, owner);
	mb_rr(m, 1, 300, 4);
	mb_put(m, a, 4);
}

static void mb_cname(struct mb *m, const char *owner, const char *target, unsigned ttl)
{
	struct wire_name t = N(target);

	mb_name(m, owner);
	mb_rr(m, 5, ttl, t.len);
	mb_put(m, t.b, t.len);
}

/* ---- tests -------------------------------------------------------------- */

static void test_valid(void)
{
	for (size_t v = 0; v < ARRAY_SIZE(valid); v++) {
		const struct valid *t = &valid[v];
		struct wire_found found[16];
		struct wire_chain c;
		enum wire_err err = parse_extract(t->msg, t->len, &c, found, ARRAY_SIZE(found));
		bool all = true;

		CHECK_MSG(err == WIRE_OK, "%s: %s", t->what, wire_strerror(err));
		CHECK_MSG(c.nfound == t->nexp, "%s: %zu found", t->what, c.nfound);
		for (size_t i = 0; i < t->nexp; i++)
			all = all && chain_has(&c, t->expect[i]);
		CHECK_MSG(all, "%s: expected addresses", t->what);
		for (size_t i = 0; i < ARRAY_SIZE(t->decoy) && t->decoy[i]; i++)
			CHECK_MSG(!chain_has(&c, t->decoy[i]), "%s: decoy %s extracted", t->what,
				  t->decoy[i]);
		CHECK_MSG(c.nnames == t->nnames, "%s: %u names", t->what, c.nnames);
		if (c.nnames)
			CHECK_STREQ(fmt(&c.names[c.nnames - 1]), t->last);
		CHECK_MSG(c.min_ttl == t->min_ttl, "%s: min_ttl %u", t->what, c.min_ttl);
		CHECK(c.dropped == 0);
	}
}

static void test_details(void)
{
	struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS];
	struct wire_found found[8];
	struct wire_chain c;
	struct wire_msg m;
	struct wire_name owner;

	/* the CNAME chain, names lowercased, owners of the addresses */
	CHECK(parse_extract(MSG(ans_cname3), &c, found, 8) == WIRE_OK);
	CHECK_STREQ(fmt(&c.names[0]), "a.example.com");
	CHECK_STREQ(fmt(&c.names[1]), "b.example.net");
	CHECK_STREQ(fmt(&c.names[2]), "c.example.org");
	CHECK(c.nfound == 2 && c.found[0].owner == 3 && c.found[0].ttl == 60);

	/* fields of a parsed message */
	CHECK(wire_msg_parse(MSG(ans_https), rr, ARRAY_SIZE(rr), &m) == WIRE_OK);
	CHECK(m.id == 0x4242 && m.qtype == 65 && m.qclass == 1 && m.nrr == 4);
	CHECK(m.edns && m.edns_do && m.edns_udp_size == 1232 && m.edns_version == 0);
	CHECK(m.question_end == 33 && m.rcode == 0);
	CHECK(m.rr[2].section == WIRE_SEC_ADDITIONAL && m.rr[0].section == WIRE_SEC_ANSWER);
	CHECK(wire_rr_owner(&m, &m.rr[2], &owner) == WIRE_OK);
	CHECK_STREQ(fmt(&owner), "svc.example.com");

	/* the bound on records per message */
	CHECK(wire_msg_parse(MSG(ans_cname3), rr, 6, &m) == WIRE_ERR_TOO_MANY_RECORDS);
	CHECK(wire_msg_parse(MSG(ans_cname3), rr, 7, &m) == WIRE_OK);

	/* the bound on found addresses: counted, never overflowed */
	CHECK(parse_extract(MSG(ans_https), &c, found, 3) == WIRE_OK);
	CHECK(c.nfound == 3 && c.dropped == 1);
	CHECK(parse_extract(MSG(ans_aaaa), &c, NULL, 0) == WIRE_OK);
	CHECK(c.nfound == 0 && c.dropped == 2);

	/* a CNAME depth bound of 2 refuses the chain of 3, 3 accepts it */
	CHECK(wire_msg_parse(MSG(ans_cname3), rr, ARRAY_SIZE(rr), &m) == WIRE_OK);
	CHECK(wire_chain_extract(&m, 2, found, 8, &c) == WIRE_ERR_CNAME_DEPTH && c.nfound == 0);
	CHECK(wire_chain_extract(&m, 3, found, 8, &c) == WIRE_OK && c.nfound == 2);
	CHECK(wire_chain_extract(&m, WIRE_CHAIN_LIMIT + 1, found, 8, &c) == WIRE_ERR_INVAL);

	/* only a NOERROR answer proves addresses (here NXDOMAIN) */
	{
		uint8_t nx[sizeof(ans_a)];

		memcpy(nx, ans_a, sizeof(nx));
		nx[3] = 0x83;
		CHECK(parse_extract(nx, sizeof(nx), &c, found, 8) == WIRE_OK && c.nfound == 0);
	}
}

/* Answers for the chain rules, generated. */
static void test_chains(void)
{
	struct wire_found found[8];
	struct wire_chain c;
	struct mb m;
	char a[64], b[64];

	/* loop: a -> b -> a */
	mb_hdr(&m, 1, RESP, 1, 2, 0, 0);
	mb_name(&m, "a.example.com");
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_cname(&m, "a.example.com", "B.example.com", 300);
	mb_cname(&m, "b.example.com", "a.EXAMPLE.com", 300);
	CHECK(parse_extract(m.b, m.n, &c, found, 8) == WIRE_ERR_CNAME_LOOP && c.nfound == 0);

	/* self loop, with an A that must not come out */
	mb_hdr(&m, 1, RESP, 1, 2, 0, 0);
	mb_name(&m, "a.example.com");
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_cname(&m, "a.example.com", "a.example.com", 300);
	mb_a(&m, "a.example.com", 1);
	CHECK(parse_extract(m.b, m.n, &c, found, 8) == WIRE_ERR_CNAME_LOOP && c.nfound == 0);

	/* two different CNAMEs for one owner */
	mb_hdr(&m, 1, RESP, 1, 3, 0, 0);
	mb_name(&m, "a.example.com");
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_cname(&m, "a.example.com", "b.example.com", 300);
	mb_cname(&m, "a.example.com", "c.example.com", 300);
	mb_a(&m, "c.example.com", 1);
	CHECK(parse_extract(m.b, m.n, &c, found, 8) == WIRE_ERR_CNAME_CONFLICT && c.nfound == 0);

	/* a chain of exactly the default bound (8 CNAMEs) passes, 9 does not */
	for (unsigned depth = 8; depth <= 9; depth++) {
		mb_hdr(&m, 1, RESP, 1, depth + 1, 0, 0);
		mb_name(&m, "n0.example.com");
		mb_u16(&m, 1);
		mb_u16(&m, 1);
		for (unsigned i = 0; i < depth; i++) {
			snprintf(a, sizeof(a), "n%u.example.com", i);
			snprintf(b, sizeof(b), "n%u.example.com", i + 1);
			mb_cname(&m, a, b, 100 + i);
		}
		mb_a(&m, b, 9);
		if (depth == 8) {
			CHECK(parse_extract(m.b, m.n, &c, found, 8) == WIRE_OK);
			CHECK(c.nnames == 9 && c.nfound == 1 && c.min_ttl == 100);
			CHECK(chain_has(&c, "192.0.2.9") && c.found[0].owner == 8);
		} else {
			CHECK(parse_extract(m.b, m.n, &c, found, 8) == WIRE_ERR_CNAME_DEPTH);
			CHECK(c.nfound == 0);
		}
	}

	/* the CNAME must be in the answer section: one in authority is not
	 * followed, so the A of its target is off the chain */
	mb_hdr(&m, 1, RESP, 1, 1, 1, 0);
	mb_name(&m, "a.example.com");
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_a(&m, "b.example.com", 1);
	mb_cname(&m, "a.example.com", "b.example.com", 300);
	CHECK(parse_extract(m.b, m.n, &c, found, 8) == WIRE_OK && c.nfound == 0 && c.nnames == 1);

	/* the same address twice is stored once */
	mb_hdr(&m, 1, RESP, 1, 2, 0, 0);
	mb_name(&m, "a.example.com");
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_a(&m, "a.example.com", 7);
	mb_a(&m, "A.example.com", 7);
	CHECK(parse_extract(m.b, m.n, &c, found, 8) == WIRE_OK && c.nfound == 1);
}

struct bad {
	const char *what;
	const uint8_t *msg;
	size_t len;
	enum wire_err want;
};

/* clang-format off */

static const uint8_t bad_fwd[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), /* 33 */ PTR(0x2f), RR(1, 1, 300, 4), 192, 0, 2, 1,
};
static const uint8_t bad_self[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), /* 33 */ PTR(33), RR(1, 1, 300, 4), 192, 0, 2, 1,
};
static const uint8_t bad_loop[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), /* 33 */ 1, 'a', PTR(33), RR(1, 1, 300, 4), 192, 0, 2, 1,
};
static const uint8_t bad_hdr[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), /* 33 */ PTR(5), RR(1, 1, 300, 4), 192, 0, 2, 1,
};
static const uint8_t bad_qself[] = {HDR(1, RESP, 1, 0, 0, 0), PTR(12), B16(1), B16(1)};
static const uint8_t bad_qloop[] = {HDR(1, RESP, 1, 0, 0, 0), 1, 'a', PTR(12), B16(1), B16(1)};
static const uint8_t bad_label40[] = {HDR(1, RESP, 1, 0, 0, 0), 0x40, 'a', 0, B16(1), B16(1)};
static const uint8_t bad_label80[] = {HDR(1, RESP, 1, 0, 0, 0), 0x80, 'a', 0, B16(1), B16(1)};
static const uint8_t bad_count_huge[] = {
	HDR(1, RESP, 1, 0xffff, 0, 0), Q_WWW(1), PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1,
};
static const uint8_t bad_count_lie[] = {
	HDR(1, RESP, 1, 2, 0, 0), Q_WWW(1), PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1,
};
static const uint8_t bad_arcount[] = {
	HDR(1, RESP, 1, 1, 0, 1), Q_WWW(1), PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1, 0, 0, 41,
};
static const uint8_t bad_trailing[] = {
	HDR(1, RESP, 1, 0, 0, 0), Q_WWW(1), PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1,
};
static const uint8_t bad_a5[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), PTR(12), RR(1, 1, 300, 5), 192, 0, 2, 1, 1,
};
static const uint8_t bad_a3[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), PTR(12), RR(1, 1, 300, 3), 192, 0, 2,
};
static const uint8_t bad_aaaa4[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(28), PTR(12), RR(28, 1, 300, 4), 0x20, 1, 0xd, 0xb8,
};
static const uint8_t bad_rdlen_past[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), PTR(12), RR(1, 1, 300, 8), 192, 0, 2, 1,
};
static const uint8_t bad_cname_rdata[] = {
	HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), PTR(12), RR(5, 1, 300, 4), PTR(16), 0, 0,
};
static const uint8_t bad_two_opt[] = {
	HDR(1, RESP, 1, 1, 0, 2), Q_WWW(1), PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1,
	OPT(1232, 0, 0), OPT(1232, 0, 0),
};
static const uint8_t bad_opt_answer[] = {HDR(1, RESP, 1, 1, 0, 0), Q_WWW(1), OPT(1232, 0, 0)};
static const uint8_t bad_opt_owner[] = {
	HDR(1, RESP, 1, 0, 0, 1), Q_WWW(1), PTR(12), RR(41, 1232, 0, 0),
};
static const uint8_t bad_opt_option[] = {
	HDR(1, RESP, 1, 0, 0, 1), Q_WWW(1), OPT(1232, 0, 4), B16(10), B16(8),
};
static const uint8_t bad_qd0[] = {HDR(1, RESP, 0, 0, 0, 0)};
static const uint8_t bad_qd2[] = {HDR(1, RESP, 2, 0, 0, 0), Q_WWW(1), PTR(12), B16(28), B16(1)};
static const uint8_t bad_short[] = {HDR(1, RESP, 1, 0, 0, 0)};
static const uint8_t bad_qtrunc[] = {HDR(1, RESP, 1, 0, 0, 0), 3, 'w', 'w', 'w', 7, 'e', 'x'};
static const uint8_t bad_qfixed[] = {HDR(1, RESP, 1, 0, 0, 0), 0, 0, 1, 0};

/* SVCB/HTTPS RDATA: svc.example.com HTTPS, one record, priority 1, target
 * ".", then the SvcParams given */
#define HTTPS_MSG(rdlen, ...) {                                                                   \
	HDR(1, RESP, 1, 1, 0, 0),                                                                  \
	3, 's', 'v', 'c', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, B16(65), B16(1), \
	PTR(12), RR(65, 1, 300, rdlen), B16(1), 0, __VA_ARGS__                                     \
}
static const uint8_t svc_order[] =
	HTTPS_MSG(31, B16(6), B16(16), V6(1), B16(4), B16(4), 192, 0, 2, 1);
static const uint8_t svc_v4len[] = HTTPS_MSG(13, B16(4), B16(6), 192, 0, 2, 1, 0, 0);
static const uint8_t svc_v6len[] = HTTPS_MSG(15, B16(6), B16(8), 0x20, 1, 0xd, 0xb8, 0, 0, 0, 1);
static const uint8_t svc_v4empty[] = HTTPS_MSG(7, B16(4), B16(0));
static const uint8_t svc_dup[] =
	HTTPS_MSG(19, B16(4), B16(4), 192, 0, 2, 1, B16(4), B16(4), 192, 0, 2, 2);
static const uint8_t svc_past[] = HTTPS_MSG(11, B16(4), B16(8), 192, 0, 2, 1);
static const uint8_t svc_half[] = HTTPS_MSG(5, B16(4));
static const uint8_t svc_mand_missing[] =
	HTTPS_MSG(15, B16(0), B16(2), B16(4), B16(3), B16(2), B16(443));
static const uint8_t svc_mand_self[] =
	HTTPS_MSG(17, B16(0), B16(2), B16(0), B16(4), B16(4), 192, 0, 2, 1);
static const uint8_t svc_key65535[] = HTTPS_MSG(7, B16(65535), B16(0));
static const uint8_t svc_alpn[] = HTTPS_MSG(10, B16(1), B16(3), 5, 'h', '2');
static const uint8_t svc_port[] = HTTPS_MSG(8, B16(3), B16(1), 1);
/* TargetName compressed (RFC 9460 §2.2 forbids it): priority 1, PTR(12) */
static const uint8_t svc_target_ptr[] = {
	HDR(1, RESP, 1, 1, 0, 0), 3, 's', 'v', 'c', 0, B16(65), B16(1),
	/* 21 */ PTR(12), RR(65, 1, 300, 4), B16(1), PTR(12),
};
/* TargetName whose label runs past the RDATA into the next record (which
 * itself is well formed: owner "z", an A) */
static const uint8_t svc_target_over[] = {
	HDR(1, RESP, 1, 2, 0, 0), 3, 's', 'v', 'c', 0, B16(65), B16(1),
	/* 21 */ PTR(12), RR(65, 1, 300, 4), B16(1), 3, 'a',
	/* 37 */ 1, 'z', 0, RR(1, 1, 300, 4), 192, 0, 2, 1,
};
/* a valid one: mandatory=alpn,ipv4hint with both present */
static const uint8_t svc_mand_ok[] = HTTPS_MSG(26, B16(0), B16(4), B16(1), B16(4),
					       B16(1), B16(3), 2, 'h', '3',
					       B16(4), B16(4), 192, 0, 2, 77);

/* clang-format on */

/* clang-format off */
static const struct bad bad[] = {
	{"forward pointer", MSG(bad_fwd), WIRE_ERR_PTR_FORWARD},
	{"self pointer", MSG(bad_self), WIRE_ERR_PTR_FORWARD},
	{"pointer loop", MSG(bad_loop), WIRE_ERR_PTR_LOOP},
	{"pointer into header", MSG(bad_hdr), WIRE_ERR_PTR_HEADER},
	{"question self pointer", MSG(bad_qself), WIRE_ERR_PTR_FORWARD},
	{"question loop", MSG(bad_qloop), WIRE_ERR_PTR_LOOP},
	{"label type 01", MSG(bad_label40), WIRE_ERR_LABEL_TYPE},
	{"label type 10", MSG(bad_label80), WIRE_ERR_LABEL_TYPE},
	{"ancount 65535", MSG(bad_count_huge), WIRE_ERR_COUNT},
	{"ancount lies", MSG(bad_count_lie), WIRE_ERR_TRUNCATED},
	{"arcount lies", MSG(bad_arcount), WIRE_ERR_TRUNCATED},
	{"uncounted record", MSG(bad_trailing), WIRE_ERR_TRAILING},
	{"A rdlength 5", MSG(bad_a5), WIRE_ERR_RDATA},
	{"A rdlength 3", MSG(bad_a3), WIRE_ERR_RDATA},
	{"AAAA rdlength 4", MSG(bad_aaaa4), WIRE_ERR_RDATA},
	{"rdlength past end", MSG(bad_rdlen_past), WIRE_ERR_RDLENGTH},
	{"CNAME rdata longer than its name", MSG(bad_cname_rdata), WIRE_ERR_RDATA},
	{"two OPT", MSG(bad_two_opt), WIRE_ERR_OPT_MULTI},
	{"OPT in answer", MSG(bad_opt_answer), WIRE_ERR_OPT},
	{"OPT owner not root", MSG(bad_opt_owner), WIRE_ERR_OPT},
	{"OPT option past rdata", MSG(bad_opt_option), WIRE_ERR_OPT},
	{"qdcount 0", MSG(bad_qd0), WIRE_ERR_QDCOUNT},
	{"qdcount 2", MSG(bad_qd2), WIRE_ERR_QDCOUNT},
	{"11 bytes", bad_short, 11, WIRE_ERR_SHORT},
	{"question name cut", MSG(bad_qtrunc), WIRE_ERR_TRUNCATED},
	{"question fixed part cut", MSG(bad_qfixed), WIRE_ERR_COUNT},
	{"SvcParams out of order", MSG(svc_order), WIRE_ERR_SVCB},
	{"ipv4hint length 6", MSG(svc_v4len), WIRE_ERR_SVCB},
	{"ipv6hint length 8", MSG(svc_v6len), WIRE_ERR_SVCB},
	{"ipv4hint empty", MSG(svc_v4empty), WIRE_ERR_SVCB},
	{"SvcParam key twice", MSG(svc_dup), WIRE_ERR_SVCB},
	{"SvcParam value past rdata", MSG(svc_past), WIRE_ERR_SVCB},
	{"SvcParam header cut", MSG(svc_half), WIRE_ERR_SVCB},
	{"mandatory key missing", MSG(svc_mand_missing), WIRE_ERR_SVCB},
	{"mandatory lists itself", MSG(svc_mand_self), WIRE_ERR_SVCB},
	{"SvcParam key 65535", MSG(svc_key65535), WIRE_ERR_SVCB},
	{"alpn id past value", MSG(svc_alpn), WIRE_ERR_SVCB},
	{"port length 1", MSG(svc_port), WIRE_ERR_SVCB},
	{"compressed TargetName", MSG(svc_target_ptr), WIRE_ERR_PTR_IN_RDATA},
	{"TargetName past RDATA", MSG(svc_target_over), WIRE_ERR_SVCB},
};
/* clang-format on */

static void test_bad(void)
{
	struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS];
	struct wire_found found[8];
	struct wire_chain c;
	struct wire_msg m;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t *copy = dup_exact(bad[i].msg, bad[i].len);
		enum wire_err err = wire_msg_parse(copy, bad[i].len, rr, ARRAY_SIZE(rr), &m);

		CHECK_MSG(err == bad[i].want, "%s: got '%s', want '%s'", bad[i].what,
			  wire_strerror(err), wire_strerror(bad[i].want));
		free(copy);
	}
	CHECK(parse_extract(MSG(svc_mand_ok), &c, found, 8) == WIRE_OK);
	CHECK(c.nfound == 1 && chain_has(&c, "192.0.2.77"));
}

/* Names at and over the limits, and pointer chains, generated. */
static void test_names(void)
{
	struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS + 1];
	struct wire_msg m;
	struct wire_name n, n2;
	char s[400], out[WIRE_NAME_STRLEN];
	struct mb b;
	size_t qend;

	/* 3 x 63 + 61: 254 bytes of labels + root = 255, the largest name */
	memset(s, 'a', sizeof(s));
	s[63] = s[127] = s[191] = '.';
	s[253] = '\0';
	CHECK(wire_name_from_str(s, &n) == WIRE_OK && n.len == 255);
	s[253] = 'a';
	s[254] = '\0';
	CHECK(wire_name_from_str(s, &n2) == WIRE_ERR_NAME_TOO_LONG);
	s[63] = 'a';
	s[64] = '\0';
	CHECK(wire_name_from_str(s, &n2) == WIRE_ERR_NAME_SYNTAX); /* label of 64 */

	/* in a message: 255 is accepted, a label plus a pointer to it is not */
	mb_hdr(&b, 1, RESP, 1, 1, 0, 0);
	mb_put(&b, n.b, n.len);
	mb_u16(&b, 1);
	mb_u16(&b, 1);
	qend = b.n;
	mb_put(&b, (const uint8_t[]){PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1}, 16);
	CHECK(wire_msg_parse(b.b, b.n, rr, 8, &m) == WIRE_OK && m.qname.len == 255);
	b.n = qend;
	mb_put(&b, (const uint8_t[]){1, 'x', PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1}, 18);
	CHECK(wire_msg_parse(b.b, b.n, rr, 8, &m) == WIRE_ERR_NAME_TOO_LONG);
	/* labels of 63, 63, 63, 62: 255 bytes, and the root makes 256 */
	mb_hdr(&b, 1, RESP, 1, 0, 0, 0);
	for (unsigned i = 0; i < 4; i++) {
		uint8_t label[64];

		memset(label, 'a', sizeof(label));
		label[0] = i < 3 ? 63 : 62;
		mb_put(&b, label, 1 + (size_t)label[0]);
	}
	mb_put(&b, (const uint8_t[]){0, B16(1), B16(1)}, 5);
	CHECK(wire_msg_parse(b.b, b.n, rr, 8, &m) == WIRE_ERR_NAME_TOO_LONG);
	/* 256 bytes written out in the question */
	mb_hdr(&b, 1, RESP, 1, 0, 0, 0);
	mb_put(&b, (const uint8_t[]){1, 'x'}, 2);
	mb_put(&b, n.b, n.len);
	mb_u16(&b, 1);
	mb_u16(&b, 1);
	CHECK(wire_msg_parse(b.b, b.n, rr, 8, &m) == WIRE_ERR_NAME_TOO_LONG);

	/* a chain of pointers, each to the one before: 128 jumps pass, 129 not.
	 * The pointers sit in the RDATA of an unknown type (0xff00). */
	for (unsigned jumps = 128; jumps <= 129; jumps++) {
		size_t base, last;

		mb_hdr(&b, 1, RESP, 1, 2, 0, 0);
		mb_name(&b, "a.example");
		mb_u16(&b, 1);
		mb_u16(&b, 1);
		base = b.n + 1 + 10; /* after a root owner and the fixed part */
		b.b[b.n++] = 0;	     /* owner: root */
		mb_rr(&b, 0xff00, 300, 2 * (jumps - 1));
		for (unsigned i = 0; i < jumps - 1; i++)
			mb_put(&b, (const uint8_t[]){PTR(i ? base + 2 * (i - 1) : 12)}, 2);
		last = base + 2 * (jumps - 2);
		mb_put(&b, (const uint8_t[]){PTR(last), RR(1, 1, 300, 4), 192, 0, 2, 1}, 16);
		CHECK(wire_msg_parse(b.b, b.n, rr, 8, &m) ==
		      (jumps == 128 ? WIRE_OK : WIRE_ERR_PTR_JUMPS));
	}

	/* 256 records pass the default bound, 257 do not */
	for (unsigned count = 256; count <= 257; count++) {
		mb_hdr(&b, 1, RESP, 1, count, 0, 0);
		mb_name(&b, "a.example");
		mb_u16(&b, 1);
		mb_u16(&b, 1);
		for (unsigned i = 0; i < count; i++)
			mb_put(&b, (const uint8_t[]){PTR(12), RR(1, 1, 300, 4), 192, 0, 2, 1}, 16);
		CHECK(wire_msg_parse(b.b, b.n, rr, WIRE_DEFAULT_MAX_RECORDS, &m) ==
		      (count == 256 ? WIRE_OK : WIRE_ERR_TOO_MANY_RECORDS));
	}

	/* presentation form: escapes, case, root */
	CHECK(wire_name_from_str("WwW.Example.COM.", &n) == WIRE_OK);
	CHECK(wire_name_from_str("www.example.com", &n2) == WIRE_OK);
	CHECK(wire_name_equal(&n, &n2) && n.len == 17);
	CHECK_STREQ(wire_name_format(&n, out, sizeof(out)), "www.example.com");
	CHECK(wire_name_from_str("a\\.b\\010\\\\.example", &n) == WIRE_OK);
	CHECK_STREQ(wire_name_format(&n, out, sizeof(out)), "a\\046b\\010\\092.example");
	CHECK(wire_name_from_str(".", &n) == WIRE_OK && n.len == 1);
	CHECK_STREQ(wire_name_format(&n, out, sizeof(out)), ".");
	CHECK(wire_name_from_str("", &n) == WIRE_ERR_NAME_SYNTAX);
	CHECK(wire_name_from_str("a..b", &n) == WIRE_ERR_NAME_SYNTAX);
	CHECK(wire_name_from_str(".a", &n) == WIRE_ERR_NAME_SYNTAX);
	CHECK(wire_name_from_str("a\\25", &n) == WIRE_ERR_NAME_SYNTAX);
	CHECK(wire_name_from_str("a\\256", &n) == WIRE_ERR_NAME_SYNTAX);
	CHECK(wire_name_from_str("a\\", &n) == WIRE_ERR_NAME_SYNTAX);
	/* formatting into a small buffer cuts, NUL-terminated */
	CHECK(wire_name_from_str("www.example.com", &n) == WIRE_OK);
	CHECK_STREQ(wire_name_format(&n, out, 6), "www.e");
	CHECK(wire_name_equal(&(struct wire_name){.len = 3, .b = {1, 'A', 0}},
			      &(struct wire_name){.len = 3, .b = {1, 'a', 0}}));
}

/* Is a (4 or 16 bytes) anywhere in msg? */
static bool bytes_in(const uint8_t *msg, size_t len, const struct addr *a)
{
	size_t w = a->family == AF_INET ? 4 : 16;

	for (size_t o = 0; o + w <= len; o++)
		if (memcmp(msg + o, a->b, w) == 0)
			return true;
	return false;
}

/*
 * Every valid answer cut at every length: refused, or a subset of its
 * addresses. Every single-byte mutation (a set of telling values at each
 * position): refused, or
 *  - every address found is bytes of the mutated message (nothing invented),
 *    the bound and the owner indexes hold;
 *  - and, unless the mutation hit a record's TYPE, RDLENGTH or RDATA (which
 *    legitimately makes a new address, e.g. a CNAME turned into an A), every
 *    address found was already in the message (expected or decoy): changing
 *    names, counts, classes, flags or the question never brings in anything
 *    else.
 */
static void test_sweeps(void)
{
	static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x1c,
				       0x3f, 0x40, 0x41, 0x80, 0xc0, 0xc1, 0xff};

	for (size_t v = 0; v < ARRAY_SIZE(valid); v++) {
		const struct valid *t = &valid[v];
		unsigned cut_bad = 0, mut_bad = 0, mut_ok = 0, mut_strict = 0;
		struct wire_rr rr[16];
		struct wire_found found[16];
		struct wire_chain c;
		struct wire_msg m;
		bool exempt[512] = {false};

		if (wire_msg_parse(t->msg, t->len, rr, ARRAY_SIZE(rr), &m) != WIRE_OK ||
		    t->len > sizeof(exempt))
			abort();
		for (size_t i = 0; i < m.nrr; i++)
			for (size_t o = rr[i].rdata_off - 10u; o < rr[i].rdata_off + rr[i].rdlen;
			     o++)
				exempt[o] = o < rr[i].rdata_off - 8u || o >= rr[i].rdata_off - 2u;

		for (size_t len = 0; len < t->len; len++) {
			enum wire_err err = parse_extract(t->msg, len, &c, found, 16);

			if (err == WIRE_OK)
				for (size_t i = 0; i < c.nfound; i++)
					if (!in_list(t->expect, t->nexp, &c.found[i].addr))
						cut_bad++;
		}
		CHECK_MSG(cut_bad == 0, "%s: %u bad addresses from truncations", t->what, cut_bad);

		for (size_t pos = 0; pos < t->len; pos++) {
			for (size_t k = 0; k < ARRAY_SIZE(vals) + 3; k++) {
				uint8_t mut[512], val;

				val = k < ARRAY_SIZE(vals)	  ? vals[k]
				      : k == ARRAY_SIZE(vals)	  ? (uint8_t)(t->msg[pos] ^ 0x20)
				      : k == ARRAY_SIZE(vals) + 1 ? (uint8_t)(t->msg[pos] + 1)
								  : (uint8_t)(t->msg[pos] - 1);
				if (val == t->msg[pos])
					continue;
				memcpy(mut, t->msg, t->len);
				mut[pos] = val;
				if (parse_extract(mut, t->len, &c, found, 16) != WIRE_OK)
					continue;
				mut_ok++;
				mut_strict += !exempt[pos];
				if (c.nfound > 16 || c.nnames < 1 ||
				    c.nnames > WIRE_DEFAULT_MAX_CHAIN + 1)
					mut_bad++;
				for (size_t i = 0; i < c.nfound; i++) {
					const struct addr *a = &c.found[i].addr;
					bool known = in_list(t->expect, t->nexp, a) ||
						     in_list(t->decoy, ARRAY_SIZE(t->decoy), a);

					if (!bytes_in(mut, t->len, a) ||
					    c.found[i].owner >= c.nnames ||
					    (!exempt[pos] && !known)) {
						char ab[ADDR_STRLEN];

						fprintf(stderr, "%s: byte %zu = 0x%02x: %s\n",
							t->what, pos, val,
							addr_format(a, ab, sizeof(ab)));
						mut_bad++;
					}
				}
			}
		}
		CHECK_MSG(mut_bad == 0, "%s: %u bad results from mutations", t->what, mut_bad);
		CHECK_MSG(mut_ok > 0 && mut_strict > 0, "%s: %u/%u mutations parsed", t->what,
			  mut_ok, mut_strict);
	}
}

/* ---- queries (stub side) ------------------------------------------------ */

/* clang-format off */

static const uint8_t q_plain[] = {HDR(0xbeef, 0x0100, 1, 0, 0, 0), Q_WWW(1)};
/* EDNS 4096, DO, a cookie option (RFC 7873) */
static const uint8_t q_edns[] = {
	HDR(0x1111, 0x0100, 1, 0, 0, 1), Q_WWW(1),
	/* 33 */ OPT(4096, 0x8000, 12), B16(10), B16(8), 1, 2, 3, 4, 5, 6, 7, 8,
};
static const uint8_t q_mixed[] = {
	HDR(0x3333, 0x0100, 1, 0, 0, 1),
	3, 'W', 'w', 'W', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'C', 'O', 'M', 0, B16(28), B16(1),
	OPT(1232, 0, 0),
};
static const uint8_t q_small_edns[] = {HDR(0x4444, 0, 1, 0, 0, 1), Q_WWW(1), OPT(100, 0, 0)};
static const uint8_t q_status[] = {HDR(0x5555, 0x1100, 1, 0, 0, 0), Q_WWW(1)};
static const uint8_t q_qr[] = {HDR(0x6666, 0x8100, 1, 0, 0, 0), Q_WWW(1)};
static const uint8_t q_qd0[] = {HDR(0x7777, 0x0100, 0, 0, 0, 0)};
static const uint8_t q_qd2[] = {
	HDR(0x8888, 0x0100, 2, 0, 0, 0), Q_WWW(1), PTR(12), B16(28), B16(1),
};
static const uint8_t q_two_opt[] = {
	HDR(0x9999, 0x0100, 1, 0, 0, 2), Q_WWW(1), OPT(1232, 0, 0), OPT(1232, 0, 0),
};
static const uint8_t q_badvers[] = {
	HDR(0xaaaa, 0x0100, 1, 0, 0, 1), Q_WWW(1), OPT(1232, 0x00010000, 0),
};
static const uint8_t q_badname[] = {HDR(0xbbbb, 0x0100, 1, 0, 0, 0), 0x41, 'x', 0, B16(1), B16(1)};

/* clang-format on */

static enum wire_err qparse(const uint8_t *p, size_t n, struct wire_query *q)
{
	uint8_t *copy = dup_exact(p, n);
	enum wire_err err = wire_query_parse(copy, n, q);

	free(copy);
	return err;
}

static void test_queries(void)
{
	struct wire_query q;

	CHECK(qparse(MSG(q_plain), &q) == WIRE_OK);
	CHECK(q.id == 0xbeef && q.rd && q.opcode == 0 && q.qtype == 1 && q.qclass == 1);
	CHECK(!q.edns && q.udp_limit == 512 && q.question_end == 33);
	CHECK_STREQ(fmt(&q.qname), "www.example.com");

	CHECK(qparse(MSG(q_edns), &q) == WIRE_OK);
	CHECK(q.edns && q.edns_do && q.edns_udp_size == 4096 && q.udp_limit == 4096);

	CHECK(qparse(MSG(q_mixed), &q) == WIRE_OK);
	CHECK(q.qtype == 28 && q.edns && !q.edns_do && q.udp_limit == 1232);
	CHECK(wire_name_equal(&q.qname, &(struct wire_name){0}) == false);
	CHECK_STREQ(fmt(&q.qname), "www.example.com");

	CHECK(qparse(MSG(q_small_edns), &q) == WIRE_OK && !q.rd && q.udp_limit == 512);

	/* the three dispositions: NOTIMP, drop, FORMERR, and BADVERS */
	CHECK(qparse(MSG(q_status), &q) == WIRE_ERR_OPCODE && q.id == 0x5555 && q.opcode == 2);
	CHECK(wire_query_rcode(WIRE_ERR_OPCODE) == WIRE_RCODE_NOTIMP);
	CHECK(qparse(MSG(q_qr), &q) == WIRE_ERR_QR && wire_query_rcode(WIRE_ERR_QR) == -1);
	CHECK(qparse(MSG(q_qd0), &q) == WIRE_ERR_QDCOUNT);
	CHECK(qparse(MSG(q_qd2), &q) == WIRE_ERR_QDCOUNT);
	CHECK(wire_query_rcode(WIRE_ERR_QDCOUNT) == WIRE_RCODE_FORMERR);
	CHECK(qparse(MSG(q_two_opt), &q) == WIRE_ERR_OPT_MULTI);
	CHECK(wire_query_rcode(WIRE_ERR_OPT_MULTI) == WIRE_RCODE_FORMERR);
	CHECK(qparse(MSG(q_badvers), &q) == WIRE_ERR_EDNS_VERSION && q.edns_version == 1);
	CHECK(wire_query_rcode(WIRE_ERR_EDNS_VERSION) == WIRE_RCODE_BADVERS);
	CHECK(qparse(MSG(q_badname), &q) == WIRE_ERR_LABEL_TYPE);
	CHECK(qparse(q_plain, 5, &q) == WIRE_ERR_SHORT && wire_query_rcode(WIRE_ERR_SHORT) == -1);
	CHECK(wire_query_rcode(WIRE_OK) == 0);

	/* every cut of a valid query is refused with FORMERR or dropped */
	{
		unsigned accepted = 0;

		for (size_t len = 0; len < sizeof(q_edns); len++)
			if (qparse(q_edns, len, &q) == WIRE_OK)
				accepted++;
		CHECK(accepted == 0);
	}
}

static void test_build(void)
{
	struct wire_rr rr[8];
	struct wire_query q;
	struct wire_msg m;
	struct wire_name n = N("WwW.Example.com");
	uint8_t buf[600];
	size_t len;
	unsigned nospace = 0;

	/* round trips: build query -> parse query gives the same fields */
	CHECK(wire_build_query(0x2222, &n, 28, true, 1232, buf, sizeof(buf), &len) == WIRE_OK);
	CHECK(len == 12 + 17 + 4 + 11);
	CHECK(qparse(buf, len, &q) == WIRE_OK);
	CHECK(q.id == 0x2222 && q.rd && q.qtype == 28 && q.qclass == 1 && q.edns &&
	      q.edns_udp_size == 1232 && !q.edns_do);
	CHECK(wire_name_equal(&q.qname, &n));
	CHECK(wire_build_query(7, &n, 1, false, 0, buf, sizeof(buf), &len) == WIRE_OK);
	CHECK(qparse(buf, len, &q) == WIRE_OK && q.id == 7 && !q.rd && !q.edns && len == 33);
	for (size_t cap = 0; cap < 33; cap++)
		if (wire_build_query(7, &n, 1, false, 0, buf, cap, &len) != WIRE_ERR_NOSPACE)
			nospace++;
	CHECK(nospace == 0);
	CHECK(wire_build_query(7, &(struct wire_name){.len = 2, .b = {5, 0}}, 1, false, 0, buf,
			       sizeof(buf), &len) == WIRE_ERR_INVAL);

	/* error responses: ID, opcode, RD copied, question echoed as sent */
	CHECK(wire_build_error(MSG(q_mixed), WIRE_RCODE_SERVFAIL, 1232, buf, sizeof(buf), &len) ==
	      WIRE_OK);
	CHECK(wire_msg_parse(buf, len, rr, 8, &m) == WIRE_OK);
	CHECK(m.id == 0x3333 && (m.flags & WIRE_FLAG_QR) && (m.flags & WIRE_FLAG_RD) &&
	      m.rcode == WIRE_RCODE_SERVFAIL && m.edns && m.edns_udp_size == 1232);
	CHECK(memcmp(buf + 12, q_mixed + 12, 21) == 0); /* "WwW.Example.COM" kept */
	CHECK(wire_answer_matches(&m, 0x3333, &n, 28, 1) == WIRE_OK);

	CHECK(wire_build_error(MSG(q_plain), WIRE_RCODE_REFUSED, 0, buf, sizeof(buf), &len) ==
	      WIRE_OK);
	CHECK(len == 33 && wire_msg_parse(buf, len, rr, 8, &m) == WIRE_OK &&
	      m.rcode == WIRE_RCODE_REFUSED && !m.edns);
	CHECK(wire_build_error(MSG(q_plain), WIRE_RCODE_NXDOMAIN, 0, buf, sizeof(buf), &len) ==
		  WIRE_OK &&
	      WIRE_FLAGS_RCODE(buf[3]) == WIRE_RCODE_NXDOMAIN);

	/* NOTIMP keeps the opcode; FORMERR for two questions has none */
	CHECK(wire_build_error(MSG(q_status), WIRE_RCODE_NOTIMP, 0, buf, sizeof(buf), &len) ==
	      WIRE_OK);
	CHECK(len == 33 && WIRE_FLAGS_OPCODE(buf[2] << 8) == 2 && (buf[3] & 0xf) == 4);
	CHECK(wire_build_error(MSG(q_qd2), WIRE_RCODE_FORMERR, 0, buf, sizeof(buf), &len) ==
	      WIRE_OK);
	CHECK(len == 12 && buf[5] == 0 && (buf[3] & 0xf) == 1 && buf[0] == 0x88);
	CHECK(wire_build_error(MSG(q_badname), WIRE_RCODE_FORMERR, 0, buf, sizeof(buf), &len) ==
		  WIRE_OK &&
	      len == 12);

	/* BADVERS (16) needs an OPT carrying the upper bits */
	CHECK(wire_build_error(MSG(q_badvers), WIRE_RCODE_BADVERS, 0, buf, sizeof(buf), &len) ==
	      WIRE_ERR_INVAL);
	CHECK(wire_build_error(MSG(q_badvers), WIRE_RCODE_BADVERS, 1232, buf, sizeof(buf), &len) ==
	      WIRE_OK);
	CHECK(wire_msg_parse(buf, len, rr, 8, &m) == WIRE_OK && m.rcode == WIRE_RCODE_BADVERS);
	CHECK(wire_build_error(q_plain, 11, WIRE_RCODE_FORMERR, 0, buf, sizeof(buf), &len) ==
	      WIRE_ERR_SHORT);
	CHECK(wire_build_error(MSG(q_plain), WIRE_RCODE_SERVFAIL, 0, buf, 32, &len) ==
	      WIRE_ERR_NOSPACE);

	/* IDs */
	{
		uint8_t msg[sizeof(ans_a)];
		uint16_t id;

		memcpy(msg, ans_a, sizeof(msg));
		CHECK(wire_set_id(msg, sizeof(msg), 0xcafe) == WIRE_OK);
		CHECK(wire_get_id(msg, sizeof(msg), &id) == WIRE_OK && id == 0xcafe);
		CHECK(memcmp(msg + 2, ans_a + 2, sizeof(msg) - 2) == 0);
		CHECK(wire_set_id(msg, 11, 1) == WIRE_ERR_SHORT);
	}
}

static void test_truncate(void)
{
	struct wire_rr rr[8];
	struct wire_msg m;
	uint8_t msg[sizeof(ans_cname3)];
	size_t len;
	bool tc;

	/* fits: untouched */
	memcpy(msg, ans_cname3, sizeof(msg));
	len = sizeof(msg);
	CHECK(wire_fit_udp(msg, &len, 512, 0, &tc) == WIRE_OK && !tc && len == sizeof(msg));
	CHECK(memcmp(msg, ans_cname3, len) == 0);
	/* too big: header + question, TC, counts zero */
	CHECK(wire_fit_udp(msg, &len, 100, 0, &tc) == WIRE_OK && tc && len == 31);
	CHECK(wire_msg_parse(msg, len, rr, 8, &m) == WIRE_OK);
	CHECK((m.flags & WIRE_FLAG_TC) && m.nrr == 0 && m.id == 1 && m.qtype == 1);
	CHECK_STREQ(fmt(&m.qname), "a.example.com");
	/* with an OPT for an EDNS client */
	memcpy(msg, ans_cname3, sizeof(msg));
	len = sizeof(msg);
	CHECK(wire_fit_udp(msg, &len, 100, 1232, &tc) == WIRE_OK && tc && len == 42);
	CHECK(wire_msg_parse(msg, len, rr, 8, &m) == WIRE_OK && m.edns && m.edns_udp_size == 1232);
	/* cannot fit even the question */
	memcpy(msg, ans_cname3, sizeof(msg));
	len = sizeof(msg);
	CHECK(wire_fit_udp(msg, &len, 20, 0, &tc) == WIRE_ERR_NOSPACE && !tc && len == sizeof(msg));
}

static void test_matches(void)
{
	struct wire_rr rr[8];
	struct wire_msg m;
	struct wire_name www = N("WWW.example.COM"), other = N("www.example.net");
	uint8_t q[sizeof(ans_a)];

	CHECK(wire_msg_parse(MSG(ans_a), rr, 8, &m) == WIRE_OK);
	CHECK(wire_answer_matches(&m, 0x1234, &www, 1, 1) == WIRE_OK);
	CHECK(wire_answer_matches(&m, 0x1235, &www, 1, 1) == WIRE_ERR_ID_MISMATCH);
	CHECK(wire_answer_matches(&m, 0x1234, &other, 1, 1) == WIRE_ERR_QUESTION_MISMATCH);
	CHECK(wire_answer_matches(&m, 0x1234, &www, 28, 1) == WIRE_ERR_QUESTION_MISMATCH);
	CHECK(wire_answer_matches(&m, 0x1234, &www, 1, 3) == WIRE_ERR_QUESTION_MISMATCH);
	/* a message with QR=0 is no answer */
	memcpy(q, ans_a, sizeof(q));
	q[2] &= 0x7f;
	CHECK(wire_msg_parse(q, sizeof(q), rr, 8, &m) == WIRE_OK);
	CHECK(wire_answer_matches(&m, 0x1234, &www, 1, 1) == WIRE_ERR_NOT_RESPONSE);
}

static void test_strerror(void)
{
	unsigned bad_str = 0;

	for (int e = 0; e < WIRE_ERR__COUNT; e++) {
		const char *s = wire_strerror((enum wire_err)e);

		if (!s || !*s || strcmp(s, "unknown wire error") == 0)
			bad_str++;
		for (int f = 0; f < e; f++)
			if (strcmp(s, wire_strerror((enum wire_err)f)) == 0)
				bad_str++;
	}
	CHECK_MSG(bad_str == 0, "%u codes without a distinct string", bad_str);
	CHECK_STREQ(wire_strerror((enum wire_err)999), "unknown wire error");
}

int main(void)
{
	test_valid();
	test_details();
	test_chains();
	test_bad();
	test_names();
	test_sweeps();
	test_queries();
	test_build();
	test_truncate();
	test_matches();
	test_strerror();
	CHECK_DONE();
}
