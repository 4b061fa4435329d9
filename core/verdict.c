/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/verdict.h"

#include <netinet/in.h>
#include <string.h>

#include "core/crossing.h"
#include "policy/conf.h"
#include "policy/exceptions.h"

static const char *const reason_names[VERDICT_REASON_COUNT] = {
    [VERDICT_LEARNED] = "learned",
    [VERDICT_EXCEPTION] = "exception",
    [VERDICT_INFRA] = "infra",
    [VERDICT_MANUAL] = "manual",
    [VERDICT_RELATED] = "related",
    [VERDICT_NEVER_RESOLVED] = "never-resolved",
    [VERDICT_EXPIRED] = "expired",
    [VERDICT_OTHER_CLIENT] = "other-client",
    [VERDICT_OVER_CAP] = "over-cap",
    [VERDICT_UNPARSABLE] = "unparsable",
    [VERDICT_NEVER_LEARN] = "never-learn",
    [VERDICT_SPOOFED_SOURCE] = "spoofed-source",
    [VERDICT_WRONG_LINK] = "wrong-link",
    [VERDICT_FOREIGN_RELATED] = "foreign-related",
    [VERDICT_INBOUND_SERVICE] = "inbound-service",
    [VERDICT_LISTENER] = "listener",
    [VERDICT_INBOUND_UNLISTED] = "inbound-unlisted",
    [VERDICT_SIMULTANEOUS_OPEN] = "simultaneous-open",
    [VERDICT_CROSSING] = "crossing",
};

const char *verdict_reason_name(enum verdict_reason r)
{
	return (unsigned)r < VERDICT_REASON_COUNT ? reason_names[r] : "unknown";
}

bool verdict_reason_accepts(enum verdict_reason r)
{
	return r <= VERDICT_RELATED || r == VERDICT_INBOUND_SERVICE || r == VERDICT_LISTENER;
}

/* RFC 4861 §4.3/§4.4: an NS or NA is 24 bytes plus options, and the only
 * option either carries is a link-layer address (8 bytes on Ethernet, up to
 * 24 on other links), with a Nonce (RFC 7527, 8 bytes) during DAD. Room for
 * those and no more: a bigger "NS" is a message, not neighbour discovery.
 * The ruleset renders the same bound (core/ruleset.c). */
#define VERDICT_NDP_NS_MIN 24
#define VERDICT_NDP_NS_MAX (24 + 32)
/* RFC 4861 §4.1: an RS is 8 bytes plus a source link-layer address. */
#define VERDICT_NDP_RS_MIN 8
#define VERDICT_NDP_RS_MAX (8 + 24)

static bool verdict_v6_link_local(const struct addr *a)
{
	return a->family == AF_INET6 && a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80;
}

/* ff02::/16: link-local scope multicast (RFC 4291 §2.7), never forwarded. */
static bool verdict_v6_link_mcast(const struct addr *a)
{
	return a->family == AF_INET6 && a->b[0] == 0xff && a->b[1] == 0x02;
}

/* RFC 4861 §4: RS 133, RA 134, NS 135, NA 136, Redirect 137, sent with hop
 * limit 255 (§7.1.1: receivers drop anything else), and only within the
 * link: to link-local unicast or link-scope multicast. NUD probes and
 * answers to a global on-link neighbour are accepted by the kernel toward
 * the on-link prefixes it renders, and never reach us (conntrack leaves
 * NDP untracked, so no NEW rule queues it); one that does is not infra. */
static bool verdict_is_ndp(const struct packet_info *pkt)
{
	uint32_t len = pkt->l4_len;

	if (pkt->proto != IPPROTO_ICMPV6 || pkt->hop_limit != 255 || pkt->icmp_code != 0)
		return false;
	if (!verdict_v6_link_local(&pkt->dst) && !verdict_v6_link_mcast(&pkt->dst))
		return false;
	switch (pkt->icmp_type) {
	case 133:
		return len >= VERDICT_NDP_RS_MIN && len <= VERDICT_NDP_RS_MAX;
	case 135:
	case 136:
		return len >= VERDICT_NDP_NS_MIN && len <= VERDICT_NDP_NS_MAX;
	case 134:
	case 137:
		/* Routers' messages (prefixes, routes, the redirected
		 * packet): no fixed size, but link-scoped like the rest. */
		return len != PACKET_L4_LEN_UNKNOWN;
	default:
		return false;
	}
}

