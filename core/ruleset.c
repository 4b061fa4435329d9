/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/ruleset.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "core/fastpath.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/nfqueue.h"
#include "core/onlink.h"
#include "core/util.h"
#include "dns/plain.h"
#include "policy/conf.h"

#define LISTING_MAX (4 * 1024 * 1024)

struct tool {
	const char *restore; /* iptables-restore */
	const char *list;    /* iptables */
};

static const struct tool tools_v4[] = {
    {"iptables-restore", "iptables"},
    {"iptables-nft-restore", "iptables-nft"},
    {"iptables-legacy-restore", "iptables-legacy"},
};
static const struct tool tools_v6[] = {
    {"ip6tables-restore", "ip6tables"},
    {"ip6tables-nft-restore", "ip6tables-nft"},
    {"ip6tables-legacy-restore", "ip6tables-legacy"},
};

static const struct tool *pick_tool(int family, char *restore, char *list, size_t len)
{
	const struct tool *t = family == AF_INET ? tools_v4 : tools_v6;

	for (size_t i = 0; i < 3; i++)
		if (spawn_find(t[i].restore, restore, len) && spawn_find(t[i].list, list, len))
			return &t[i];
	return NULL;
}

/* Is IPv6 available in this network namespace? */
static int ruleset_have_ipv6(void)
{
	return access("/proc/net/if_inet6", F_OK) == 0;
}

/* ---- NDP toward on-link neighbours -------------------------------------
 *
 * NUD probes go to a neighbour's own address and an NA answers the
 * solicitor's, which can be global: legitimate only when that address is
 * on-link. The kernel's routing table knows which prefixes are (routes
 * without a gateway, core/onlink.h), read each time the rules are rendered
 * (start and reload) and rendered as "-o IFACE -d PREFIX" accepts.
 * Rendered rather than queued: conntrack leaves NDP untracked, neighbour
 * discovery keeps working while the daemon is busy, and the verdict stays
 * a pure function. A prefix added later is covered from the next reload. */

/* RFC 4861 §4.1, §4.3, §4.4, with the 40-byte IPv6 header ("-m length"
 * counts the whole packet): an RS, NS or NA and the options it may carry
 * (the same bounds as is_network_infra() in core/verdict.c). */
#define RULESET_NDP_RS_LEN "48:72"
#define RULESET_NDP_NS_LEN "64:96"

static void ruleset_queue_target(const struct conf *c, FILE *out)
{
	if (c->queue_count > 1)
		fprintf(out, "NFQUEUE --queue-balance %u:%u\n", c->queue_num,
			c->queue_num + c->queue_count - 1);
	else
		fprintf(out, "NFQUEUE --queue-num %u\n", c->queue_num);
}

/* NDP and group membership, IPv6. Every genuine NDP message has hop limit
 * 255 (§7.1.1) and stays on the link: in-kernel accepts only toward
 * fe80::/10 and ff02::/16, plus NS/NA toward on-link prefixes on their own
 * interface (OUTPUT only: a forwarded packet's hop limit is already below
 * 255). MLD (130, 131, 132, 143; RFC 2710, RFC 3810) toward ff02::/16 with
 * hop limit 1 is queued, never accepted here, so that the daemon counts it
 * (infra); conntrack leaves MLD untracked, so the NEW rule would not. */
