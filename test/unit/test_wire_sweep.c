/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/wire, deterministic sweeps (issue 5): a generator of valid answers
 * (fixed seed, so every run sees the same bytes), each with the REFERENCE set
 * of addresses a correct extraction returns, computed from the generator's
 * own model by the rules of wire_chain_extract() (ANSWER section only, IN
 * only, owner on the question's CNAME chain, only the asked type: A, AAAA,
 * ServiceMode hints for SVCB/HTTPS, all of them for ANY, NOERROR only).
 *
 * For every answer:
 *  - parse + match + extract must return exactly the reference set;
 *  - every truncation is rejected, or extracts a subset of the reference;
 *  - every single-byte change is rejected, or extracts a subset of the
 *    reference. Where the changed byte is inside a record's owner name,
 *    TYPE, CLASS, RDLENGTH or RDATA (a CNAME target included), a changed
 *    byte can legitimately rename a record onto the chain or change an
 *    address, so there only this is required: no crash, and every address
 *    extracted is made of bytes that are in the mutated message.
 * The builder records what each byte is (header, question, owner, TYPE...);
 * the positions come from there, cross-checked with the parser's offsets.
 * Every input goes to the parser in an exact-size heap buffer, so that
 * AddressSanitizer catches a read of one byte past the end.
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

#define N_ANSWERS  64 /* 60 A/AAAA/HTTPS (every type x chain length 0..4), 4 ANY */
#define MSG_MAX	   2048
#define PLAN_MAX   48
#define NAME_STR   128
#define DICT_MAX   256
#define ADDR_MAX   128
#define FOUND_MAX  64
#define MAX_CNAMES 4
#define MAX_REPORT 30 /* failure lines printed at most */

#define RESP 0x8180 /* QR RD RA */

/* What a byte of a generated message is: the mutation rule depends on it. */
enum pos_kind {
	POS_HEADER,
	POS_QUESTION,
	POS_TTL,
	/* exempt from the subset rule from here on */
	POS_OWNER,
	POS_TYPE,
	POS_CLASS,
	POS_RDLEN,
	POS_RDATA,
};

static const char *const kind_name[] = {"header", "question", "TTL",   "owner",
					"TYPE",	  "CLASS",    "RDLEN", "RDATA"};

/* ---- deterministic randomness ------------------------------------------ */

static uint64_t rng_state = 0x7a74646e73ULL; /* fixed seed: "ztdns" */

static uint32_t rnd(uint32_t n)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL); /* splitmix64 */

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return n ? (uint32_t)(z % n) : 0;
}

static bool chance(unsigned pct)
{
	return rnd(100) < pct;
}

/* ---- the model of one answer -------------------------------------------- */

struct svc {
	uint16_t prio;	       /* 0: AliasMode */
	char target[NAME_STR]; /* "" is the root */
	bool alpn, port, mandatory;
	uint8_t nv4, nv6;
	struct addr v4[3], v6[2];
};

struct plan {
	uint8_t section;
	uint16_t type, rclass;
	uint32_t ttl;
	char owner[NAME_STR];  /* lowercase presentation form; "" is the root */
	char target[NAME_STR]; /* CNAME, NS */
	struct addr addr;      /* A, AAAA */
	struct svc svc;	       /* SVCB, HTTPS */
	bool cookie;	       /* OPT: carries a cookie option */
};

struct dict_entry {
	uint16_t off;
	char name[NAME_STR];
};

struct answer {
	unsigned idx;
	uint8_t b[MSG_MAX];
	size_t n;
	uint8_t kind[MSG_MAX]; /* enum pos_kind of every byte */
	uint16_t id, qtype;
	struct wire_name qname;
	char chain[MAX_CNAMES + 1][NAME_STR];
	unsigned nchain;
	uint32_t min_ttl;
	struct plan plan[PLAN_MAX];
	size_t nplan, count[4];	     /* records per section (1..3) */
	struct wire_rr rr[PLAN_MAX]; /* where the builder put each record */
	struct addr ref[ADDR_MAX];
	size_t nref;
	struct addr decoy[ADDR_MAX]; /* every other address in the message */
	size_t ndecoy;
	struct dict_entry dict[DICT_MAX]; /* names written so far, for compression */
	size_t ndict;
	unsigned next_addr;
	bool bad; /* generator overflow: a bug in this file */
};

/* ---- names ------------------------------------------------------------------ */

static const char *const labels[] = {"www", "api",	 "cdn",	   "img", "mail",  "edge",
				     "svc", "a",	 "b",	   "x1",  "login", "static",
				     "m",   "eu-west-1", "origin", "lb",  "app",   "dl"};
static const char *const tlds[] = {"com", "net", "org", "example", "test"};

/* A fresh name of n labels (n >= 1), the last one a TLD-like label. */
static void fresh_name(char *out, unsigned n)
{
	out[0] = 0;
	for (unsigned i = 0; i + 1 < n; i++) {
		strncat(out, labels[rnd(ARRAY_SIZE(labels))], NAME_STR - strlen(out) - 1);
		strncat(out, ".", NAME_STR - strlen(out) - 1);
	}
	strncat(out, tlds[rnd(ARRAY_SIZE(tlds))], NAME_STR - strlen(out) - 1);
}

