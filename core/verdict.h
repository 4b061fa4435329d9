/* SPDX-License-Identifier: GPL-2.0-or-later */
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
	VERDICT_RELATED, /* gateway: an ICMP error about the sender's own flow */
	/* denials */
	VERDICT_NEVER_RESOLVED,
	VERDICT_EXPIRED,
	VERDICT_OTHER_CLIENT,
	VERDICT_OVER_CAP,
	VERDICT_UNPARSABLE,
	VERDICT_NEVER_LEARN,	 /* an answer carried it, but its class never opens a flow */
	VERDICT_SPOOFED_SOURCE,	 /* gateway: source not in the arrival interface's subnets */
	VERDICT_WRONG_LINK,	 /* gateway: the allowance is bound to another link address */
	VERDICT_FOREIGN_RELATED, /* gateway: an ICMP error about someone else's flow */
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

#define VERDICT_MAX_LAN		8
#define VERDICT_MAX_LAN_SUBNETS 16

/* Gateway: one LAN interface and the client subnets its packets may come
 * from. The subnets of different interfaces never overlap (conf.c). */
struct verdict_lan {
	uint32_t ifindex; /* 0: the interface did not exist when this was built */
	bool any_source;  /* the old "lan_interfaces" form: no subnets configured */
	struct prefix subnets[VERDICT_MAX_LAN_SUBNETS];
	unsigned nsubnets;
};

/* The link-layer facts of a queued packet, which the sender cannot choose
 * freely on its link (DESIGN.md invariant 10). */
struct verdict_link {
	uint32_t indev;			  /* arrival interface; 0: the machine's own packet */
	uint8_t hwlen;			  /* bytes in hw (6 on Ethernet); 0: no NFQA_HWADDR */
	uint8_t hw[8];			  /* the frame's source address */
	bool has_inner;			  /* an ICMP error whose quoted header could be read */
	struct addr inner_src, inner_dst; /* the quoted packet's addresses */
};

/* What the verdict reads. The pointed-to tables must outlive the calls. */
struct verdict_policy {
	bool enforce;		    /* false: audit, a deny is turned into an accept */
	bool scoped;		    /* gateway with per-client allowances */
	bool dhcp;		    /* DHCP/DHCPv6 are infrastructure (not in sidecar mode) */
	bool want_details;	    /* fill names/server of the allowance (logs, explain) */
	bool read_only;		    /* explain: leave the allowance's hit counter alone */
	bool gateway;		    /* mode gateway: flows with client NULL are forwarded */
	bool lan_may_reach_servers; /* forwarded flows may use the infra entries */
	struct verdict_lan lan[VERDICT_MAX_LAN];
	unsigned nlan;
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

/* Bytes of an exception's group name kept in a result (a longer name, a
 * file's path, is cut). */
#define VERDICT_GROUP_LEN 64

struct verdict_result {
	bool accept;	 /* what to tell the kernel */
	bool would_deny; /* audit mode turned a deny into this accept */
	enum verdict_reason reason;
	struct prefix subnet;		 /* VERDICT_EXCEPTION */
	char group[VERDICT_GROUP_LEN];	 /* VERDICT_EXCEPTION: its group, or "" */
	struct allowset_view view;	 /* LEARNED, MANUAL, EXPIRED, OTHER_CLIENT */
	uint64_t expired_ago_ms;	 /* VERDICT_EXPIRED */
	struct allowset_refusal refusal; /* OVER_CAP, NEVER_LEARN: what the stub removed */

	/* An open break-glass turned a deny into this accept (reason is what
	 * the flow would have been denied for). */
	bool break_glass;

	/* Set by the caller that sends the verdict: a deny answered with a
	 * reset / ICMP error (ruleset.deny_action reject), so the logs say
	 * "reject" rather than "drop". */
	bool reject;
};

/* Decide for a parsed packet (pkt NULL: the packet could not be parsed).
 * With p->scoped (gateway, per-client allowances), client is the scope to
 * look allowances up in: NULL means the packet's source (a forwarded flow),
 * allowset_scope_self() the gateway's own flows. Operator allows (the unset
 * scope) count for every client. now_ms is allowset_now_ms(). Thread-safe
 * for registered allowset readers. */
void verdict_decide(const struct verdict_policy *p, const struct packet_info *pkt,
		    const struct addr *client, uint64_t now_ms, struct verdict_result *r);

/* Gateway: decide a forwarded packet (client NULL) with its link facts.
 * The source must be in the subnets of the LAN interface it arrived on
 * (else spoofed-source); an allowance learned for the source counts only
 * when the frame's source address is the one the client's lookup was bound
 * to (else wrong-link); an ICMP error (queued only as RELATED) passes only
 * when it is about the sender's own flow: the quoted packet was sent to the
 * outer source, and the sender's binding for the quoted sender matches, or
 * that peer is allowed for everyone (else foreign-related). link NULL:
 * verdict_decide() (explain, no link facts). Same contract otherwise. */
void verdict_decide_link(const struct verdict_policy *p, const struct packet_info *pkt,
			 const struct addr *client, const struct verdict_link *link,
			 uint64_t now_ms, struct verdict_result *r);

/* Fill *l for a queued packet: indev, the NFQA_HWADDR bytes (hw, hwlen; hw
 * may be NULL) and, for an ICMP/ICMPv6 error, the quoted packet's addresses
 * read from payload (len bytes, pkt its parse). Every length is checked. */
void verdict_link_fill(struct verdict_link *l, uint32_t indev, const uint8_t *hw, size_t hwlen,
		       const uint8_t *payload, size_t len, const struct packet_info *pkt);

/* Is this an ICMP or ICMPv6 error message (it quotes another packet)? */
bool verdict_is_icmp_error(const struct packet_info *pkt);

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
