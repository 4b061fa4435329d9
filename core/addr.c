#include "core/addr.h"

#include <arpa/inet.h>
#include <errno.h>
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

bool addr_is_global(const struct addr *a)
{
	const char *const *list = a->family == AF_INET ? special_v4 : special_v6;
	size_t n = a->family == AF_INET ? sizeof(special_v4) / sizeof(special_v4[0])
					: sizeof(special_v6) / sizeof(special_v6[0]);
	struct prefix p;

	if (a->family != AF_INET && a->family != AF_INET6)
		return false;
	for (size_t i = 0; i < n; i++)
		if (addr_prefix_parse(list[i], &p) == 0 && addr_prefix_contains(&p, a))
			return false;
	if (a->family == AF_INET6 && (a->b[0] & 0xe0) != 0x20)
		return false; /* only 2000::/3 is global unicast */
	return true;
}
