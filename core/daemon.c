/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/daemon.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h> /* after the libc headers: NF_INET_* */

#include "core/allowset.h"
#include "core/audit.h"
#include "core/commands.h"
#include "core/control.h"
#include "core/crossing.h"
#include "core/fastpath.h"
#include "core/lifecycle.h"
#include "core/listeners.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/netwatch.h"
#include "core/nfqueue.h"
#include "core/notify.h"
#include "core/owner.h"
#include "core/ruleset.h"
#include "core/statefile.h"
#include "core/util.h"
#include "core/verdictlog.h"
#include "dns/querylog.h"
#include "core/vplane.h"
#include "dns/stub.h"
#include "dns/upstream.h"
#include "policy/exceptions.h"

static int syslog_level(enum conf_log_level l)
{
	switch (l) {
	case CONF_LOG_ERR:
		return LOG_ERR;
	case CONF_LOG_WARN:
		return LOG_WARNING;
	case CONF_LOG_INFO:
		return LOG_INFO;
	default:
		return LOG_DEBUG;
	}
}

void daemon_policy_from_conf(struct verdict_policy *p, const struct conf *c)
{
	p->enforce = c->enforce;
	p->scoped = c->mode == CONF_MODE_GATEWAY && !c->shared_allowances;
	p->dhcp = c->mode != CONF_MODE_SIDECAR;
	p->gateway = c->mode == CONF_MODE_GATEWAY;
	p->lan_may_reach_servers = c->lan_may_reach_servers;
	/* Interface indexes as they are now: an interface created later (or
	 * re-created) is not a LAN interface until the next reload, so its
	 * packets are denied (spoofed-source), never let through. */
	p->nlan = 0;
	for (unsigned i = 0; p->gateway && i < c->nlan_ifaces && i < VERDICT_MAX_LAN; i++) {
		struct verdict_lan *l = &p->lan[p->nlan++];

		l->ifindex = if_nametoindex(c->lan_ifaces[i]);
		if (!l->ifindex)
			log_warnx("LAN interface %s does not exist (yet): its packets are denied "
				  "until a reload",
				  c->lan_ifaces[i]);
		l->any_source = c->lan_nsubnets[i] == 0;
		l->nsubnets = 0;
		for (unsigned j = 0; j < c->lan_nsubnets[i] && j < VERDICT_MAX_LAN_SUBNETS; j++)
			l->subnets[l->nsubnets++] = c->lan_subnets[i][j];
	}
	p->ninfra = 0;
	for (unsigned i = 0; i < c->nservers; i++)
		for (unsigned j = 0; j < c->servers[i].naddrs && p->ninfra < VERDICT_MAX_INFRA;
		     j++) {
			p->infra[p->ninfra].addr = c->servers[i].addrs[j];
			p->infra[p->ninfra].port = c->servers[i].port;
			p->ninfra++;
		}
	/* Plain-DNS servers are not infra here: only the kernel rule that
	 * matches the daemon's socket mark lets packets reach them
	 * (core/ruleset.c), never a verdict on address and port alone. */
	for (unsigned z = 0; z < c->nfzones; z++)
		for (unsigned i = 0; i < c->fzones[z].nservers; i++)
			for (unsigned j = 0;
			     c->fzones[z].servers[i].proto != CONF_PROTO_DNS &&
			     j < c->fzones[z].servers[i].naddrs && p->ninfra < VERDICT_MAX_INFRA;
			     j++) {
				p->infra[p->ninfra].addr = c->fzones[z].servers[i].addrs[j];
				p->infra[p->ninfra].port = c->fzones[z].servers[i].port;
				p->ninfra++;
			}
	p->services = c->mode == CONF_MODE_GATEWAY ? c->forwards : c->services;
	p->nservices = c->mode == CONF_MODE_GATEWAY ? c->nforwards : c->nservices;
}

static void daemon_fail(struct daemon *d, const char *why)
{
	log_err("%s: failing closed (the rules stay, new flows are dropped)", why);
	d->failed = true;
	ev_break(d->loop, EVBREAK_ALL);
}

/* Give the verdict threads a snapshot of what they read now. When it
 * returns no thread reads the previous one. Returns 0 or -ENOMEM, after
 * which the daemon is failing: the old tables must be kept. */
static int daemon_publish(struct daemon *d)
{
	struct vplane_snap s = {.policy = d->policy};

	s.gateway = d->conf->mode == CONF_MODE_GATEWAY;
	s.reject = d->conf->deny_action == CONF_DENY_REJECT;
	s.log_all = d->vlog || d->conf->log_verdicts;
	s.log_denials = log_enabled(LOG_INFO);
	for (unsigned i = 0; s.gateway && i < d->conf->nlan_ifaces && i < VPLANE_MAX_LAN; i++)
		s.lan_ifindex[s.nlan++] = d->lan_ifindex[i];
	if (!d->vp)
		return 0;
	if (vplane_publish(d->vp, &s) < 0) {
		daemon_fail(d, "out of memory for a policy snapshot");
		return -ENOMEM;
	}
	return 0;
}

/* The LAN interfaces' ifindexes, again at most once a second (an interface
 * that was re-created has a new one); a change goes to the threads. */
static void lan_resolve(struct daemon *d, uint64_t now)
{
	bool changed = false;

	if (d->lan_resolved_ms && now - d->lan_resolved_ms < 1000)
		return;
	d->lan_resolved_ms = now;
	for (unsigned i = 0; i < CONF_MAX_LAN_IFACES; i++) {
		unsigned x = i < d->conf->nlan_ifaces ? if_nametoindex(d->conf->lan_ifaces[i]) : 0;

		changed |= x != d->lan_ifindex[i];
		d->lan_ifindex[i] = x;
	}
	if (changed)
		daemon_publish(d);
}

void daemon_counters_sync(struct daemon *d)
{
	struct vplane_counters c;

	if (!d->vp)
		return;
	vplane_sum(d->vp, &c);
	memcpy(d->cnt.verdicts, c.verdicts, sizeof(d->cnt.verdicts));
	memcpy(d->cnt.packet_errors, c.packet_errors, sizeof(d->cnt.packet_errors));
	d->cnt.accepted = c.accepted;
	d->cnt.denied = c.denied;
	d->cnt.would_deny = c.would_deny;
	memcpy(d->cnt.would_deny_by, c.would_deny_by, sizeof(d->cnt.would_deny_by));
	d->cnt.break_glass_flows = c.break_glass_flows;
	d->cnt.records_dropped = c.records_dropped;
}

