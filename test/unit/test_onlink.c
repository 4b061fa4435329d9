/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/onlink: which routes of a netlink dump are on-link prefixes. The
 * messages are built here with libmnl as the kernel sends them, one
 * property changed at a time, so each filter is seen to act.
 */
#include "core/onlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "test/unit/check.h"

struct route {
	int family;
	const char *dst; /* NULL: no RTA_DST (a default route) */
	unsigned len;
	unsigned char type, table;
	unsigned oif;				   /* 0: no RTA_OIF */
	int gateway, multipath, cloned, dst_bytes; /* dst_bytes 0: 16 (or 4) */
};

static _Alignas(struct nlmsghdr) char buf[1 << 16];
static size_t used;

static void put_route(const struct route *r)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + used);
	struct rtmsg *rt;
	unsigned char a[16] = {0};

	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtm_family = (unsigned char)r->family;
	rt->rtm_dst_len = (unsigned char)r->len;
	rt->rtm_table = r->table;
	rt->rtm_type = r->type;
	rt->rtm_flags = r->cloned ? RTM_F_CLONED : 0;
	mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
	if (r->dst) {
		CHECK(inet_pton(r->family, r->dst, a) == 1);
		mnl_attr_put(nlh, RTA_DST,
			     r->dst_bytes	    ? (size_t)r->dst_bytes
			     : r->family == AF_INET ? 4
						    : 16,
			     a);
	}
	if (r->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, r->oif);
	if (r->gateway) {
		CHECK(inet_pton(AF_INET6, "fe80::1", a) == 1);
		mnl_attr_put(nlh, RTA_GATEWAY, 16, a);
	}
	if (r->multipath)
		mnl_attr_put(nlh, RTA_MULTIPATH, 0, a);
	used += nlh->nlmsg_len;
}

static void put_done(void)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + used);

	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	mnl_nlmsg_put_extra_header(nlh, sizeof(int));
	used += nlh->nlmsg_len;
}

static bool has(const struct onlink_list *l, const char *pfx, unsigned oif)
{
	struct prefix p;

	if (addr_prefix_parse(pfx, &p) < 0)
		return false;
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i].p.len == p.len && addr_equal(&l->v[i].p.addr, &p.addr) &&
		    l->v[i].ifindex == oif)
			return true;
	return false;
}

#define U RTN_UNICAST
#define M RT_TABLE_MAIN

static void test_filters(void)
{
	static const struct route rows[] = {
	    {AF_INET6, "2001:db8:1::", 64, U, M, 2, 0, 0, 0, 0},  /* kept */
	    {AF_INET6, "2001:db8:1::", 64, U, M, 2, 0, 0, 0, 0},  /* duplicate */
	    {AF_INET6, "2001:db8:1::", 64, U, M, 3, 0, 0, 0, 0},  /* other interface: kept */
	    {AF_INET6, "2001:db8:2::5", 64, U, M, 2, 0, 0, 0, 0}, /* host bits: cleared */
	    {AF_INET6, "2001:db8:3::", 64, U, M, 2, 1, 0, 0, 0},  /* via a gateway */
	    {AF_INET6, "2001:db8:4::", 64, U, M, 2, 0, 1, 0, 0},  /* multipath */
	    {AF_INET6, "2001:db8:5::", 64, U, M, 2, 0, 0, 1, 0},  /* cloned (cache) */
	    {AF_INET6, "2001:db8:6::", 64, U, RT_TABLE_LOCAL, 2, 0, 0, 0, 0},  /* local table */
	    {AF_INET6, "2001:db8:7::", 64, RTN_LOCAL, M, 2, 0, 0, 0, 0},       /* not unicast */
	    {AF_INET6, "2001:db8:8::", 64, RTN_UNREACHABLE, M, 0, 0, 0, 0, 0}, /* no interface */
	    {AF_INET6, "fe80::", 64, U, M, 2, 0, 0, 0, 0},	   /* link-local: always */
	    {AF_INET6, NULL, 0, U, M, 2, 0, 0, 0, 0},		   /* on-link default: short */
	    {AF_INET6, "2000::", 8, U, M, 2, 0, 0, 0, 0},	   /* /8: short */
	    {AF_INET6, "2001::", 16, U, M, 2, 0, 0, 0, 0},	   /* /16: kept */
	    {AF_INET6, "2001:db8:9::1", 128, U, M, 2, 0, 0, 0, 0}, /* host route: kept */
	    {AF_INET, "192.0.2.0", 24, U, M, 2, 0, 0, 0, 0},	   /* IPv4 */
	};
	struct onlink_list l;

	memset(&l, 0, sizeof(l));
	used = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		put_route(&rows[i]);
	CHECK(onlink_parse(buf, used, 0, 0, &l) == MNL_CB_OK);
	put_done();
	CHECK_MSG(l.n == 5, "%u kept", l.n);
	CHECK(has(&l, "2001:db8:1::/64", 2));
	CHECK(has(&l, "2001:db8:1::/64", 3));
	CHECK(has(&l, "2001:db8:2::/64", 2));
	CHECK(has(&l, "2001::/16", 2));
	CHECK(has(&l, "2001:db8:9::1/128", 2));
	CHECK_MSG(l.too_short == 2, "%u too short", l.too_short);
	CHECK(l.over_cap == 0);

	/* The whole dump again, with its end: nothing twice. */
	memset(&l, 0, sizeof(l));
	CHECK(onlink_parse(buf, used, 0, 0, &l) == MNL_CB_STOP);
	CHECK(l.n == 5 && l.too_short == 2);
}

