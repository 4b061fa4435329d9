#include "core/verdict.h"

#include <netinet/in.h>
#include <string.h>

#include "policy/exceptions.h"

static const char *const reason_names[VERDICT_REASON_COUNT] = {
    [VERDICT_LEARNED] = "learned",
    [VERDICT_EXCEPTION] = "exception",
    [VERDICT_INFRA] = "infra",
    [VERDICT_MANUAL] = "manual",
    [VERDICT_NEVER_RESOLVED] = "never-resolved",
    [VERDICT_EXPIRED] = "expired",
    [VERDICT_OTHER_CLIENT] = "other-client",
    [VERDICT_OVER_CAP] = "over-cap",
    [VERDICT_UNPARSABLE] = "unparsable",
};

const char *verdict_reason_name(enum verdict_reason r)
{
	return (unsigned)r < VERDICT_REASON_COUNT ? reason_names[r] : "unknown";
}

bool verdict_reason_accepts(enum verdict_reason r)
{
	return r <= VERDICT_MANUAL;
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

static bool is_dns_server(const struct verdict_policy *p, const struct packet_info *pkt)
{
	if (pkt->proto != IPPROTO_TCP)
		return false;
	for (unsigned i = 0; i < p->ninfra; i++)
		if (p->infra[i].port == pkt->dport && addr_equal(&p->infra[i].addr, &pkt->dst))
			return true;
	return false;
}

static void decide(const struct verdict_policy *p, const struct packet_info *pkt,
		   const struct addr *client, uint64_t now_ms, struct verdict_result *r)
{
	const struct addr *scope = p->scoped ? (client ? client : &pkt->src) : NULL;
	const struct addr *used;
	const struct prefix *ex;
	enum allowset_result ar;

	if (is_network_infra(p, pkt) || is_dns_server(p, pkt)) {
		r->reason = VERDICT_INFRA;
		return;
	}
	ex = p->exceptions ? exceptions_match(p->exceptions, &pkt->dst) : NULL;
	if (ex) {
		r->subnet = *ex;
		r->reason = VERDICT_EXCEPTION;
		return;
	}
	/* The hot path copies only expiry and source; the names are fetched
	 * (a second, read-only lookup) only when someone will read them. */
	ar = allowset_probe(p->allowset, scope, &pkt->dst, now_ms, &r->view.expires_ms,
			    &r->view.source, true);
	used = scope;
	if (ar != ALLOWSET_HIT && scope) {
		/* Operator allows are global, even when lookups are per client. */
		uint64_t exp;
		enum allowset_source src;

		if (allowset_probe(p->allowset, NULL, &pkt->dst, now_ms, &exp, &src, true) ==
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
	if (allowset_was_refused(p->allowset, scope, &pkt->dst)) {
		r->reason = VERDICT_OVER_CAP;
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
	r->would_deny = false;
	r->expired_ago_ms = 0;
	r->view.nnames = 0;
	r->view.names[0] = '\0';
	r->view.server[0] = '\0';
	if (!pkt)
		r->reason = VERDICT_UNPARSABLE;
	else
		decide(p, pkt, client, now_ms, r);
	r->accept = verdict_reason_accepts(r->reason);
	if (!r->accept && !p->enforce) {
		r->accept = true;
		r->would_deny = true;
	}
}
