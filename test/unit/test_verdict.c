/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Verdict reasons: one table row per rule of verdict_decide(). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/allowset.h"
#include "core/crossing.h"
#include "core/verdict.h"
#include "policy/conf.h"
#include "policy/exceptions.h"

static struct packet_info pkt(const char *src, const char *dst, uint8_t proto, uint16_t sport,
			      uint16_t dport)
{
	struct packet_info p = {0};

	addr_parse(src, &p.src);
	addr_parse(dst, &p.dst);
	p.proto = proto;
	p.sport = sport;
	p.dport = dport;
	return p;
}

struct row {
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t icmp_type;
	enum verdict_reason want;
	uint8_t hop_limit; /* 0: 64 */
	uint32_t l4_len;   /* 0: 24, an NS or NA without options */
};

int main(void)
{
	struct prefix ex[2];
	struct verdict_policy pol = {.enforce = true, .dhcp = true, .want_details = true};
	struct verdict_result r;
	struct addr a;
	const uint64_t now = 100000;

	allowset_reader_register();
	addr_prefix_parse("203.0.113.0/24", &ex[0]);
	addr_prefix_parse("2001:db8:e::/48", &ex[1]);
	pol.allowset = allowset_new(16, 4);
	pol.exceptions = exceptions_new(ex, 2);
	addr_parse("192.0.2.53", &pol.infra[0].addr);
	pol.infra[0].port = 853;
	pol.ninfra = 1;

	addr_parse("198.51.100.10", &a);
	allowset_add(pol.allowset, NULL, &a, now + 60000, ALLOWSET_LEARNED, "web.example", "s1",
		     now - 1000);
	addr_parse("198.51.100.11", &a);
	allowset_add(pol.allowset, NULL, &a, now + 60000, ALLOWSET_MANUAL, NULL, "operator", now);
	addr_parse("198.51.100.12", &a);
	allowset_add(pol.allowset, NULL, &a, now - 7000, ALLOWSET_LEARNED, "old.example", "s1",
		     now - 60000);
	addr_parse("2001:db8::10", &a);
	allowset_add(pol.allowset, NULL, &a, now + 60000, ALLOWSET_LEARNED, "v6.example", "s1",
		     now);
	static const struct row rows[] = {
	    {"192.0.2.1", "198.51.100.10", IPPROTO_TCP, 40000, 443, 0, VERDICT_LEARNED, 0, 0},
	    {"192.0.2.1", "198.51.100.10", IPPROTO_UDP, 40000, 443, 0, VERDICT_LEARNED, 0, 0},
	    {"192.0.2.1", "198.51.100.11", IPPROTO_TCP, 40000, 22, 0, VERDICT_MANUAL, 0, 0},
	    {"192.0.2.1", "198.51.100.12", IPPROTO_TCP, 40000, 443, 0, VERDICT_EXPIRED, 0, 0},
	    {"192.0.2.1", "198.51.100.99", IPPROTO_TCP, 40000, 443, 0, VERDICT_NEVER_RESOLVED, 0,
	     0},
	    {"192.0.2.1", "203.0.113.77", IPPROTO_TCP, 40000, 80, 0, VERDICT_EXCEPTION, 0, 0},
	    {"192.0.2.1", "203.0.113.77", IPPROTO_ICMP, 0, 0, 8, VERDICT_EXCEPTION, 0, 0},
	    {"2001:db8::1", "2001:db8:e::5", IPPROTO_UDP, 5000, 53, 0, VERDICT_EXCEPTION, 0, 0},
	    {"2001:db8::1", "2001:db8::10", IPPROTO_TCP, 5000, 443, 0, VERDICT_LEARNED, 0, 0},
	    {"2001:db8::1", "2001:db8::11", IPPROTO_TCP, 5000, 443, 0, VERDICT_NEVER_RESOLVED, 0,
	     0},
	    /* IPv4-mapped form of a learned IPv4 address is another key. */
	    {"::ffff:192.0.2.1", "::ffff:198.51.100.10", IPPROTO_TCP, 1, 443, 0,
	     VERDICT_NEVER_RESOLVED, 0, 0},
	    /* Infrastructure. */
	    {"0.0.0.0", "255.255.255.255", IPPROTO_UDP, 68, 67, 0, VERDICT_INFRA, 0, 0},
	    {"192.0.2.1", "255.255.255.255", IPPROTO_UDP, 67, 68, 0, VERDICT_NEVER_RESOLVED, 0, 0},
	    {"fe80::1", "ff02::1:2", IPPROTO_UDP, 546, 547, 0, VERDICT_INFRA, 0, 0},
	    {"fe80::1", "ff02::1:ff00:1", IPPROTO_ICMPV6, 0, 0, 135, VERDICT_INFRA, 255, 0},
	    {"fe80::1", "ff02::2", IPPROTO_ICMPV6, 0, 0, 133, VERDICT_INFRA, 255, 0},
	    {"fe80::1", "fe80::2", IPPROTO_ICMPV6, 0, 0, 136, VERDICT_INFRA, 255, 32},
	    {"fe80::1", "fe80::2", IPPROTO_ICMPV6, 0, 0, 135, VERDICT_INFRA, 255, 56},
	    {"fe80::1", "ff02::1", IPPROTO_ICMPV6, 0, 0, 134, VERDICT_INFRA, 255, 200},
	    {"fe80::1", "ff02::2", IPPROTO_ICMPV6, 0, 0, 133, VERDICT_INFRA, 255, 16},
	    /* An NS or RS bigger than its options allow is a message, not NDP. */
	    {"fe80::1", "ff02::1:ff00:1", IPPROTO_ICMPV6, 0, 0, 135, VERDICT_NEVER_RESOLVED, 255,
	     57},
	    {"fe80::1", "fe80::2", IPPROTO_ICMPV6, 0, 0, 136, VERDICT_NEVER_RESOLVED, 255, 1200},
	    {"fe80::1", "fe80::2", IPPROTO_ICMPV6, 0, 0, 136, VERDICT_NEVER_RESOLVED, 255, 23},
	    {"fe80::1", "ff02::2", IPPROTO_ICMPV6, 0, 0, 133, VERDICT_NEVER_RESOLVED, 255, 33},
	    {"fe80::1", "fe80::2", IPPROTO_ICMPV6, 0, 0, 136, VERDICT_NEVER_RESOLVED, 255,
	     PACKET_L4_LEN_UNKNOWN},
	    /* NDP to a global address: the kernel accepts it toward on-link
	     * prefixes only; here it is never infra, whatever the size. */
	    {"2001:db8::1", "2001:db8::2", IPPROTO_ICMPV6, 0, 0, 136, VERDICT_NEVER_RESOLVED, 255,
	     0},
	    {"2001:db8::1", "2001:db8:99::9", IPPROTO_ICMPV6, 0, 0, 135, VERDICT_NEVER_RESOLVED,
	     255, 0},
	    /* Not link-scope multicast (site-local ff05::) either. */
	    {"fe80::1", "ff05::1:3", IPPROTO_ICMPV6, 0, 0, 135, VERDICT_NEVER_RESOLVED, 255, 0},
	    /* "NDP" that a router would forward: not infrastructure. */
	    {"2001:db8::1", "2001:db8:99::9", IPPROTO_ICMPV6, 0, 0, 135, VERDICT_NEVER_RESOLVED, 64,
	     0},
	    {"fe80::1", "ff02::1:ff00:1", IPPROTO_ICMPV6, 0, 0, 135, VERDICT_NEVER_RESOLVED, 64, 0},
	    /* MLD reports, done and queries (RFC 3810, RFC 2710) on the link,
	     * hop limit 1: infra. */
	    {"fe80::1", "ff02::16", IPPROTO_ICMPV6, 0, 0, 143, VERDICT_INFRA, 1, 28},
	    {"fe80::1", "ff02::1:ff00:1", IPPROTO_ICMPV6, 0, 0, 131, VERDICT_INFRA, 1, 0},
	    {"fe80::1", "ff02::2", IPPROTO_ICMPV6, 0, 0, 132, VERDICT_INFRA, 1, 0},
	    {"fe80::1", "ff02::1", IPPROTO_ICMPV6, 0, 0, 130, VERDICT_INFRA, 1, 0},
	    {"fe80::1", "ff02::16", IPPROTO_ICMPV6, 0, 0, 143, VERDICT_NEVER_RESOLVED, 2, 0},
	    {"fe80::1", "ff05::16", IPPROTO_ICMPV6, 0, 0, 143, VERDICT_NEVER_RESOLVED, 1, 0},
	    {"2001:db8::1", "2001:db8:99::9", IPPROTO_ICMPV6, 0, 0, 143, VERDICT_NEVER_RESOLVED, 1,
	     0},
	    /* IGMP (protocol 2) to a group or 224.0.0.22 with TTL 1. */
	    {"192.0.2.1", "224.0.0.22", IPPROTO_IGMP, 0, 0, 0x22, VERDICT_INFRA, 1, 0},
	    {"192.0.2.1", "239.1.2.3", IPPROTO_IGMP, 0, 0, 0x16, VERDICT_INFRA, 1, 0},
	    {"192.0.2.1", "224.0.0.22", IPPROTO_IGMP, 0, 0, 0x22, VERDICT_NEVER_RESOLVED, 2, 0},
	    {"192.0.2.1", "198.51.100.99", IPPROTO_IGMP, 0, 0, 0x22, VERDICT_NEVER_RESOLVED, 1, 0},
	    {"192.0.2.1", "224.0.0.22", IPPROTO_UDP, 1, 2, 0, VERDICT_NEVER_RESOLVED, 1, 0},
	    /* DHCP only where a client sends it. */
	    {"192.0.2.1", "198.51.100.99", IPPROTO_UDP, 68, 67, 0, VERDICT_NEVER_RESOLVED, 0, 0},
	    {"2001:db8::1", "2001:db8:99::9", IPPROTO_UDP, 546, 547, 0, VERDICT_NEVER_RESOLVED, 0,
	     0},
	    {"fe80::1", "fe80::2", IPPROTO_UDP, 546, 547, 0, VERDICT_INFRA, 0, 0},
	    {"fe80::1", "fe80::2", IPPROTO_ICMPV6, 0, 0, 128, VERDICT_NEVER_RESOLVED, 0, 0},
	    {"fe80::1", "fe80::2", IPPROTO_ICMPV6, 0, 0, 138, VERDICT_NEVER_RESOLVED, 0, 0},
	    {"192.0.2.1", "192.0.2.53", IPPROTO_TCP, 40000, 853, 0, VERDICT_INFRA, 0, 0},
	    /* The DNS server on another port or protocol is not infra. */
	    {"192.0.2.1", "192.0.2.53", IPPROTO_TCP, 40000, 53, 0, VERDICT_NEVER_RESOLVED, 0, 0},
	    {"192.0.2.1", "192.0.2.53", IPPROTO_UDP, 40000, 853, 0, VERDICT_NEVER_RESOLVED, 0, 0},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct packet_info p =
		    pkt(rows[i].src, rows[i].dst, rows[i].proto, rows[i].sport, rows[i].dport);

		p.icmp_type = rows[i].icmp_type;
		p.hop_limit = rows[i].hop_limit ? rows[i].hop_limit : 64;
		p.l4_len = rows[i].l4_len ? rows[i].l4_len : 24;
		verdict_decide(&pol, &p, NULL, now, &r);
		CHECK_MSG(r.reason == rows[i].want, "row %zu (%s -> %s): got %s want %s", i,
			  rows[i].src, rows[i].dst, verdict_reason_name(r.reason),
			  verdict_reason_name(rows[i].want));
		CHECK_MSG(r.accept == verdict_reason_accepts(rows[i].want), "row %zu accept", i);
		CHECK(!r.would_deny);
	}

	/* Evidence carried with the verdict. */
	{
		struct packet_info p = pkt("192.0.2.1", "198.51.100.10", IPPROTO_TCP, 1, 443);

		verdict_decide(&pol, &p, NULL, now, &r);
		CHECK_STREQ(r.view.names, "web.example");
		CHECK(r.view.expires_ms == now + 60000);
		p = pkt("192.0.2.1", "198.51.100.12", IPPROTO_TCP, 1, 443);
		verdict_decide(&pol, &p, NULL, now, &r);
		CHECK(r.expired_ago_ms == 7000);
		CHECK_STREQ(r.view.names, "old.example");
		p = pkt("192.0.2.1", "203.0.113.9", IPPROTO_TCP, 1, 443);
		verdict_decide(&pol, &p, NULL, now, &r);
		CHECK(r.subnet.len == 24);
	}

	/* The hot path without details: same reasons and expiry, no names. */
	pol.want_details = false;
	{
		struct packet_info p = pkt("192.0.2.1", "198.51.100.10", IPPROTO_TCP, 1, 443);

		verdict_decide(&pol, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_LEARNED && r.accept);
		CHECK(r.view.expires_ms == now + 60000);
		CHECK_STREQ(r.view.names, "");
		p = pkt("192.0.2.1", "198.51.100.12", IPPROTO_TCP, 1, 443);
		verdict_decide(&pol, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_EXPIRED && r.expired_ago_ms == 7000);
	}
	pol.want_details = true;

	/* Unparsable: dropped when enforcing. */
	verdict_decide(&pol, NULL, NULL, now, &r);
	CHECK(r.reason == VERDICT_UNPARSABLE && !r.accept);

	/* Audit: every deny becomes an accept marked would-deny; accepts stay. */
	pol.enforce = false;
	verdict_decide(&pol, NULL, NULL, now, &r);
	CHECK(r.reason == VERDICT_UNPARSABLE && r.accept && r.would_deny);
	{
		struct packet_info p = pkt("192.0.2.1", "198.51.100.99", IPPROTO_TCP, 1, 443);

		verdict_decide(&pol, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_NEVER_RESOLVED && r.accept && r.would_deny);
		p = pkt("192.0.2.1", "198.51.100.10", IPPROTO_TCP, 1, 443);
		verdict_decide(&pol, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_LEARNED && r.accept && !r.would_deny);
	}
	pol.enforce = true;

	/* Scoped (gateway): an allowance learned for client A is not B's;
	 * an operator allow (global scope) is everyone's. */
	{
		struct allowset *as = allowset_new(16, 4);
		struct verdict_policy g = pol;
		struct addr ca, dst, man;
		struct packet_info p;

		g.allowset = as;
		g.scoped = true;
		addr_parse("192.0.2.10", &ca);
		addr_parse("198.51.100.50", &dst);
		addr_parse("198.51.100.51", &man);
		allowset_add(as, &ca, &dst, now + 1000, ALLOWSET_LEARNED, "a.example", NULL, now);
		allowset_add(as, NULL, &man, now + 1000, ALLOWSET_MANUAL, NULL, NULL, now);
		p = pkt("192.0.2.10", "198.51.100.50", IPPROTO_TCP, 1, 443);
		verdict_decide(&g, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_LEARNED && r.accept);
		p = pkt("192.0.2.11", "198.51.100.50", IPPROTO_TCP, 1, 443);
		verdict_decide(&g, &p, NULL, now, &r);
		CHECK(!r.accept);
		CHECK(r.reason == VERDICT_OTHER_CLIENT);
		/* The gateway's own flow is not client A's either. */
		verdict_decide(&g, &p, allowset_scope_self(), now, &r);
		CHECK(r.reason == VERDICT_OTHER_CLIENT);
		/* A destination nobody resolved. */
		p = pkt("192.0.2.11", "198.51.100.59", IPPROTO_TCP, 1, 443);
		verdict_decide(&g, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_NEVER_RESOLVED);
		/* The gateway's own lookups are its own. */
		allowset_add(as, allowset_scope_self(), &dst, now + 1000, ALLOWSET_LEARNED, "a",
			     NULL, now);
		p = pkt("203.0.113.1", "198.51.100.50", IPPROTO_TCP, 1, 443);
		verdict_decide(&g, &p, allowset_scope_self(), now, &r);
		CHECK(r.reason == VERDICT_LEARNED);
		/* When A's entry goes, B's denial for it is never-resolved
		 * again only once no other client holds it. */
		allowset_remove(as, &ca, &dst);
		p = pkt("192.0.2.11", "198.51.100.50", IPPROTO_TCP, 1, 443);
		verdict_decide(&g, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_OTHER_CLIENT); /* self still has it */
		allowset_remove(as, allowset_scope_self(), &dst);
		verdict_decide(&g, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_NEVER_RESOLVED);
		p = pkt("192.0.2.11", "198.51.100.51", IPPROTO_TCP, 1, 443);
		verdict_decide(&g, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_MANUAL && r.accept);
		allowset_free(&as);
	}

	/* Gateway scopes bound to the link (DESIGN.md invariant 10): the LAN
	 * interface's subnets, the MAC address the lookup was bound to, ICMP
	 * errors only about the sender's own flow, infra only for the
	 * gateway's own flows. */
	{
		static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x0a};
		static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0x0b};
		struct allowset *as = allowset_new(16, 4);
		struct verdict_policy g = pol;
		struct verdict_link la, lb, lx;
		struct addr ca, dst;
		struct packet_info p;

		g.allowset = as;
		g.scoped = true;
		g.gateway = true;
		g.nlan = 1;
		g.lan[0].ifindex = 7;
		g.lan[0].nsubnets = 1;
		addr_prefix_parse("192.0.2.128/25", &g.lan[0].subnets[0]);
		addr_parse("192.0.2.130", &ca);
		addr_parse("198.51.100.50", &dst);
		allowset_add_linked(as, &ca, allowset_link(7, mac_a), &dst, now + 1000,
				    ALLOWSET_LEARNED, "a.example", NULL, now);
		p = pkt("192.0.2.130", "198.51.100.50", IPPROTO_TCP, 1, 443);
		verdict_link_fill(&la, 7, mac_a, 6, NULL, 0, &p);
		verdict_link_fill(&lb, 7, mac_b, 6, NULL, 0, &p);
		verdict_decide_link(&g, &p, NULL, &la, now, &r);
		CHECK(r.reason == VERDICT_LEARNED && r.accept);
		/* B writing A's source address, from its own MAC. */
		verdict_decide_link(&g, &p, NULL, &lb, now, &r);
		CHECK(r.reason == VERDICT_WRONG_LINK && !r.accept);
		/* No link-layer address at all. */
		verdict_link_fill(&lx, 7, NULL, 0, NULL, 0, &p);
		verdict_decide_link(&g, &p, NULL, &lx, now, &r);
		CHECK(r.reason == VERDICT_WRONG_LINK);
		/* The right MAC on another interface (not a LAN one). */
		verdict_link_fill(&lx, 8, mac_a, 6, NULL, 0, &p);
		verdict_decide_link(&g, &p, NULL, &lx, now, &r);
		CHECK(r.reason == VERDICT_SPOOFED_SOURCE && !r.accept);
		/* A source outside lan0's subnets. */
		p = pkt("192.0.2.10", "198.51.100.50", IPPROTO_TCP, 1, 443);
		verdict_decide_link(&g, &p, NULL, &la, now, &r);
		CHECK(r.reason == VERDICT_SPOOFED_SOURCE);
		/* Audit mode still says why it would deny. */
		g.enforce = false;
		verdict_decide_link(&g, &p, NULL, &la, now, &r);
		CHECK(r.reason == VERDICT_SPOOFED_SOURCE && r.accept && r.would_deny);
		g.enforce = true;
		/* The Protective DNS server is the gateway's, not the LAN's. */
		p = pkt("192.0.2.130", "192.0.2.53", IPPROTO_TCP, 1, 853);
		verdict_decide_link(&g, &p, NULL, &la, now, &r);
		CHECK(r.reason == VERDICT_NEVER_RESOLVED && !r.accept);
		verdict_decide(&g, &p, allowset_scope_self(), now, &r);
		CHECK(r.reason == VERDICT_INFRA);
		g.lan_may_reach_servers = true;
		verdict_decide_link(&g, &p, NULL, &la, now, &r);
		CHECK(r.reason == VERDICT_INFRA);
		g.lan_may_reach_servers = false;
		/* ICMP port unreachable quoting dst -> A (A's own flow), sent
		 * by A; by B with A's source; by B with its own source. */
		{
			uint8_t raw[20 + 8 + 28] = {0x45};
			struct packet_info ip;

			raw[9] = IPPROTO_ICMP;
			raw[20] = 3;
			raw[21] = 3;
			raw[28] = 0x45;
			raw[28 + 9] = IPPROTO_UDP;
			memcpy(raw + 28 + 12, dst.b, 4); /* inner src: the peer */
			memcpy(raw + 28 + 16, ca.b, 4);	 /* inner dst: A */
			ip = pkt("192.0.2.130", "198.51.100.50", IPPROTO_ICMP, 0, 0);
			ip.icmp_type = 3;
			ip.l4_offset = 20;
			verdict_link_fill(&la, 7, mac_a, 6, raw, sizeof(raw), &ip);
			CHECK(la.has_inner && addr_equal(&la.inner_dst, &ca));
			verdict_decide_link(&g, &ip, NULL, &la, now, &r);
			CHECK(r.reason == VERDICT_RELATED && r.accept);
			verdict_link_fill(&lb, 7, mac_b, 6, raw, sizeof(raw), &ip);
			verdict_decide_link(&g, &ip, NULL, &lb, now, &r);
			CHECK(r.reason == VERDICT_WRONG_LINK && !r.accept);
			ip = pkt("192.0.2.200", "198.51.100.50", IPPROTO_ICMP, 0, 0);
			ip.icmp_type = 3;
			ip.l4_offset = 20;
			verdict_link_fill(&lb, 7, mac_b, 6, raw, sizeof(raw), &ip);
			verdict_decide_link(&g, &ip, NULL, &lb, now, &r);
			CHECK(r.reason == VERDICT_FOREIGN_RELATED && !r.accept);
			/* Truncated quote: nothing to prove it with. */
			verdict_link_fill(&la, 7, mac_a, 6, raw, 40, &ip);
			CHECK(!la.has_inner);
			verdict_decide_link(&g, &ip, NULL, &la, now, &r);
			CHECK(r.reason == VERDICT_FOREIGN_RELATED);
		}
		/* ICMPv6 (RFC 4443 §3.1): the quoted header after 40 + 8 bytes. */
		{
			uint8_t raw[40 + 8 + 48] = {0x60};
			struct packet_info ip6;
			struct addr a6, x6;

			addr_parse("2001:db8:1::130", &a6);
			addr_parse("2001:db8:5::10", &x6);
			raw[6] = IPPROTO_ICMPV6;
			raw[40] = 1;
			raw[48] = 0x60;
			memcpy(raw + 48 + 8, x6.b, 16);
			memcpy(raw + 48 + 24, a6.b, 16);
			ip6 = pkt("2001:db8:1::130", "2001:db8:5::10", IPPROTO_ICMPV6, 0, 0);
			ip6.icmp_type = 1;
			ip6.l4_offset = 40;
			verdict_link_fill(&la, 7, mac_a, 6, raw, sizeof(raw), &ip6);
			CHECK(la.has_inner && addr_equal(&la.inner_src, &x6) &&
			      addr_equal(&la.inner_dst, &a6));
			verdict_link_fill(&la, 7, mac_a, 6, raw, 40 + 8 + 39, &ip6);
			CHECK(!la.has_inner);
			/* No v6 subnet on lan0: spoofed-source before anything. */
			verdict_link_fill(&la, 7, mac_a, 6, raw, sizeof(raw), &ip6);
			verdict_decide_link(&g, &ip6, NULL, &la, now, &r);
			CHECK(r.reason == VERDICT_SPOOFED_SOURCE);
			/* Echo requests are not errors. */
			ip6.icmp_type = 128;
			CHECK(!verdict_is_icmp_error(&ip6));
		}
		/* A later lookup from another MAC rebinds the scope. */
		allowset_add_linked(as, &ca, allowset_link(7, mac_b), &dst, now + 1000,
				    ALLOWSET_LEARNED, "a.example", NULL, now);
		p = pkt("192.0.2.130", "198.51.100.50", IPPROTO_TCP, 1, 443);
		verdict_link_fill(&la, 7, mac_a, 6, NULL, 0, &p);
		verdict_link_fill(&lb, 7, mac_b, 6, NULL, 0, &p);
		verdict_decide_link(&g, &p, NULL, &la, now, &r);
		CHECK(r.reason == VERDICT_WRONG_LINK);
		verdict_decide_link(&g, &p, NULL, &lb, now, &r);
		CHECK(r.reason == VERDICT_LEARNED);
		CHECK(allowset_link(7, mac_a) != allowset_link(7, mac_b) &&
		      allowset_link(0, (const uint8_t[6]){0}) != 0);
		allowset_free(&as);
	}

	/* Over-cap: the table is full of unexpired entries, so an answer's
	 * address could not be remembered; the denial says so. */
	{
		struct allowset *as = allowset_new(2, 4);
		struct verdict_policy o = pol;
		struct addr x;
		struct packet_info p;

		o.allowset = as;
		addr_parse("198.51.100.60", &x);
		CHECK(allowset_add(as, NULL, &x, now + 1000, ALLOWSET_LEARNED, NULL, NULL, now) ==
		      0);
		addr_parse("198.51.100.61", &x);
		CHECK(allowset_add(as, NULL, &x, now + 1000, ALLOWSET_LEARNED, NULL, NULL, now) ==
		      0);
		addr_parse("198.51.100.62", &x);
		CHECK(allowset_add(as, NULL, &x, now + 1000, ALLOWSET_LEARNED, NULL, NULL, now) ==
		      -ENOSPC);
		p = pkt("192.0.2.1", "198.51.100.62", IPPROTO_TCP, 1, 443);
		verdict_decide(&o, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_OVER_CAP && !r.accept);
		p = pkt("192.0.2.1", "198.51.100.63", IPPROTO_TCP, 1, 443);
		verdict_decide(&o, &p, NULL, now, &r);
		CHECK(r.reason == VERDICT_NEVER_RESOLVED);
		allowset_free(&as);
	}

	/* Flows the far side starts: the peer (source) is judged. Host
	 * services: tcp 22 from 198.51.100.0/24 and 2001:db8:5::/48, udp 51820
	 * from anywhere. */
	{
		struct conf_service sv[2] = {0};
		struct verdict_policy in = pol;
		static const struct {
			const char *src, *dst;
			uint8_t proto;
			uint16_t sport, dport;
			enum verdict_reason want;
		} irows[] = {
		    /* an exception subnet or an allowance holds the peer */
		    {"203.0.113.5", "192.0.2.1", IPPROTO_TCP, 40000, 8080, VERDICT_EXCEPTION},
		    {"198.51.100.10", "192.0.2.1", IPPROTO_UDP, 443, 5000, VERDICT_LEARNED},
		    {"198.51.100.11", "192.0.2.1", IPPROTO_TCP, 40000, 7, VERDICT_MANUAL},
		    {"2001:db8::10", "2001:db8::1", IPPROTO_TCP, 40000, 7, VERDICT_LEARNED},
		    /* a listed service, from a listed source */
		    {"198.51.100.99", "192.0.2.1", IPPROTO_TCP, 40000, 22, VERDICT_INBOUND_SERVICE},
		    {"2001:db8:5:1::9", "2001:db8::1", IPPROTO_TCP, 40000, 22,
		     VERDICT_INBOUND_SERVICE},
		    {"192.0.2.99", "192.0.2.1", IPPROTO_UDP, 40000, 51820, VERDICT_INBOUND_SERVICE},
		    {"2001:db8:9::9", "2001:db8::1", IPPROTO_UDP, 4, 51820,
		     VERDICT_INBOUND_SERVICE},
		    /* the same port from another source, protocol or port */
		    {"192.0.2.99", "192.0.2.1", IPPROTO_TCP, 40000, 22, VERDICT_INBOUND_UNLISTED},
		    {"2001:db8:6::9", "2001:db8::1", IPPROTO_TCP, 40000, 22,
		     VERDICT_INBOUND_UNLISTED},
		    {"198.51.100.99", "192.0.2.1", IPPROTO_UDP, 40000, 22,
		     VERDICT_INBOUND_UNLISTED},
		    {"198.51.100.99", "192.0.2.1", IPPROTO_TCP, 40000, 23,
		     VERDICT_INBOUND_UNLISTED},
		    {"192.0.2.99", "192.0.2.1", IPPROTO_UDP, 40000, 51821,
		     VERDICT_INBOUND_UNLISTED},
		    /* an expired allowance no longer admits its address */
		    {"198.51.100.12", "192.0.2.1", IPPROTO_TCP, 443, 7, VERDICT_INBOUND_UNLISTED},
		    /* the IPv4-mapped form of a source in the subnet is another key */
		    {"::ffff:198.51.100.99", "::ffff:192.0.2.1", IPPROTO_TCP, 1, 22,
		     VERDICT_INBOUND_UNLISTED},
		    /* ICMP echo from a stranger */
		    {"192.0.2.99", "192.0.2.1", IPPROTO_ICMP, 0, 0, VERDICT_INBOUND_UNLISTED},
		};

		sv[0].proto = IPPROTO_TCP;
		sv[0].port = 22;
		addr_prefix_parse("198.51.100.0/24", &sv[0].from[0]);
		addr_prefix_parse("2001:db8:5::/48", &sv[0].from[1]);
		sv[0].nfrom = 2;
		sv[1].proto = IPPROTO_UDP;
		sv[1].port = 51820;
		in.services = sv;
		in.nservices = 2;
		for (size_t i = 0; i < sizeof(irows) / sizeof(irows[0]); i++) {
			struct packet_info p = pkt(irows[i].src, irows[i].dst, irows[i].proto,
						   irows[i].sport, irows[i].dport);

			verdict_decide_inbound(&in, &p, now, &r);
			CHECK_MSG(r.reason == irows[i].want,
				  "inbound row %zu (%s -> %s:%u): got %s", i, irows[i].src,
				  irows[i].dst, irows[i].dport, verdict_reason_name(r.reason));
			CHECK_MSG(r.accept == verdict_reason_accepts(irows[i].want),
				  "inbound row %zu accept", i);
		}
		/* No services at all (the default): only proven peers. */
		in.nservices = 0;
		{
			struct packet_info p =
			    pkt("198.51.100.99", "192.0.2.1", IPPROTO_TCP, 1, 22);

			verdict_decide_inbound(&in, &p, now, &r);
			CHECK(r.reason == VERDICT_INBOUND_UNLISTED && !r.accept);
			/* audit: would deny */
			in.enforce = false;
			verdict_decide_inbound(&in, &p, now, &r);
			CHECK(r.reason == VERDICT_INBOUND_UNLISTED && r.accept && r.would_deny);
			in.enforce = true;
			/* break-glass opens outbound flows only */
			in.open_until_ms = now + 1000;
			verdict_decide_inbound(&in, &p, now, &r);
			CHECK(r.reason == VERDICT_INBOUND_UNLISTED && !r.accept && !r.break_glass);
			p.tcp_flags = 0x12;
			verdict_decide_synack(&in, &p, true, &r);
			CHECK(!r.accept && !r.break_glass);
			in.open_until_ms = 0;
		}
		verdict_decide_inbound(&in, NULL, now, &r);
		CHECK(r.reason == VERDICT_UNPARSABLE && !r.accept);
	}

	/* SYN-ACKs a peer's SYN gets: a listener's (no owner) passes, a
	 * connecting socket's (owner: simultaneous open) never, whatever the
	 * services; anything but a SYN-ACK here is refused. */
	{
		struct packet_info p = pkt("192.0.2.1", "192.0.2.99", IPPROTO_TCP, 22, 40000);

		p.tcp_flags = 0x12;
		verdict_decide_synack(&pol, &p, false, &r);
		CHECK(r.reason == VERDICT_LISTENER && r.accept);
		verdict_decide_synack(&pol, &p, true, &r);
		CHECK(r.reason == VERDICT_SIMULTANEOUS_OPEN && !r.accept);
		p.tcp_flags = 0x10;
		verdict_decide_synack(&pol, &p, false, &r);
		CHECK(!r.accept);
		p = pkt("192.0.2.1", "192.0.2.99", IPPROTO_UDP, 22, 40000);
		p.tcp_flags = 0x12;
		verdict_decide_synack(&pol, &p, false, &r);
		CHECK(!r.accept);
		verdict_decide_synack(&pol, NULL, false, &r);
		CHECK(!r.accept);
	}

	/* Gateway port forwards and the crossing SYN. Client 198.18.1.10
	 * forwards tcp 7005 to anyone; its SYN from 7005 to 192.0.2.222:9000
	 * was denied. */
	{
		struct conf_service fw = {0};
		struct verdict_policy g = pol;
		struct crossing *cr = crossing_new(120000);
		struct addr cl, peer, other;
		struct packet_info p;

		CHECK(cr != NULL);
		fw.proto = IPPROTO_TCP;
		fw.port = 7005;
		addr_prefix_parse("198.18.1.10", &fw.to);
		g.services = &fw;
		g.nservices = 1;
		g.scoped = true;
		g.crossing = cr;
		addr_parse("198.18.1.10", &cl);
		addr_parse("192.0.2.222", &peer);
		addr_parse("198.18.1.11", &other);
		p = pkt("192.0.2.222", "198.18.1.10", IPPROTO_TCP, 9000, 7005);
		verdict_decide_inbound(&g, &p, now, &r);
		CHECK(r.reason == VERDICT_INBOUND_SERVICE && r.accept);
		crossing_record(cr, &cl, 7005, &peer, 9000, now);
		verdict_decide_inbound(&g, &p, now, &r);
		CHECK(r.reason == VERDICT_CROSSING && !r.accept);
		/* even from an exception subnet or an allowed peer */
		p = pkt("203.0.113.77", "198.18.1.10", IPPROTO_TCP, 9000, 7005);
		crossing_record(cr, &cl, 7005, &p.src, 9000, now);
		verdict_decide_inbound(&g, &p, now, &r);
		CHECK(r.reason == VERDICT_CROSSING);
		/* another source port, another client: not crossing */
		p = pkt("192.0.2.222", "198.18.1.10", IPPROTO_TCP, 9001, 7005);
		verdict_decide_inbound(&g, &p, now, &r);
		CHECK(r.reason == VERDICT_INBOUND_SERVICE);
		p = pkt("192.0.2.222", "198.18.1.11", IPPROTO_TCP, 9000, 7005);
		verdict_decide_inbound(&g, &p, now, &r);
		CHECK(r.reason == VERDICT_INBOUND_UNLISTED); /* not forwarded to .11 */
		/* the record ages out */
		p = pkt("192.0.2.222", "198.18.1.10", IPPROTO_TCP, 9000, 7005);
		verdict_decide_inbound(&g, &p, now + 120001, &r);
		CHECK(r.reason == VERDICT_INBOUND_SERVICE);
		/* a scoped gateway: the client's own allowance admits its peer */
		allowset_add(g.allowset, &cl, &peer, now + 60000, ALLOWSET_LEARNED, "w.example",
			     NULL, now);
		p = pkt("192.0.2.222", "198.18.1.10", IPPROTO_UDP, 53, 5000);
		verdict_decide_inbound(&g, &p, now, &r);
		CHECK(r.reason == VERDICT_LEARNED && r.accept);
		p = pkt("192.0.2.222", "198.18.1.11", IPPROTO_UDP, 53, 5000);
		verdict_decide_inbound(&g, &p, now, &r);
		CHECK(r.reason == VERDICT_INBOUND_UNLISTED); /* another client's */
		allowset_remove(g.allowset, &cl, &peer);
		crossing_free(&cr);
		CHECK(cr == NULL);
	}

	/* The crossing table is bounded; a full set fails closed. */
	{
		struct crossing *cr = crossing_new(1000);
		struct crossing_stats st;
		struct addr cl, peer;
		unsigned evicted_hits = 0;

		addr_parse("198.18.1.10", &cl);
		addr_parse("203.0.113.2", &peer);
		/* Same client port, ever more peer ports: one set fills. */
		for (unsigned i = 0; i < CROSSING_WAYS + 3; i++)
			crossing_record(cr, &cl, 7005, &peer, (uint16_t)(1000 + i), now);
		crossing_get_stats(cr, now, &st);
		CHECK(st.recorded == CROSSING_WAYS + 3);
		CHECK(st.evicted == 3);
		CHECK(st.sets_failing_closed == 1);
		/* the evicted tuples still count as crossing, and any other
		 * peer to that client port too, until they would have expired */
		for (unsigned i = 0; i < 3; i++)
			evicted_hits +=
			    crossing_match(cr, &cl, 7005, &peer, (uint16_t)(1000 + i), now + 10);
		CHECK(evicted_hits == 3);
		CHECK(crossing_match(cr, &cl, 7005, &peer, 5555, now + 10));
		CHECK(!crossing_match(cr, &cl, 7005, &peer, 5555, now + 1001));
		crossing_get_stats(cr, now + 1001, &st);
		CHECK(st.sets_failing_closed == 0);
		/* a retransmitted SYN refreshes its record, no eviction */
		crossing_record(cr, &cl, 7006, &peer, 1, now);
		crossing_record(cr, &cl, 7006, &peer, 1, now + 500);
		crossing_get_stats(cr, now, &st);
		CHECK(st.evicted == 3);
		CHECK(crossing_match(cr, &cl, 7006, &peer, 1, now + 1400));
		crossing_free(&cr);
		crossing_free(&cr); /* NULL-safe */
	}

	for (unsigned i = 0; i < VERDICT_REASON_COUNT; i++)
		CHECK(verdict_reason_name(i)[0] != 'u' || i == VERDICT_UNPARSABLE);
	CHECK_STREQ(verdict_reason_name(VERDICT_NEVER_RESOLVED), "never-resolved");
	CHECK_STREQ(verdict_reason_name(VERDICT_WRONG_LINK), "wrong-link");
	CHECK(verdict_reason_accepts(VERDICT_RELATED) &&
	      !verdict_reason_accepts(VERDICT_SPOOFED_SOURCE));
	CHECK_STREQ(verdict_reason_name(VERDICT_REASON_COUNT), "unknown");
	CHECK_STREQ(verdict_reason_name(VERDICT_SIMULTANEOUS_OPEN), "simultaneous-open");
	CHECK(verdict_reason_accepts(VERDICT_INBOUND_SERVICE) &&
	      verdict_reason_accepts(VERDICT_LISTENER));
	CHECK(!verdict_reason_accepts(VERDICT_INBOUND_UNLISTED) &&
	      !verdict_reason_accepts(VERDICT_SIMULTANEOUS_OPEN) &&
	      !verdict_reason_accepts(VERDICT_CROSSING));

	exceptions_free((struct exceptions **)&pol.exceptions);
	allowset_free(&pol.allowset);
	allowset_reader_unregister();
	CHECK_DONE();
}
