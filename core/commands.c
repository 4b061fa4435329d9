/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/commands.h"

#include <errno.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "core/allowset.h"
#include "core/audit.h"
#include "core/control.h"
#include "core/metrics.h"
#include "core/fastpath.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/netwatch.h"
#include "core/nfqueue.h"
#include "core/stats.h"
#include "core/util.h"
#include "core/verdictlog.h"
#include "core/xfercmd.h"
#include "dns/cache.h"
#include "dns/stub.h"
#include "dns/upstream.h"
#include "policy/exceptions.h"

static json_t *servers_json(const struct upstream *up)
{
	json_t *servers = json_array();

	for (unsigned i = 0; i < upstream_count(up); i++) {
		struct upstream_server_stats ss;
		json_t *lat = json_array();

		upstream_get_server_stats(up, i, &ss);
		for (unsigned b = 0; b < 8; b++)
			json_array_append_new(lat, json_integer((json_int_t)ss.latency_buckets[b]));
		json_array_append_new(
		    servers,
		    json_pack(
			"{s:s, s:s, s:i, s:b, s:i, s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I, "
			"s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
			"name", ss.name, "protocol", ss.proto, "priority", ss.priority, "healthy",
			ss.healthy, "consecutive_failures", (int)ss.consecutive_failures,
			"selected", (json_int_t)ss.selected, "failovers", (json_int_t)ss.failovers,
			"latency_ms_sum", (json_int_t)ss.latency_ms_sum, "answers_timed",
			(json_int_t)ss.latency_count, "latency_ms_le_1_2_5_10_50_100_1000_inf", lat,
			"transport", "queries", (json_int_t)ss.t.queries, "answers",
			(json_int_t)ss.t.answers, "timeouts", (json_int_t)ss.t.timeouts,
			"identity_errors", (json_int_t)ss.t.identity_errors, "conn_errors",
			(json_int_t)ss.t.conn_errors, "protocol_errors",
			(json_int_t)ss.t.protocol_errors, "connections",
			(json_int_t)ss.t.connections, "resumed", (json_int_t)ss.t.resumed,
			"inflight", (json_int_t)ss.t.inflight, "inflight_refused",
			(json_int_t)ss.t.inflight_refused, "syn_retries",
			(json_int_t)ss.t.syn_retries, "stale_closed",
			(json_int_t)ss.t.stale_closed));
	}
	return servers;
}