static void ruleset_ndp_rules(const struct conf *c, const char *chain, FILE *out)
{
	static const char *const scopes[] = {"fe80::/10", "ff02::/16"};
	static const int mld[] = {130, 131, 132, 143};
	struct onlink_list *l;
	char a[ADDR_STRLEN];
	int rc;

	for (size_t i = 0; i < 2; i++) {
		const char *d = scopes[i];

		fprintf(out,
			"-A %s -d %s -p ipv6-icmp -m icmp6 --icmpv6-type 133/0 -m hl --hl-eq 255 "
			"-m length --length " RULESET_NDP_RS_LEN " -j ACCEPT\n",
			chain, d);
		for (int t = 135; t <= 136; t++)
			fprintf(out,
				"-A %s -d %s -p ipv6-icmp -m icmp6 --icmpv6-type %d/0 -m hl "
				"--hl-eq 255 -m length --length " RULESET_NDP_NS_LEN " -j ACCEPT\n",
				chain, d, t);
		fprintf(out,
			"-A %s -d %s -p ipv6-icmp -m icmp6 --icmpv6-type 134/0 -m hl --hl-eq 255 "
			"-j ACCEPT\n",
			chain, d);
		fprintf(out,
			"-A %s -d %s -p ipv6-icmp -m icmp6 --icmpv6-type 137/0 -m hl --hl-eq 255 "
			"-j ACCEPT\n",
			chain, d);
	}
	for (size_t i = 0; i < sizeof(mld) / sizeof(mld[0]); i++) {
		fprintf(out,
			"-A %s -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type %d -m hl --hl-eq 1 "
			"-j ",
			chain, mld[i]);
		ruleset_queue_target(c, out);
	}
	if (strcmp(chain, RULESET_CHAIN_OUT) != 0)
		return;
	l = malloc(sizeof(*l));
	if (!l) {
		log_warnx("IPv6 on-link prefixes: out of memory; NDP only to link-local "
			  "and link multicast");
		return;
	}
	rc = onlink_read(l);
	if (rc < 0)
		log_warnx("IPv6 on-link prefixes: route dump failed (%s); NDP to %u of them",
			  strerror(-rc), l->n);
	if (l->over_cap)
		log_warnx("IPv6 on-link prefixes: %u over the bound of %d not rendered (NUD to "
			  "neighbours there will fail)",
			  l->over_cap, ONLINK_MAX);
	if (l->too_short)
		log_warnx("IPv6 on-link prefixes: %u shorter than /%d not rendered (NUD to "
			  "global neighbours there will fail)",
			  l->too_short, ONLINK_MIN_LEN);
	if (l->bad_name)
		log_warnx("IPv6 on-link prefixes: %u on interfaces with unusual names not "
			  "rendered",
			  l->bad_name);
	for (unsigned i = 0; i < l->n; i++)
		for (int t = 135; t <= 136; t++)
			fprintf(out,
				"-A %s -o %s -d %s/%u -p ipv6-icmp -m icmp6 --icmpv6-type %d/0 -m "
				"hl --hl-eq 255 -m length --length " RULESET_NDP_NS_LEN
				" -j ACCEPT\n",
				chain, l->v[i].ifname, addr_format(&l->v[i].p.addr, a, sizeof(a)),
				l->v[i].p.len, t);
	free(l);
}

/* Accept TCP to each address of servers[0 .. n) of family on its port. */
static void ruleset_server_rules(const struct conf_server *servers, unsigned n, int family,
				 const char *chain, FILE *out)
{
	char a[ADDR_STRLEN];

	for (unsigned i = 0; i < n; i++) {
		const struct conf_server *s = &servers[i];

		for (unsigned j = 0; j < s->naddrs; j++) {
			if (s->addrs[j].family != family)
				continue;
			addr_format(&s->addrs[j], a, sizeof(a));
			if (s->proto != CONF_PROTO_DNS) {
				fprintf(out, "-A %s -d %s/%u -p tcp -m tcp --dport %u -j ACCEPT\n",
					chain, a, addr_bits(&s->addrs[j]), s->port);
				continue;
			}
			/* Plain DNS (insecure_plain_dns): UDP and TCP, and only
			 * from the daemon's own sockets (SO_MARK needs
			 * CAP_NET_ADMIN), so no other process reaches the
			 * server through this rule. */
			for (int tcp = 0; tcp < 2; tcp++)
				fprintf(out,
					"-A %s -d %s/%u -p %s -m %s --dport %u -m mark --mark 0x%x "
					"-j ACCEPT\n",
					chain, a, addr_bits(&s->addrs[j]), tcp ? "tcp" : "udp",
					tcp ? "tcp" : "udp", s->port, PLAIN_SOCKET_MARK);
		}
	}
}

static void ldns_accept(const struct conf *c, int family, const char *chain, FILE *out);

