/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void addr_from_v4(struct addr *a, const void *bytes4)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	memcpy(a->b, bytes4, 4);
}

void addr_from_v6(struct addr *a, const void *bytes16)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET6;
	memcpy(a->b, bytes16, 16);
}

int addr_parse(const char *s, struct addr *out)
{
	uint8_t buf[16];

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, buf) == 1) {
		addr_from_v4(out, buf);
		return 0;
	}
	if (inet_pton(AF_INET6, s, buf) == 1) {
		addr_from_v6(out, buf);
		return 0;
	}
	return -EINVAL;
}

unsigned addr_bits(const struct addr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

static bool host_bits_zero(const struct addr *a, unsigned len)
{
	unsigned bits = addr_bits(a);

	for (unsigned i = len; i < bits; i++)
		if (a->b[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

int addr_prefix_parse(const char *s, struct prefix *out)
{
	char tmp[PREFIX_STRLEN];
	const char *slash;
	size_t alen;
	unsigned long len;
	char *end;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= ADDR_STRLEN)
		return -EINVAL;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (addr_parse(tmp, &out->addr) < 0)
		return -EINVAL;
	if (!slash) {
		out->len = (uint8_t)addr_bits(&out->addr);
		return 0;
	}
	if (slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end != '\0' || len > addr_bits(&out->addr))
		return -EINVAL;
	if (!host_bits_zero(&out->addr, (unsigned)len))
		return -EINVAL;
	out->len = (uint8_t)len;
	return 0;
}

const char *addr_format(const struct addr *a, char *buf, size_t len)
{
	if (a->family != AF_INET && a->family != AF_INET6) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (!inet_ntop(a->family, a->b, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *addr_prefix_format(const struct prefix *p, char *buf, size_t len)
{
	char a[ADDR_STRLEN];

	snprintf(buf, len, "%s/%u", addr_format(&p->addr, a, sizeof(a)), p->len);
	return buf;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	return a->family == b->family && memcmp(a->b, b->b, 16) == 0;
}

bool addr_prefix_contains(const struct prefix *p, const struct addr *a)
{
	unsigned full, rest;

	if (p->addr.family != a->family)
		return false;
	full = p->len / 8;
	rest = p->len % 8;
	if (memcmp(p->addr.b, a->b, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((p->addr.b[full] & mask) != (a->b[full] & mask))
			return false;
	}
	return true;
}

/* Non-global ranges (RFC 6890 and successors). */
static const char *const special_v4[] = {
    "0.0.0.0/8",     "10.0.0.0/8",	"100.64.0.0/10",  "127.0.0.0/8",    "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24",	"192.0.2.0/24",	  "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",    "240.0.0.0/4",
};
static const char *const special_v6[] = {
    "::/128",	     "::1/128",	  "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64",
    "2001:db8::/32", "2002::/16", "fc00::/7",	   "fe80::/10",	     "ff00::/8",
};

bool addr_prefix_is_global(const struct prefix *p)
{
	const char *const *list = p->addr.family == AF_INET ? special_v4 : special_v6;
	size_t n = p->addr.family == AF_INET ? sizeof(special_v4) / sizeof(special_v4[0])
					     : sizeof(special_v6) / sizeof(special_v6[0]);
	struct prefix s;

	if (p->addr.family != AF_INET && p->addr.family != AF_INET6)
		return false;
	/* Wholly inside one special range: nothing in it is global. A prefix
	 * that only starts in one (0.0.0.0/1 starts in 0.0.0.0/8) is not. */
	for (size_t i = 0; i < n; i++)
		if (addr_prefix_parse(list[i], &s) == 0 && s.len <= p->len &&
		    addr_prefix_contains(&s, &p->addr))
			return false;
	/* Outside 2000::/3, IPv6 has no global unicast; a prefix shorter than
	 * /3 that holds it (::/1, ::/2) holds global addresses. */
	if (p->addr.family == AF_INET6 && p->len >= 3 && (p->addr.b[0] & 0xe0) != 0x20)
		return false;
	return true;
}

/* ---- the never-learn table ---- */

static const char *const class_names[ADDR_CLASS__COUNT] = {
    [ADDR_CLASS_OK] = "ok",
    [ADDR_CLASS_UNSPECIFIED] = "unspecified",
    [ADDR_CLASS_LOOPBACK] = "loopback",
    [ADDR_CLASS_LINK_LOCAL] = "link-local",
    [ADDR_CLASS_MULTICAST] = "multicast",
    [ADDR_CLASS_BROADCAST] = "broadcast",
    [ADDR_CLASS_DIRECTED_BCAST] = "directed-broadcast",
    [ADDR_CLASS_RESERVED] = "reserved",
    [ADDR_CLASS_SITE_LOCAL] = "site-local",
};

const char *addr_class_name(enum addr_class c)
{
	return (unsigned)c < ADDR_CLASS__COUNT ? class_names[c] : "unknown";
}

int addr_local_refresh(struct addr_local *l)
{
	struct ifaddrs *list, *i;

	l->nv4 = 0;
	l->v4_dropped = 0;
	if (getifaddrs(&list) < 0)
		return -errno;
	for (i = list; i; i = i->ifa_next) {
		const struct sockaddr_in *sa = (const struct sockaddr_in *)i->ifa_addr;
		const struct sockaddr_in *nm = (const struct sockaddr_in *)i->ifa_netmask;
		struct prefix p;
		uint32_t mask;
		unsigned len = 0;

		if (!sa || !nm || sa->sin_family != AF_INET)
			continue;
		mask = ntohl(nm->sin_addr.s_addr);
		while (len < 32 && (mask & (0x80000000u >> len)))
			len++;
		addr_from_v4(&p.addr, &sa->sin_addr);
		for (unsigned k = len; k < 32; k++)
			p.addr.b[k / 8] &= (uint8_t) ~(0x80 >> (k % 8));
		p.len = (uint8_t)len;
		if (l->nv4 == ADDR_LOCAL_MAX) {
			l->v4_dropped++;
			continue;
		}
		l->v4[l->nv4++] = p;
	}
	freeifaddrs(list);
	return 0;
}

static enum addr_class class_v4(const uint8_t *b, const struct addr_local *local)
{
	if (b[0] == 0)
		return ADDR_CLASS_UNSPECIFIED; /* 0.0.0.0/8: "this network" */
	if (b[0] == 127)
		return ADDR_CLASS_LOOPBACK;
	if (b[0] == 169 && b[1] == 254)
		return ADDR_CLASS_LINK_LOCAL;
	if ((b[0] & 0xf0) == 0xe0)
		return ADDR_CLASS_MULTICAST;
	if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
		return ADDR_CLASS_BROADCAST;
	if ((b[0] & 0xf0) == 0xf0)
		return ADDR_CLASS_RESERVED;
	for (unsigned i = 0; local && i < local->nv4; i++) {
		const struct prefix *p = &local->v4[i];
		uint32_t a =
		    (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		uint32_t net = (uint32_t)p->addr.b[0] << 24 | (uint32_t)p->addr.b[1] << 16 |
			       (uint32_t)p->addr.b[2] << 8 | p->addr.b[3];
		uint32_t host;

		/* /31 and /32 have no broadcast address (RFC 3021). */
		if (p->len == 0 || p->len > 30)
			continue;
		host = 0xffffffffu >> p->len;
		if ((a & ~host) == net && (a & host) == host)
			return ADDR_CLASS_DIRECTED_BCAST;
	}
	return ADDR_CLASS_OK;
}

/* The IPv4 address in an RFC 6052 §2.2 IPv4-embedded IPv6 address whose
 * prefix is len bits long; bits 64..71 (byte 8, "u") are skipped. */
static bool rfc6052_v4(const uint8_t *b, unsigned len, uint8_t *v4)
{
	static const uint8_t at[6][4] = {
	    {4, 5, 6, 7},   {5, 6, 7, 9},    {6, 7, 9, 10},
	    {7, 9, 10, 11}, {9, 10, 11, 12}, {12, 13, 14, 15},
	};
	static const unsigned lens[6] = {32, 40, 48, 56, 64, 96};

	for (unsigned i = 0; i < 6; i++) {
		if (lens[i] != len)
			continue;
		for (unsigned k = 0; k < 4; k++)
			v4[k] = b[at[i][k]];
		return true;
	}
	return false;
}

/* At most this many IPv4 candidates are pulled out of one IPv6 address:
 * 3 fixed forms + 4 layouts of 64:ff9b:1::/48 + 2 Teredo + ISATAP + the
 * configured NAT64 prefixes. */
#define EMBED_MAX (10 + ADDR_NAT64_MAX)

struct embed {
	uint8_t v4[4];
	bool guess; /* a layout guessed, not known: 0.0.0.0/8 is its zero padding */
};

static bool zero_bytes(const uint8_t *b, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (b[i])
			return false;
	return true;
}

static unsigned embedded_v4(const uint8_t *b, const struct addr_local *local,
			    struct embed v4[EMBED_MAX])
{
	static const uint8_t zero[12];
	static const uint8_t wkp[12] = {0, 0x64, 0xff, 0x9b};	      /* 64:ff9b::/96 */
	static const uint8_t lup[6] = {0, 0x64, 0xff, 0x9b, 0, 1};    /* 64:ff9b:1::/48 */
	static const uint8_t siit[12] = {[8] = 0xff, [9] = 0xff};     /* ::ffff:0:0:0/96 */
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff}; /* ::ffff:0:0/96 */
	struct addr a;
	bool configured = false;
	unsigned n = 0;

	memset(v4, 0, EMBED_MAX * sizeof(*v4));
	addr_from_v6(&a, b);
	/* Mapped, compatible (RFC 4291 §2.5.5), SIIT (RFC 2765 §2.1) and the
	 * NAT64 well-known prefix (RFC 6052 §2.1) all carry it in the last 32 bits. */
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, zero, 12) == 0 || memcmp(b, siit, 12) == 0 ||
	    memcmp(b, wkp, 12) == 0)
		memcpy(v4[n++].v4, b + 12, 4);
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4, RFC 3056 §2 */
		memcpy(v4[n++].v4, b + 2, 4);
	/* Configured NAT64 prefixes: their layout is known (RFC 6052 §2.2). */
	for (unsigned i = 0; local && i < local->nnat64 && n < EMBED_MAX; i++) {
		if (!addr_prefix_contains(&local->nat64[i], &a))
			continue;
		n += rfc6052_v4(b, local->nat64[i].len, v4[n].v4);
		configured = true;
	}
	if (!configured && memcmp(b, lup, 6) == 0) {
		/* RFC 8215 local use, layout unknown: every length that fits,
		 * when the bytes past the IPv4 address (the suffix) are zero. */
		static const unsigned lens[4] = {48, 56, 64, 96};
		static const unsigned suffix[4] = {11, 12, 13, 16};

		for (unsigned i = 0; i < 4; i++) {
			if (lens[i] < 96 && (b[8] || !zero_bytes(b, suffix[i], 16)))
				continue;
			v4[n].guess = true;
			n += rfc6052_v4(b, lens[i], v4[n].v4);
		}
	}
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0 && n + 2 <= EMBED_MAX) {
		/* Teredo (RFC 4380 §4): the server at bits 32..63, the client's
		 * public address inverted in the last 32 bits. */
		memcpy(v4[n++].v4, b + 4, 4);
		for (unsigned k = 0; k < 4; k++)
			v4[n].v4[k] = (uint8_t)~b[12 + k];
		n++;
	}
	/* ISATAP (RFC 5214 §6.1): interface identifier 0000:5efe or 0200:5efe
	 * (u/l and g bits may be set) followed by the IPv4 address. */
	if ((b[8] & 0xfc) == 0 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe && n < EMBED_MAX)
		memcpy(v4[n++].v4, b + 12, 4);
	return n;
}

enum addr_class addr_never_learn(const struct addr *a, const struct addr_local *local,
				 bool *embedded)
{
	static const uint8_t v6lo[16] = {[15] = 1};
	static const uint8_t v6any[16];
	struct embed v4[EMBED_MAX];
	const uint8_t *b = a->b;
	unsigned n;

	if (embedded)
		*embedded = false;
	if (a->family == AF_INET)
		return class_v4(b, local);
	if (a->family != AF_INET6)
		return ADDR_CLASS_UNSPECIFIED;
	if (memcmp(b, v6any, 16) == 0)
		return ADDR_CLASS_UNSPECIFIED;
	if (memcmp(b, v6lo, 16) == 0)
		return ADDR_CLASS_LOOPBACK;
	if (b[0] == 0xff)
		return ADDR_CLASS_MULTICAST;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return ADDR_CLASS_LINK_LOCAL;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return ADDR_CLASS_SITE_LOCAL;
	n = embedded_v4(b, local, v4);
	for (unsigned i = 0; i < n; i++) {
		enum addr_class c = class_v4(v4[i].v4, local);

		if (c == ADDR_CLASS_UNSPECIFIED && v4[i].guess)
			continue;
		if (c != ADDR_CLASS_OK) {
			if (embedded)
				*embedded = true;
			return c;
		}
	}
	return ADDR_CLASS_OK;
}