static json_t *dns_json(struct daemon *d)
{
	static const char *const rcodes[6] = {"noerror",  "formerr", "servfail",
					      "nxdomain", "notimp",  "refused"};
	struct stub_stats st;
	json_t *rc = json_object(), *ids = json_array(), *answers, *o;

	if (!d->stub || !d->upstream)
		return json_null();
	stub_get_stats(d->stub, &st);
	for (unsigned i = 0; i < 6; i++)
		json_object_set_new(rc, rcodes[i], json_integer((json_int_t)st.rcodes[i]));
	json_object_set_new(rc, "other", json_integer((json_int_t)st.rcode_other));
	for (unsigned i = 0; i < d->nid_upstream && i < d->conf->nidentities; i++) {
		char pb[PREFIX_STRLEN];

		json_array_append_new(
		    ids,
		    json_pack("{s:s, s:o}", "subnet",
			      addr_prefix_format(&d->conf->identities[i].subnet, pb, sizeof(pb)),
			      "servers", servers_json(d->id_upstream[i])));
	}
	{
		struct stub_counter why[STUB_REMOVED_WHYS];
		unsigned n = stub_removed_counters(&st, why);
		json_t *removed = json_object(), *classes = json_object();

		for (unsigned i = 0; i < n; i++)
			json_object_set_new(removed, why[i].name,
					    json_integer((json_int_t)why[i].value));
		for (unsigned c = 1; c < ADDR_CLASS__COUNT; c++)
			json_object_set_new(classes, addr_class_name(c),
					    json_integer((json_int_t)st.never_learn[c]));
		answers = json_pack(
		    "{s:I, s:I, s:I, s:o, s:o, s:I}", "filtered", (json_int_t)st.answers_filtered,
		    "emptied", (json_int_t)st.answers_emptied, "filter_errors",
		    (json_int_t)st.filter_errors, "records_removed", removed, "never_learn",
		    classes, "local_prefixes_dropped", (json_int_t)st.local_prefixes_dropped);
	}
	o = json_pack(
	    "{s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
	    "udp_queries", (json_int_t)st.udp_queries, "tcp_queries", (json_int_t)st.tcp_queries,
	    "rcodes", rc, "dropped", (json_int_t)st.dropped, "malformed_answered",
	    (json_int_t)st.formerr, "pending", (json_int_t)st.pending, "pending_full",
	    (json_int_t)st.pending_full, "client_full", (json_int_t)st.client_full, "tcp_conns",
	    (json_int_t)st.tcp_conns, "tcp_refused", (json_int_t)st.tcp_refused, "tcp_idle_closed",
	    (json_int_t)st.tcp_idle_closed, "tcp_out_overflow", (json_int_t)st.tcp_out_overflow,
	    "truncated", (json_int_t)st.truncated, "canary", (json_int_t)st.canary,
	    "upstream_errors", (json_int_t)st.upstream_errors, "bad_answers",
	    (json_int_t)st.bad_answers, "chain_errors", (json_int_t)st.chain_errors, "learned",
	    (json_int_t)st.learned, "learn_refused", (json_int_t)st.learn_refused, "learn_special",
	    (json_int_t)st.learn_special, "addrs_dropped", (json_int_t)st.addrs_dropped, "servers",
	    servers_json(d->upstream), "identities", ids, "answers", answers);
	if (o && d->conf) {
		/* forward_zones: each zone's servers, with their transport
		 * counters (plain DNS ones included). */
		json_t *zones = json_array();

		for (unsigned i = 0; i < upstream_zone_count(d->upstream) && i < d->conf->nfzones;
		     i++)
			json_array_append_new(
			    zones,
			    json_pack("{s:s, s:b, s:o}", "zone", d->conf->fzones[i].zone,
				      "insecure_plain_dns", d->conf->fzones[i].insecure_plain_dns,
				      "servers", servers_json(upstream_zone(d->upstream, i))));
		json_object_set_new(o, "forward_zones", zones);
	}
	if (o) {
		/* Gateway scope refusals (dns/stub.c gateway_scope()). */
		json_object_set_new(o, "scope_refused", json_integer((json_int_t)st.scope_refused));
		json_object_set_new(o, "scope_no_neighbour",
				    json_integer((json_int_t)st.scope_no_neigh));
		/* The per-client bounds (limits.*_per_client, tcp_*). */
		json_object_set_new(o, "learn_quota", json_integer((json_int_t)st.learn_quota));
		json_object_set_new(o, "tcp_client_full",
				    json_integer((json_int_t)st.tcp_client_full));
		json_object_set_new(o, "tcp_open", json_integer((json_int_t)st.tcp_open));
		json_object_set_new(o, "accept_paused", json_integer((json_int_t)st.accept_paused));
		json_object_set_new(o, "owner_unknown", json_integer((json_int_t)st.owner_unknown));
		json_object_set_new(o, "fair_refused", json_integer((json_int_t)st.fair_refused));
		json_object_set_new(o, "udp_rcvbuf_drops",
				    json_integer((json_int_t)st.udp_rcvbuf_drops));
	}
	return o;
}

static json_t *fastpath_json(struct daemon *d)
{
	struct fastpath_stats fs;

	if (!d->fastpath)
		return json_pack("{s:b}", "enabled", 0);
	fastpath_get_stats(d->fastpath, &fs);
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "enabled", 1, "added",
			 (json_int_t)fs.added, "removed", (json_int_t)fs.removed, "batches",
			 (json_int_t)fs.batches, "errors", (json_int_t)fs.errors, "dropped",
			 (json_int_t)fs.dropped, "failsafe_flushes",
			 (json_int_t)fs.failsafe_flushes);
}

static json_t *break_glass_json(const struct daemon *d, uint64_t now)
{
	bool open = breakglass_is_open(&d->bg, now);
	json_t *o = json_pack("{s:b, s:I, s:I}", "open", open, "opened_total",
			      (json_int_t)d->cnt.break_glass_opened, "flows",
			      (json_int_t)d->cnt.break_glass_flows);

	if (open) {
		json_object_set_new(
		    o, "remaining_s",
		    json_integer((json_int_t)((d->bg.until_ms - now + 999) / 1000)));
		json_object_set_new(o, "until_ms", json_integer((json_int_t)d->bg.until_real_ms));
		json_object_set_new(o, "reason", json_string(d->bg.reason));
		json_object_set_new(o, "uid", json_integer((json_int_t)d->bg.uid));
	}
	return o;
}