/* Group membership, which switches that snoop it need to keep delivering
 * multicast (NDP's solicited-node groups included): MLD (RFC 2710 §3,
 * RFC 3810 §5: query 130, report 131, done 132, v2 report 143) to ff02::/16
 * with hop limit 1, IGMP (RFC 3376 §4, RFC 2236 §2: protocol 2) to a group
 * with TTL 1. Neither leaves the link. */
static bool verdict_is_membership(const struct packet_info *pkt)
{
	if (pkt->proto == IPPROTO_ICMPV6)
		return (pkt->icmp_type == 130 || pkt->icmp_type == 131 || pkt->icmp_type == 132 ||
			pkt->icmp_type == 143) &&
		       pkt->hop_limit == 1 && verdict_v6_link_mcast(&pkt->dst);
	return pkt->proto == IPPROTO_IGMP && pkt->dst.family == AF_INET && pkt->hop_limit == 1 &&
	       (pkt->dst.b[0] & 0xf0) == 0xe0;
}

/* DHCP, DHCPv6, NDP and group membership: what a host needs to find the
 * network at all. The ruleset accepts DHCP and NDP in the kernel with the
 * same limits and queues MLD to us (IGMP comes as any NEW flow), so that
 * the membership reports are counted as infra verdicts; this is also the
 * rule for "explain". The limits matter: a process that can bind port 68
 * or 546, or open a raw socket, must not reach any address with it. */
/* An exception matched: the subnet and its group's name go in the result
 * (copied: a record may be written after a reload freed the table). */
static void exception_hit(const struct verdict_policy *p, const struct prefix *ex,
			  struct verdict_result *r)
{
	const char *g = exceptions_group(p->exceptions, ex);
	size_t n = g ? strnlen(g, sizeof(r->group) - 1) : 0;

	r->subnet = *ex;
	memcpy(r->group, g ? g : "", n);
	r->group[n] = '\0';
	r->reason = VERDICT_EXCEPTION;
}

static bool is_network_infra(const struct verdict_policy *p, const struct packet_info *pkt)
{
	static const uint8_t all_dhcp6[16] = {0xff, 0x02, [13] = 0x01, [15] = 0x02};

	if (p->dhcp && pkt->proto == IPPROTO_UDP) {
		/* RFC 2131: the client broadcasts (a unicast renewal is refused
		 * and falls back to the broadcast rebind). */
		if (pkt->dst.family == AF_INET && pkt->sport == 68 && pkt->dport == 67 &&
		    memcmp(pkt->dst.b, "\xff\xff\xff\xff", 4) == 0)
			return true;
		/* RFC 8415: All_DHCP_Relay_Agents_and_Servers, or link-local. */
		if (pkt->dst.family == AF_INET6 && pkt->sport == 546 && pkt->dport == 547 &&
		    (memcmp(pkt->dst.b, all_dhcp6, 16) == 0 || verdict_v6_link_local(&pkt->dst)))
			return true;
	}
	return verdict_is_ndp(pkt) || verdict_is_membership(pkt);
}

static bool is_dns_server(const struct verdict_policy *p, const struct packet_info *pkt,
			  bool forwarded)
{
	/* The infra entries are the gateway's own way to its servers; a LAN
	 * client gets them only when the administrator says so. */
	if (pkt->proto != IPPROTO_TCP || (forwarded && !p->lan_may_reach_servers))
		return false;
	for (unsigned i = 0; i < p->ninfra; i++)
		if (p->infra[i].port == pkt->dport && addr_equal(&p->infra[i].addr, &pkt->dst))
			return true;
	return false;
}