static void chain_rules(const struct conf *c, int family, const char *chain, FILE *out)
{
	const bool fwd = strcmp(chain, RULESET_CHAIN_FWD) == 0;
	/* What the daemon is asked about. Forwarded RELATED packets too: an
	 * ICMP error a LAN client sends passes only when it is about its own
	 * flow (verdict foreign-related), which no kernel match checks. */
	const char *queued = fwd ? "NEW,RELATED" : "NEW";

	if (strcmp(chain, RULESET_CHAIN_OUT) == 0) {
		fprintf(out, "-A %s -o lo -j ACCEPT\n", chain);
		ldns_accept(c, family, chain, out);
	}
	fprintf(out, "-A %s -m conntrack --ctstate %s -j ACCEPT\n", chain,
		fwd ? "ESTABLISHED" : "ESTABLISHED,RELATED");
	/* Finding the network: DHCP and DHCPv6 only to where a client sends
	 * them (a process that binds port 68 or 546 must not reach any address
	 * that way), not in sidecar mode (the runtime configures the pod), not
	 * forwarded; NDP (RFC 4861 types 133-137) and MLD within the link
	 * (ruleset_ndp_rules()). */
	if (c->mode != CONF_MODE_SIDECAR && strcmp(chain, RULESET_CHAIN_OUT) == 0) {
		if (family == AF_INET) {
			fprintf(
			    out,
			    "-A %s -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j "
			    "ACCEPT\n",
			    chain);
		} else {
			fprintf(out,
				"-A %s -d ff02::1:2/128 -p udp -m udp --sport 546 --dport 547 -j "
				"ACCEPT\n",
				chain);
			fprintf(
			    out,
			    "-A %s -d fe80::/10 -p udp -m udp --sport 546 --dport 547 -j ACCEPT\n",
			    chain);
		}
	}
	if (family == AF_INET6)
		ruleset_ndp_rules(c, chain, out);
	/* The Protective DNS servers and the forward zones' servers, and
	 * nothing else on their port. */
	if (strcmp(chain, RULESET_CHAIN_OUT) == 0) {
		ruleset_server_rules(c->servers, c->nservers, family, chain, out);
		for (unsigned z = 0; z < c->nfzones; z++)
			ruleset_server_rules(c->fzones[z].servers, c->fzones[z].nservers, family,
					     chain, out);
	}
	fprintf(out, "-A %s -m conntrack --ctstate INVALID -j DROP\n", chain);
	/* Per-client allowances are bound to the client's MAC address, which
	 * a (source, destination) set cannot check: forwarded flows of a
	 * gateway with per-client allowances always go to the daemon. */
	if (c->fast_path && !(fwd && !c->shared_allowances)) {
		/* Known destinations in the kernel (core/fastpath.h); the rest
		 * still goes to the daemon. */
		const char *set = family == AF_INET ? FASTPATH_SET4 : FASTPATH_SET6;

		fprintf(out,
			"-A %s -m conntrack --ctstate NEW -m set --match-set %s dst -j ACCEPT\n",
			chain, set);
	}
	if (c->deny_action == CONF_DENY_REJECT) {
		/* Packets the daemon rejected come back marked (NF_REPEAT). */
		fprintf(out, "-A %s -m mark --mark 0x%x -p tcp -j REJECT --reject-with tcp-reset\n",
			chain, NFQUEUE_REJECT_MARK);
		fprintf(out, "-A %s -m mark --mark 0x%x -j REJECT --reject-with %s\n", chain,
			NFQUEUE_REJECT_MARK,
			family == AF_INET ? "icmp-admin-prohibited" : "icmp6-adm-prohibited");
	}
	/* Never --queue-bypass: with no reader bound, the kernel drops. */
	if (c->queue_count > 1)
		fprintf(out, "-A %s -m conntrack --ctstate %s -j NFQUEUE --queue-balance %u:%u\n",
			chain, queued, c->queue_num, c->queue_num + c->queue_count - 1);
	else
		fprintf(out, "-A %s -m conntrack --ctstate %s -j NFQUEUE --queue-num %u\n", chain,
			queued, c->queue_num);
	fprintf(out, "-A %s -j DROP\n", chain);
}

static bool wants_out(const struct conf *c)
{
	return c->mode != CONF_MODE_GATEWAY || c->gateway_enforce_output;
}

static bool wants_fwd(const struct conf *c)
{
	return c->mode == CONF_MODE_GATEWAY;
}

static bool wants_ldns(const struct conf *c)
{
	return c->mode != CONF_MODE_GATEWAY && c->intercept_dns;
}

static bool is_loopback(const struct addr *a)
{
	return (a->family == AF_INET && a->b[0] == 127) ||
	       (a->family == AF_INET6 && a->b[15] == 1 &&
		memcmp(a->b, (const uint8_t[15]){0}, 15) == 0);
}

static bool is_unspecified(const struct addr *a)
{
	return memcmp(a->b, (const uint8_t[16]){0}, a->family == AF_INET ? 4 : 16) == 0;
}

/* The stub's port for redirected LAN DNS: the first listener of the family
 * that is not loopback (REDIRECT sends to the LAN interface's address). */
static unsigned stub_port(const struct conf *c, int family)
{
	for (unsigned i = 0; i < c->nlisten; i++) {
		const struct addr *a = &c->listen[i].addr;

		if (a->family == family && !is_loopback(a))
			return c->listen[i].port;
	}
	return 53;
}

static void dns_rules(const struct conf *c, int family, FILE *out)
{
	unsigned port = stub_port(c, family);

	/* Plain DNS from the LAN to any address goes to the stub instead. */
	fprintf(out, "-A %s -p udp -m udp --dport 53 -j REDIRECT --to-ports %u\n",
		RULESET_CHAIN_DNS, port);
	fprintf(out, "-A %s -p tcp -m tcp --dport 53 -j REDIRECT --to-ports %u\n",
		RULESET_CHAIN_DNS, port);
	for (unsigned i = 0; i < c->nlan_ifaces; i++)
		fprintf(out, "-I PREROUTING 1 -i %s -j %s\n", c->lan_ifaces[i], RULESET_CHAIN_DNS);
}

/* The stub's listener that local DNS of family is redirected to: a loopback
 * one first, then a wildcard one (reached at the loopback address), then
 * any. Returns false when the stub has none of that family. */
