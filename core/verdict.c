#include "core/verdict.h"

#include <netinet/in.h>
#include <string.h>

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
};

const char *verdict_reason_name(enum verdict_reason r)
{
	return (unsigned)r < VERDICT_REASON_COUNT ? reason_names[r] : "unknown";
}

bool verdict_reason_accepts(enum verdict_reason r)
{
	return r <= VERDICT_RELATED;
}

/* DHCP, DHCPv6 and NDP: what a host needs to find the network at all. The
 * ruleset accepts them in the kernel with the same limits; this is the rule
 * for packets that reach us anyway and for "explain". The limits matter: a
 * process that can bind port 68 or 546 must not reach any address with it. */
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
		    (memcmp(pkt->dst.b, all_dhcp6, 16) == 0 ||
		     (pkt->dst.b[0] == 0xfe && (pkt->dst.b[1] & 0xc0) == 0x80)))
			return true;
	}
	/* RFC 4861 §4: RS 133, RA 134, NS 135, NA 136, Redirect 137, sent with
	 * hop limit 255 (§7.1.1: receivers drop anything else). */
	if (pkt->proto == IPPROTO_ICMPV6 && pkt->icmp_type >= 133 && pkt->icmp_type <= 137 &&
	    pkt->hop_limit == 255)
		return true;
	return false;
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
		r->subnet = *ex;
		r->reason = VERDICT_EXCEPTION;
		return;
	}
	/* The hot path copies only expiry, source and link; the names are
	 * fetched (a second, read-only lookup) only when someone reads them. */
	ar = allowset_probe(p->allowset, scope, &pkt->dst, now_ms, &r->view.expires_ms,
			    &r->view.source, &bound, true);
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

		if (allowset_probe(p->allowset, NULL, &pkt->dst, now_ms, &exp, &src, NULL, true) ==
		    ALLOWSET_HIT) {
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

void verdict_decide(const struct verdict_policy *p, const struct packet_info *pkt,
		    const struct addr *client, uint64_t now_ms, struct verdict_result *r)
{
	verdict_decide_link(p, pkt, client, NULL, now_ms, r);
}

void verdict_decide_link(const struct verdict_policy *p, const struct packet_info *pkt,
			 const struct addr *client, const struct verdict_link *link,
			 uint64_t now_ms, struct verdict_result *r)
{
	r->would_deny = false;
	r->break_glass = false;
	r->expired_ago_ms = 0;
	r->view.nnames = 0;
	r->view.names[0] = '\0';
	r->view.server[0] = '\0';
	if (!pkt)
		r->reason = VERDICT_UNPARSABLE;
	else
		decide(p, pkt, client, link, now_ms, r);
	r->accept = verdict_reason_accepts(r->reason);
	if (!r->accept && now_ms < p->open_until_ms) {
		/* The operator opened the network for a while: logged as such,
		 * with the reason this flow would have been denied for. */
		r->accept = true;
		r->break_glass = true;
	} else if (!r->accept && !p->enforce) {
		r->accept = true;
		r->would_deny = true;
	}
}
