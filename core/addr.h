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

/* Is the address globally routable? False for loopback, private, link-local,
 * multicast, documentation, benchmark, CGNAT, ULA, unspecified... Used to warn
 * about exceptions that are probably mistakes. */
bool addr_is_global(const struct addr *a);

/* Does the prefix hold at least one globally routable address? False only
 * when it lies wholly inside a range addr_is_global() refuses (10.0.0.0/16,
 * fd00::/8), not when it merely starts in one (0.0.0.0/1). */
bool addr_prefix_is_global(const struct prefix *p);

#endif