static bool local_stub(const struct conf *c, int family, struct addr *a, unsigned *port)
{
	int best = -1, rank = 3;

	for (unsigned i = 0; i < c->nlisten; i++) {
		const struct addr *l = &c->listen[i].addr;
		int r;

		if (l->family != family)
			continue;
		r = is_loopback(l) ? 0 : is_unspecified(l) ? 1 : 2;
		if (r < rank) {
			rank = r;
			best = (int)i;
		}
	}
	if (best < 0)
		return false;
	*a = c->listen[best].addr;
	*port = c->listen[best].port;
	if (rank == 1) {
		memset(a->b, 0, sizeof(a->b));
		if (family == AF_INET) {
			a->b[0] = 127;
			a->b[3] = 1;
		} else {
			a->b[15] = 1;
		}
	}
	return true;
}

/* ZTDNS-LDNS (nat OUTPUT, host and sidecar): plain DNS that a local
 * process sends to port 53 of any address is answered by the stub, so a
 * resolver an application or DHCP/RDNSS configured is ignored instead of
 * failing, and nothing leaves in plain text. DNAT rather than REDIRECT:
 * the stub may listen on another loopback address or port. Nothing else
 * is redirected: DNS on another port is judged as any other flow. Without
 * a listener of the family the chain is empty, and the filter drops such
 * queries as before (never-resolved). */
static void ldns_rules(const struct conf *c, int family, FILE *out)
{
	struct addr a;
	unsigned port;
	char ab[ADDR_STRLEN];

	fprintf(out, "-I OUTPUT 1 -j %s\n", RULESET_CHAIN_LDNS);
	if (!local_stub(c, family, &a, &port))
		return;
	/* The daemon's own plain DNS to a forward zone's server (marked,
	 * dns/plain.h) goes where it was sent: only to that server and port. */
	for (unsigned z = 0; z < c->nfzones; z++)
		for (unsigned i = 0; i < c->fzones[z].nservers; i++) {
			const struct conf_server *s = &c->fzones[z].servers[i];

			for (unsigned j = 0; s->proto == CONF_PROTO_DNS && j < s->naddrs; j++) {
				if (s->addrs[j].family != family)
					continue;
				addr_format(&s->addrs[j], ab, sizeof(ab));
				for (int tcp = 0; tcp < 2; tcp++)
					fprintf(out,
						"-A %s -d %s/%u -p %s -m %s --dport %u -m mark "
						"--mark 0x%x -j RETURN\n",
						RULESET_CHAIN_LDNS, ab, addr_bits(&s->addrs[j]),
						tcp ? "tcp" : "udp", tcp ? "tcp" : "udp", s->port,
						PLAIN_SOCKET_MARK);
			}
		}
	addr_format(&a, ab, sizeof(ab));
	for (int tcp = 0; tcp < 2; tcp++)
		fprintf(out, "-A %s -p %s -m %s --dport 53 -j DNAT --to-destination %s%s%s:%u\n",
			RULESET_CHAIN_LDNS, tcp ? "tcp" : "udp", tcp ? "tcp" : "udp",
			family == AF_INET6 ? "[" : "", ab, family == AF_INET6 ? "]" : "", port);
}

/* In ZTDNS-OUT, the first packet of a query ZTDNS-LDNS sent to the stub:
 * the filter sees it after the DNAT, with the output interface chosen
 * before it ("-o lo" does not match), so it is accepted by what it is now
 * (the stub's address and port) and what it was (port 53). */
static void ldns_accept(const struct conf *c, int family, const char *chain, FILE *out)
{
	struct addr a;
	unsigned port;
	char ab[ADDR_STRLEN];

	if (!wants_ldns(c) || !local_stub(c, family, &a, &port))
		return;
	addr_format(&a, ab, sizeof(ab));
	for (int tcp = 0; tcp < 2; tcp++)
		fprintf(out,
			"-A %s -d %s/%u -p %s -m %s --dport %u -m conntrack --ctstate DNAT "
			"--ctorigdstport 53 -j ACCEPT\n",
			chain, ab, addr_bits(&a), tcp ? "tcp" : "udp", tcp ? "tcp" : "udp", port);
}

/* The FORWARD jumps of LAN interface j: only sources in its client subnets
 * reach ZTDNS-FWD, anything else from it is dropped in ZTDNS-SPOOF (the
 * kernel's counters on that chain count them). Inserted at the top in
 * reverse, so the subnet jumps end up above the drop. The old
 * lan_interfaces form (no subnets) jumps for every source. */
static void fwd_jumps(const struct conf *c, int family, unsigned j, FILE *out)
{
	char pb[PREFIX_STRLEN];

	if (!c->lan_nsubnets[j]) {
		fprintf(out, "-I FORWARD 1 -i %s -j %s\n", c->lan_ifaces[j], RULESET_CHAIN_FWD);
		return;
	}
	fprintf(out, "-I FORWARD 1 -i %s -j %s\n", c->lan_ifaces[j], RULESET_CHAIN_SPOOF);
	for (unsigned k = c->lan_nsubnets[j]; k-- > 0;) {
		const struct prefix *p = &c->lan_subnets[j][k];

		if (p->addr.family != family)
			continue;
		fprintf(out, "-I FORWARD 1 -i %s -s %s -j %s\n", c->lan_ifaces[j],
			addr_prefix_format(p, pb, sizeof(pb)), RULESET_CHAIN_FWD);
	}
}