static json_t *cmd_break_glass(struct daemon *d, json_t *req, uid_t uid)
{
	json_t *secs = json_object_get(req, "seconds"), *reason = json_object_get(req, "reason");
	json_t *close = json_object_get(req, "close");

	if (json_is_true(close)) {
		daemon_break_glass(d, 0, NULL, uid);
		return json_pack("{s:b, s:o}", "ok", 1, "break_glass",
				 break_glass_json(d, allowset_now_ms()));
	}
	if (!json_is_integer(secs) || json_integer_value(secs) < 1 ||
	    json_integer_value(secs) > BREAKGLASS_MAX_S)
		return control_error("\"seconds\" must be an integer from 1 to %d",
				     BREAKGLASS_MAX_S);
	if (!json_is_string(reason) || json_string_length(reason) == 0 ||
	    json_string_length(reason) >= BREAKGLASS_REASON_MAX)
		return control_error("\"reason\" must be a text of 1 to %d characters",
				     BREAKGLASS_REASON_MAX - 1);
	if (daemon_break_glass(d, (unsigned)json_integer_value(secs), json_string_value(reason),
			       uid) < 0)
		return control_error("\"reason\" must be printable text");
	return json_pack("{s:b, s:o}", "ok", 1, "break_glass",
			 break_glass_json(d, allowset_now_ms()));
}

/* ---- the answer cache (dns/cache.h) ---- */

#define CMD_CACHE_LIST_MAX 1000

/* status.cache: {"enabled": bool, counters...} */
static json_t *cache_json(struct daemon *d)
{
	struct cache *k = d->stub ? stub_cache(d->stub) : NULL;
	struct cache_counter cn[CACHE_COUNTERS];
	struct cache_stats st = {0};
	json_t *o = json_object();
	unsigned n;

	if (k)
		cache_get_stats(k, &st);
	n = cache_counters(&st, cn);
	json_object_set_new(o, "enabled", json_boolean(k != NULL));
	for (unsigned i = 0; i < n; i++)
		json_object_set_new(o, cn[i].name, json_integer((json_int_t)cn[i].value));
	return o;
}

static void cache_list_one(void *arg, const struct cache_item *it)
{
	char name[WIRE_NAME_STRLEN];

	json_array_append_new(
	    arg, json_pack("{s:s, s:i, s:i, s:i, s:b, s:I, s:I, s:I}", "name",
			   wire_name_format(&it->key->qname, name, sizeof(name)), "type",
			   it->key->qtype, "identity", (int)it->key->identity, "rcode", it->rcode,
			   "negative", it->negative, "ttl_left_s", (json_int_t)it->ttl_left, "hits",
			   (json_int_t)it->hits, "bytes", (json_int_t)it->len));
}

/* {"cmd":"cache", "action":"stats"|"list"|"flush"} (default stats) */
static json_t *cmd_cache(struct daemon *d, json_t *req, uid_t uid)
{
	const char *action = json_string_value(json_object_get(req, "action"));
	struct cache *k = d->stub ? stub_cache(d->stub) : NULL;
	json_t *r;

	if (!action)
		action = "stats";
	if (strcmp(action, "stats") && strcmp(action, "list") && strcmp(action, "flush"))
		return control_error("\"action\" must be stats, list or flush");
	if (!k && strcmp(action, "stats"))
		return control_error("the answer cache is off (cache.enabled)");
	r = json_pack("{s:b, s:o}", "ok", 1, "cache", cache_json(d));
	if (strcmp(action, "list") == 0) {
		json_t *arr = json_array();

		cache_foreach(k, allowset_now_ms(), CMD_CACHE_LIST_MAX, cache_list_one, arr);
		json_object_set_new(r, "entries", arr);
	} else if (strcmp(action, "flush") == 0) {
		uint64_t n = cache_flush(k);

		log_info("operator (uid %u) flushed %llu cached answers", (unsigned)uid,
			 (unsigned long long)n);
		json_object_set_new(r, "removed", json_integer((json_int_t)n));
	}
	return r;
}

