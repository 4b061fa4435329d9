/*
 * The verdict: a pure function from the facts of one packet, the allowset,
 * the exceptions and the mode to (accept or deny, reason). No I/O, no
 * allocation: it runs for the first packet of every new flow.
 */
#ifndef ZTDNS_VERDICT_H
#define ZTDNS_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/allowset.h"
#include "core/packet.h"

struct exceptions;
struct conf_service;
struct crossing;

enum verdict_reason {
	/* accepts */
	VERDICT_LEARNED = 0,
	VERDICT_EXCEPTION,
	VERDICT_INFRA,
	VERDICT_MANUAL,
	/* denials */
	VERDICT_NEVER_RESOLVED,
	VERDICT_EXPIRED,
	VERDICT_OTHER_CLIENT,
	VERDICT_OVER_CAP,
	VERDICT_UNPARSABLE,
	/* flows the far side started (after the others: the numbers above
	 * are unchanged) */
	VERDICT_INBOUND_SERVICE,   /* accept: inbound.services / gateway.port_forwards */
	VERDICT_LISTENER,	   /* accept: a listener's SYN-ACK (no socket owner) */
	VERDICT_INBOUND_UNLISTED,  /* deny: nothing proved the peer, no service lists it */
	VERDICT_SIMULTANEOUS_OPEN, /* deny: a SYN-ACK from a connecting socket */
	VERDICT_CROSSING,	   /* deny (gateway): crosses a SYN we denied */
	VERDICT_REASON_COUNT
};

#define VERDICT_MAX_INFRA 64

/* A Protective DNS server endpoint, always allowed (TCP). */
struct verdict_infra {
	struct addr addr;
	uint16_t port;
};

/* What the verdict reads. The pointed-to tables must outlive the calls. */
struct verdict_policy {
	bool enforce;	   /* false: audit, a deny is turned into an accept */
	bool scoped;	   /* gateway with per-client allowances */
	bool dhcp;	   /* DHCP/DHCPv6 are infrastructure (not in sidecar mode) */
	bool want_details; /* fill names/server of the allowance (logs, explain) */
	struct allowset *allowset;
	const struct exceptions *exceptions;
	struct verdict_infra infra[VERDICT_MAX_INFRA];
	unsigned ninfra;
	/* Flows the far side starts: host/sidecar services (to this machine)
	 * or gateway port forwards (to LAN clients); borrowed, like the tables
	 * above. crossing (gateway): recently denied outbound SYNs, or NULL. */
	const struct conf_service *services;
	unsigned nservices;
	const struct crossing *crossing;

	/* Break-glass (core/breakglass.h): before this time (allowset_now_ms),
	 * a deny is turned into an accept. 0: closed. */
	uint64_t open_until_ms;
};

struct verdict_result {
	bool accept;	 /* what to tell the kernel */
	bool would_deny; /* audit mode turned a deny into this accept */
	enum verdict_reason reason;
	struct prefix subnet;	   /* VERDICT_EXCEPTION */
	struct allowset_view view; /* LEARNED, MANUAL, EXPIRED, OTHER_CLIENT */
	uint64_t expired_ago_ms;   /* VERDICT_EXPIRED */

	/* An open break-glass turned a deny into this accept (reason is what
	 * the flow would have been denied for). */
	bool break_glass;
};

/* Decide for a parsed packet (pkt NULL: the packet could not be parsed).
 * With p->scoped (gateway, per-client allowances), client is the scope to
 * look allowances up in: NULL means the packet's source (a forwarded flow),
 * allowset_scope_self() the gateway's own flows. Operator allows (the unset
 * scope) count for every client. now_ms is allowset_now_ms(). Thread-safe
 * for registered allowset readers. */
void verdict_decide(const struct verdict_policy *p, const struct packet_info *pkt,
		    const struct addr *client, uint64_t now_ms, struct verdict_result *r);

/* Decide for the first packet of a flow the far side started: a peer's
 * packet to this machine (INPUT) or, in a gateway, from the WAN side to a
 * LAN client. The peer (pkt->src) is judged: an exception, an allowance
 * (the unset scope, or in a scoped gateway the LAN client pkt->dst's) or a
 * listed service (p->services, matched on proto, dport, pkt->dst for port
 * forwards and the from subnets) accepts; a TCP SYN that crosses one the
 * gateway denied (p->crossing) is refused first, whatever the services say.
 * Same contract as verdict_decide(). */
void verdict_decide_inbound(const struct verdict_policy *p, const struct packet_info *pkt,
			    uint64_t now_ms, struct verdict_result *r);

/* Decide for a TCP SYN-ACK this machine sends on a flow the peer started
 * (the ruleset queues them, conntrack reply direction). owned: NFQUEUE gave
 * the sending socket's uid, which the kernel does only for a full socket: a
 * socket that connect()ed and got the peer's SYN (simultaneous open), or a
 * TCP Fast Open listener; a listener's SYN-ACK comes from a request socket
 * (or none, with syncookies) and carries no owner. */
void verdict_decide_synack(const struct verdict_policy *p, const struct packet_info *pkt,
			   bool owned, struct verdict_result *r);

/* "learned", "exception", ..., "unparsable". */
const char *verdict_reason_name(enum verdict_reason r);

/* Is this reason an accept? */
bool verdict_reason_accepts(enum verdict_reason r);

#endif