/* ---- flows the far side starts (DESIGN.md invariant 9) ------------------ */

static bool wants_in(const struct conf *c)
{
	return c->mode != CONF_MODE_GATEWAY;
}

static void queue_rule(const struct conf *c, const char *chain, const char *match, FILE *out)
{
	/* Never --queue-bypass: with no reader bound, the kernel drops. */
	if (c->queue_count > 1)
		fprintf(out, "-A %s %s -j NFQUEUE --queue-balance %u:%u\n", chain, match,
			c->queue_num, c->queue_num + c->queue_count - 1);
	else
		fprintf(out, "-A %s %s -j NFQUEUE --queue-num %u\n", chain, match, c->queue_num);
}

/* First in ZTDNS-OUT (host, sidecar): the SYN-ACKs this machine answers a
 * peer's SYN with go to the daemon, which refuses the ones a connecting
 * socket sends (simultaneous open, core/verdict.h). A listener's SYN-ACK
 * is accepted there. Loopback is not judged anywhere. */
static void synack_rules(const struct conf *c, FILE *out)
{
	queue_rule(c, RULESET_CHAIN_OUT,
		   "! -o lo -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -m conntrack --ctstate "
		   "ESTABLISHED --ctdir REPLY",
		   out);
}

/* ZTDNS-IN (host, sidecar) and ZTDNS-WAN (gateway, FORWARD -o LAN): replies
 * pass in the kernel, what finding the network needs passes as strictly as
 * on the way out, every new flow goes to the daemon, the rest is dropped. */
static void inbound_rules(const struct conf *c, int family, const char *chain, FILE *out)
{
	char a[ADDR_STRLEN];
	bool in = strcmp(chain, RULESET_CHAIN_IN) == 0;

	if (in) {
		fprintf(out, "-A %s -i lo -j ACCEPT\n", chain);
	} else {
		/* LAN to LAN through the gateway is ZTDNS-FWD's. */
		for (unsigned i = 0; i < c->nlan_ifaces; i++)
			fprintf(out, "-A %s -i %s -j RETURN\n", chain, c->lan_ifaces[i]);
	}
	fprintf(out, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", chain);
	if (in && c->mode != CONF_MODE_SIDECAR) {
		/* DHCP answers (the request went to the broadcast or the
		 * all-servers address, so conntrack does not pair them). */
		if (family == AF_INET)
			fprintf(out, "-A %s -p udp -m udp --sport 67 --dport 68 -j ACCEPT\n",
				chain);
		else
			fprintf(out,
				"-A %s -s fe80::/10 -p udp -m udp --sport 547 --dport 546 -j "
				"ACCEPT\n",
				chain);
	}
	if (in && family == AF_INET6)
		for (int t = 133; t <= 137; t++)
			fprintf(out,
				"-A %s -p ipv6-icmp -m icmp6 --icmpv6-type %d -m hl --hl-eq 255 -j "
				"ACCEPT\n",
				chain, t);
	/* The stub where the configuration makes it listen off loopback. */
	for (unsigned i = 0; in && i < c->nlisten; i++) {
		const struct conf_endpoint *ep = &c->listen[i];

		if (ep->addr.family != family || is_loopback(&ep->addr))
			continue;
		fprintf(out, "-A %s -d %s/%u -p udp -m udp --dport %u -j ACCEPT\n", chain,
			addr_format(&ep->addr, a, sizeof(a)), addr_bits(&ep->addr), ep->port);
		fprintf(out, "-A %s -d %s/%u -p tcp -m tcp --dport %u -j ACCEPT\n", chain,
			addr_format(&ep->addr, a, sizeof(a)), addr_bits(&ep->addr), ep->port);
	}
	fprintf(out, "-A %s -m conntrack --ctstate INVALID -j DROP\n", chain);
	if (c->deny_action == CONF_DENY_REJECT) {
		fprintf(out, "-A %s -m mark --mark 0x%x -p tcp -j REJECT --reject-with tcp-reset\n",
			chain, NFQUEUE_REJECT_MARK);
		fprintf(out, "-A %s -m mark --mark 0x%x -j REJECT --reject-with %s\n", chain,
			NFQUEUE_REJECT_MARK,
			family == AF_INET ? "icmp-admin-prohibited" : "icmp6-adm-prohibited");
	}
	queue_rule(c, chain, "-m conntrack --ctstate NEW", out);
	fprintf(out, "-A %s -j DROP\n", chain);
}

static void inbound_jumps(const struct conf *c, const char *chain, FILE *out)
{
	if (strcmp(chain, RULESET_CHAIN_IN) == 0)
		fprintf(out, "-I INPUT 1 -j %s\n", chain);
	else
		for (unsigned j = 0; j < c->nlan_ifaces; j++)
			fprintf(out, "-I FORWARD 1 -o %s -j %s\n", c->lan_ifaces[j], chain);
}

struct ruleset_chain {
	const char *table;
	const char *name;
	bool (*wanted)(const struct conf *c);
};

static const struct ruleset_chain chains[] = {
    {"filter", RULESET_CHAIN_OUT, wants_out},	{"filter", RULESET_CHAIN_FWD, wants_fwd},
    {"filter", RULESET_CHAIN_SPOOF, wants_fwd}, {"nat", RULESET_CHAIN_DNS, wants_fwd},
    {"filter", RULESET_CHAIN_IN, wants_in},	{"filter", RULESET_CHAIN_WAN, wants_fwd},
    {"nat", RULESET_CHAIN_LDNS, wants_ldns},
};

static bool line_is(const char *p, size_t len, const char *prefix, const char *name)
{
	size_t pl = strlen(prefix), nl = strlen(name);

	return len == pl + nl && strncmp(p, prefix, pl) == 0 && strncmp(p + pl, name, nl) == 0;
}

/* Is this listing line a rule of one of our chains (not a jump to one)? */
static bool in_our_chain(const char *p, size_t len)
{
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		size_t nl = strlen(chains[i].name);

		if (len > 4 + nl && strncmp(p, "-A ", 3) == 0 &&
		    strncmp(p + 3, chains[i].name, nl) == 0 && p[3 + nl] == ' ')
			return true;
	}
	return false;
}

