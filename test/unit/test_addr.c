/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/addr: the never-learn table (addr_never_learn). Every class at its
 * boundaries, directed broadcast of local subnets, and every IPv6 form that
 * embeds an IPv4 address, once with a never-learn IPv4 address (refused, with
 * that class and embedded set) and once with a normal one (allowed).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "core/addr.h"
#include "core/util.h"

int main(void);

static enum addr_class cls(const char *s, const struct addr_local *l, bool *emb)
{
	struct addr a;

	if (addr_parse(s, &a) < 0) {
		fprintf(stderr, "bad test address %s\n", s);
		return (enum addr_class) - 1;
	}
	return addr_never_learn(&a, l, emb);
}

struct tcase {
	const char *addr;
	enum addr_class want;
	bool embedded;
};

/* Without local subnets or NAT64 prefixes. */
static const struct tcase plain[] = {
    /* IPv4, each class and both sides of its edges */
    {"0.0.0.0", ADDR_CLASS_UNSPECIFIED, false},
    {"0.255.255.255", ADDR_CLASS_UNSPECIFIED, false},
    {"1.0.0.0", ADDR_CLASS_OK, false},
    {"126.255.255.255", ADDR_CLASS_OK, false},
    {"127.0.0.0", ADDR_CLASS_LOOPBACK, false},
    {"127.0.0.1", ADDR_CLASS_LOOPBACK, false},
    {"127.255.255.255", ADDR_CLASS_LOOPBACK, false},
    {"128.0.0.0", ADDR_CLASS_OK, false},
    {"169.253.255.255", ADDR_CLASS_OK, false},
    {"169.254.0.0", ADDR_CLASS_LINK_LOCAL, false},
    {"169.254.169.254", ADDR_CLASS_LINK_LOCAL, false},
    {"169.254.255.255", ADDR_CLASS_LINK_LOCAL, false},
    {"169.255.0.0", ADDR_CLASS_OK, false},
    {"223.255.255.255", ADDR_CLASS_OK, false},
    {"224.0.0.0", ADDR_CLASS_MULTICAST, false},
    {"224.0.0.251", ADDR_CLASS_MULTICAST, false},
    {"239.255.255.255", ADDR_CLASS_MULTICAST, false},
    {"240.0.0.0", ADDR_CLASS_RESERVED, false},
    {"254.255.255.255", ADDR_CLASS_RESERVED, false},
    {"255.255.255.254", ADDR_CLASS_RESERVED, false},
    {"255.255.255.255", ADDR_CLASS_BROADCAST, false},
    {"10.0.0.1", ADDR_CLASS_OK, false},	     /* private: learnable (internal services) */
    {"192.168.1.255", ADDR_CLASS_OK, false}, /* broadcast only if a local subnet says so */
    {"198.51.100.10", ADDR_CLASS_OK, false},
    /* IPv6 native */
    {"::", ADDR_CLASS_UNSPECIFIED, false},
    {"::1", ADDR_CLASS_LOOPBACK, false},
    {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ADDR_CLASS_OK, false},
    {"fe80::", ADDR_CLASS_LINK_LOCAL, false},
    {"fe80::1", ADDR_CLASS_LINK_LOCAL, false},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ADDR_CLASS_LINK_LOCAL, false},
    {"fec0::", ADDR_CLASS_SITE_LOCAL, false},
    {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ADDR_CLASS_SITE_LOCAL, false},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ADDR_CLASS_OK, false}, /* ULA: learnable */
    {"ff00::", ADDR_CLASS_MULTICAST, false},
    {"ff02::1", ADDR_CLASS_MULTICAST, false},
    {"2001:db8::1", ADDR_CLASS_OK, false},
    /* mapped ::ffff:0:0/96 */
    {"::ffff:127.0.0.1", ADDR_CLASS_LOOPBACK, true},
    {"::ffff:169.254.169.254", ADDR_CLASS_LINK_LOCAL, true},
    {"::ffff:0.0.0.0", ADDR_CLASS_UNSPECIFIED, true},
    {"::ffff:255.255.255.255", ADDR_CLASS_BROADCAST, true},
    {"::ffff:198.51.100.10", ADDR_CLASS_OK, false},
    /* compatible ::/96 */
    {"::127.0.0.1", ADDR_CLASS_LOOPBACK, true},
    {"::224.0.0.1", ADDR_CLASS_MULTICAST, true},
    {"::198.51.100.10", ADDR_CLASS_OK, false},
    {"::2", ADDR_CLASS_UNSPECIFIED, true}, /* 0.0.0.2 */
    /* SIIT ::ffff:0:a.b.c.d (RFC 2765) */
    {"::ffff:0:127.0.0.1", ADDR_CLASS_LOOPBACK, true},
    {"::ffff:0:240.0.0.1", ADDR_CLASS_RESERVED, true},
    {"::ffff:0:198.51.100.10", ADDR_CLASS_OK, false},
    /* 6to4 2002:AABB:CCDD::/48 */
    {"2002:7f00:1::", ADDR_CLASS_LOOPBACK, true},
    {"2002:a9fe:a9fe::1", ADDR_CLASS_LINK_LOCAL, true},
    {"2002:ffff:ffff:1::1", ADDR_CLASS_BROADCAST, true},
    {"2002:c633:640a::1", ADDR_CLASS_OK, false},
    /* NAT64 well-known 64:ff9b::/96 */
    {"64:ff9b::127.0.0.1", ADDR_CLASS_LOOPBACK, true},
    {"64:ff9b::169.254.169.254", ADDR_CLASS_LINK_LOCAL, true},
    {"64:ff9b::198.51.100.10", ADDR_CLASS_OK, false},
    /* NAT64 local use 64:ff9b:1::/48, every RFC 6052 layout inside it */
    {"64:ff9b:1:7f00:1::", ADDR_CLASS_LOOPBACK, true},	     /* /48: bytes 6,7,9,10 */
    {"64:ff9b:1:a9:fe:a9fe::", ADDR_CLASS_LINK_LOCAL, true}, /* /56: 7,9,10,11 */
    {"64:ff9b:1::7f:0:100:0", ADDR_CLASS_LOOPBACK, true},    /* /64: 9..12 */
    {"64:ff9b:1::127.0.0.1", ADDR_CLASS_LOOPBACK, true},     /* /96 */
    {"64:ff9b:1:c633:64:a00::", ADDR_CLASS_OK, false},	     /* /48 of 198.51.100.10 */
    /* Teredo 2001::/32: server in bits 32..63, client inverted at the end */
    {"2001:0:7f00:1::", ADDR_CLASS_LOOPBACK, true},
    {"2001:0:c633:640a::80ff:fffe", ADDR_CLASS_LOOPBACK, true},	  /* ~127.0.0.1 */
    {"2001:0:c633:640a::5601:56ff", ADDR_CLASS_LINK_LOCAL, true}, /* ~169.254.169.0 */
    {"2001:0:c633:640a:0:0:39cc:9bf5", ADDR_CLASS_OK, false},	  /* ~198.51.100.10 */
    /* ISATAP ::0:5efe:a.b.c.d and ::200:5efe:a.b.c.d in any prefix */
    {"2001:db8::5efe:127.0.0.1", ADDR_CLASS_LOOPBACK, true},
    {"2001:db8::200:5efe:169.254.169.254", ADDR_CLASS_LINK_LOCAL, true},
    {"2001:db8::5efe:198.51.100.10", ADDR_CLASS_OK, false},
    {"2001:db8::400:5efe:127.0.0.1", ADDR_CLASS_OK, false}, /* not an ISATAP IID */
    /* not embeddings: near misses of the prefixes */
    {"64:ff9c::127.0.0.1", ADDR_CLASS_OK, false},
    {"2003:7f00:1::", ADDR_CLASS_OK, false},
    {"::fffe:127.0.0.1", ADDR_CLASS_OK, false},
};