/* A verdict a thread gave, on the loop: audit, watchers, the log. */
static void on_record(void *arg, const struct vring_rec *rec)
{
	struct daemon *d = arg;
	const struct verdict_result *r = &rec->r;
	const struct packet_info *pi = &rec->pi;
	const struct nfqueue_packet *qp = &rec->qp;
	enum packet_err pe = rec->pe;
	uint64_t now = rec->now_ms;
	/* For the logs: an unparsable packet whose IP header was read. */
	const struct packet_info *logged = rec->has_pi ? pi : NULL;

	struct owner_info whobuf, *who = NULL;
	bool writes = control_has_subscribers(d->control) || d->vlog || d->conf->log_verdicts ||
		      ((!r->accept || r->would_deny || r->break_glass) && log_enabled(LOG_INFO));

	/* A flow of this machine's own: its socket still exists (a dropped
	 * SYN's connect() retries, a UDP socket waits for its answer), so the
	 * sender is found here, on the loop, when a line is written. */
	if (d->owner && pe == PACKET_OK && qp->hook == NF_INET_LOCAL_OUT && rec->outward &&
	    (writes || r->would_deny)) {
		owner_lookup(d->owner, pi, allowset_now_ms(), &whobuf);
		who = &whobuf;
	}
	if (r->would_deny && pe == PACKET_OK)
		/* Inbound: the peer that would be refused, and our port. */
		audit_record(d->audit, rec->outward ? &pi->dst : &pi->src, pi->dport, pi->proto,
			     qp->has_uid ? (int64_t)qp->uid : -1,
			     who && who->status == OWNER_FOUND ? who->comm : NULL,
			     who && who->status == OWNER_FOUND
				 ? (who->container[0] ? who->container : who->unit)
				 : NULL,
			     verdict_reason_name(r->reason), now);
	if (control_has_subscribers(d->control)) {
		struct commands_event ev = {.pkt = pe == PACKET_OK ? pi : NULL, .r = r};
		char line[1024];
		size_t n = verdictlog_format(line, sizeof(line), true, qp, logged, pe, r, who, now);

		control_publish(d->control, commands_watch_match, &ev, line, n);
	}
	if (d->vlog) {
		verdictlog_write(d->vlog, qp, logged, pe, r, who, now);
	} else if (d->conf->log_verdicts) {
		char line[1024];

		verdictlog_format(line, sizeof(line), d->conf->log_format == CONF_LOG_JSON, qp,
				  logged, pe, r, who, now);
		verdictlog_journal(line, qp, logged, pe, r, who);
	} else if (!r->accept || r->would_deny || r->break_glass) {
		if (log_enabled(LOG_INFO)) {
			char line[512];

			verdictlog_format(line, sizeof(line), false, qp, logged, pe, r, who, now);
			log_ratelimited(LOG_INFO, "%s", line);
		}
	}
}

static void on_unlisted(void *arg, const char *msg)
{
	(void)arg;
	log_warnx("%s", msg);
}

/* What each signal does. Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
 * SIGSYS from seccomp, SIGTRAP) keep their default: a crash leaves the rules
 * and fails closed. Every other signal whose default would end or stop the
 * daemon has an effect here, so that none does so silently. SIGPIPE is
 * ignored by main(). */
enum daemon_sig_action {
	SIG_ACT_STOP,
	SIG_ACT_RELOAD,
	SIG_ACT_REOPEN,
	SIG_ACT_STATUS,
	SIG_ACT_IGNORE
};

static const struct {
	int signum;
	enum daemon_sig_action act;
} daemon_signals[] = {
    {SIGTERM, SIG_ACT_STOP},   {SIGINT, SIG_ACT_STOP},	    {SIGQUIT, SIG_ACT_STOP},
    {SIGHUP, SIG_ACT_RELOAD},  {SIGUSR1, SIG_ACT_REOPEN},   {SIGUSR2, SIG_ACT_STATUS},
    {SIGALRM, SIG_ACT_IGNORE}, {SIGVTALRM, SIG_ACT_IGNORE}, {SIGPROF, SIG_ACT_IGNORE},
    {SIGIO, SIG_ACT_IGNORE},   {SIGPWR, SIG_ACT_IGNORE},    {SIGSTKFLT, SIG_ACT_IGNORE},
    {SIGXCPU, SIG_ACT_IGNORE}, {SIGXFSZ, SIG_ACT_IGNORE},   {SIGTSTP, SIG_ACT_IGNORE},
    {SIGTTIN, SIG_ACT_IGNORE}, {SIGTTOU, SIG_ACT_IGNORE},
};

static enum daemon_sig_action sig_action(int signum)
{
	for (size_t i = 0; i < ARRAY_SIZE(daemon_signals); i++)
		if (daemon_signals[i].signum == signum)
			return daemon_signals[i].act;
	return SIG_ACT_IGNORE; /* the real-time signals */
}

static const char *sig_name(int signum)
{
	const char *n = sigabbrev_np(signum);

	return n ? n : "?";
}

static int open_vlog(const struct conf *c, struct verdictlog **out);

/* SIGUSR1 (logrotate): open the verdict file again by its name; on error
 * keep writing to the old one. */