/* One table's part of the transaction, from its current listing ("iptables
 * -t TABLE -S"): delete every jump to our chains, (re)fill the chains c wants
 * and jump to them again, delete the ones it does not want. With c NULL,
 * remove everything of ours. A table with nothing of ours and nothing wanted
 * is left alone (not even created). */
static void render_table(const struct conf *c, int family, const char *table, const char *listing,
			 FILE *out)
{
	bool exists[sizeof(chains) / sizeof(chains[0])] = {0}, want_any = false, jumps = false;
	const char *p;

	for (p = listing; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
			if (strcmp(chains[i].table, table) == 0 &&
			    line_is(p, len, "-N ", chains[i].name))
				exists[i] = true;
		if (strncmp(p, "-A ", 3) == 0 && !in_our_chain(p, len) &&
		    memmem(p, len, " -j ZTDNS-", 10))
			jumps = true;
		p = nl ? nl + 1 : NULL;
	}
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
		if (strcmp(chains[i].table, table) == 0)
			want_any |= exists[i] || (c && chains[i].wanted(c));
	if (!want_any && !jumps)
		return;
	fprintf(out, "*%s\n", table);
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
		if (strcmp(chains[i].table, table) == 0 &&
		    (exists[i] || (c && chains[i].wanted(c))))
			fprintf(out, ":%s - [0:0]\n", chains[i].name);
	for (p = listing; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (strncmp(p, "-A ", 3) == 0 && !in_our_chain(p, len) &&
		    memmem(p, len, " -j ZTDNS-", 10))
			fprintf(out, "-D %.*s\n", (int)(len - 3), p + 3);
		p = nl ? nl + 1 : NULL;
	}
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		const struct ruleset_chain *ch = &chains[i];

		if (strcmp(ch->table, table) != 0)
			continue;
		if (c && ch->wanted(c)) {
			if (strcmp(ch->name, RULESET_CHAIN_DNS) == 0) {
				dns_rules(c, family, out);
			} else if (strcmp(ch->name, RULESET_CHAIN_LDNS) == 0) {
				ldns_rules(c, family, out);
			} else if (strcmp(ch->name, RULESET_CHAIN_SPOOF) == 0) {
				fprintf(out, "-A %s -j DROP\n", ch->name);
			} else if (strcmp(ch->name, RULESET_CHAIN_IN) == 0 ||
				   strcmp(ch->name, RULESET_CHAIN_WAN) == 0) {
				inbound_rules(c, family, ch->name, out);
				inbound_jumps(c, ch->name, out);
			} else {
				if (strcmp(ch->name, RULESET_CHAIN_OUT) == 0 && wants_in(c))
					synack_rules(c, out);
				chain_rules(c, family, ch->name, out);
				if (strcmp(ch->name, RULESET_CHAIN_OUT) == 0)
					fprintf(out, "-I OUTPUT 1 -j %s\n", ch->name);
				else
					for (unsigned j = 0; j < c->nlan_ifaces; j++)
						fwd_jumps(c, family, j, out);
			}
		} else if (exists[i]) {
			fprintf(out, "-X %s\n", ch->name);
		}
	}
	fprintf(out, "COMMIT\n");
}

int ruleset_render(const struct conf *c, int family, FILE *out)
{
	render_table(c, family, "filter", "", out);
	render_table(c, family, "nat", "", out);
	return 0;
}