bool verdict_is_icmp_error(const struct packet_info *pkt)
{
	/* RFC 792: unreachable 3, source quench 4, redirect 5, time exceeded
	 * 11, parameter problem 12; RFC 4443 §2.1: types 1-4. */
	if (pkt->proto == IPPROTO_ICMP)
		return pkt->icmp_type == 3 || pkt->icmp_type == 4 || pkt->icmp_type == 5 ||
		       pkt->icmp_type == 11 || pkt->icmp_type == 12;
	if (pkt->proto == IPPROTO_ICMPV6)
		return pkt->icmp_type >= 1 && pkt->icmp_type <= 4;
	return false;
}

void verdict_link_fill(struct verdict_link *l, uint32_t indev, const uint8_t *hw, size_t hwlen,
		       const uint8_t *payload, size_t len, const struct packet_info *pkt)
{
	size_t off;

	memset(l, 0, sizeof(*l));
	l->indev = indev;
	if (hw && hwlen > 0 && hwlen <= sizeof(l->hw)) {
		memcpy(l->hw, hw, hwlen);
		l->hwlen = (uint8_t)hwlen;
	}
	if (!pkt || !payload || !verdict_is_icmp_error(pkt))
		return;
	/* The quoted header follows the 8-byte ICMP header (RFC 792, RFC 4443
	 * §3): its addresses are all we need and all we read. */
	off = (size_t)pkt->l4_offset + 8;
	if (pkt->dst.family == AF_INET) {
		if (len < off + 20 || (payload[off] >> 4) != 4)
			return;
		addr_from_v4(&l->inner_src, payload + off + 12);
		addr_from_v4(&l->inner_dst, payload + off + 16);
	} else {
		if (len < off + 40 || (payload[off] >> 4) != 6)
			return;
		addr_from_v6(&l->inner_src, payload + off + 8);
		addr_from_v6(&l->inner_dst, payload + off + 24);
	}
	l->has_inner = true;
}

static const struct verdict_lan *lan_of(const struct verdict_policy *p, uint32_t ifindex)
{
	for (unsigned i = 0; i < p->nlan; i++)
		if (p->lan[i].ifindex && p->lan[i].ifindex == ifindex)
			return &p->lan[i];
	return NULL;
}

static bool source_belongs(const struct verdict_lan *lan, const struct addr *src)
{
	if (lan->any_source)
		return true;
	for (unsigned i = 0; i < lan->nsubnets; i++)
		if (addr_prefix_contains(&lan->subnets[i], src))
			return true;
	return false;
}

/* The packet's link as allowset_link() packs it; 0 when it has none that
 * a lookup could have been bound to. */
static uint64_t packet_link(const struct verdict_link *l)
{
	return l->hwlen == 6 ? allowset_link(l->indev, l->hw) : 0;
}

/* An ICMP error from a LAN client (the ruleset queues RELATED ones): only
 * about the sender's own flow. */
static void decide_icmp_error(const struct verdict_policy *p, const struct packet_info *pkt,
			      const struct verdict_link *l, uint64_t now_ms,
			      struct verdict_result *r)
{
	uint64_t exp, bound = 0;
	enum allowset_source src;
	enum allowset_result ar;

	if (!l->has_inner || !addr_equal(&l->inner_dst, &pkt->src) ||
	    l->inner_src.family != pkt->src.family) {
		r->reason = VERDICT_FOREIGN_RELATED;
		return;
	}
	/* A peer everyone may reach gives a forger nothing it lacks. */
	if ((p->exceptions && exceptions_match(p->exceptions, &l->inner_src)) ||
	    allowset_probe(p->allowset, NULL, &l->inner_src, now_ms, &exp, &src, NULL, false) ==
		ALLOWSET_HIT) {
		r->reason = VERDICT_RELATED;
		return;
	}
	if (!p->scoped) {
		r->reason = VERDICT_FOREIGN_RELATED;
		return;
	}
	/* Expired is fine: the flow outlives its allowance (invariant 5). */
	ar = allowset_probe(p->allowset, &pkt->src, &l->inner_src, now_ms, &exp, &src, &bound,
			    false);
	if (ar == ALLOWSET_MISS)
		r->reason = VERDICT_FOREIGN_RELATED;
	else if (!bound || bound != packet_link(l))
		r->reason = VERDICT_WRONG_LINK;
	else
		r->reason = VERDICT_RELATED;
}