static json_t *cmd_status(struct daemon *d)
{
	struct allowset_stats as;
	json_t *reasons = json_object(), *queues = json_array(), *perr = json_object(), *resp;
	uint64_t now = allowset_now_ms();

	daemon_counters_sync(d);
	allowset_get_stats(d->allowset, &as);
	for (unsigned r = 0; r < VERDICT_REASON_COUNT; r++)
		json_object_set_new(reasons, verdict_reason_name(r),
				    json_integer((json_int_t)d->cnt.verdicts[r]));
	for (unsigned e = 1; e < ARRAY_SIZE(d->cnt.packet_errors); e++)
		json_object_set_new(perr, packet_strerror(e),
				    json_integer((json_int_t)d->cnt.packet_errors[e]));
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct nfqueue_stats st;
		struct nfqueue_kernel_stats ks;
		json_t *q;

		nfqueue_get_stats(d->queues[i], &st);
		q = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "num",
			      nfqueue_num(d->queues[i]), "packets", (json_int_t)st.packets,
			      "accepted", (json_int_t)st.accepted, "dropped",
			      (json_int_t)st.dropped, "rejected", (json_int_t)st.rejected,
			      "enobufs", (json_int_t)st.enobufs, "malformed",
			      (json_int_t)st.malformed, "send_errors", (json_int_t)st.send_errors,
			      "nl_errors", (json_int_t)st.nl_errors, "batches",
			      (json_int_t)st.batches, "batch_max", (json_int_t)st.batch_max);
		if (nfqueue_kernel_stats(nfqueue_num(d->queues[i]), &ks) == 0)
			json_object_set_new(q, "kernel",
					    json_pack("{s:i, s:i, s:i, s:i, s:i, s:b}", "waiting",
						      ks.queue_total, "copy_range", ks.copy_range,
						      "queue_dropped", ks.queue_dropped,
						      "user_dropped", ks.user_dropped, "portid",
						      ks.portid, "fail_open", 0));
		json_array_append_new(queues, q);
	}
	resp = json_pack(
	    "{s:b, s:b, s:s, s:s, s:I, s:[s, s], "
	    "s:{s:I, s:I, s:I, s:o}, "
	    "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
	    "s:o, s:o, s:o, s:{s:s, s:I, s:I, s:s}, "
	    "s:{s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
	    "ok", 1, "ready", d->ready && d->dns_ready, "mode", conf_mode_name(d->conf->mode),
	    "enforce", d->conf->enforce ? "enforce" : "audit", "uptime_s",
	    (json_int_t)((now - d->started_ms) / 1000),
	    /* What nfqueue_new() requested; fail-open is never set. */
	    "queue_flags", "gso", "uid_gid", "verdicts", "accepted", (json_int_t)d->cnt.accepted,
	    "denied", (json_int_t)d->cnt.denied, "would_deny", (json_int_t)d->cnt.would_deny,
	    "by_reason", reasons, "allowset", "entries", (json_int_t)as.entries, "capacity",
	    (json_int_t)allowset_capacity(d->allowset), "inserts", (json_int_t)as.inserts,
	    "refreshes", (json_int_t)as.refreshes, "full", (json_int_t)as.full, "evicted",
	    (json_int_t)as.evicted, "swept", (json_int_t)as.swept, "names_dropped",
	    (json_int_t)as.names_dropped, "packet_errors", perr, "queues", queues, "dns",
	    dns_json(d), "config", "path", d->conf->path, "reloads", (json_int_t)d->cnt.reloads,
	    "reload_failures", (json_int_t)d->cnt.reload_failures, "last_reload_error",
	    d->last_reload_error, "journal", "path", d->conf->journal, "saves",
	    (json_int_t)d->jst.saves, "save_errors", (json_int_t)d->jst.save_errors, "saved",
	    (json_int_t)d->jst.saved, "loaded", (json_int_t)d->jst.loaded, "load_expired",
	    (json_int_t)d->jst.load_expired, "load_bad", (json_int_t)d->jst.load_bad,
	    "load_refused", (json_int_t)d->jst.load_refused, "fast_path", fastpath_json(d));
	if (resp) {
		json_t *a = json_object_get(resp, "allowset");
		struct control_stats cs = {0};
		struct metrics_stats ms;

		metrics_get_stats(d->metrics, &ms);
		if (d->control)
			control_get_stats(d->control, &cs);
		json_object_set_new(a, "quota", json_integer((json_int_t)as.quota));
		json_object_set_new(a, "owners",
				    json_integer((json_int_t)allowset_owner_count(d->allowset)));
		json_object_set_new(resp, "accept_paused",
				    json_pack("{s:I, s:I}", "control", (json_int_t)cs.accept_paused,
					      "metrics", (json_int_t)ms.accept_paused));
		json_object_set_new(resp, "break_glass", break_glass_json(d, now));
		json_object_set_new(resp, "cache", cache_json(d));
		json_object_set_new(json_object_get(resp, "verdicts"), "records_dropped",
				    json_integer((json_int_t)d->cnt.records_dropped));
		/* readiness.require_answer: "ready" waits for a first answer */
		json_object_set_new(resp, "dns_answered", json_boolean(d->dns_ready));
		if (d->netwatch) {
			struct netwatch_stats nw;

			netwatch_get_stats(d->netwatch, &nw);
			json_object_set_new(
			    resp, "network_changes",
			    json_pack("{s:I, s:I, s:I}", "events", (json_int_t)nw.events, "changes",
				      (json_int_t)nw.changes, "overrun", (json_int_t)nw.overrun));
		}
		json_object_set_new(resp, "import",
				    json_pack("{s:I, s:I}", "imported",
					      (json_int_t)d->xfer.imported, "refused",
					      (json_int_t)d->xfer.refused));
		/* Every counter of the registry, as Prometheus shows it. */
		json_object_set_new(resp, "metrics", stats_render_json(d));
	}
	return resp;
}