static const char *const apply_tables[] = {"filter", "nat"};

static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/* The transaction for one family from the listings of its two tables
 * (c NULL: remove). *txn is malloc'd (caller frees); *len 0: nothing to do. */
static int render_txn(const struct conf *c, int family, char *const listing[2], char **txn,
		      size_t *len)
{
	FILE *f = open_memstream(txn, len);

	if (!f)
		return -errno;
	for (size_t i = 0; i < 2; i++)
		render_table(c, family, apply_tables[i], listing[i], f);
	if (fclose(f) != 0)
		return -ENOMEM;
	return 0;
}

static int restore_failed(int family, const char *restore, int rc, const char *txn)
{
	log_err("%s: %s refused the ruleset (status %d):\n%s", family_name(family), restore, rc,
		txn);
	return rc < 0 ? rc : -EIO;
}

/* Apply (c) or remove (c NULL) for one family, both tables in one run of
 * the restore tool. */
static int apply_family(const struct conf *c, int family)
{
	char restore[256], list[256];
	const char *fam = family_name(family);
	char *listing[2] = {NULL, NULL};
	char *txn = NULL;
	size_t txnlen = 0;
	int rc = 0;

	if (!pick_tool(family, restore, list, sizeof(restore))) {
		log_err("%s: no iptables-restore / ip6tables-restore found", fam);
		return -ENOENT;
	}
	for (size_t i = 0; i < 2; i++) {
		char *argv[] = {list, "-w", "10", "-t", (char *)apply_tables[i], "-S", NULL};

		rc = spawn_run(argv, NULL, 0, &listing[i], LISTING_MAX);
		if (rc != 0) {
			log_err("%s: %s -t %s -S failed (status %d)", fam, list, apply_tables[i],
				rc);
			rc = rc < 0 ? rc : -EIO;
			goto out;
		}
	}
	rc = render_txn(c, family, listing, &txn, &txnlen);
	if (rc < 0 || txnlen == 0)
		goto out; /* nothing of ours, nothing wanted */
	{
		char *argv[] = {restore, "-w", "10", "--noflush", NULL};

		rc = spawn_run(argv, txn, txnlen, NULL, 0);
		if (rc != 0) {
			rc = restore_failed(family, restore, rc, txn);
			goto out;
		}
	}
	log_debug("%s ruleset %s with %s", fam, c ? "installed" : "removed", restore);
out:
	free(listing[0]);
	free(listing[1]);
	free(txn);
	return rc;
}

/* ---- The same without blocking the loop --------------------------------
 *
 * One child at a time, each watched by an ev_child: list filter, list nat,
 * restore, for IPv4 then IPv6; on a failure, the same for the fallback
 * configuration. The kernel never sees a half transaction: each restore is
 * one COMMIT per table, as in apply_family(). */

struct ruleset_job {
	struct ev_loop *loop;
	const struct conf *c, *fallback;
	ruleset_done done;
	void *arg;
	int family;
	unsigned step; /* 0, 1: listing apply_tables[step]; 2: restoring */
	char *listing[2];
	char *txn;
	size_t txnlen;
	int first_rc; /* the new ruleset's failure, while the fallback goes in */
	bool rolling_back;
	ev_timer kick; /* the first step, from the loop */
	char restore[256], list[256];
};

static void job_next(struct ruleset_job *j);

static void job_clear(struct ruleset_job *j)
{
	free(j->listing[0]);
	free(j->listing[1]);
	free(j->txn);
	j->listing[0] = j->listing[1] = j->txn = NULL;
	j->txnlen = 0;
	j->step = 0;
}

static void job_finish(struct ruleset_job *j, int rc)
{
	if (j->rolling_back) {
		if (rc < 0)
			log_err("could not restore the previous ruleset");
		rc = j->first_rc;
	}
	job_clear(j);
	j->done(j->arg, rc);
	free(j);
}

static void job_fail(struct ruleset_job *j, int rc)
{
	job_clear(j);
	if (j->rolling_back || !j->fallback) {
		job_finish(j, rc);
		return;
	}
	/* One family may have changed: put the old rules back. */
	j->first_rc = rc;
	j->rolling_back = true;
	j->c = j->fallback;
	j->family = AF_INET;
	job_next(j);
}

static void job_family_done(struct ruleset_job *j)
{
	log_debug("%s ruleset %s with %s", family_name(j->family),
		  j->rolling_back ? "restored" : "installed", j->restore);
	job_clear(j);
	if (j->family == AF_INET && ruleset_have_ipv6()) {
		j->family = AF_INET6;
		job_next(j);
		return;
	}
	job_finish(j, 0);
}

static void on_restored(void *arg, int status, char *out)
{
	struct ruleset_job *j = arg;

	free(out);
	if (status != 0) {
		job_fail(j, restore_failed(j->family, j->restore, status, j->txn));
		return;
	}
	job_family_done(j);
}