static void decide(const struct verdict_policy *p, const struct packet_info *pkt,
		   const struct addr *client, const struct verdict_link *l, uint64_t now_ms,
		   struct verdict_result *r)
{
	const struct addr *scope = p->scoped ? (client ? client : &pkt->src) : NULL;
	const bool forwarded = p->gateway && !client;
	const struct addr *used;
	const struct prefix *ex;
	enum allowset_result ar;
	uint64_t bound = 0;

	if (forwarded && l) {
		const struct verdict_lan *lan = lan_of(p, l->indev);

		if (!lan || !source_belongs(lan, &pkt->src)) {
			r->reason = VERDICT_SPOOFED_SOURCE;
			return;
		}
		if (verdict_is_icmp_error(pkt)) {
			decide_icmp_error(p, pkt, l, now_ms, r);
			return;
		}
	}
	if (is_network_infra(p, pkt) || is_dns_server(p, pkt, forwarded)) {
		r->reason = VERDICT_INFRA;
		return;
	}
	ex = p->exceptions ? exceptions_match(p->exceptions, &pkt->dst) : NULL;
	if (ex) {
		exception_hit(p, ex, r);
		return;
	}
	/* The hot path copies only expiry, source and link; the names are
	 * fetched (a second, read-only lookup) only when someone reads them. */
	ar = allowset_probe(p->allowset, scope, &pkt->dst, now_ms, &r->view.expires_ms,
			    &r->view.source, &bound, !p->read_only);
	used = scope;
	if (ar == ALLOWSET_HIT && scope && forwarded && l && (!bound || bound != packet_link(l))) {
		/* The source's allowance, but not from the link its lookup
		 * came from: someone else writing that source address. */
		r->reason = VERDICT_WRONG_LINK;
		return;
	}
	if (ar != ALLOWSET_HIT && scope) {
		/* Operator allows are global, even when lookups are per client. */
		uint64_t exp;
		enum allowset_source src;

		if (allowset_probe(p->allowset, NULL, &pkt->dst, now_ms, &exp, &src, NULL,
				   !p->read_only) == ALLOWSET_HIT) {
			r->view.expires_ms = exp;
			r->view.source = src;
			ar = ALLOWSET_HIT;
			used = NULL;
		}
	}
	if (ar != ALLOWSET_MISS && p->want_details)
		allowset_lookup(p->allowset, used, &pkt->dst, now_ms, &r->view, false);
	if (ar == ALLOWSET_HIT) {
		r->reason = r->view.source == ALLOWSET_MANUAL ? VERDICT_MANUAL : VERDICT_LEARNED;
		return;
	}
	if (ar == ALLOWSET_EXPIRED) {
		r->reason = VERDICT_EXPIRED;
		r->expired_ago_ms = now_ms - r->view.expires_ms;
		return;
	}
	if (allowset_refusal_get(p->allowset, scope, &pkt->dst, &r->refusal)) {
		r->reason = r->refusal.reason == ALLOWSET_REFUSED_NEVER_LEARN ? VERDICT_NEVER_LEARN
									      : VERDICT_OVER_CAP;
		return;
	}
	if (scope && allowset_scoped_elsewhere(p->allowset, &pkt->dst)) {
		r->reason = VERDICT_OTHER_CLIENT;
		return;
	}
	r->reason = VERDICT_NEVER_RESOLVED;
}

static bool service_matches(const struct conf_service *s, const struct packet_info *pkt)
{
	bool from = s->nfrom == 0;

	if (s->proto != pkt->proto || s->port != pkt->dport)
		return false;
	if (s->to.len && !addr_prefix_contains(&s->to, &pkt->dst))
		return false;
	for (unsigned i = 0; !from && i < s->nfrom; i++)
		from = addr_prefix_contains(&s->from[i], &pkt->src);
	return from;
}