static void reopen_logs(struct daemon *d)
{
	struct verdictlog *n = NULL;
	int rc;

	if (d->qlog && d->conf->query_log_file) {
		rc = querylog_reopen(d->qlog);
		if (rc < 0)
			log_err("SIGUSR1: cannot reopen %s (%s); still writing to the old file",
				d->conf->query_log_file, strerror(-rc));
		else
			log_info("SIGUSR1: reopened %s", d->conf->query_log_file);
	}
	if (!d->vlog || !d->conf->verdict_log) {
		log_info("SIGUSR1: no log file to reopen");
		return;
	}
	if (open_vlog(d->conf, &n) < 0 || !n) {
		log_err("SIGUSR1: cannot reopen %s; still writing to the old file",
			d->conf->verdict_log);
		return;
	}
	verdictlog_close(&d->vlog);
	d->vlog = n;
	log_info("SIGUSR1: reopened %s", d->conf->verdict_log);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)revents;
	switch (sig_action(w->signum)) {
	case SIG_ACT_STOP:
		log_info("signal %d (SIG%s): stopping", w->signum, sig_name(w->signum));
		ev_break(loop, EVBREAK_ALL);
		break;
	case SIG_ACT_RELOAD:
		daemon_reload(d, NULL, NULL);
		break;
	case SIG_ACT_REOPEN:
		reopen_logs(d);
		break;
	case SIG_ACT_STATUS:
		daemon_counters_sync(d);
		log_info(
		    "status: %s, %s, %llu accepted, %llu denied, %llu would-deny, %llu reloads "
		    "(%llu failed), break-glass %s",
		    d->ready ? "ready" : "starting", d->conf->enforce ? "enforcing" : "audit",
		    (unsigned long long)d->cnt.accepted, (unsigned long long)d->cnt.denied,
		    (unsigned long long)d->cnt.would_deny, (unsigned long long)d->cnt.reloads,
		    (unsigned long long)d->cnt.reload_failures,
		    breakglass_is_open(&d->bg, allowset_now_ms()) ? "OPEN" : "closed");
		break;
	case SIG_ACT_IGNORE:
		d->signals_ignored++;
		log_ratelimited(LOG_NOTICE, "signal %d (SIG%s) ignored", w->signum,
				sig_name(w->signum));
		break;
	}
}

static void signals_start(struct daemon *d)
{
	int nums[DAEMON_MAX_SIGNALS];
	unsigned n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(daemon_signals) && n < DAEMON_MAX_SIGNALS; i++)
		nums[n++] = daemon_signals[i].signum;
	for (int s = SIGRTMIN; s <= SIGRTMAX && n < DAEMON_MAX_SIGNALS; s++)
		nums[n++] = s;
	for (d->nsigs = 0; d->nsigs < n; d->nsigs++) {
		ev_signal *w = &d->sigs[d->nsigs];

		ev_signal_init(w, on_signal, nums[d->nsigs]);
		w->data = d;
		ev_signal_start(d->loop, w);
	}
}

static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = container_of(w, struct daemon, sweep);

	(void)loop;
	(void)revents;
	allowset_sweep(d->allowset, allowset_now_ms());
}

/* Are the verdict threads alive and advancing? If not, fail closed. */
static bool threads_ok(struct daemon *d)
{
	unsigned q = 0;
	int rc;

	if (d->failed)
		return false;
	rc = d->vp ? vplane_check(d->vp, allowset_now_ms(), &q) : 0;
	if (rc < 0) {
		char why[96];

		snprintf(why, sizeof(why), "the verdict thread of queue %u %s", q,
			 rc == -EPIPE ? "died" : "stalled");
		daemon_fail(d, why);
		return false;
	}
	return true;
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = container_of(w, struct daemon, watchdog);

	(void)loop;
	(void)revents;
	/* Sent from the loop itself: a loop that hangs stops the pings, and
	 * so does a verdict thread that died or stalled. */
	if (threads_ok(d))
		notify_send("WATCHDOG=1");
}

/* The verdict threads only count their queue's errors: report new ones
 * from here (rate-limited). */
static void queue_errors_report(struct daemon *d)
{
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct nfqueue_stats st;
		uint64_t n;

		nfqueue_get_stats(d->queues[i], &st);
		n = st.enobufs + st.malformed + st.send_errors + st.nl_errors;
		if (n == d->qerr_seen[i])
			continue;
		d->qerr_seen[i] = n;
		log_ratelimited(
		    LOG_WARNING,
		    "nfqueue %u: %llu socket overruns (ENOBUFS), %llu malformed messages, "
		    "%llu failed verdict sends, %llu refused verdicts so far",
		    nfqueue_num(d->queues[i]), (unsigned long long)st.enobufs,
		    (unsigned long long)st.malformed, (unsigned long long)st.send_errors,
		    (unsigned long long)st.nl_errors);
	}
}

static void on_health(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = container_of(w, struct daemon, health);

	(void)loop;
	(void)revents;
	queue_errors_report(d);
	if (threads_ok(d) && d->conf->mode == CONF_MODE_GATEWAY)
		lan_resolve(d, allowset_now_ms());
}

static void on_journal(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = container_of(w, struct daemon, journal_timer);

	(void)loop;
	(void)revents;
	if (d->conf->journal)
		journal_save(d->allowset, d->conf->journal, &d->jst);
}

static void journal_timer_set(struct daemon *d)
{
	ev_timer_stop(d->loop, &d->journal_timer);
	if (!d->conf->journal)
		return;
	ev_timer_init(&d->journal_timer, on_journal, d->conf->journal_interval,
		      d->conf->journal_interval);
	ev_timer_start(d->loop, &d->journal_timer);
}

static void on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct daemon *d = container_of(w, struct daemon, flush);

	(void)loop;
	(void)revents;
	if (d->vp)
		vplane_set_watchers(d->vp, control_has_subscribers(d->control));
	daemon_counters_sync(d);
	if (d->vlog)
		verdictlog_flush(d->vlog);
	querylog_flush(d->qlog);
}

static int open_vlog(const struct conf *c, struct verdictlog **out)
{
	*out = NULL;
	/* Not on a terminal and no file: each verdict to journald, with its
	 * MESSAGE_ID (on_record). */
	if (!c->log_verdicts || (!c->verdict_log && log_to_syslog()))
		return 0;
	*out = verdictlog_open(c->verdict_log, c->log_format == CONF_LOG_JSON);
	if (!*out) {
		log_warn("cannot open verdict log %s", c->verdict_log ? c->verdict_log : "stdout");
		return -errno;
	}
	return 0;
}

struct upstream_set {
	struct upstream *def;
	struct upstream *ids[CONF_MAX_IDENTITIES];
	unsigned nids;
};

static void upstream_set_free(struct upstream_set *u)
{
	/* Queries in flight complete (cancelled, SERVFAIL) into the stub. */
	upstream_free(&u->def);
	for (unsigned i = 0; i < u->nids; i++)
		upstream_free(&u->ids[i]);
	u->nids = 0;
}