static void on_listed(void *arg, int status, char *out)
{
	struct ruleset_job *j = arg;
	int rc;

	if (status != 0 || !out) {
		log_err("%s: %s -t %s -S failed (status %d)", family_name(j->family), j->list,
			apply_tables[j->step], status);
		free(out);
		job_fail(j, status < 0 ? status : -EIO);
		return;
	}
	j->listing[j->step++] = out;
	if (j->step < 2) {
		job_next(j);
		return;
	}
	rc = render_txn(j->c, j->family, j->listing, &j->txn, &j->txnlen);
	if (rc < 0) {
		job_fail(j, rc);
		return;
	}
	if (j->txnlen == 0) {
		job_family_done(j);
		return;
	}
	job_next(j);
}

static void job_next(struct ruleset_job *j)
{
	int rc;

	if (j->step == 0 && !pick_tool(j->family, j->restore, j->list, sizeof(j->restore))) {
		log_err("%s: no iptables-restore / ip6tables-restore found",
			family_name(j->family));
		job_fail(j, -ENOENT);
		return;
	}
	if (j->step < 2) {
		char *argv[] = {j->list, "-w", "10", "-t", (char *)apply_tables[j->step],
				"-S",	 NULL};

		rc = spawn_start(j->loop, argv, NULL, 0, LISTING_MAX, on_listed, j);
	} else {
		char *argv[] = {j->restore, "-w", "10", "--noflush", NULL};

		rc = spawn_start(j->loop, argv, j->txn, j->txnlen, 0, on_restored, j);
	}
	if (rc < 0) {
		log_err("%s: cannot run the iptables tools: %s", family_name(j->family),
			strerror(-rc));
		job_fail(j, rc);
	}
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	job_next(container_of(w, struct ruleset_job, kick));
}

int ruleset_apply_start(struct ev_loop *loop, const struct conf *c, const struct conf *fallback,
			ruleset_done done, void *arg)
{
	struct ruleset_job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->loop = loop;
	j->c = c;
	j->fallback = fallback;
	j->done = done;
	j->arg = arg;
	j->family = AF_INET;
	/* From the loop, never from here: done may free what the caller holds. */
	ev_timer_init(&j->kick, on_kick, 0., 0.);
	ev_timer_start(loop, &j->kick);
	return 0;
}

int ruleset_apply(const struct conf *c)
{
	int rc = apply_family(c, AF_INET);

	if (rc == 0 && ruleset_have_ipv6())
		rc = apply_family(c, AF_INET6);
	return rc;
}

/* 1 when the filter table of family jumps to one of our chains, 0 when it
 * does not, -errno when it cannot be listed. */
static int family_present(int family)
{
	char restore[256], list[256], *listing = NULL;
	char *argv[] = {list, "-w", "10", "-t", "filter", "-S", NULL};
	int rc;

	if (!pick_tool(family, restore, list, sizeof(restore)))
		return -ENOENT;
	rc = spawn_run(argv, NULL, 0, &listing, LISTING_MAX);
	if (rc == 0) {
		const char *p = listing;

		rc = 0;
		while (p && *p && rc == 0) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);

			if (strncmp(p, "-A ", 3) == 0 && !in_our_chain(p, len) &&
			    (memmem(p, len, " -j " RULESET_CHAIN_OUT,
				    4 + strlen(RULESET_CHAIN_OUT)) ||
			     memmem(p, len, " -j " RULESET_CHAIN_FWD,
				    4 + strlen(RULESET_CHAIN_FWD))))
				rc = 1;
			p = nl ? nl + 1 : NULL;
		}
	} else {
		rc = rc < 0 ? rc : -EIO;
	}
	free(listing);
	return rc;
}

int ruleset_lockdown(const struct conf *c)
{
	/* Without the fast path: its sets may not exist, and a ruleset that
	 * refers to a missing set is refused whole. */
	struct conf strict = *c;
	int rc = 0;

	strict.fast_path = false;
	/* Nor the interception: the lockdown must not depend on the nat
	 * table, and without it plain DNS is dropped like any other flow. */
	strict.intercept_dns = false;
	for (int i = 0; i < 2; i++) {
		int family = i == 0 ? AF_INET : AF_INET6;
		int present, r;

		if (family == AF_INET6 && !ruleset_have_ipv6())
			break;
		present = family_present(family);
		if (present == 1)
			continue; /* a lockdown is in place (ours, or a crashed run's) */
		r = apply_family(&strict, family);
		if (r < 0 && rc == 0)
			rc = r;
		else if (r == 0)
			log_warnx("%s: no ruleset was in place: the lockdown is installed",
				  family == AF_INET ? "IPv4" : "IPv6");
	}
	return rc;
}

int ruleset_remove(void)
{
	int rc = apply_family(NULL, AF_INET);
	int rc6 = ruleset_have_ipv6() ? apply_family(NULL, AF_INET6) : 0;

	return rc ? rc : rc6;
}