static json_t *view_json(const struct allowset_view *v, uint64_t now)
{
	char a[ADDR_STRLEN], s[ADDR_STRLEN];
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:I}", "addr", addr_format(&v->addr, a, sizeof(a)),
		      "source", v->source == ALLOWSET_MANUAL ? "manual" : "learned", "names",
		      v->names, "server", v->server, "hits", (json_int_t)v->hits);

	if (v->scope.family == AF_LOCAL)
		json_object_set_new(o, "client", json_string("self"));
	else if (v->scope.family)
		json_object_set_new(o, "client", json_string(addr_format(&v->scope, s, sizeof(s))));
	if (v->expires_ms > now)
		json_object_set_new(o, "expires_in_s",
				    json_integer((json_int_t)((v->expires_ms - now + 999) / 1000)));
	else
		json_object_set_new(o, "expired_ago_s",
				    json_integer((json_int_t)((now - v->expires_ms) / 1000)));
	json_object_set_new(o, "age_s", json_integer((json_int_t)((now - v->added_ms) / 1000)));
	return o;
}

struct list_ctx {
	json_t *arr;
	const char *name;
	bool by_client;
	struct addr client; /* family AF_LOCAL: "self"; 0: operator (global) */
	size_t count, total;
	uint64_t now;
};

static bool names_contain(const char *names, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = names; (p = strcasestr(p, name)); p += n) {
		bool start = p == names || p[-1] == ' ';
		bool end = p[n] == '\0' || p[n] == ',';

		if (start && end)
			return true;
	}
	return false;
}

static int list_one(const struct allowset_view *v, void *arg)
{
	struct list_ctx *lc = arg;

	if (lc->name && !names_contain(v->names, lc->name))
		return 0;
	if (lc->by_client && !addr_equal(&v->scope, &lc->client))
		return 0;
	lc->total++;
	if (lc->count >= COMMANDS_LIST_MAX)
		return 0;
	json_array_append_new(lc->arr, view_json(v, lc->now));
	lc->count++;
	return 0;
}

static json_t *cmd_list(struct daemon *d, json_t *req)
{
	struct list_ctx lc = {.arr = json_array(), .now = allowset_now_ms()};
	json_t *name = json_object_get(req, "name"), *client = json_object_get(req, "client");

	if (name && !json_is_string(name)) {
		json_decref(lc.arr);
		return control_error("\"name\" must be a string");
	}
	lc.name = name ? json_string_value(name) : NULL;
	if (client) {
		const char *cs = json_is_string(client) ? json_string_value(client) : "";

		lc.by_client = true;
		if (strcmp(cs, "self") == 0) {
			lc.client = *allowset_scope_self();
		} else if (strcmp(cs, "operator") == 0 || strcmp(cs, "global") == 0) {
			memset(&lc.client, 0, sizeof(lc.client));
		} else if (addr_parse(cs, &lc.client) < 0) {
			json_decref(lc.arr);
			return control_error("\"client\" must be an address, \"self\" or "
					     "\"operator\"");
		}
	}
	allowset_walk(d->allowset, list_one, &lc);
	return json_pack("{s:b, s:o, s:I, s:b}", "ok", 1, "entries", lc.arr, "total",
			 (json_int_t)lc.total, "truncated", lc.total > lc.count);
}

static int get_addr(json_t *req, struct addr *a, json_t **err)
{
	json_t *v = json_object_get(req, "addr");

	if (!json_is_string(v)) {
		*err = control_error("\"addr\" (an IP address) is required");
		return -1;
	}
	if (addr_parse(json_string_value(v), a) < 0) {
		*err = control_error("\"%s\" is not an IP address", json_string_value(v));
		return -1;
	}
	return 0;
}

static json_t *cmd_allow(struct daemon *d, json_t *req, uid_t uid)
{
	struct addr a;
	json_t *err, *ttl = json_object_get(req, "ttl");
	json_int_t secs = COMMANDS_MANUAL_TTL_DEFAULT;
	uint64_t now = allowset_now_ms();
	char buf[ADDR_STRLEN];
	int rc;

	if (get_addr(req, &a, &err) < 0)
		return err;
	if (d->stub) {
		bool embedded;
		enum addr_class cls = stub_classify(d->stub, &a, &embedded);

		/* The same table as the stub's: what no answer may open, no
		 * operator opens either (invariant 7). */
		if (cls != ADDR_CLASS_OK)
			return control_error(
			    "%s is %s%s: never allowed", addr_format(&a, buf, sizeof(buf)),
			    embedded ? "an IPv6 form of an IPv4 address that is " : "",
			    addr_class_name(cls));
	}
	if (ttl) {
		if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
		    json_integer_value(ttl) > COMMANDS_MANUAL_TTL_MAX)
			return control_error("\"ttl\" must be an integer from 1 to %d seconds",
					     COMMANDS_MANUAL_TTL_MAX);
		secs = json_integer_value(ttl);
	}
	rc = allowset_add(d->allowset, NULL, &a, now + (uint64_t)secs * 1000, ALLOWSET_MANUAL, NULL,
			  "operator", now);
	if (rc == -ENOSPC)
		return control_error("the allowset is full (%zu entries)",
				     allowset_capacity(d->allowset));
	if (rc < 0)
		return control_error("cannot allow: %s", strerror(-rc));
	daemon_fastpath_add(d, NULL, &a, now + (uint64_t)secs * 1000, now);
	log_info("operator (uid %u) allowed %s for %lld s", (unsigned)uid,
		 addr_format(&a, buf, sizeof(buf)), (long long)secs);
	return json_pack("{s:b, s:s, s:I}", "ok", 1, "addr", buf, "ttl", secs);
}