static bool on_chain(const struct answer *a, const char *name)
{
	for (unsigned i = 0; i < a->nchain; i++)
		if (strcmp(a->chain[i], name) == 0)
			return true;
	return false;
}

static unsigned nlabels(const char *s)
{
	unsigned n = 1;

	for (; *s; s++)
		n += *s == '.';
	return n;
}

/* out = "label.rest" (the names here are far shorter than NAME_STR; a
 * longer one would be cut, never overflow) */
static void join(char *out, const char *label, const char *rest)
{
	size_t l = strlen(label), r = strlen(rest);

	if (l + 1 + r >= NAME_STR)
		r = NAME_STR - 2 - UTIL_MIN(l, NAME_STR - 2);
	l = UTIL_MIN(l, NAME_STR - 2);
	memcpy(out, label, l);
	out[l] = '.';
	memcpy(out + l + 1, rest, r);
	out[l + 1 + r] = 0;
}

/* "label.rest" -> "rest", or NULL for a single label */
static const char *parent(const char *s)
{
	const char *dot = strchr(s, '.');

	return dot ? dot + 1 : NULL;
}

/* A new name for the chain: often under the suffix of an earlier one (so
 * that compression has something to point to), never one already on it. */
static void chain_name(struct answer *a, char *out)
{
	for (unsigned tries = 0; tries < 50; tries++) {
		const char *base = a->chain[rnd(a->nchain)];

		if (chance(50)) {
			const char *p = parent(base);

			join(out, labels[rnd(ARRAY_SIZE(labels))], p && chance(50) ? p : base);
			if (nlabels(out) > 6)
				fresh_name(out, 1 + rnd(4));
		} else {
			fresh_name(out, 1 + rnd(4));
		}
		if (!on_chain(a, out))
			return;
	}
	snprintf(out, NAME_STR, "chain%u.example.net", a->nchain);
}

/* A name off the chain: a child or the parent of a chain name, or fresh. */
static void decoy_name(const struct answer *a, char *out)
{
	for (unsigned tries = 0; tries < 50; tries++) {
		const char *base = a->chain[rnd(a->nchain)];
		const char *p = parent(base);

		switch (rnd(3)) {
		case 0:
			join(out, labels[rnd(ARRAY_SIZE(labels))], base);
			break;
		case 1:
			snprintf(out, NAME_STR, "%s", p ? p : "invalid");
			break;
		default:
			fresh_name(out, 1 + rnd(4));
			break;
		}
		if (!on_chain(a, out))
			return;
	}
	snprintf(out, NAME_STR, "decoy-%u.invalid", rnd(1000));
}

/* ---- addresses -------------------------------------------------------------- */

/* Every address of a message is distinct. Those meant to be proven come
 * from 192.0.2.0/24 and 2001:db8:0:1::/64, the others from 198.51.100.0/24,
 * 203.0.113.0/24 and 2001:db8:bad::/64: a cross-check of the reference. */
static struct addr new_v4(struct answer *a, bool proof)
{
	unsigned k = ++a->next_addr;
	uint8_t b[4] = {192, 0, 2, (uint8_t)k};
	struct addr r;

	if (!proof) {
		b[0] = k % 2 ? 198 : 203;
		b[1] = k % 2 ? 51 : 0;
		b[2] = k % 2 ? 100 : 113;
	}

	addr_from_v4(&r, b);
	return r;
}

static struct addr new_v6(struct answer *a, bool proof)
{
	unsigned k = ++a->next_addr;
	uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, proof ? 0 : 0x0b, 0, proof ? 1 : 0xad, 0, 0,
			 0,    0,    0,	   0,	 0, (uint8_t)k};
	struct addr r;

	addr_from_v6(&r, b);
	return r;
}

static bool proof_pool(const struct addr *x)
{
	if (x->family == AF_INET)
		return x->b[0] == 192 && x->b[1] == 0 && x->b[2] == 2;
	return x->b[5] == 0 && x->b[7] == 1;
}

static bool addr_in(const struct addr *list, size_t n, const struct addr *x)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&list[i], x))
			return true;
	return false;
}

/* Are the address bytes somewhere in msg? */
static bool bytes_in(const uint8_t *msg, size_t len, const struct addr *x)
{
	size_t alen = x->family == AF_INET ? 4 : 16;

	return memmem(msg, len, x->b, alen) != NULL;
}

/* ---- the plan: which records, in which section ------------------------------ */

static struct plan *add_plan(struct answer *a, uint8_t section, uint16_t type, const char *owner)
{
	struct plan *p;

	if (a->nplan >= PLAN_MAX) {
		a->bad = true;
		return &a->plan[PLAN_MAX - 1];
	}
	p = &a->plan[a->nplan++];
	memset(p, 0, sizeof(*p));
	p->section = section;
	p->type = type;
	p->rclass = WIRE_CLASS_IN;
	p->ttl = 30 + rnd(86400);
	snprintf(p->owner, sizeof(p->owner), "%s", owner);
	a->count[section]++;
	return p;
}

