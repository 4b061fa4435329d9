/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel ruleset: rendered from the configuration and applied atomically
 * with iptables-restore / ip6tables-restore (one transaction per family), in
 * chains of our own (ZTDNS-OUT, ZTDNS-FWD; ZTDNS-IN, ZTDNS-WAN for flows the
 * far side starts) jumped to from OUTPUT / FORWARD / INPUT.
 *
 * This kernel has the xt NFQUEUE target but not the nft "queue" expression,
 * so the iptables front-ends are used; they work over both the nft and the
 * legacy backends. Every apply first deletes whatever jumps to our chains
 * exist (a crashed run's leftovers included), refills the chains and inserts
 * the jumps again, all in one COMMIT: there is no instant without the
 * default-deny chain. Removal deletes exactly our jumps and chains.
 */
#ifndef ZTDNS_RULESET_H
#define ZTDNS_RULESET_H

#include <stdio.h>

struct conf;
struct ev_loop;

#define RULESET_CHAIN_OUT "ZTDNS-OUT"
#define RULESET_CHAIN_FWD "ZTDNS-FWD"
#define RULESET_CHAIN_DNS "ZTDNS-DNS" /* nat: LAN DNS redirected to the stub */
#define RULESET_CHAIN_SPOOF                                                                        \
	"ZTDNS-SPOOF" /* gateway: LAN packets from outside their interface's client subnets */
#define RULESET_CHAIN_LDNS                                                                         \
	"ZTDNS-LDNS" /* nat, host and sidecar: local plain DNS redirected to the stub */
#define RULESET_CHAIN_IN  "ZTDNS-IN"  /* host, sidecar: flows a peer starts (INPUT) */
#define RULESET_CHAIN_WAN "ZTDNS-WAN" /* gateway: from the WAN side to the LAN */

/* Write what ruleset_apply() would feed to iptables-restore (family AF_INET)
 * or ip6tables-restore (AF_INET6) on a system without our chains. */
int ruleset_render(const struct conf *c, int family, FILE *out);

/* Install or replace the ruleset for both families. Returns 0 or -errno;
 * on failure the message is logged and the previous rules are unchanged
 * (each family's transaction is all or nothing). */
int ruleset_apply(const struct conf *c);

/* Called once when ruleset_apply_start() has finished: rc 0, or the new
 * ruleset's -errno (the fallback, if one was given, has then been put back,
 * or the failure to do so logged). */
typedef void (*ruleset_done)(void *arg, int rc);

/* ruleset_apply(c) without blocking the loop: the iptables tools run as
 * children watched by ev_child on loop (libev's default loop), one at a
 * time, and done(arg, rc) is called from the loop when the last has ended.
 * If c is refused and fallback is not NULL, fallback is installed again.
 * c and fallback must stay valid until done. The caller runs one at a time.
 * Returns 0 (done will be called), or -errno (it will not). */
int ruleset_apply_start(struct ev_loop *loop, const struct conf *c, const struct conf *fallback,
			ruleset_done done, void *arg);

/* Make sure a lockdown is in place for each family: where no jump to our
 * chains exists, install c's ruleset (without the fast path); where one
 * exists (this run's, or a crashed run's), leave it. Called on every
 * start-up error, so that a failed start never opens the network.
 * Returns 0 or -errno (logged). */
int ruleset_lockdown(const struct conf *c);

/* Remove our jumps and chains for both families: only a clean stop of a
 * daemon that reached READY, or the operator (ztdnsd --remove-ruleset).
 * Returns 0 or -errno. */
int ruleset_remove(void);

#endif