/* The scopes that hold an allowance for one address (a revoke takes it
 * from every client, not only from the shared scope). */
#define REVOKE_BATCH 64
struct revoke_ctx {
	struct addr a;
	struct addr scopes[REVOKE_BATCH];
	unsigned n;
};

static int revoke_collect(const struct allowset_view *v, void *arg)
{
	struct revoke_ctx *rc = arg;

	if (!addr_equal(&v->addr, &rc->a))
		return 0;
	rc->scopes[rc->n++] = v->scope;
	return rc->n == REVOKE_BATCH; /* full: remove these, then look again */
}

static json_t *cmd_revoke(struct daemon *d, json_t *req, uid_t uid)
{
	struct revoke_ctx rc = {.n = 0};
	unsigned removed = 0;
	json_t *err;
	char buf[ADDR_STRLEN];

	if (get_addr(req, &rc.a, &err) < 0)
		return err;
	addr_format(&rc.a, buf, sizeof(buf));
	do {
		rc.n = 0;
		allowset_walk(d->allowset, revoke_collect, &rc);
		for (unsigned i = 0; i < rc.n; i++) {
			const struct addr *scope = rc.scopes[i].family ? &rc.scopes[i] : NULL;

			if (allowset_remove(d->allowset, scope, &rc.a) == 0)
				removed++;
			fastpath_del(d->fastpath, scope, &rc.a);
		}
	} while (rc.n == REVOKE_BATCH);
	if (!removed)
		return control_error("%s is not in the allowset", buf);
	log_info("operator (uid %u) revoked %s (%u allowances)", (unsigned)uid, buf, removed);
	return json_pack("{s:b, s:s, s:i}", "ok", 1, "addr", buf, "removed", (int)removed);
}

/* What the stub removed from an answer, and why (invariant 7). */
static json_t *refusal_json(const struct allowset_refusal *f, uint64_t now)
{
	static const char *const why[] = {[ALLOWSET_REFUSED_FULL] = "allowset-full",
					  [ALLOWSET_REFUSED_PER_NAME] = "addrs_per_name",
					  [ALLOWSET_REFUSED_NEVER_LEARN] = "never-learn",
					  [ALLOWSET_REFUSED_QUOTA] = "learned_per_client"};
	json_t *o = json_pack(
	    "{s:s, s:s, s:I}", "why",
	    (unsigned)f->reason < ARRAY_SIZE(why) && why[f->reason] ? why[f->reason] : "unknown",
	    "name", f->name, "ago_s", (json_int_t)(now > f->at_ms ? (now - f->at_ms) / 1000 : 0));

	if (f->reason == ALLOWSET_REFUSED_NEVER_LEARN)
		json_object_set_new(o, "class", json_string(addr_class_name(f->cls)));
	return o;
}