static void add_addr_rr(struct answer *a, uint8_t section, uint16_t type, const char *owner,
			bool proof)
{
	struct plan *p = add_plan(a, section, type, owner);

	p->addr = type == WIRE_TYPE_AAAA ? new_v6(a, proof) : new_v4(a, proof);
}

/* An HTTPS (or SVCB) record, in AliasMode if alias (its hints are never
 * taken), else in ServiceMode. proof: its hints are meant to be proven. */
static void add_svc_rr(struct answer *a, uint8_t section, uint16_t type, const char *owner,
		       bool proof, bool alias, unsigned rclass)
{
	struct plan *p = add_plan(a, section, type, owner);
	struct svc *s = &p->svc;

	p->rclass = (uint16_t)rclass;
	s->prio = alias ? 0 : (uint16_t)(1 + rnd(3));
	if (s->prio == 0 || chance(50))
		fresh_name(s->target, 1 + rnd(4));
	s->alpn = chance(50);
	s->port = chance(30);
	s->nv4 = chance(70) ? (uint8_t)(1 + rnd(3)) : 0;
	s->nv6 = chance(50) ? (uint8_t)(1 + rnd(2)) : 0;
	s->mandatory = (s->alpn || s->nv4) && chance(30);
	for (unsigned i = 0; i < s->nv4; i++)
		s->v4[i] = new_v4(a, proof);
	for (unsigned i = 0; i < s->nv6; i++)
		s->v6[i] = new_v6(a, proof);
}

static void shuffle(struct plan *p, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd((uint32_t)i);
		struct plan t = p[i - 1];

		p[i - 1] = p[j];
		p[j] = t;
	}
}

static const uint16_t qtypes[] = {WIRE_TYPE_A, WIRE_TYPE_AAAA, WIRE_TYPE_HTTPS};