/* The default clients and one set per gateway client identity. */
static int upstream_set_new(struct ev_loop *loop, const struct conf *c, struct upstream_set *u)
{
	int err = 0;

	memset(u, 0, sizeof(*u));
	u->def = upstream_new(loop, c, c->client_cert, c->client_key, &err);
	if (!u->def)
		return err;
	for (unsigned i = 0; c->mode == CONF_MODE_GATEWAY && i < c->nidentities; i++) {
		u->ids[i] = upstream_new(loop, c, c->identities[i].client_cert,
					 c->identities[i].client_key, &err);
		if (!u->ids[i]) {
			char pb[PREFIX_STRLEN];

			log_err("client identity for %s: %s",
				addr_prefix_format(&c->identities[i].subnet, pb, sizeof(pb)),
				strerror(-err));
			upstream_set_free(u);
			return err;
		}
		u->nids++;
	}
	return 0;
}

/* Hand a set to the daemon and the stub (routes by client subnet). */
static void notify_status(const struct daemon *d, const char *what);

static void on_dns_ready(void *arg)
{
	struct daemon *d = arg;

	d->dns_ready = true;
	log_info("a Protective DNS server answered: ready");
	if (d->ready)
		notify_status(d, "enforcing");
}

static void upstream_set_install(struct daemon *d, const struct conf *c, struct upstream_set *u)
{
	if (!c->ready_require_answer)
		d->dns_ready = true;
	if (!d->dns_ready)
		upstream_when_answered(u->def, on_dns_ready, d);
	struct stub_route routes[CONF_MAX_IDENTITIES];

	d->upstream = u->def;
	d->nid_upstream = u->nids;
	for (unsigned i = 0; i < u->nids; i++) {
		d->id_upstream[i] = u->ids[i];
		routes[i].subnet = c->identities[i].subnet;
		/* An identity named for an interface that is missing now
		 * matches nothing (ifindex UINT32_MAX): the default one is used,
		 * never another client's. */
		routes[i].ifindex = 0;
		if (c->identities[i].iface) {
			routes[i].ifindex = if_nametoindex(c->identities[i].iface);
			if (!routes[i].ifindex)
				routes[i].ifindex = UINT32_MAX;
		}
		routes[i].up = u->ids[i];
	}
	if (d->stub) {
		stub_set_upstream(d->stub, u->def);
		stub_set_routes(d->stub, routes, u->nids);
	}
	memset(u, 0, sizeof(*u));
}

static void upstream_set_take(struct daemon *d, struct upstream_set *u)
{
	memset(u, 0, sizeof(*u));
	u->def = d->upstream;
	u->nids = d->nid_upstream;
	memcpy(u->ids, d->id_upstream, sizeof(u->ids));
	d->upstream = NULL;
	d->nid_upstream = 0;
	memset(d->id_upstream, 0, sizeof(d->id_upstream));
}

void daemon_fastpath_add(struct daemon *d, const struct addr *scope, const struct addr *a,
			 uint64_t expires_ms, uint64_t now_ms)
{
	if (!d->fastpath || expires_ms <= now_ms)
		return;
	fastpath_add(d->fastpath, scope, a, (uint32_t)((expires_ms - now_ms + 999) / 1000));
}

static void on_learn(void *arg, const struct addr *scope, const struct addr *a, uint64_t expires_ms,
		     uint64_t now_ms)
{
	daemon_fastpath_add(arg, scope, a, expires_ms, now_ms);
}

struct mirror_ctx {
	struct daemon *d;
	uint64_t now;
};

static int mirror_one(const struct allowset_view *v, void *arg)
{
	struct mirror_ctx *m = arg;

	daemon_fastpath_add(m->d, v->scope.family ? &v->scope : NULL, &v->addr, v->expires_ms,
			    m->now);
	return 0;
}

static void notify_status(const struct daemon *d, const char *what)
{
	char msg[BREAKGLASS_REASON_MAX + 160];

	if (breakglass_is_open(&d->bg, allowset_now_ms()))
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=BREAK-GLASS OPEN for %llu s: %s",
			 (unsigned long long)((d->bg.until_ms - allowset_now_ms()) / 1000),
			 d->bg.reason);
	else if (!d->dns_ready)
		snprintf(msg, sizeof(msg),
			 "STATUS=%s; waiting for a Protective DNS server to answer "
			 "(readiness.require_answer)",
			 what);
	else
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", what);
	notify_send(msg);
}

static void break_glass_arm(struct daemon *d)
{
	uint64_t now = allowset_now_ms();

	ev_timer_stop(d->loop, &d->bg_timer);
	if (d->policy.open_until_ms != d->bg.until_ms) {
		d->policy.open_until_ms = d->bg.until_ms;
		daemon_publish(d);
	}
	if (!breakglass_is_open(&d->bg, now))
		return;
	/* A little past the deadline: the verdict compares with it anyway. */
	ev_timer_set(&d->bg_timer, (double)(d->bg.until_ms - now) / 1000.0 + 0.01, 0.0);
	ev_timer_start(d->loop, &d->bg_timer);
}

static void break_glass_save(struct daemon *d)
{
	int rc;

	if (!d->conf->break_glass)
		return;
	rc = breakglass_save(&d->bg, d->conf->break_glass);
	if (rc < 0)
		log_err("break-glass: cannot write %s: %s (a restart will not remember it)",
			d->conf->break_glass, strerror(-rc));
}

static void on_break_glass_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = container_of(w, struct daemon, bg_timer);

	(void)loop;
	(void)revents;
	if (breakglass_is_open(&d->bg, allowset_now_ms())) {
		break_glass_arm(d); /* woke early */
		return;
	}
	daemon_counters_sync(d);
	log_warnx("break-glass: closed at its deadline (%llu flows let through while open); "
		  "enforcing again",
		  (unsigned long long)d->cnt.break_glass_flows);
	breakglass_close(&d->bg);
	break_glass_arm(d);
	break_glass_save(d);
	notify_status(d, "enforcing");
}

int daemon_break_glass(struct daemon *d, unsigned seconds, const char *reason, uid_t uid)
{
	if (seconds == 0) {
		if (!breakglass_is_open(&d->bg, allowset_now_ms()))
			return 0;
		log_warnx("break-glass: closed by the operator (uid %u); enforcing again",
			  (unsigned)uid);
		breakglass_close(&d->bg);
	} else {
		if (breakglass_open(&d->bg, seconds, reason, uid, allowset_now_ms(),
				    statefile_real_ms()) < 0)
			return -EINVAL;
		d->cnt.break_glass_opened++;
		log_warnx("break-glass: OPENED by the operator (uid %u) for %u s: %s; every new "
			  "flow is accepted until then",
			  (unsigned)uid, seconds, reason);
	}
	break_glass_arm(d);
	break_glass_save(d);
	notify_status(d, "enforcing");
	return 0;
}