static void test_plain(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		bool emb = !plain[i].embedded;
		enum addr_class c = cls(plain[i].addr, NULL, &emb);

		CHECK_MSG(c == plain[i].want, "%s: %s, want %s", plain[i].addr, addr_class_name(c),
			  addr_class_name(plain[i].want));
		CHECK_MSG(emb == plain[i].embedded, "%s: embedded %d", plain[i].addr, emb);
	}
}

static void add_prefix(struct prefix *p, const char *s)
{
	CHECK_MSG(addr_prefix_parse(s, p) == 0, "prefix %s", s);
}

static void test_local(void)
{
	struct addr_local l = {0};
	bool emb;

	add_prefix(&l.v4[l.nv4++], "192.0.2.0/24");
	add_prefix(&l.v4[l.nv4++], "198.18.0.0/15");
	add_prefix(&l.v4[l.nv4++], "203.0.113.8/31"); /* RFC 3021: no broadcast */
	add_prefix(&l.v4[l.nv4++], "203.0.113.64/32");
	CHECK(cls("192.0.2.255", &l, &emb) == ADDR_CLASS_DIRECTED_BCAST && !emb);
	CHECK(cls("192.0.2.254", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("192.0.3.255", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("198.19.255.255", &l, NULL) == ADDR_CLASS_DIRECTED_BCAST);
	CHECK(cls("198.18.255.255", &l, NULL) == ADDR_CLASS_OK); /* inside the /15 */
	CHECK(cls("203.0.113.9", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("203.0.113.64", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("192.0.2.255", NULL, NULL) == ADDR_CLASS_OK); /* no local subnets */
	/* embedded forms of a directed broadcast */
	CHECK(cls("::ffff:192.0.2.255", &l, &emb) == ADDR_CLASS_DIRECTED_BCAST && emb);
	CHECK(cls("2002:c000:2ff::1", &l, &emb) == ADDR_CLASS_DIRECTED_BCAST && emb);
	CHECK(cls("64:ff9b::192.0.2.255", &l, &emb) == ADDR_CLASS_DIRECTED_BCAST && emb);
	CHECK(cls("64:ff9b::192.0.2.25", &l, &emb) == ADDR_CLASS_OK && !emb);

	/* configured NAT64 prefixes, each RFC 6052 layout */
	add_prefix(&l.nat64[l.nnat64++], "2001:db8:100::/40");
	add_prefix(&l.nat64[l.nnat64++], "2001:db8:222::/48");
	add_prefix(&l.nat64[l.nnat64++], "2001:db8:333:300::/56");
	add_prefix(&l.nat64[l.nnat64++], "2001:db8:444:444::/64");
	add_prefix(&l.nat64[l.nnat64++], "2001:db8:555:555::/96");
	add_prefix(&l.nat64[l.nnat64++], "2001:db9::/32");
	/* RFC 6052 §2.4 examples, with 192.0.2.33 and with 127.0.0.1 */
	CHECK(cls("2001:db8:1c0:2:21::", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("2001:db8:17f:0:1::", &l, &emb) == ADDR_CLASS_LOOPBACK && emb);
	CHECK(cls("2001:db8:222:c000:2:2100::", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("2001:db8:222:7f00:0:100::", &l, &emb) == ADDR_CLASS_LOOPBACK && emb);
	CHECK(cls("2001:db8:333:3c0:0:221::", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("2001:db8:333:3a9:fe:a9fe::", &l, &emb) == ADDR_CLASS_LINK_LOCAL && emb);
	CHECK(cls("2001:db8:444:444:c0:2:2100:0", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("2001:db8:444:444:e0:0:100:0", &l, &emb) == ADDR_CLASS_MULTICAST && emb);
	CHECK(cls("2001:db8:555:555::192.0.2.33", &l, NULL) == ADDR_CLASS_OK);
	CHECK(cls("2001:db8:555:555::127.0.0.1", &l, &emb) == ADDR_CLASS_LOOPBACK && emb);
	CHECK(cls("2001:db9:7f00:1::", &l, &emb) == ADDR_CLASS_LOOPBACK && emb);
	CHECK(cls("2001:db9:c000:221::", &l, NULL) == ADDR_CLASS_OK);
	/* the same addresses are fine when no NAT64 prefix is configured */
	CHECK(cls("2001:db8:17f:0:1::", NULL, NULL) == ADDR_CLASS_OK);
	CHECK(cls("2001:db9:7f00:1::", NULL, NULL) == ADDR_CLASS_OK);
	/* 64:ff9b:1::/48 with an operator's /48 layout: the /96 view of its
	 * zero suffix is not "0.0.0.0" */
	CHECK(cls("64:ff9b:1:c000:2:2100::", NULL, NULL) == ADDR_CLASS_OK);
}

static void test_names(void)
{
	for (unsigned c = 0; c < ADDR_CLASS__COUNT; c++)
		CHECK_MSG(strcmp(addr_class_name((enum addr_class)c), "unknown") != 0, "class %u",
			  c);
	CHECK_STREQ(addr_class_name(ADDR_CLASS__COUNT), "unknown");
	CHECK_STREQ(addr_class_name(ADDR_CLASS_LINK_LOCAL), "link-local");
}

/* Every address of a sweep over the first byte and the IPv4-embedding
 * prefixes: an embedded never-learn IPv4 address is refused in every form. */
static void test_sweep(void)
{
	static const char *const forms[] = {
	    "::ffff:", "::", "::ffff:0:", "64:ff9b::", "64:ff9b:1::", "2001:db8::5efe:"};
	unsigned bad = 0;

	for (unsigned b0 = 0; b0 < 256; b0++) {
		char v4s[32], v6s[64];
		struct addr a4, a6;
		enum addr_class c4;

		snprintf(v4s, sizeof(v4s), "%u.254.%u.1", b0, b0 == 0 ? 1 : 7);
		if (addr_parse(v4s, &a4) < 0)
			continue;
		c4 = addr_never_learn(&a4, NULL, NULL);
		for (size_t f = 0; f < ARRAY_SIZE(forms); f++) {
			snprintf(v6s, sizeof(v6s), "%s%s", forms[f], v4s);
			/* 64:ff9b:1::/48 has no known layout: 0.0.0.0/8 there is
			 * read as zero padding, not as "this network". */
			enum addr_class want =
			    f == 4 && c4 == ADDR_CLASS_UNSPECIFIED ? ADDR_CLASS_OK : c4;

			if (addr_parse(v6s, &a6) < 0 || addr_never_learn(&a6, NULL, NULL) != want) {
				if (bad++ < 10)
					fprintf(stderr, "%s: %s, %s is %s\n", v6s,
						addr_class_name(addr_never_learn(&a6, NULL, NULL)),
						v4s, addr_class_name(c4));
			}
		}
	}
	CHECK_MSG(bad == 0, "%u embedded forms disagree with their IPv4 address", bad);
}

static void test_refresh(void)
{
	struct addr_local l = {0};
	struct addr lo;

	CHECK(addr_local_refresh(&l) == 0);
	CHECK(l.nv4 >= 1); /* at least 127.0.0.1/8 on lo */
	addr_parse("127.255.255.255", &lo);
	CHECK(addr_never_learn(&lo, &l, NULL) == ADDR_CLASS_LOOPBACK);
}

int main(void)
{
	test_plain();
	test_local();
	test_names();
	test_sweep();
	test_refresh();
	CHECK_DONE();
}