static void plan_answer(struct answer *a, unsigned idx)
{
	unsigned L = idx < 60 ? (idx / 3) % 5 : idx - 60;
	const char *last;
	char evil[NAME_STR] = "", nsname[NAME_STR] = "";
	size_t an_end;

	memset(a, 0, sizeof(*a));
	a->idx = idx;
	a->qtype = idx < 60 ? qtypes[idx % 3] : WIRE_TYPE_ANY;
	a->id = (uint16_t)rnd(65536);
	fresh_name(a->chain[0], 1 + idx % 5);
	a->nchain = 1;
	while (a->nchain <= L) {
		chain_name(a, a->chain[a->nchain]);
		a->nchain++;
	}
	last = a->chain[L];
	a->min_ttl = UINT32_MAX;

	/* ANSWER: the chain */
	for (unsigned k = 0; k < L; k++) {
		struct plan *p = add_plan(a, WIRE_SEC_ANSWER, WIRE_TYPE_CNAME, a->chain[k]);

		snprintf(p->target, sizeof(p->target), "%s", a->chain[k + 1]);
		p->ttl = 30 + rnd(3600);
		if (p->ttl < a->min_ttl)
			a->min_ttl = p->ttl;
	}
	/* the records of the final name */
	switch (a->qtype) {
	case WIRE_TYPE_A:
	case WIRE_TYPE_AAAA:
		for (unsigned n = 1 + rnd(6), i = 0; i < n; i++)
			add_addr_rr(a, WIRE_SEC_ANSWER, a->qtype, last, true);
		break;
	case WIRE_TYPE_HTTPS:
		for (unsigned n = 1 + rnd(3), i = 0; i < n; i++) {
			bool alias = chance(20);

			add_svc_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_HTTPS, last, !alias, alias, 1);
		}
		break;
	default: /* ANY: whatever the name has */
		for (unsigned n = 1 + rnd(6), i = 0; i < n; i++) {
			unsigned t = rnd(3);

			if (t == 2)
				add_svc_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_HTTPS, last, true, false,
					   1);
			else
				add_addr_rr(a, WIRE_SEC_ANSWER, t ? WIRE_TYPE_AAAA : WIRE_TYPE_A,
					    last, true);
		}
		break;
	}
	/* records of a type not asked for, on chain names */
	if (a->qtype != WIRE_TYPE_ANY && chance(40)) {
		for (unsigned n = 1 + rnd(2), i = 0; i < n; i++) {
			const char *o = a->chain[rnd(a->nchain)];

			if (a->qtype == WIRE_TYPE_A)
				add_addr_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_AAAA, o, false);
			else if (a->qtype == WIRE_TYPE_AAAA)
				add_addr_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_A, o, false);
			else if (i == 0)
				add_addr_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_A, o, false);
			else
				add_svc_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_SVCB, o, false, chance(50),
					   1);
		}
	}
	/* an asked-type record on an intermediate chain name: on the chain,
	 * so proven (wire.h: "whose owner is on the chain") */
	if (L > 0 && chance(20)) {
		const char *o = a->chain[rnd(L)];

		if (a->qtype == WIRE_TYPE_HTTPS)
			add_svc_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_HTTPS, o, true, false, 1);
		else
			add_addr_rr(a, WIRE_SEC_ANSWER,
				    a->qtype == WIRE_TYPE_AAAA ? WIRE_TYPE_AAAA : WIRE_TYPE_A, o,
				    true);
	}
	/* the asked type on the final name, but class CH (RFC 1035 §3.2.4) */
	if (chance(20)) {
		if (a->qtype == WIRE_TYPE_HTTPS) {
			add_svc_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_HTTPS, last, false, chance(50), 3);
		} else {
			add_addr_rr(a, WIRE_SEC_ANSWER,
				    a->qtype == WIRE_TYPE_AAAA ? WIRE_TYPE_AAAA : WIRE_TYPE_A, last,
				    false);
			a->plan[a->nplan - 1].rclass = 3;
		}
	}
	/* unrelated names in the answer, of every type */
	for (unsigned n = rnd(4), i = 0; i < n; i++) {
		char d[NAME_STR];
		unsigned t = rnd(3);

		decoy_name(a, d);
		if (t == 2)
			add_svc_rr(a, WIRE_SEC_ANSWER, WIRE_TYPE_HTTPS, d, false, chance(50), 1);
		else
			add_addr_rr(a, WIRE_SEC_ANSWER, t ? WIRE_TYPE_AAAA : WIRE_TYPE_A, d, false);
	}
	/* a CNAME off the chain, and the address of its target */
	if (chance(20)) {
		char d1[NAME_STR], d2[NAME_STR];
		struct plan *p;

		decoy_name(a, d1);
		do
			decoy_name(a, d2);
		while (strcmp(d1, d2) == 0);
		p = add_plan(a, WIRE_SEC_ANSWER, WIRE_TYPE_CNAME, d1);
		snprintf(p->target, sizeof(p->target), "%s", d2);
		add_addr_rr(a, WIRE_SEC_ANSWER,
			    a->qtype == WIRE_TYPE_AAAA ? WIRE_TYPE_AAAA : WIRE_TYPE_A, d2, false);
	}
	/* a CNAME in AUTHORITY from the last name to an evil one whose address
	 * is in the answer: not followed (only ANSWER CNAMEs are) */
	if (chance(15)) {
		decoy_name(a, evil);
		add_addr_rr(a, WIRE_SEC_ANSWER,
			    a->qtype == WIRE_TYPE_AAAA ? WIRE_TYPE_AAAA : WIRE_TYPE_A, evil, false);
	}
	an_end = a->nplan;
	if (chance(40))
		shuffle(a->plan, an_end);

	/* AUTHORITY */
	if (evil[0]) {
		struct plan *p = add_plan(a, WIRE_SEC_AUTHORITY, WIRE_TYPE_CNAME, last);

		snprintf(p->target, sizeof(p->target), "%s", evil);
	}
	if (chance(60)) {
		const char *zone = parent(last) ? parent(last) : last;

		for (unsigned n = 1 + rnd(2), i = 0; i < n; i++) {
			struct plan *p = add_plan(a, WIRE_SEC_AUTHORITY, 2 /* NS */, zone);

			join(p->target, i ? "ns2" : "ns1", chance(50) ? zone : "example.net");
			snprintf(nsname, sizeof(nsname), "%s", p->target);
		}
	}
	if (chance(50))
		for (unsigned n = 1 + rnd(2), i = 0; i < n; i++)
			add_addr_rr(a, WIRE_SEC_AUTHORITY, rnd(2) ? WIRE_TYPE_AAAA : WIRE_TYPE_A,
				    a->chain[rnd(a->nchain)], false);

	/* ADDITIONAL: addresses for chain names (never proof there), for the
	 * name server, and an OPT somewhere among them */
	if (chance(60))
		for (unsigned n = 1 + rnd(3), i = 0; i < n; i++)
			add_addr_rr(a, WIRE_SEC_ADDITIONAL, rnd(2) ? WIRE_TYPE_AAAA : WIRE_TYPE_A,
				    a->chain[rnd(a->nchain)], false);
	if (nsname[0] && !on_chain(a, nsname) && chance(60))
		add_addr_rr(a, WIRE_SEC_ADDITIONAL, WIRE_TYPE_A, nsname, false);
	if (chance(50)) {
		size_t first = a->nplan - a->count[WIRE_SEC_ADDITIONAL];
		size_t at = first + rnd((uint32_t)a->count[WIRE_SEC_ADDITIONAL] + 1);
		struct plan *p = add_plan(a, WIRE_SEC_ADDITIONAL, WIRE_TYPE_OPT, "");
		struct plan opt = *p;

		opt.rclass = chance(50) ? 1232 : 4096; /* payload size */
		opt.ttl = chance(50) ? 0x8000 : 0;     /* DO */
		opt.cookie = chance(40);
		memmove(&a->plan[at + 1], &a->plan[at], (a->nplan - 1 - at) * sizeof(*p));
		a->plan[at] = opt;
	}
}

/* ---- the builder ---------------------------------------------------------- */

static void put(struct answer *a, const void *p, size_t n, enum pos_kind kind)
{
	if (a->n + n > sizeof(a->b)) {
		a->bad = true;
		return;
	}
	memcpy(a->b + a->n, p, n);
	memset(a->kind + a->n, kind, n);
	a->n += n;
}

static void put8(struct answer *a, unsigned v, enum pos_kind kind)
{
	uint8_t b = (uint8_t)v;

	put(a, &b, 1, kind);
}