static void break_glass_restore(struct daemon *d)
{
	uint64_t now = allowset_now_ms();
	int rc;

	if (!d->conf->break_glass)
		return;
	rc = breakglass_load(&d->bg, d->conf->break_glass, now, statefile_real_ms());
	if (rc < 0)
		log_err("break-glass: %s: %s; staying closed", d->conf->break_glass,
			rc == -EINVAL ? "malformed" : strerror(-rc));
	if (breakglass_is_open(&d->bg, now))
		log_warnx("break-glass: still OPEN from before the restart, for %llu s: %s",
			  (unsigned long long)((d->bg.until_ms - now) / 1000), d->bg.reason);
	else
		break_glass_save(d); /* an expired or unusable one is removed */
}

/* A link, address or route changed: what made a server fail may be gone. */
static void on_net_change(void *arg)
{
	struct daemon *d = arg;

	log_debug("network change: upstream back-off reset");
	if (d->upstream)
		upstream_reset_backoff(d->upstream);
	for (unsigned i = 0; i < d->nid_upstream; i++)
		upstream_reset_backoff(d->id_upstream[i]);
}

int daemon_start(struct daemon *d, struct ev_loop *loop, struct conf *c)
{
	struct upstream_set ups;
	int rc, err = 0;

	memset(d, 0, sizeof(*d));
	d->loop = loop;
	d->conf = c;
	d->started_ms = allowset_now_ms();
	log_set_level(syslog_level(c->log_level));

	d->allowset = allowset_new(c->limits.learned_max, c->limits.names_per_addr);
	d->exceptions = exceptions_from_conf(c);
	d->audit = audit_new();
	if (!d->allowset || !d->exceptions || !d->audit) {
		log_err("out of memory");
		return -ENOMEM;
	}
	allowset_reader_register();
	/* Before the stub answers anything: yesterday's allowances first. */
	if (c->journal && journal_load(d->allowset, c->journal, &d->jst) < 0)
		log_warnx("starting without the journal's allowances");
	d->policy.allowset = d->allowset;
	d->policy.exceptions = d->exceptions;
	daemon_policy_from_conf(&d->policy, c);
	if (c->mode == CONF_MODE_GATEWAY) {
		d->crossing = crossing_new(CROSSING_DEFAULT_MS);
		if (!d->crossing) {
			log_err("out of memory");
			return -ENOMEM;
		}
		d->policy.crossing = d->crossing;
		lan_resolve(d, allowset_now_ms());
	}
	ev_init(&d->bg_timer, on_break_glass_end);
	break_glass_restore(d);
	break_glass_arm(d);
	rc = open_vlog(c, &d->vlog);
	if (rc < 0)
		return rc;
	if (c->query_log_file || c->query_log_journal) {
		d->qlog = querylog_open(c->query_log_file, c->query_log_journal);
		if (!d->qlog) {
			rc = -errno;
			log_warn("cannot open the query log %s",
				 c->query_log_file ? c->query_log_file : "(journal)");
			return rc;
		}
	}

	/* Bind the queues before the rules send anything to them; each
	 * gets its verdict thread, which reads the snapshot published here. */
	d->vp = vplane_new(loop, c->queue_num, UTIL_MIN(c->queue_count, DAEMON_MAX_QUEUES),
			   c->queue_maxlen, VRING_DEFAULT, on_record, d, &err);
	if (!d->vp) {
		log_err("cannot bind NFQUEUE %u..%u: %s%s", c->queue_num,
			c->queue_num + c->queue_count - 1, strerror(-err),
			err == -EBUSY ? " (another process holds this queue)" : "");
		return err;
	}
	for (unsigned i = 0; i < vplane_count(d->vp); i++)
		d->queues[d->nqueues++] = vplane_queue(d->vp, i);
	d->owner = owner_new("/proc", &err);
	if (!d->owner)
		log_warnx("senders will be shown by uid only: %s", strerror(-err));
	rc = daemon_publish(d);
	if (rc == 0)
		rc = vplane_start(d->vp);
	if (rc < 0) {
		log_err("cannot start the verdict threads: %s", strerror(-rc));
		return rc;
	}
	if (c->fast_path) {
		struct mirror_ctx m = {.d = d, .now = allowset_now_ms()};

		/* The sets first: the rules refer to them. */
		d->fastpath = fastpath_new(loop, c, &err);
		if (!d->fastpath) {
			log_err("cannot set up the kernel fast path: %s", strerror(-err));
			return err;
		}
		allowset_walk(d->allowset, mirror_one, &m); /* the journal's */
		fastpath_sync(d->fastpath);
	}
	rc = ruleset_apply(c);
	if (rc < 0) {
		log_err("cannot install the ruleset");
		return rc;
	}
	d->rules_installed = true;
	listeners_check(c, on_unlisted, NULL);

	signals_start(d);
	ev_timer_init(&d->sweep, on_sweep, DAEMON_SWEEP_INTERVAL, DAEMON_SWEEP_INTERVAL);
	ev_timer_start(loop, &d->sweep);
	journal_timer_set(d);
	ev_prepare_init(&d->flush, on_flush);
	ev_prepare_start(loop, &d->flush);
	ev_timer_init(&d->health, on_health, 0.5, 0.5);
	ev_timer_start(loop, &d->health);

	err = upstream_set_new(loop, c, &ups);
	if (err < 0) {
		log_err("cannot set up the Protective DNS clients: %s", strerror(-err));
		return err;
	}
	d->stub = stub_new(loop, c, ups.def, d->allowset, &err);
	if (!d->stub) {
		upstream_set_free(&ups);
		log_err("cannot start the DNS stub: %s", strerror(-err));
		return err;
	}
	upstream_set_install(d, c, &ups);
	stub_set_learn_hook(d->stub, on_learn, d);
	stub_set_querylog(d->stub, d->qlog);
	d->control = control_new(loop, c->control_socket, c->control_uid, commands_handle, d, &err);
	if (!d->control) {
		log_err("cannot open control socket %s: %s", c->control_socket, strerror(-err));
		return err;
	}
	if (c->metrics) {
		d->metrics = metrics_new(loop, c->metrics, d, &err);
		if (!d->metrics) {
			log_err("cannot open the metrics endpoint %s: %s", c->metrics,
				strerror(-err));
			return err;
		}
	}
	d->netwatch = netwatch_new(loop, on_net_change, d, &err);
	if (!d->netwatch)
		log_warnx("network changes will not end the upstream back-off: %s", strerror(-err));
	d->ready = true;
	if (notify_watchdog_usec()) {
		double every = (double)notify_watchdog_usec() / 2e6;

		ev_timer_init(&d->watchdog, on_watchdog, every, every);
		ev_timer_start(loop, &d->watchdog);
	}
	notify_status(d, "enforcing");
	log_info("ready: mode %s, %s, queue %u%s, %u exception(s), control %s",
		 conf_mode_name(c->mode), c->enforce ? "enforcing" : "AUDIT (not enforcing)",
		 c->queue_num, c->queue_count > 1 ? "+" : "", c->nexceptions, c->control_socket);
	return 0;
}