static void test_bad_messages(void)
{
	static const struct route v4dst = {AF_INET6, "2001:db8:1::", 64, U, M, 2, 0, 0, 0, 4};
	static const struct route nodst = {AF_INET6, NULL, 64, U, M, 2, 0, 0, 0, 0};
	struct onlink_list l;

	memset(&l, 0, sizeof(l));
	used = 0;
	put_route(&v4dst); /* a 4-byte RTA_DST in an IPv6 route */
	CHECK(onlink_parse(buf, used, 0, 0, &l) == MNL_CB_ERROR && l.n == 0);
	used = 0;
	put_route(&nodst); /* a /64 without its address */
	CHECK(onlink_parse(buf, used, 0, 0, &l) == MNL_CB_ERROR && l.n == 0);
	/* A length of 2^31 or more, which libmnl's int compare lets through. */
	{
		static const struct route good = {AF_INET6, "2001:db8:1::", 64, U, M, 2, 0, 0, 0,
						  0};
		struct nlmsghdr *second;

		used = 0;
		put_route(&good);
		second = (struct nlmsghdr *)(buf + used);
		put_route(&good);
		second->nlmsg_len = 0x80000010u;
		memset(&l, 0, sizeof(l));
		CHECK(onlink_parse(buf, used, 0, 0, &l) == MNL_CB_ERROR && errno == EBADMSG);
		CHECK(l.n == 0);
	}
	/* Every truncation of a good message: never a prefix from half of it. */
	{
		static const struct route good = {AF_INET6, "2001:db8:1::", 64, U, M, 2, 0, 0, 0,
						  0};
		size_t full;
		bool ok = true;

		used = 0;
		put_route(&good);
		full = used;
		for (size_t n = 0; n < full && ok; n++) {
			memset(&l, 0, sizeof(l));
			onlink_parse(buf, n, 0, 0, &l);
			ok = l.n == 0;
		}
		CHECK_MSG(ok, "a truncated message gave a prefix");
	}
}

static void test_bound(void)
{
	struct onlink_list l;

	memset(&l, 0, sizeof(l));
	used = 0;
	for (unsigned i = 0; i < ONLINK_MAX + 6; i++) {
		char a[64];
		struct route r = {AF_INET6, a, 64, U, M, 2, 0, 0, 0, 0};

		snprintf(a, sizeof(a), "2001:db8:%x::", i + 1);
		put_route(&r);
	}
	CHECK(onlink_parse(buf, used, 0, 0, &l) == MNL_CB_OK);
	CHECK_MSG(l.n == ONLINK_MAX && l.over_cap == 6, "%u kept, %u over", l.n, l.over_cap);
}

/* The real dump of this machine: read-only, no privilege needed. */
static void test_read(void)
{
	struct onlink_list l;
	int rc = onlink_read(&l);

	CHECK_MSG(rc == 0, "onlink_read: %s", strerror(-rc));
	CHECK(l.n <= ONLINK_MAX);
	for (unsigned i = 0; i < l.n; i++) {
		CHECK(l.v[i].ifname[0] != '\0' && strcmp(l.v[i].ifname, "lo") != 0);
		CHECK(l.v[i].p.len >= ONLINK_MIN_LEN);
	}
}

/* "test_onlink --write-corpus DIR": the dumps above as fuzz seeds
 * (test/fuzz/corpus/onlink/). */
static int write_seed(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, used, f) != used) {
		perror(path);
		if (f)
			fclose(f);
		return 1;
	}
	return fclose(f) != 0;
}

int main(int argc, char **argv)
{
	bool seeds = argc == 3 && strcmp(argv[1], "--write-corpus") == 0;

	test_filters();
	if (seeds && write_seed(argv[2], "filters"))
		return 1;
	test_bad_messages();
	test_bound();
	if (seeds && write_seed(argv[2], "bound"))
		return 1;
	test_read();
	CHECK_DONE();
}