static void put16(struct answer *a, unsigned v, enum pos_kind kind)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(a, b, 2, kind);
}

static void put32(struct answer *a, uint32_t v, enum pos_kind kind)
{
	put16(a, v >> 16, kind);
	put16(a, v & 0xffff, kind);
}

/*
 * Write name s (lowercase, "" the root) in a random mixture of cases. With
 * compress, a suffix already in the message is often replaced by a pointer
 * to it (RFC 1035 §4.1.4), not always the longest one. With remember, the
 * labels written become targets for later names.
 */
static void put_name(struct answer *a, const char *s, bool compress, bool remember,
		     enum pos_kind kind)
{
	size_t start[16], nl = 0, cand[16], ncand = 0, stop;
	uint16_t ptr = 0;

	for (const char *p = s; *p && nl < ARRAY_SIZE(start);) {
		const char *dot = strchr(p, '.');

		start[nl++] = (size_t)(p - s);
		if (!dot)
			break;
		p = dot + 1;
	}
	stop = nl;
	if (compress && chance(75)) {
		for (size_t i = 0; i < nl; i++)
			for (size_t d = 0; d < a->ndict; d++)
				if (strcmp(a->dict[d].name, s + start[i]) == 0) {
					cand[ncand++] = i * DICT_MAX + d;
					break;
				}
		if (ncand) {
			size_t c = chance(60) ? cand[0] : cand[rnd((uint32_t)ncand)];

			stop = c / DICT_MAX;
			ptr = a->dict[c % DICT_MAX].off;
		}
	}
	for (size_t i = 0; i < stop; i++) {
		size_t len = (i + 1 < nl ? start[i + 1] - 1 : strlen(s)) - start[i];
		uint8_t lab[64];

		if (remember && a->ndict < DICT_MAX && a->n < 0x3fff) {
			a->dict[a->ndict].off = (uint16_t)a->n;
			snprintf(a->dict[a->ndict].name, NAME_STR, "%s", s + start[i]);
			a->ndict++;
		}
		for (size_t j = 0; j < len && j < sizeof(lab); j++) {
			char ch = s[start[i] + j];

			lab[j] =
			    (uint8_t)(ch >= 'a' && ch <= 'z' && chance(40) ? ch - 'a' + 'A' : ch);
		}
		put8(a, (unsigned)len, kind);
		put(a, lab, len, kind);
	}
	if (stop < nl)
		put16(a, 0xc000u | ptr, kind);
	else
		put8(a, 0, kind);
}

static void put_svc(struct answer *a, const struct svc *s)
{
	put16(a, s->prio, POS_RDATA);
	put_name(a, s->target, false, false, POS_RDATA); /* RFC 9460 §2.2 */
	/* SvcParams in strictly increasing key order */
	if (s->mandatory) {
		put16(a, 0, POS_RDATA);
		put16(a, 2u * (s->alpn + (s->nv4 > 0)), POS_RDATA);
		if (s->alpn)
			put16(a, 1, POS_RDATA);
		if (s->nv4)
			put16(a, 4, POS_RDATA);
	}
	if (s->alpn) {
		static const uint8_t alpn[] = {2, 'h', '2', 2, 'h', '3'};

		put16(a, 1, POS_RDATA);
		put16(a, sizeof(alpn), POS_RDATA);
		put(a, alpn, sizeof(alpn), POS_RDATA);
	}
	if (s->port) {
		put16(a, 3, POS_RDATA);
		put16(a, 2, POS_RDATA);
		put16(a, 443, POS_RDATA);
	}
	if (s->nv4) {
		put16(a, 4, POS_RDATA);
		put16(a, 4u * s->nv4, POS_RDATA);
		for (unsigned i = 0; i < s->nv4; i++)
			put(a, s->v4[i].b, 4, POS_RDATA);
	}
	if (s->nv6) {
		put16(a, 6, POS_RDATA);
		put16(a, 16u * s->nv6, POS_RDATA);
		for (unsigned i = 0; i < s->nv6; i++)
			put(a, s->v6[i].b, 16, POS_RDATA);
	}
}

static void put_rr(struct answer *a, const struct plan *p, struct wire_rr *rr)
{
	size_t rdlen_at;

	rr->name_off = (uint16_t)a->n;
	if (p->type == WIRE_TYPE_OPT)
		put8(a, 0, POS_OWNER);
	else
		put_name(a, p->owner, true, true, POS_OWNER);
	put16(a, p->type, POS_TYPE);
	put16(a, p->rclass, POS_CLASS);
	put32(a, p->ttl, POS_TTL);
	rdlen_at = a->n;
	put16(a, 0, POS_RDLEN);
	rr->rdata_off = (uint16_t)a->n;
	switch (p->type) {
	case WIRE_TYPE_A:
		put(a, p->addr.b, 4, POS_RDATA);
		break;
	case WIRE_TYPE_AAAA:
		put(a, p->addr.b, 16, POS_RDATA);
		break;
	case WIRE_TYPE_CNAME:
	case 2: /* NS: one name, compression allowed (RFC 1035 §3.3.11) */
		put_name(a, p->target, true, true, POS_RDATA);
		break;
	case WIRE_TYPE_SVCB:
	case WIRE_TYPE_HTTPS:
		put_svc(a, &p->svc);
		break;
	case WIRE_TYPE_OPT:
		if (p->cookie) { /* RFC 7873 client cookie */
			static const uint8_t cookie[8] = {1, 2, 3, 4, 5, 6, 7, 8};

			put16(a, 10, POS_RDATA);
			put16(a, 8, POS_RDATA);
			put(a, cookie, sizeof(cookie), POS_RDATA);
		}
		break;
	default:
		a->bad = true;
		break;
	}
	rr->rdlen = (uint16_t)(a->n - rr->rdata_off);
	rr->type = p->type;
	rr->rclass = p->rclass;
	rr->section = p->section;
	if (!a->bad) {
		a->b[rdlen_at] = (uint8_t)(rr->rdlen >> 8);
		a->b[rdlen_at + 1] = (uint8_t)rr->rdlen;
	}
}

