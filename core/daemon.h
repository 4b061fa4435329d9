/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's parts wired onto one libev loop: configuration, allowset,
 * exceptions, the verdict threads (core/vplane.h), ruleset, control socket,
 * signals, timers.
 * cmd/ztdnsd.c is a thin main() around this; core/commands.c answers the
 * control socket from the state kept here.
 */
#ifndef ZTDNS_DAEMON_H
#define ZTDNS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "core/breakglass.h"
#include "core/journal.h"
#include "core/xfercmd.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "policy/conf.h"

#define DAEMON_MAX_QUEUES     16
#define DAEMON_SWEEP_INTERVAL 5.0 /* seconds between allowset sweeps */
#define DAEMON_MAX_SIGNALS    64

struct allowset;
struct exceptions;
struct nfqueue;
struct control;
struct verdictlog;
struct upstream;
struct stub;
struct metrics;
struct audit;
struct fastpath;
struct crossing;
struct vplane;

struct daemon_counters {
	uint64_t verdicts[VERDICT_REASON_COUNT];
	uint64_t accepted;
	uint64_t denied;
	uint64_t would_deny;			      /* audit mode */
	uint64_t would_deny_by[VERDICT_REASON_COUNT]; /* the same, by the denial's reason */
	uint64_t packet_errors[PACKET_ERR_PROTO + 1];
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t break_glass_opened; /* operator openings */
	uint64_t break_glass_flows;  /* denies turned into accepts while open */
	uint64_t records_dropped;    /* verdict records lost: a thread's ring was full */
};

struct daemon_reloader; /* daemon.c's: the reload in flight and who waits */

#define DAEMON_RELOAD_WAITERS 32 /* requests waiting for the next reload; past it refused */

/* A reload has finished: rc 0, or -errno with the reason in
 * d->last_reload_error. */
typedef void (*daemon_reload_done)(void *arg, int rc);

struct daemon {
	struct ev_loop *loop;
	struct conf *conf; /* owned */
	struct allowset *allowset;
	struct exceptions *exceptions;
	struct verdict_policy policy;
	struct vplane *vp;			   /* the verdict threads (core/vplane.h) */
	struct nfqueue *queues[DAEMON_MAX_QUEUES]; /* borrowed from vp, for the stats */
	unsigned nqueues;
	struct control *control;
	struct upstream *upstream;
	struct upstream *id_upstream[CONF_MAX_IDENTITIES]; /* gateway.client_identities */
	unsigned nid_upstream;
	struct stub *stub;
	struct owner *owner; /* who sent a local flow (core/owner.h); NULL: not shown */
	struct metrics *metrics;
	struct audit *audit;	   /* would-deny aggregation (audit mode) */
	struct fastpath *fastpath; /* ruleset.fast_path; NULL when off */
	struct verdictlog *vlog;
	struct querylog *qlog;	   /* query_log; NULL when off */
	struct crossing *crossing; /* gateway: denied outbound SYNs (core/crossing.h) */
	/* gateway: ifindex of each lan_interfaces[i] (0: not found), which
	 * tells a forwarded flow from the LAN from one toward it */
	unsigned lan_ifindex[CONF_MAX_LAN_IFACES];
	uint64_t lan_resolved_ms;
	bool ready;
	/* a Protective DNS server answered, or readiness.require_answer is off:
	 * READY=1 and wait-ready wait for it too (sticky) */
	bool dns_ready;
	struct netwatch *netwatch; /* link/address/route changes end the back-off */
	bool rules_installed;
	struct breakglass bg;
	ev_timer bg_timer; /* closes the break-glass at its deadline */
	uint64_t started_ms;
	char last_reload_error[512];
	struct daemon_counters cnt;
	ev_signal sigs[DAEMON_MAX_SIGNALS]; /* every catchable signal: daemon.c's table */
	unsigned nsigs;
	uint64_t signals_ignored;
	ev_timer sweep;
	ev_timer watchdog;
	ev_timer journal_timer;
	struct journal_stats jst;
	ev_prepare flush;
	ev_timer health; /* the verdict threads' heartbeats, the LAN ifindexes */
	bool failed;	 /* a verdict thread died or stalled: exit, rules stay */
	uint64_t qerr_seen[DAEMON_MAX_QUEUES]; /* queue errors already reported */
	struct daemon_reloader *reloader;
	struct xfercmd_stats xfer; /* ztdnsctl import (core/xfercmd.h) */
};

/* Bring everything up in order: allowset, queues bound, ruleset installed,
 * upstream clients, DNS stub listening, control socket. Takes ownership of c
 * (also on failure). Returns 0 or -errno with the reason logged; on failure
 * the caller calls daemon_stop(d, false), which leaves the lockdown. */
int daemon_start(struct daemon *d, struct ev_loop *loop, struct conf *c);

/* Run the loop until SIGTERM/SIGINT (returns 0), or until a verdict thread
 * died or stalled (returns -EPIPE: the caller stops with clean false, which
 * leaves the rules: fail closed). */
int daemon_run(struct daemon *d);

/* Bring d->cnt up to date: the verdict threads' counters summed into it.
 * Call before reading d->cnt. */
void daemon_counters_sync(struct daemon *d);

/* Stop and free everything. The ruleset is removed only when clean (a stop
 * asked for by SIGTERM/SIGINT) and the daemon reached READY, and not with
 * ruleset.keep_on_stop; otherwise it stays, and if this run never got as
 * far as installing it, the lockdown is installed now (ruleset.h:
 * ruleset_lockdown). Invariant 8: rules leave only on purpose. */
void daemon_stop(struct daemon *d, bool clean);

/* Open the network for seconds (1..BREAKGLASS_MAX_S) with a reason, or
 * close it (seconds 0). Logged, counted, saved to state.break_glass.
 * Returns 0 or -EINVAL. */
int daemon_break_glass(struct daemon *d, unsigned seconds, const char *reason, uid_t uid);

/* Re-read the configuration file; on any error keep everything as it is.
 * The new ruleset goes in without blocking the loop (ruleset.h:
 * ruleset_apply_start); verdicts and DNS answers go on meanwhile under the
 * running configuration, which is switched over once the kernel has the
 * new rules. Returns -errno when the reload failed at once (done is not
 * called; the reason is in d->last_reload_error), 0 when it has started,
 * 1 when one was already running and this one will follow it (reading the
 * file again); in both, done(arg, rc) is called from the loop when it has
 * finished (done may be NULL). */
int daemon_reload(struct daemon *d, daemon_reload_done done, void *arg);

/* Mirror an allowance into the kernel fast path, if there is one. */
void daemon_fastpath_add(struct daemon *d, const struct addr *scope, const struct addr *a,
			 uint64_t expires_ms, uint64_t now_ms);

/* Fill p from c: servers as infra, enforce/audit, scoping. */
void daemon_policy_from_conf(struct verdict_policy *p, const struct conf *c);

#endif