static json_t *cmd_explain(struct daemon *d, json_t *req)
{
	struct packet_info pi = {0};
	struct verdict_result r;
	json_t *err, *port = json_object_get(req, "port"), *proto = json_object_get(req, "proto");
	json_t *from = json_object_get(req, "from");
	uint64_t now = allowset_now_ms();
	char line[1024];
	const char *p = proto && json_is_string(proto) ? json_string_value(proto) : "tcp";

	if (get_addr(req, &pi.dst, &err) < 0)
		return err;
	if (from && (!json_is_string(from) || addr_parse(json_string_value(from), &pi.src) < 0 ||
		     pi.src.family != pi.dst.family))
		return control_error("\"from\" must be an address of the same family");
	if (strcmp(p, "tcp") == 0)
		pi.proto = IPPROTO_TCP;
	else if (strcmp(p, "udp") == 0)
		pi.proto = IPPROTO_UDP;
	else if (strcmp(p, "icmp") == 0)
		pi.proto = pi.dst.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	else
		return control_error("\"proto\" must be tcp, udp or icmp");
	if (port && (!json_is_integer(port) || json_integer_value(port) < 0 ||
		     json_integer_value(port) > 65535))
		return control_error("\"port\" must be 0..65535");
	pi.dport = port ? (uint16_t)json_integer_value(port) : (pi.proto == IPPROTO_TCP ? 443 : 0);
	if (pi.proto == IPPROTO_ICMP || pi.proto == IPPROTO_ICMPV6)
		pi.icmp_type = pi.dst.family == AF_INET ? 8 : 128;
	{
		struct verdict_policy pol = d->policy;

		pol.want_details = true; /* the evidence is the point */
		pol.read_only = true;	 /* asking is not a flow: no hit counted */
		verdict_decide(&pol, &pi, from ? NULL : allowset_scope_self(), now, &r);
		r.reject = !r.accept && d->conf->deny_action == CONF_DENY_REJECT;
	}
	verdictlog_format(line, sizeof(line), false, NULL, &pi, PACKET_OK, &r, NULL, now);
	{
		json_t *o =
		    json_pack("{s:b, s:s, s:s, s:b, s:s}", "ok", 1, "verdict",
			      verdictlog_verdict_name(&r), "reason", verdict_reason_name(r.reason),
			      "would_deny", r.would_deny, "text", line);

		if (r.reason == VERDICT_EXCEPTION) {
			char sub[PREFIX_STRLEN];

			json_object_set_new(
			    o, "subnet",
			    json_string(addr_prefix_format(&r.subnet, sub, sizeof(sub))));
			if (r.group[0])
				json_object_set_new(o, "group", json_string(r.group));
		}
		if (r.reason == VERDICT_LEARNED || r.reason == VERDICT_MANUAL ||
		    r.reason == VERDICT_EXPIRED)
			json_object_set_new(o, "entry", view_json(&r.view, now));
		if (r.reason == VERDICT_OVER_CAP || r.reason == VERDICT_NEVER_LEARN)
			json_object_set_new(o, "removed", refusal_json(&r.refusal, now));
		if (d->stub) {
			enum addr_class cls = stub_classify(d->stub, &pi.dst, NULL);

			if (cls != ADDR_CLASS_OK)
				json_object_set_new(o, "never_learn",
						    json_string(addr_class_name(cls)));
		}
		return o;
	}
}

/* {"cmd":"audit-report", "v4_prefix":24?, "v6_prefix":64?, "clear":bool?,
 * "config":bool?} */
static json_t *cmd_audit_report(struct daemon *d, json_t *req)
{
	json_t *v4 = json_object_get(req, "v4_prefix"), *v6 = json_object_get(req, "v6_prefix");
	json_t *r;
	json_int_t l4 = 32, l6 = 128;

	if (v4 && (!json_is_integer(v4) || (l4 = json_integer_value(v4)) < 8 || l4 > 32))
		return control_error("\"v4_prefix\" must be 8..32");
	if (v6 && (!json_is_integer(v6) || (l6 = json_integer_value(v6)) < 16 || l6 > 128))
		return control_error("\"v6_prefix\" must be 16..128");
	r = audit_report(d->audit, (unsigned)l4, (unsigned)l6, allowset_now_ms());
	if (!r)
		return control_error("out of memory");
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "enforce", json_boolean(d->conf->enforce));
	if (json_is_true(json_object_get(req, "config"))) {
		struct audit_config_counts n;
		json_t *conf = audit_config(d->conf, json_object_get(r, "proposed_exceptions"), &n);

		if (!conf) {
			json_decref(r);
			return control_error("out of memory");
		}
		json_object_set_new(r, "config", conf);
		json_object_set_new(r, "config_added", json_integer(n.added));
		json_object_set_new(r, "config_present", json_integer(n.present));
		json_object_set_new(r, "config_omitted", json_integer(n.omitted));
	}
	if (json_is_true(json_object_get(req, "clear")))
		audit_clear(d->audit);
	return r;
}

static json_t *cmd_flush(struct daemon *d, uid_t uid)
{
	size_t n = allowset_flush(d->allowset);

	fastpath_flush_all(d->fastpath);

	log_info("operator (uid %u) flushed %zu allowances", (unsigned)uid, n);
	return json_pack("{s:b, s:I}", "ok", 1, "removed", (json_int_t)n);
}

static const char *const watch_keys[] = {"verdict", "reason", "addr", "port", "proto"};