static bool wanted(uint16_t qtype, uint16_t type)
{
	if (type != WIRE_TYPE_A && type != WIRE_TYPE_AAAA && type != WIRE_TYPE_SVCB &&
	    type != WIRE_TYPE_HTTPS)
		return false;
	return qtype == type || qtype == WIRE_TYPE_ANY;
}

static void add_unique(struct addr *list, size_t *n, const struct addr *x)
{
	if (*n < ADDR_MAX && !addr_in(list, *n, x))
		list[(*n)++] = *x;
}

/* The reference set, from the model by the documented rules; every other
 * address of the message goes to the decoys. */
static void reference(struct answer *a)
{
	for (size_t i = 0; i < a->nplan; i++) {
		const struct plan *p = &a->plan[i];
		bool proven = p->section == WIRE_SEC_ANSWER && p->rclass == WIRE_CLASS_IN &&
			      on_chain(a, p->owner) && wanted(a->qtype, p->type);
		struct addr *list = proven ? a->ref : a->decoy;
		size_t *n = proven ? &a->nref : &a->ndecoy;

		if (p->type == WIRE_TYPE_A || p->type == WIRE_TYPE_AAAA) {
			add_unique(list, n, &p->addr);
		} else if (p->type == WIRE_TYPE_SVCB || p->type == WIRE_TYPE_HTTPS) {
			if (p->svc.prio == 0) { /* AliasMode: never (RFC 9460 §2.4.2) */
				list = a->decoy;
				n = &a->ndecoy;
			}
			for (unsigned k = 0; k < p->svc.nv4; k++)
				add_unique(list, n, &p->svc.v4[k]);
			for (unsigned k = 0; k < p->svc.nv6; k++)
				add_unique(list, n, &p->svc.v6[k]);
		}
	}
}

static void build(struct answer *a)
{
	put16(a, a->id, POS_HEADER);
	put16(a, RESP | (chance(30) ? WIRE_FLAG_AA : 0) | (chance(20) ? WIRE_FLAG_AD : 0),
	      POS_HEADER);
	put16(a, 1, POS_HEADER);
	put16(a, (unsigned)a->count[WIRE_SEC_ANSWER], POS_HEADER);
	put16(a, (unsigned)a->count[WIRE_SEC_AUTHORITY], POS_HEADER);
	put16(a, (unsigned)a->count[WIRE_SEC_ADDITIONAL], POS_HEADER);
	put_name(a, a->chain[0], false, true, POS_QUESTION);
	/* what the client asked: wire_answer_matches() compares without case */
	if (wire_name_from_str(a->chain[0], &a->qname) != WIRE_OK)
		a->bad = true;
	put16(a, a->qtype, POS_QUESTION);
	put16(a, WIRE_CLASS_IN, POS_QUESTION);
	for (size_t i = 0; i < a->nplan && !a->bad; i++)
		put_rr(a, &a->plan[i], &a->rr[i]);
	reference(a);
}

/* ---- parse, match, extract ------------------------------------------------ */

struct outcome {
	struct wire_found found[FOUND_MAX];
	struct wire_chain c;
	enum wire_err perr, merr, xerr;
};

/* The whole path the daemon takes with an upstream answer, on an exact-size
 * copy. Returns true if every step accepted it. The extraction also runs on
 * a message that parses but does not match, for coverage only. */
static bool run(const struct answer *a, const uint8_t *msg, size_t len, struct outcome *o)
{
	static struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS];
	uint8_t *copy = malloc(len ? len : 1);
	struct wire_msg m;

	if (!copy)
		abort();
	memcpy(copy, msg, len);
	o->merr = o->xerr = WIRE_ERR_INVAL;
	o->c.nfound = 0;
	o->c.nnames = 0;
	o->perr = wire_msg_parse(copy, len, rr, ARRAY_SIZE(rr), &m);
	if (o->perr == WIRE_OK) {
		o->merr = wire_answer_matches(&m, a->id, &a->qname, a->qtype, WIRE_CLASS_IN);
		o->xerr =
		    wire_chain_extract(&m, WIRE_DEFAULT_MAX_CHAIN, o->found, FOUND_MAX, &o->c);
	}
	free(copy);
	return o->perr == WIRE_OK && o->merr == WIRE_OK && o->xerr == WIRE_OK;
}

static unsigned reported;