static void decide_inbound(const struct verdict_policy *p, const struct packet_info *pkt,
			   uint64_t now_ms, struct verdict_result *r)
{
	/* In a scoped gateway the LAN client's own allowances count. */
	const struct addr *scope = p->scoped ? &pkt->dst : NULL;
	const struct prefix *ex;
	enum allowset_result ar;

	/* Before anything that accepts: a crossing SYN is a simultaneous open
	 * toward an address nothing proved, whatever the services say. */
	if (p->crossing && pkt->proto == IPPROTO_TCP &&
	    crossing_match(p->crossing, &pkt->dst, pkt->dport, &pkt->src, pkt->sport, now_ms)) {
		r->reason = VERDICT_CROSSING;
		return;
	}
	ex = p->exceptions ? exceptions_match(p->exceptions, &pkt->src) : NULL;
	if (ex) {
		exception_hit(p, ex, r);
		return;
	}
	/* No link check: the LAN client is the destination here, and the
	 * peer on the WAN side cannot choose the client's link. */
	ar = allowset_probe(p->allowset, scope, &pkt->src, now_ms, &r->view.expires_ms,
			    &r->view.source, NULL, true);
	if (ar != ALLOWSET_HIT && scope &&
	    allowset_probe(p->allowset, NULL, &pkt->src, now_ms, &r->view.expires_ms,
			   &r->view.source, NULL, true) == ALLOWSET_HIT) {
		ar = ALLOWSET_HIT;
		scope = NULL;
	}
	if (ar == ALLOWSET_HIT) {
		if (p->want_details)
			allowset_lookup(p->allowset, scope, &pkt->src, now_ms, &r->view, false);
		r->reason = r->view.source == ALLOWSET_MANUAL ? VERDICT_MANUAL : VERDICT_LEARNED;
		return;
	}
	for (unsigned i = 0; i < p->nservices; i++) {
		if (service_matches(&p->services[i], pkt)) {
			r->reason = VERDICT_INBOUND_SERVICE;
			return;
		}
	}
	r->reason = VERDICT_INBOUND_UNLISTED;
}

static void finish(const struct verdict_policy *p, struct verdict_result *r)
{
	r->accept = verdict_reason_accepts(r->reason);
	if (!r->accept && !p->enforce) {
		r->accept = true;
		r->would_deny = true;
	}
}

static void reset(struct verdict_result *r)
{
	/* Break-glass opens outbound flows only (README, break-glass): a
	 * flow a peer starts never depends on a lookup that could fail. */
	r->break_glass = false;
	r->would_deny = false;
	r->expired_ago_ms = 0;
	r->view.nnames = 0;
	r->view.names[0] = '\0';
	r->view.server[0] = '\0';
}

void verdict_decide_inbound(const struct verdict_policy *p, const struct packet_info *pkt,
			    uint64_t now_ms, struct verdict_result *r)
{
	reset(r);
	if (!pkt)
		r->reason = VERDICT_UNPARSABLE;
	else
		decide_inbound(p, pkt, now_ms, r);
	finish(p, r);
}

void verdict_decide_synack(const struct verdict_policy *p, const struct packet_info *pkt,
			   bool owned, struct verdict_result *r)
{
	reset(r);
	if (!pkt || pkt->proto != IPPROTO_TCP || (pkt->tcp_flags & 0x12) != 0x12)
		r->reason = VERDICT_UNPARSABLE; /* the ruleset queues only SYN-ACKs */
	else
		r->reason = owned ? VERDICT_SIMULTANEOUS_OPEN : VERDICT_LISTENER;
	finish(p, r);
}

void verdict_decide(const struct verdict_policy *p, const struct packet_info *pkt,
		    const struct addr *client, uint64_t now_ms, struct verdict_result *r)
{
	verdict_decide_link(p, pkt, client, NULL, now_ms, r);
}

void verdict_decide_link(const struct verdict_policy *p, const struct packet_info *pkt,
			 const struct addr *client, const struct verdict_link *link,
			 uint64_t now_ms, struct verdict_result *r)
{
	reset(r);
	if (!pkt)
		r->reason = VERDICT_UNPARSABLE;
	else
		decide(p, pkt, client, link, now_ms, r);
	if (!verdict_reason_accepts(r->reason) && now_ms < p->open_until_ms) {
		/* The operator opened the network for a while: logged as such,
		 * with the reason this flow would have been denied for. */
		r->accept = true;
		r->break_glass = true;
		return;
	}
	finish(p, r);
}