static json_t *cmd_watch(struct daemon *d, json_t *req, struct control_client *cl)
{
	json_t *filter = json_object(), *v;
	struct addr a;

	(void)d;
	for (size_t i = 0; i < ARRAY_SIZE(watch_keys); i++) {
		v = json_object_get(req, watch_keys[i]);
		if (!v)
			continue;
		if (strcmp(watch_keys[i], "port") == 0 ? !json_is_integer(v) : !json_is_string(v)) {
			json_decref(filter);
			return control_error("watch: bad \"%s\"", watch_keys[i]);
		}
		if (strcmp(watch_keys[i], "addr") == 0 &&
		    addr_parse(json_string_value(v), &a) < 0) {
			json_decref(filter);
			return control_error("watch: \"%s\" is not an address",
					     json_string_value(v));
		}
		json_object_set(filter, watch_keys[i], v);
	}
	control_subscribe(cl, filter);
	json_decref(filter);
	return json_pack("{s:b, s:b}", "ok", 1, "watching", 1);
}

bool commands_watch_match(json_t *filter, const void *event)
{
	const struct commands_event *ev = event;
	const struct verdict_result *r = ev->r;
	const struct packet_info *p = ev->pkt;
	json_t *v;
	char buf[8];

	if ((v = json_object_get(filter, "verdict")) &&
	    strcmp(json_string_value(v), verdictlog_verdict_name(r)) != 0)
		return false;
	if ((v = json_object_get(filter, "reason")) &&
	    strcmp(json_string_value(v), verdict_reason_name(r->reason)) != 0)
		return false;
	if ((v = json_object_get(filter, "addr"))) {
		struct addr a;

		if (!p || addr_parse(json_string_value(v), &a) < 0 ||
		    !(addr_equal(&a, &p->src) || addr_equal(&a, &p->dst)))
			return false;
	}
	if ((v = json_object_get(filter, "port")) &&
	    (!p || (json_integer_value(v) != p->dport && json_integer_value(v) != p->sport)))
		return false;
	if ((v = json_object_get(filter, "proto")) &&
	    (!p ||
	     strcmp(json_string_value(v), packet_proto_name(p->proto, buf, sizeof(buf))) != 0))
		return false;
	return true;
}

/* The answer to a reload is its outcome, given once the new ruleset is in
 * the kernel (or refused); the loop keeps serving verdicts meanwhile. */
struct reload_answer {
	struct daemon *d;
	uint64_t token;
};

static json_t *reload_result(struct daemon *d, int rc)
{
	if (rc < 0)
		return control_error("reload refused, the running configuration is kept: %s",
				     d->last_reload_error);
	return json_pack("{s:b, s:s}", "ok", 1, "config", d->conf->path);
}

static void on_reloaded(void *arg, int rc)
{
	struct reload_answer *a = arg;

	control_reply(a->d->control, a->token, reload_result(a->d, rc));
	free(a);
}

static json_t *cmd_reload(struct daemon *d, struct control_client *cl)
{
	struct reload_answer *a = malloc(sizeof(*a));
	int rc;

	if (!a)
		return control_error("out of memory");
	a->d = d;
	a->token = control_defer(cl);
	rc = daemon_reload(d, on_reloaded, a);
	if (rc < 0) {
		free(a);
		return reload_result(d, rc); /* answered now after all */
	}
	return NULL;
}

json_t *commands_handle(void *arg, json_t *req, uid_t peer_uid, struct control_client *cl)
{
	struct daemon *d = arg;
	json_t *cmd = json_object_get(req, "cmd");
	const char *c;

	if (!json_is_string(cmd))
		return control_error("\"cmd\" is required");
	c = json_string_value(cmd);
	if (strcmp(c, "status") == 0)
		return cmd_status(d);
	if (strcmp(c, "list") == 0)
		return cmd_list(d, req);
	if (strcmp(c, "allow") == 0)
		return cmd_allow(d, req, peer_uid);
	if (strcmp(c, "revoke") == 0)
		return cmd_revoke(d, req, peer_uid);
	if (strcmp(c, "explain") == 0)
		return cmd_explain(d, req);
	if (strcmp(c, "audit-report") == 0)
		return cmd_audit_report(d, req);
	if (strcmp(c, "flush") == 0)
		return cmd_flush(d, peer_uid);
	if (strcmp(c, "cache") == 0)
		return cmd_cache(d, req, peer_uid);
	if (strcmp(c, "reload") == 0)
		return cmd_reload(d, cl);
	if (strcmp(c, "break-glass") == 0)
		return cmd_break_glass(d, req, peer_uid);
	if (strcmp(c, "watch") == 0)
		return cmd_watch(d, req, cl);
	if (strcmp(c, "export") == 0)
		return xfercmd_export(d, req);
	if (strcmp(c, "import") == 0)
		return xfercmd_import(d, req, peer_uid);
	return control_error("unknown command \"%s\"", c);
}