static void hexdump(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x%s", b[i], i % 32 == 31 || i + 1 == n ? "\n" : " ");
}

/* One bad result: say what, where, and the message (once per answer). */
static void report(const struct answer *a, const char *what, long pos, int val,
		   const struct addr *x)
{
	char ab[ADDR_STRLEN] = "-";

	if (x)
		addr_format(x, ab, sizeof(ab));
	if (reported++ >= MAX_REPORT)
		return;
	fprintf(stderr, "answer %u: %s", a->idx, what);
	if (pos >= 0)
		fprintf(stderr, " at byte %ld (%s) = 0x%02x", pos, kind_name[a->kind[pos]], val);
	fprintf(stderr, ": %s\n", ab);
	if (reported == 1)
		hexdump(a->b, a->n);
}

/* Structural sanity of any accepted result. */
static bool sane(const struct outcome *o)
{
	if (o->c.nnames < 1 || o->c.nnames > WIRE_DEFAULT_MAX_CHAIN + 1 || o->c.nfound > FOUND_MAX)
		return false;
	for (size_t i = 0; i < o->c.nfound; i++)
		if (o->c.found[i].owner >= o->c.nnames)
			return false;
	return true;
}

/* ---- the checks -------------------------------------------------------------- */

static struct outcome out;

/* The unmutated answer: exactly the reference, the builder's offsets. */
static void check_valid(const struct answer *a)
{
	static struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS];
	struct wire_msg m;
	enum wire_err err;
	bool offsets = true, pools = true, all = true;

	CHECK_MSG(!a->bad, "answer %u: generator overflow", a->idx);
	err = wire_msg_parse(a->b, a->n, rr, ARRAY_SIZE(rr), &m);
	CHECK_MSG(err == WIRE_OK, "answer %u: %s", a->idx, wire_strerror(err));
	if (err != WIRE_OK)
		return;
	CHECK_MSG(m.nrr == a->nplan, "answer %u: %zu records, built %zu", a->idx, m.nrr, a->nplan);
	for (size_t i = 0; i < m.nrr && i < a->nplan; i++)
		offsets = offsets && m.rr[i].name_off == a->rr[i].name_off &&
			  m.rr[i].rdata_off == a->rr[i].rdata_off &&
			  m.rr[i].rdlen == a->rr[i].rdlen && m.rr[i].type == a->rr[i].type &&
			  m.rr[i].rclass == a->rr[i].rclass && m.rr[i].section == a->rr[i].section;
	CHECK_MSG(offsets, "answer %u: parser offsets differ from the builder's", a->idx);

	for (size_t i = 0; i < a->nref; i++)
		pools = pools && proof_pool(&a->ref[i]);
	for (size_t i = 0; i < a->ndecoy; i++)
		pools = pools && !proof_pool(&a->decoy[i]);
	CHECK_MSG(pools, "answer %u: reference and intent disagree (generator bug)", a->idx);
	if (!pools && getenv("SWEEP_DEBUG"))
		for (size_t i = 0; i < a->nplan; i++)
			fprintf(stderr,
				"  sec %u type %u class %u owner %s target %s prio %u chain %d\n",
				a->plan[i].section, a->plan[i].type, a->plan[i].rclass,
				a->plan[i].owner, a->plan[i].target, a->plan[i].svc.prio,
				on_chain(a, a->plan[i].owner));

	CHECK_MSG(run(a, a->b, a->n, &out), "answer %u: %s / %s / %s", a->idx,
		  wire_strerror(out.perr), wire_strerror(out.merr), wire_strerror(out.xerr));
	CHECK_MSG(out.c.nfound == a->nref, "answer %u: %zu found, reference %zu", a->idx,
		  out.c.nfound, a->nref);
	for (size_t i = 0; i < out.c.nfound; i++)
		if (!addr_in(a->ref, a->nref, &out.c.found[i].addr)) {
			report(a, "extracted outside the reference", -1, 0, &out.c.found[i].addr);
			all = false;
		}
	for (size_t i = 0; i < a->nref; i++) {
		bool hit = false;

		for (size_t k = 0; k < out.c.nfound; k++)
			hit = hit || addr_equal(&out.c.found[k].addr, &a->ref[i]);
		if (!hit) {
			report(a, "reference address not extracted", -1, 0, &a->ref[i]);
			all = false;
		}
	}
	CHECK_MSG(all, "answer %u: extracted set differs from the reference", a->idx);
	CHECK_MSG(out.c.nnames == a->nchain, "answer %u: %u names, chain of %u", a->idx,
		  out.c.nnames, a->nchain);
	for (unsigned i = 0; i < out.c.nnames && i < a->nchain; i++) {
		struct wire_name n;

		CHECK(wire_name_from_str(a->chain[i], &n) == WIRE_OK &&
		      wire_name_equal(&n, &out.c.names[i]));
	}
	CHECK_MSG(out.c.min_ttl == a->min_ttl, "answer %u: min_ttl %u, want %u", a->idx,
		  out.c.min_ttl, a->min_ttl);
	CHECK(out.c.dropped == 0 && sane(&out));
}

struct totals {
	unsigned answers, nonempty, cuts, cuts_ok, muts, muts_rejected, muts_ok, muts_ok_strict,
	    muts_ok_exempt, bad;
};

