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
    [VERDICT_NEVER_RESOLVED] = "never-resolved",
    [VERDICT_EXPIRED] = "expired",
    [VERDICT_OTHER_CLIENT] = "other-client",
    [VERDICT_OVER_CAP] = "over-cap",
    [VERDICT_UNPARSABLE] = "unparsable",
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
	return r <= VERDICT_MANUAL || r == VERDICT_INBOUND_SERVICE || r == VERDICT_LISTENER;
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
		r->subnet = *ex;
		r->reason = VERDICT_EXCEPTION;
		return;
	}
	ar = allowset_probe(p->allowset, scope, &pkt->src, now_ms, &r->view.expires_ms,
			    &r->view.source, true);
	if (ar != ALLOWSET_HIT && scope &&
	    allowset_probe(p->allowset, NULL, &pkt->src, now_ms, &r->view.expires_ms,
			   &r->view.source, true) == ALLOWSET_HIT) {
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
	r->would_deny = false;
	r->break_glass = false;
	r->expired_ago_ms = 0;
	r->view.nnames = 0;
	r->view.names[0] = '\0';
	r->view.server[0] = '\0';
	if (!pkt)
		r->reason = VERDICT_UNPARSABLE;
	else
		decide(p, pkt, client, now_ms, r);
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
