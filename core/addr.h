/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IP addresses and prefixes as plain values: parse, format, compare, classify.
 * IPv4 keeps its 4 bytes at the start of b[] and zeroes the rest, so two equal
 * addresses are equal byte for byte (hash keys, memcmp).
 */
#ifndef ZTDNS_ADDR_H
#define ZTDNS_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define ADDR_STRLEN   46 /* INET6_ADDRSTRLEN */
#define PREFIX_STRLEN (ADDR_STRLEN + 4)

struct addr {
	uint8_t family; /* AF_INET or AF_INET6; 0 = unset */
	uint8_t pad[3];
	uint8_t b[16];
};

struct prefix {
	struct addr addr; /* host bits are zero */
	uint8_t len;	  /* 0..32 or 0..128 */
};

/* Fill *a from 4 network-order bytes. */
void addr_from_v4(struct addr *a, const void *bytes4);
/* Fill *a from 16 network-order bytes. */
void addr_from_v6(struct addr *a, const void *bytes16);

/* Parse a literal IPv4 or IPv6 address (no brackets, no port, no scope).
 * Returns 0 or -EINVAL. */
int addr_parse(const char *s, struct addr *out);

/* Parse "ADDR/LEN" or a bare address (full length). Host bits set below the
 * prefix length are an error (-EINVAL): "192.0.2.1/24" is refused, because a
 * typo in an exception must not silently mean something else. */
int addr_prefix_parse(const char *s, struct prefix *out);

/* Format into buf (at least ADDR_STRLEN / PREFIX_STRLEN bytes). Returns buf. */
const char *addr_format(const struct addr *a, char *buf, size_t len);
const char *addr_prefix_format(const struct prefix *p, char *buf, size_t len);

bool addr_equal(const struct addr *a, const struct addr *b);
/* Does prefix p contain address a (same family)? */
bool addr_prefix_contains(const struct prefix *p, const struct addr *a);
/* Number of address bits for a family: 32 or 128. */
unsigned addr_bits(const struct addr *a);

/*
 * The never-learn table: addresses that no DNS answer may open and no
 * operator may allow, because they point back at the host, at its link, or
 * at nothing (DESIGN.md invariant 7). One table, used by the stub (removes
 * them from answers), `explain` (names the class) and `ztdnsctl allow`
 * (refuses them).
 */
enum addr_class {
	ADDR_CLASS_OK = 0,	   /* may be learned */
	ADDR_CLASS_UNSPECIFIED,	   /* 0.0.0.0/8, :: */
	ADDR_CLASS_LOOPBACK,	   /* 127.0.0.0/8, ::1 */
	ADDR_CLASS_LINK_LOCAL,	   /* 169.254.0.0/16 (cloud metadata), fe80::/10 */
	ADDR_CLASS_MULTICAST,	   /* 224.0.0.0/4, ff00::/8 */
	ADDR_CLASS_BROADCAST,	   /* 255.255.255.255 */
	ADDR_CLASS_DIRECTED_BCAST, /* the all-ones host of a local IPv4 subnet */
	ADDR_CLASS_RESERVED,	   /* 240.0.0.0/4 (class E) */
	ADDR_CLASS_SITE_LOCAL,	   /* fec0::/10 (deprecated, RFC 3879) */
	ADDR_CLASS__COUNT
};

/* Local IPv4 subnets (for directed broadcast) and configured NAT64 prefixes
 * (RFC 6052 lengths 32, 40, 48, 56, 64, 96). Plain data, copy freely. */
#define ADDR_LOCAL_MAX 64
#define ADDR_NAT64_MAX 8
struct addr_local {
	struct prefix v4[ADDR_LOCAL_MAX];
	unsigned nv4;
	unsigned v4_dropped; /* interface prefixes past ADDR_LOCAL_MAX (counted) */
	struct prefix nat64[ADDR_NAT64_MAX];
	unsigned nnat64;
};

/* Replace l->v4 with the IPv4 prefixes of this namespace's interfaces
 * (getifaddrs; a netlink dump, so call it on the control plane only, never
 * per packet). l->nat64 is left alone. Returns 0 or -errno (l->v4 is then
 * emptied, and directed broadcast is not recognised until the next call). */
int addr_local_refresh(struct addr_local *l);

/*
 * The class of a, ADDR_CLASS_OK if it may be learned. local may be NULL (no
 * local subnets, no configured NAT64 prefix). An IPv6 address that embeds an
 * IPv4 address (mapped ::ffff:0:0/96, compatible ::/96, SIIT ::ffff:0:0:0/96,
 * 6to4 2002::/16, NAT64 64:ff9b::/96, 64:ff9b:1::/48 in every RFC 6052
 * layout, the configured NAT64 prefixes, Teredo 2001::/32 server and client,
 * ISATAP ::0:5efe:a.b.c.d / ::200:5efe:a.b.c.d in any prefix) takes the class
 * of that IPv4 address; *embedded (may be NULL) then says so. The embedded
 * IPv4 address is only classified: it stays a separate allowset key.
 */
enum addr_class addr_never_learn(const struct addr *a, const struct addr_local *local,
				 bool *embedded);

/* "unspecified", "loopback", "link-local", ... ("ok" for ADDR_CLASS_OK). */
const char *addr_class_name(enum addr_class c);

/* Does the prefix hold at least one globally routable address? False only
 * when it lies wholly inside a range that is not (loopback, private,
 * link-local, multicast, documentation, benchmark, CGNAT, ULA, unspecified:
 * 10.0.0.0/16, fd00::/8), not when it merely starts in one (0.0.0.0/1).
 * Used to warn about exceptions that are probably mistakes. */
bool addr_prefix_is_global(const struct prefix *p);

#endif