/* (a) every truncation: rejected, or a subset of the reference. */
static void sweep_cuts(const struct answer *a, struct totals *t)
{
	unsigned bad = 0;

	for (size_t len = 0; len < a->n; len++) {
		t->cuts++;
		if (!run(a, a->b, len, &out))
			continue;
		t->cuts_ok++;
		if (!sane(&out)) {
			report(a, "insane result from a truncation", (long)len - 1, a->b[len - 1],
			       NULL);
			bad++;
		}
		for (size_t i = 0; i < out.c.nfound; i++)
			if (!addr_in(a->ref, a->nref, &out.c.found[i].addr)) {
				report(a, "truncation learned", (long)len - 1, a->b[len - 1],
				       &out.c.found[i].addr);
				bad++;
			}
	}
	CHECK_MSG(bad == 0, "answer %u: %u bad results from truncations", a->idx, bad);
	t->bad += bad;
}

/* (b) every single-byte change. */
static void sweep_mutations(const struct answer *a, struct totals *t)
{
	static uint8_t mut[MSG_MAX];
	unsigned bad = 0;

	memcpy(mut, a->b, a->n);
	for (size_t pos = 0; pos < a->n; pos++) {
		uint8_t b = a->b[pos], seen[32] = {0};
		const uint8_t vals[] = {0x00,
					0x01,
					0x3f,
					0x40,
					0x7f,
					0x80,
					0xc0,
					0xff,
					(uint8_t)(b ^ 0x01),
					(uint8_t)(b ^ 0x20),
					(uint8_t)(b + 1),
					(uint8_t)(b - 1)};
		bool exempt = a->kind[pos] >= POS_OWNER;

		seen[b / 8] |= (uint8_t)(1u << (b % 8));
		for (size_t k = 0; k < ARRAY_SIZE(vals); k++) {
			uint8_t v = vals[k];

			if (seen[v / 8] & (1u << (v % 8)))
				continue;
			seen[v / 8] |= (uint8_t)(1u << (v % 8));
			mut[pos] = v;
			t->muts++;
			if (!run(a, mut, a->n, &out)) {
				t->muts_rejected++;
				continue;
			}
			t->muts_ok++;
			if (exempt)
				t->muts_ok_exempt++;
			else
				t->muts_ok_strict++;
			if (!sane(&out)) {
				report(a, "insane result", (long)pos, v, NULL);
				bad++;
			}
			for (size_t i = 0; i < out.c.nfound; i++) {
				const struct addr *x = &out.c.found[i].addr;

				if (!bytes_in(mut, a->n, x)) {
					report(a, "address not in the message", (long)pos, v, x);
					bad++;
				} else if (!exempt && !addr_in(a->ref, a->nref, x)) {
					report(a, "mutation learned", (long)pos, v, x);
					bad++;
				}
			}
		}
		mut[pos] = b;
	}
	CHECK_MSG(bad == 0, "answer %u: %u bad results from mutations", a->idx, bad);
	t->bad += bad;
}

int main(void)
{
	static struct answer a;
	struct totals t = {0};
	unsigned cnames[MAX_CNAMES + 1] = {0}, types[4] = {0}, opt = 0, https_hint = 0;

	for (unsigned idx = 0; idx < N_ANSWERS; idx++) {
		plan_answer(&a, idx);
		build(&a);
		check_valid(&a);
		sweep_cuts(&a, &t);
		sweep_mutations(&a, &t);
		t.answers++;
		t.nonempty += a.nref > 0;
		cnames[a.nchain - 1]++;
		types[a.qtype == WIRE_TYPE_A	   ? 0
		      : a.qtype == WIRE_TYPE_AAAA  ? 1
		      : a.qtype == WIRE_TYPE_HTTPS ? 2
						   : 3]++;
		for (size_t i = 0; i < a.nplan; i++) {
			opt += a.plan[i].type == WIRE_TYPE_OPT;
			https_hint += a.plan[i].type == WIRE_TYPE_HTTPS &&
				      (a.plan[i].svc.nv4 || a.plan[i].svc.nv6);
		}
	}
	printf("sweep: %u answers (%u with a non-empty reference; A %u, AAAA %u, HTTPS %u, "
	       "ANY %u; CNAME chains 0..4: %u %u %u %u %u; %u OPT, %u HTTPS with hints)\n",
	       t.answers, t.nonempty, types[0], types[1], types[2], types[3], cnames[0], cnames[1],
	       cnames[2], cnames[3], cnames[4], opt, https_hint);
	printf("sweep: %u truncations (%u accepted), %u mutations: %u rejected, %u accepted "
	       "(%u at checked positions, %u at exempt ones), %u bad\n",
	       t.cuts, t.cuts_ok, t.muts, t.muts_rejected, t.muts_ok, t.muts_ok_strict,
	       t.muts_ok_exempt, t.bad);
	CHECK(t.answers >= 60 && t.nonempty >= 50);
	/* the sweeps must exercise both rules, or they prove nothing */
	CHECK(t.muts_ok_strict > 0 && t.muts_ok_exempt > 0);
	CHECK_DONE();
}