int daemon_run(struct daemon *d)
{
	ev_run(d->loop, 0);
	return d->failed ? -EPIPE : 0;
}

static void reloads_drain(struct daemon *d);

void daemon_stop(struct daemon *d, bool clean)
{
	enum lifecycle_stop what;
	bool remove;

	/* A reload's ruleset still going in: let it finish (bounded by the
	 * tools' own -w 10) before anything is removed or left, and before
	 * reading the configuration that decides it. */
	reloads_drain(d);
	what = lifecycle_on_stop(clean, d->ready, d->rules_installed,
				 d->conf && d->conf->keep_on_stop);
	remove = what == LIFECYCLE_REMOVE;
	if (d->ready && d->conf && d->conf->journal)
		journal_save(d->allowset, d->conf->journal, &d->jst);
	if (d->ready)
		notify_send("STOPPING=1");
	if (what == LIFECYCLE_KEEP) {
		log_info("keeping the ruleset in place (ruleset.keep_on_stop)");
	} else if (remove && ruleset_remove() < 0) {
		log_err("could not remove the ruleset; new flows stay blocked");
	} else if (!remove && d->conf) {
		/* A failed start, or a stop before READY: the lockdown stays,
		 * and goes in now if this run never installed it. */
		if (what == LIFECYCLE_LOCKDOWN_NEW && ruleset_lockdown(d->conf) < 0)
			log_err("could not install the lockdown ruleset: new flows are NOT "
				"blocked");
		else
			log_warnx("the lockdown ruleset stays in place (remove it with "
				  "\"ztdnsd --remove-ruleset\" once the cause is fixed)");
	}
	d->rules_installed = false;
	/* After the rules that refer to the sets are gone. */
	fastpath_free(&d->fastpath, !remove);
	/* The threads stop and their last records reach the log. */
	vplane_free(&d->vp);
	d->nqueues = 0;
	control_free(&d->control);
	metrics_free(&d->metrics);
	netwatch_free(&d->netwatch);
	{
		struct upstream_set old;

		/* The upstreams first: their queries complete into the stub. */
		upstream_set_take(d, &old);
		upstream_set_free(&old);
	}
	stub_free(&d->stub);
	owner_free(&d->owner);
	if (d->loop) {
		for (unsigned i = 0; i < d->nsigs; i++)
			ev_signal_stop(d->loop, &d->sigs[i]);
		ev_timer_stop(d->loop, &d->sweep);
		ev_timer_stop(d->loop, &d->watchdog);
		ev_timer_stop(d->loop, &d->journal_timer);
		ev_timer_stop(d->loop, &d->bg_timer);
		ev_timer_stop(d->loop, &d->health);
		ev_prepare_stop(d->loop, &d->flush);
	}
	verdictlog_close(&d->vlog);
	querylog_close(&d->qlog);
	exceptions_free(&d->exceptions);
	audit_free(&d->audit);
	crossing_free(&d->crossing);
	if (d->allowset) {
		allowset_free(&d->allowset);
		allowset_reader_unregister();
	}
	conf_free(&d->conf);
	free(d->reloader);
	d->reloader = NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Do two configurations ask for the same upstream clients? */
static bool same_upstream(const struct conf *o, const struct conf *n)
{
	if (o->nservers != n->nservers || !str_eq(o->client_cert, n->client_cert) ||
	    !str_eq(o->client_key, n->client_key) ||
	    o->limits.upstream_timeout_ms != n->limits.upstream_timeout_ms)
		return false;
	if (o->nfzones || n->nfzones)
		return false; /* forward_zones: new clients, whatever changed */
	if (o->mode != n->mode || o->nidentities != n->nidentities)
		return false;
	for (unsigned i = 0; i < o->nidentities; i++) {
		const struct conf_identity *a = &o->identities[i], *b = &n->identities[i];

		if (a->subnet.len != b->subnet.len ||
		    !addr_equal(&a->subnet.addr, &b->subnet.addr) || !str_eq(a->iface, b->iface) ||
		    !str_eq(a->client_cert, b->client_cert) ||
		    !str_eq(a->client_key, b->client_key))
			return false;
	}
	for (unsigned i = 0; i < o->nservers; i++) {
		const struct conf_server *a = &o->servers[i], *b = &n->servers[i];

		if (!str_eq(a->name, b->name) || a->proto != b->proto || !str_eq(a->url, b->url) ||
		    !str_eq(a->tls_name, b->tls_name) || a->port != b->port ||
		    a->naddrs != b->naddrs || !str_eq(a->ca_file, b->ca_file) ||
		    a->npins != b->npins || a->priority != b->priority ||
		    memcmp(a->addrs, b->addrs, sizeof(a->addrs[0]) * a->naddrs) != 0 ||
		    memcmp(a->pins, b->pins, sizeof(a->pins[0]) * a->npins) != 0)
			return false;
	}
	return true;
}

static void restart_needed(const struct conf *o, const struct conf *n)
{
	bool listen_changed = o->nlisten != n->nlisten;

	for (unsigned i = 0; !listen_changed && i < o->nlisten; i++)
		listen_changed = !addr_equal(&o->listen[i].addr, &n->listen[i].addr) ||
				 o->listen[i].port != n->listen[i].port;
	if (listen_changed || o->limits.pending_queries != n->limits.pending_queries ||
	    o->limits.records_per_message != n->limits.records_per_message ||
	    o->limits.addrs_per_name != n->limits.addrs_per_name)
		log_warnx("reload: stub listeners or pool sizes changed; they take effect after a "
			  "restart");
	if (o->fast_path != n->fast_path)
		log_warnx("reload: ruleset.fast_path changed; it takes effect after a restart");
	if (o->queue_num != n->queue_num || o->queue_count != n->queue_count ||
	    o->queue_maxlen != n->queue_maxlen)
		log_warnx("reload: queue settings changed; they take effect after a restart");
	if (o->limits.learned_max != n->limits.learned_max ||
	    o->limits.names_per_addr != n->limits.names_per_addr)
		log_warnx("reload: allowset bounds changed; they take effect after a restart");
	if ((o->metrics || n->metrics) &&
	    (!o->metrics || !n->metrics || strcmp(o->metrics, n->metrics) != 0))
		log_warnx("reload: metrics.listen changed; it takes effect after a restart");
	if (o->query_log_journal != n->query_log_journal ||
	    !o->query_log_file != !n->query_log_file ||
	    (o->query_log_file && strcmp(o->query_log_file, n->query_log_file) != 0))
		log_warnx("reload: query_log changed; it takes effect after a restart");
	if (strcmp(o->control_socket, n->control_socket) != 0 || o->control_uid != n->control_uid)
		log_warnx("reload: control socket settings changed; they take effect after a "
			  "restart");
}

/* One reload in flight: what it prepared, waiting for the new ruleset. */
struct daemon_reload {
	struct conf_errors *errs;
	struct conf *nc;
	struct exceptions *nex;
	struct verdictlog *nvlog;
	struct upstream_set nup;
	bool new_upstreams, vlog_changed;
};

struct reload_waiter {
	daemon_reload_done fn;
	void *arg;
};

/* The reload in flight, who waits for it, and who waits for the next one
 * (asked for while one ran: it reads the file again when this one ends). */
struct daemon_reloader {
	struct daemon_reload *cur;
	struct reload_waiter wait[DAEMON_RELOAD_WAITERS], next[DAEMON_RELOAD_WAITERS];
	unsigned nwait, nnext;
	bool again;
	bool stopping; /* daemon_stop() waits for cur; no new round */
};

static void reload_discard(struct daemon_reload *r)
{
	exceptions_free(&r->nex);
	verdictlog_close(&r->nvlog);
	upstream_set_free(&r->nup);
	conf_free(&r->nc);
	free(r->errs);
	free(r);
}

static void reload_failed(struct daemon *d, struct daemon_reload *r)
{
	d->cnt.reload_failures++;
	log_err("reload failed, keeping the running configuration: %s", d->last_reload_error);
	notify_status(d, "enforcing (last reload failed)");
	reload_discard(r);
}

/* Everything up to the new ruleset; nothing of the running state changed.
 * Returns 0 with *out, or -errno (reason in last_reload_error, counted). */
static int reload_prepare(struct daemon *d, struct daemon_reload **out)
{
	struct daemon_reload *r = calloc(1, sizeof(*r));
	int rc;

	if (!r || !(r->errs = calloc(1, sizeof(*r->errs)))) {
		free(r);
		snprintf(d->last_reload_error, sizeof(d->last_reload_error), "out of memory");
		d->cnt.reload_failures++;
		return -ENOMEM;
	}
	log_info("reloading %s", d->conf->path);
	notify_send("RELOADING=1");
	rc = conf_load(d->conf->path, &r->nc, r->errs);
	if (rc < 0) {
		for (unsigned i = 0; i < r->errs->count; i++)
			log_err("%s", r->errs->msg[i]);
		snprintf(d->last_reload_error, sizeof(d->last_reload_error), "%s",
			 r->errs->count ? r->errs->msg[0] : "cannot read the configuration");
		goto fail;
	}
	for (unsigned i = 0; i < r->errs->nwarn; i++)
		log_warnx("%s", r->errs->warn[i]);
	r->nex = exceptions_from_conf(r->nc);
	if (!r->nex) {
		rc = -ENOMEM;
		snprintf(d->last_reload_error, sizeof(d->last_reload_error), "out of memory");
		goto fail;
	}
	r->vlog_changed =
	    r->nc->log_verdicts != d->conf->log_verdicts ||
	    r->nc->log_format != d->conf->log_format ||
	    !r->nc->verdict_log != !d->conf->verdict_log ||
	    (r->nc->verdict_log && strcmp(r->nc->verdict_log, d->conf->verdict_log) != 0);
	if (r->vlog_changed) {
		rc = open_vlog(r->nc, &r->nvlog);
		if (rc < 0) {
			snprintf(d->last_reload_error, sizeof(d->last_reload_error),
				 "cannot open the verdict log");
			goto fail;
		}
	}
	if (!same_upstream(d->conf, r->nc)) {
		rc = upstream_set_new(d->loop, r->nc, &r->nup);
		r->new_upstreams = rc == 0;
		if (rc < 0) {
			snprintf(d->last_reload_error, sizeof(d->last_reload_error),
				 "cannot set up the new Protective DNS clients: %s", strerror(-rc));
			goto fail;
		}
	}
	if (r->nc->mode == CONF_MODE_GATEWAY && !d->crossing) {
		/* Reloaded into gateway mode: ZTDNS-WAN needs the crossing table
		 * before its first verdict. */
		d->crossing = crossing_new(CROSSING_DEFAULT_MS);
		if (!d->crossing) {
			rc = -ENOMEM;
			snprintf(d->last_reload_error, sizeof(d->last_reload_error),
				 "out of memory");
			goto fail;
		}
	}
	*out = r;
	return 0;
fail:
	reload_failed(d, r);
	return rc;
}

/* The new ruleset is in: switch everything else over. */
static void reload_commit(struct daemon *d, struct daemon_reload *r)
{
	struct conf *nc = r->nc, *oldc;
	struct exceptions *oldex;
	bool keep_old;

	restart_needed(d->conf, nc);
	oldex = d->exceptions;
	d->exceptions = r->nex;
	r->nex = NULL;
	d->policy.exceptions = d->exceptions;
	daemon_policy_from_conf(&d->policy, nc);
	d->policy.crossing = nc->mode == CONF_MODE_GATEWAY ? d->crossing : NULL;
	if (r->vlog_changed) {
		verdictlog_close(&d->vlog);
		d->vlog = r->nvlog;
		r->nvlog = NULL;
	}
	log_set_level(syslog_level(nc->log_level));
	oldc = d->conf;
	d->conf = nc;
	d->lan_resolved_ms = 0;
	if (nc->mode == CONF_MODE_GATEWAY)
		lan_resolve(d, allowset_now_ms());
	/* The threads read the new snapshot from here on; once this returns
	 * none reads the old tables (RCU), which may go. On failure they may
	 * still: keep them, the daemon is on its way out. */
	keep_old = daemon_publish(d) < 0 || d->failed;
	if (!keep_old)
		exceptions_free(&oldex);
	d->conf = oldc;
	stub_set_conf(d->stub, nc);
	if (nc->mode == CONF_MODE_GATEWAY && nc->shared_allowances &&
	    !(d->conf->mode == CONF_MODE_GATEWAY && d->conf->shared_allowances)) {
		/* Shared from now on: what each client learned is everyone's.
		 * (The other way round, shared allowances stay shared until
		 * they expire.) */
		size_t n = allowset_unscope(d->allowset, allowset_now_ms());

		log_info("reload: %zu per-client allowances are now shared", n);
	}
	if (r->new_upstreams) {
		struct upstream_set old;

		upstream_set_take(d, &old);
		upstream_set_install(d, nc, &r->nup);
		memset(&r->nup, 0, sizeof(r->nup));
		/* Queries in flight on the old servers are answered SERVFAIL. */
		upstream_set_free(&old);
	}
	if (!keep_old)
		conf_free(&d->conf);
	d->conf = nc;
	r->nc = NULL;
	journal_timer_set(d);
	d->cnt.reloads++;
	d->last_reload_error[0] = '\0';
	log_info("configuration reloaded");
	notify_status(d, "enforcing (reloaded)");
	reload_discard(r);
}

static void reload_answer(struct reload_waiter *w, unsigned n, int rc)
{
	for (unsigned i = 0; i < n; i++)
		if (w[i].fn)
			w[i].fn(w[i].arg, rc);
}

static int reload_begin(struct daemon *d);

static void on_reload_rules(void *arg, int rc)
{
	struct daemon *d = arg;
	struct daemon_reloader *rl = d->reloader;
	struct daemon_reload *r = rl->cur;
	struct reload_waiter done[DAEMON_RELOAD_WAITERS];
	unsigned ndone = rl->nwait;

	rl->cur = NULL;
	if (rc < 0) {
		snprintf(d->last_reload_error, sizeof(d->last_reload_error),
			 "the new ruleset was refused by the kernel");
		reload_failed(d, r);
	} else {
		reload_commit(d, r);
	}
	memcpy(done, rl->wait, sizeof(done[0]) * ndone);
	rl->nwait = 0;
	if (rl->again && rl->stopping) {
		rl->again = false;
		reload_answer(rl->next, rl->nnext, -ECANCELED);
		rl->nnext = 0;
	} else if (rl->again) {
		/* Those who asked meanwhile get a reload that read the file
		 * after they asked. */
		rl->again = false;
		memcpy(rl->wait, rl->next, sizeof(rl->next[0]) * rl->nnext);
		rl->nwait = rl->nnext;
		rl->nnext = 0;
		if (reload_begin(d) < 0) {
			struct reload_waiter failed[DAEMON_RELOAD_WAITERS];
			unsigned nfailed = rl->nwait;

			memcpy(failed, rl->wait, sizeof(failed[0]) * nfailed);
			rl->nwait = 0;
			reload_answer(failed, nfailed, -EINVAL);
		}
	}
	reload_answer(done, ndone, rc);
}

/* Prepare and start the ruleset; rl->cur set while it runs. */
static int reload_begin(struct daemon *d)
{
	struct daemon_reloader *rl = d->reloader;
	struct daemon_reload *r;
	int rc = reload_prepare(d, &r);

	if (rc < 0)
		return rc;
	/* The old ruleset is the fallback: one family may have changed. */
	rc = ruleset_apply_start(d->loop, r->nc, d->conf, on_reload_rules, d);
	if (rc < 0) {
		snprintf(d->last_reload_error, sizeof(d->last_reload_error),
			 "cannot run the ruleset installer: %s", strerror(-rc));
		reload_failed(d, r);
		return rc;
	}
	rl->cur = r;
	return 0;
}

int daemon_reload(struct daemon *d, daemon_reload_done done, void *arg)
{
	struct daemon_reloader *rl = d->reloader;
	int rc;

	if (!rl) {
		rl = d->reloader = calloc(1, sizeof(*rl));
		if (!rl) {
			snprintf(d->last_reload_error, sizeof(d->last_reload_error),
				 "out of memory");
			d->cnt.reload_failures++;
			return -ENOMEM;
		}
	}
	if (rl->stopping) {
		snprintf(d->last_reload_error, sizeof(d->last_reload_error), "stopping");
		return -ECANCELED;
	}
	if (rl->cur) {
		if (rl->nnext >= DAEMON_RELOAD_WAITERS) {
			snprintf(d->last_reload_error, sizeof(d->last_reload_error),
				 "too many reloads waiting");
			d->cnt.reload_failures++;
			return -EBUSY;
		}
		rl->next[rl->nnext++] = (struct reload_waiter){done, arg};
		rl->again = true;
		return 1;
	}
	rc = reload_begin(d);
	if (rc < 0)
		return rc;
	rl->wait[0] = (struct reload_waiter){done, arg};
	rl->nwait = 1;
	return 0;
}

/* Is a reload's ruleset still going in? */
static bool daemon_reload_busy(const struct daemon *d)
{
	return d->reloader && d->reloader->cur;
}

/* At stop: no new reload, and the one whose ruleset is going in finishes
 * first (each tool bounded by its own -w 10). */
static void reloads_drain(struct daemon *d)
{
	if (!d->reloader)
		return;
	d->reloader->stopping = true;
	while (daemon_reload_busy(d))
		ev_run(d->loop, EVRUN_ONCE);
}
