/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control commands without a socket: request JSON into
 * commands_handle() over a daemon made of real parts (allowset, exceptions,
 * audit, a stub on loopback whose upstream is the replay transport), reply
 * JSON checked for every command, bad input included (the error text).
 * Then the registry: every counter of the hand-written status JSON has the
 * value of its registry sample (status.metrics, the samples Prometheus
 * shows). The daemon's own counters and the journal's get distinct values,
 * so that a mix-up between them shows; the stub's, upstream's and
 * allowset's are what the commands and the one replayed exchange left.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <ev.h>

#include "check.h"
#include "core/allowset.h"
#include "core/audit.h"
#include "core/commands.h"
#include "core/crossing.h"
#include "core/daemon.h"
#include "core/stats.h"
#include "core/util.h"
#include "core/verdict.h"
#include "dns/stub.h"
#include "dns/wire.h"
#include "policy/conf.h"
#include "policy/exceptions.h"
#include "replay.h"
#include "replay_answers.h"

static struct daemon d;

/* Send req (JSON text); the reply, owned by the caller. */
static json_t *cmd(const char *req)
{
	json_error_t e;
	json_t *r = json_loads(req, 0, &e), *out;

	CHECK_MSG(r != NULL, "bad test JSON %s", req);
	if (!r)
		return json_null();
	out = commands_handle(&d, r, 1000, NULL);
	json_decref(r);
	CHECK_MSG(out != NULL, "%s: no reply", req);
	return out ? out : json_null();
}

static bool ok(json_t *r)
{
	return json_is_true(json_object_get(r, "ok"));
}

/* The reply is {"ok": false, "error": text containing want}. */
static void check_error(const char *req, const char *want)
{
	json_t *r = cmd(req);
	const char *e = json_string_value(json_object_get(r, "error"));

	CHECK_MSG(json_is_false(json_object_get(r, "ok")) && e && strstr(e, want),
		  "%s: error '%s', want '%s'", req, e ? e : "(none)", want);
	json_decref(r);
}

static json_t *path(json_t *o, const char *p)
{
	char key[64];

	while (o && *p) {
		size_t n = strcspn(p, "/");

		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		o = json_is_array(o) ? json_array_get(o, (size_t)strtoul(key, NULL, 10))
				     : json_object_get(o, key);
		p += n + (p[n] == '/');
	}
	return o;
}

static void test_commands(void)
{
	json_t *r, *e;
	struct allowset_view v;
	struct addr a;

	check_error("{}", "\"cmd\" is required");
	check_error("{\"cmd\":7}", "\"cmd\" is required");
	check_error("{\"cmd\":\"nope\"}", "unknown command \"nope\"");

	/* allow */
	check_error("{\"cmd\":\"allow\"}", "\"addr\" (an IP address) is required");
	check_error("{\"cmd\":\"allow\",\"addr\":\"192.0.2.999\"}",
		    "\"192.0.2.999\" is not an IP address");
	check_error("{\"cmd\":\"allow\",\"addr\":\"203.0.113.9\",\"ttl\":0}",
		    "\"ttl\" must be an integer from 1 to 604800");
	check_error("{\"cmd\":\"allow\",\"addr\":\"203.0.113.9\",\"ttl\":604801}", "\"ttl\"");
	check_error("{\"cmd\":\"allow\",\"addr\":\"203.0.113.9\",\"ttl\":\"60\"}", "\"ttl\"");
	check_error("{\"cmd\":\"allow\",\"addr\":\"127.0.0.1\"}", "127.0.0.1 is loopback");
	check_error("{\"cmd\":\"allow\",\"addr\":\"::ffff:127.0.0.1\"}",
		    "an IPv6 form of an IPv4 address");
	r = cmd("{\"cmd\":\"allow\",\"addr\":\"203.0.113.9\",\"ttl\":60}");
	CHECK(ok(r) && !strcmp(json_string_value(json_object_get(r, "addr")), "203.0.113.9") &&
	      json_integer_value(json_object_get(r, "ttl")) == 60);
	json_decref(r);
	addr_parse("203.0.113.9", &a);
	CHECK(allowset_lookup(d.allowset, NULL, &a, allowset_now_ms(), &v, false) == ALLOWSET_HIT);
	CHECK(v.source == ALLOWSET_MANUAL && !strcmp(v.server, "operator"));
	CHECK(v.expires_ms > allowset_now_ms() + 58000 &&
	      v.expires_ms <= allowset_now_ms() + 60000);
	r = cmd("{\"cmd\":\"allow\",\"addr\":\"2001:db8::9\"}");
	CHECK(ok(r) &&
	      json_integer_value(json_object_get(r, "ttl")) == COMMANDS_MANUAL_TTL_DEFAULT);
	json_decref(r);

	/* list */
	check_error("{\"cmd\":\"list\",\"name\":3}", "\"name\" must be a string");
	check_error("{\"cmd\":\"list\",\"client\":\"lan\"}", "\"client\" must be an address");
	r = cmd("{\"cmd\":\"list\"}");
	CHECK(ok(r) && json_integer_value(json_object_get(r, "total")) == 2 &&
	      json_array_size(json_object_get(r, "entries")) == 2 &&
	      json_is_false(json_object_get(r, "truncated")));
	json_decref(r);
	r = cmd("{\"cmd\":\"list\",\"client\":\"self\"}");
	CHECK(ok(r) && json_integer_value(json_object_get(r, "total")) == 0);
	json_decref(r);

	/* a learned entry, through the stub: list by name, explain */
	{
		uint8_t q[512];
		size_t qlen = 0;
		struct wire_name n;
		struct replay_query *rq = NULL;
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)d.conf->listen[0].port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		struct timeval tv = {.tv_sec = 2};
		uint8_t b[1024];

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		wire_name_from_str("www.example.test", &n);
		wire_build_query(77, &n, WIRE_TYPE_A, true, 1232, q, sizeof(q), &qlen);
		CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		      send(fd, q, qlen, 0) == (ssize_t)qlen);
		for (int i = 0; i < 2000 && !(rq = replay_next()); i++) {
			ev_run(d.loop, EVRUN_NOWAIT);
			usleep(1000);
		}
		CHECK(rq != NULL);
		if (rq)
			replay_answer(rq, rec_www_a, sizeof(rec_www_a), 0);
		CHECK(recv(fd, b, sizeof(b), 0) > 12);
		close(fd);
	}
	r = cmd("{\"cmd\":\"list\",\"name\":\"WWW.example.test\"}");
	CHECK(ok(r) && json_integer_value(json_object_get(r, "total")) == 2);
	e = path(r, "entries/0");
	CHECK(e && !strcmp(json_string_value(json_object_get(e, "source")), "learned") &&
	      !strcmp(json_string_value(json_object_get(e, "server")), "one") &&
	      json_integer_value(json_object_get(e, "expires_in_s")) > 300);
	json_decref(r);
	r = cmd("{\"cmd\":\"list\",\"name\":\"example.test\"}"); /* whole names only */
	CHECK(ok(r) && json_integer_value(json_object_get(r, "total")) == 0);
	json_decref(r);

	/* explain */
	check_error("{\"cmd\":\"explain\"}", "\"addr\" (an IP address) is required");
	check_error("{\"cmd\":\"explain\",\"addr\":\"192.0.2.10\",\"proto\":\"sctp\"}",
		    "\"proto\" must be tcp, udp or icmp");
	check_error("{\"cmd\":\"explain\",\"addr\":\"192.0.2.10\",\"port\":70000}",
		    "\"port\" must be 0..65535");
	check_error("{\"cmd\":\"explain\",\"addr\":\"192.0.2.10\",\"from\":\"2001:db8::1\"}",
		    "\"from\" must be an address of the same family");
	r = cmd("{\"cmd\":\"explain\",\"addr\":\"192.0.2.10\"}");
	CHECK(ok(r) && !strcmp(json_string_value(json_object_get(r, "verdict")), "accept") &&
	      !strcmp(json_string_value(json_object_get(r, "reason")), "learned"));
	CHECK(path(r, "entry/names") &&
	      strstr(json_string_value(path(r, "entry/names")), "www.example.test"));
	json_decref(r);
	r = cmd("{\"cmd\":\"explain\",\"addr\":\"198.51.100.77\",\"port\":22}");
	CHECK(ok(r) && !strcmp(json_string_value(json_object_get(r, "verdict")), "drop") &&
	      !strcmp(json_string_value(json_object_get(r, "reason")), "never-resolved"));
	json_decref(r);
	r = cmd("{\"cmd\":\"explain\",\"addr\":\"203.0.113.200\",\"proto\":\"udp\"}");
	CHECK(ok(r) && !strcmp(json_string_value(json_object_get(r, "reason")), "exception") &&
	      !strcmp(json_string_value(json_object_get(r, "subnet")), "203.0.113.128/25"));
	json_decref(r);
	r = cmd("{\"cmd\":\"explain\",\"addr\":\"127.0.0.1\"}");
	CHECK(ok(r) && !strcmp(json_string_value(json_object_get(r, "never_learn")), "loopback"));
	json_decref(r);

	/* revoke */
	check_error("{\"cmd\":\"revoke\"}", "\"addr\" (an IP address) is required");
	check_error("{\"cmd\":\"revoke\",\"addr\":\"198.51.100.1\"}",
		    "198.51.100.1 is not in the allowset");
	r = cmd("{\"cmd\":\"revoke\",\"addr\":\"203.0.113.9\"}");
	CHECK(ok(r) && json_integer_value(json_object_get(r, "removed")) == 1);
	json_decref(r);
	CHECK(allowset_lookup(d.allowset, NULL, &a, allowset_now_ms(), NULL, false) !=
	      ALLOWSET_HIT);
	check_error("{\"cmd\":\"revoke\",\"addr\":\"203.0.113.9\"}", "is not in the allowset");

	/* watch: bad filters are refused before any subscription */
	check_error("{\"cmd\":\"watch\",\"port\":\"x\"}", "watch: bad \"port\"");
	check_error("{\"cmd\":\"watch\",\"verdict\":1}", "watch: bad \"verdict\"");
	check_error("{\"cmd\":\"watch\",\"addr\":\"zz\"}", "watch: \"zz\" is not an address");

	/* cache: the one answer the stub got */
	check_error("{\"cmd\":\"cache\",\"action\":\"drop\"}",
		    "\"action\" must be stats, list or flush");
	r = cmd("{\"cmd\":\"cache\"}");
	CHECK(ok(r) && json_is_true(path(r, "cache/enabled")) &&
	      json_integer_value(path(r, "cache/entries")) == 1);
	json_decref(r);
	r = cmd("{\"cmd\":\"cache\",\"action\":\"list\"}");
	CHECK(ok(r) && json_array_size(json_object_get(r, "entries")) == 1 &&
	      !strcmp(json_string_value(path(r, "entries/0/name")), "www.example.test") &&
	      json_integer_value(path(r, "entries/0/type")) == WIRE_TYPE_A);
	json_decref(r);
	/* audit-report */
	check_error("{\"cmd\":\"audit-report\",\"v4_prefix\":7}", "\"v4_prefix\" must be 8..32");
	check_error("{\"cmd\":\"audit-report\",\"v6_prefix\":129}",
		    "\"v6_prefix\" must be 16..128");
	r = cmd("{\"cmd\":\"audit-report\"}");
	CHECK(ok(r) && json_is_true(json_object_get(r, "enforce")));
	json_decref(r);

	/* break-glass: bad input only (opening it publishes to the verdict threads) */
	check_error("{\"cmd\":\"break-glass\",\"seconds\":0,\"reason\":\"x\"}",
		    "\"seconds\" must be an integer from 1 to");
	check_error("{\"cmd\":\"break-glass\",\"seconds\":60}", "\"reason\" must be a text");
	check_error("{\"cmd\":\"break-glass\",\"seconds\":60,\"reason\":\"\"}",
		    "\"reason\" must be a text");

	/* status */
	r = cmd("{\"cmd\":\"status\"}");
	CHECK(ok(r) && !strcmp(json_string_value(json_object_get(r, "mode")), "host") &&
	      !strcmp(json_string_value(json_object_get(r, "enforce")), "enforce"));
	CHECK(json_integer_value(path(r, "allowset/entries")) == 3);
	CHECK(json_integer_value(path(r, "dns/learned")) == 2);
	CHECK(!strcmp(json_string_value(path(r, "dns/servers/0/name")), "one"));
	json_decref(r);

	/* flush */
	r = cmd("{\"cmd\":\"cache\",\"action\":\"flush\"}");
	CHECK(ok(r) && json_integer_value(json_object_get(r, "removed")) == 1);
	json_decref(r);
	r = cmd("{\"cmd\":\"flush\"}");
	CHECK(ok(r) && json_integer_value(json_object_get(r, "removed")) == 3);
	json_decref(r);
	r = cmd("{\"cmd\":\"list\"}");
	CHECK(ok(r) && json_integer_value(json_object_get(r, "total")) == 0);
	json_decref(r);
}

/* The registry's sample of family fam whose labels include every k=v of
 * kv (NULL-terminated pairs), summed over the others; -1 if none. */
static long long reg(json_t *metrics, const char *fam, const char *const *kv)
{
	json_t *samples = path(json_object_get(metrics, fam), "samples"), *s;
	long long sum = -1;
	size_t i;

	json_array_foreach(samples, i, s)
	{
		json_t *labels = json_object_get(s, "labels");
		bool match = true;

		if (json_object_get(s, "suffix"))
			continue;
		for (unsigned k = 0; kv && kv[k]; k += 2) {
			const char *v = json_string_value(json_object_get(labels, kv[k]));

			if (!v || strcmp(v, kv[k + 1]) != 0)
				match = false;
		}
		if (match)
			sum = (sum < 0 ? 0 : sum) +
			      (long long)json_number_value(json_object_get(s, "value"));
	}
	return sum;
}

struct agree {
	const char *status; /* path in the status reply; a last part "*" is
			     * any key there, the value of the label given "*" */
	const char *family;
	const char *labels[7];
};

/* Every counter the hand-written status JSON shows, and where the registry
 * keeps it. */
static const struct agree agree[] = {
    {"verdicts/by_reason/*", "ztdns_verdicts_total", {"reason", "*"}},
    {"verdicts/accepted", "ztdns_verdicts_total", {"verdict", "accept"}},
    {"verdicts/denied", "ztdns_verdicts_total", {"verdict", "deny"}},
    {"verdicts/would_deny", "ztdns_would_deny_total", {NULL}},
    {"verdicts/records_dropped", "ztdns_verdict_records_dropped_total", {NULL}},
    {"packet_errors/*", "ztdns_packet_errors_total", {"error", "*"}},
    {"allowset/entries", "ztdns_allowset_entries", {NULL}},
    {"allowset/capacity", "ztdns_allowset_capacity_entries", {NULL}},
    {"allowset/inserts", "ztdns_allowset_inserts_total", {NULL}},
    {"allowset/refreshes", "ztdns_allowset_refreshes_total", {NULL}},
    {"allowset/full", "ztdns_allowset_full_total", {NULL}},
    {"allowset/evicted", "ztdns_allowset_evictions_total", {NULL}},
    {"allowset/swept", "ztdns_allowset_swept_total", {NULL}},
    {"allowset/names_dropped", "ztdns_allowset_names_dropped_total", {NULL}},
    {"allowset/quota", "ztdns_allowset_quota_total", {NULL}},
    {"allowset/owners", "ztdns_allowset_owners", {NULL}},
    {"config/reloads", "ztdns_reloads_total", {"result", "ok"}},
    {"config/reload_failures", "ztdns_reloads_total", {"result", "failed"}},
    {"journal/save_errors", "ztdns_journal_saves_total", {"result", "failed"}},
    {"journal/saves", "ztdns_journal_saves_total", {NULL}}, /* ok + failed */
    {"journal/saved", "ztdns_journal_saved_entries", {NULL}},
    {"journal/loaded", "ztdns_journal_loaded_total", {"outcome", "restored"}},
    {"journal/load_expired", "ztdns_journal_loaded_total", {"outcome", "expired"}},
    {"journal/load_bad", "ztdns_journal_loaded_total", {"outcome", "malformed"}},
    {"journal/load_refused", "ztdns_journal_loaded_total", {"outcome", "refused"}},
    {"break_glass/opened_total", "ztdns_break_glass_opened_total", {NULL}},
    {"import/imported", "ztdns_import_entries_total", {"outcome", "imported"}},
    {"import/refused", "ztdns_import_entries_total", {"outcome", "refused"}},
    {"break_glass/flows", "ztdns_break_glass_flows_total", {NULL}},
    {"accept_paused/*", "ztdns_accept_paused_total", {"listener", "*"}},
    {"cache/entries", "ztdns_cache_current", {"what", "entries"}},
    {"cache/bytes", "ztdns_cache_current", {"what", "bytes"}},
    {"cache/negative_entries", "ztdns_cache_current", {"what", "negative_entries"}},
    {"cache/*", "ztdns_cache_events_total", {"event", "*"}},
    {"dns/udp_queries", "ztdns_dns_queries_total", {"transport", "udp"}},
    {"dns/tcp_queries", "ztdns_dns_queries_total", {"transport", "tcp"}},
    {"dns/rcodes/other", "ztdns_dns_answers_total", {"rcode", "other"}},
    {"dns/rcodes/*", "ztdns_dns_answers_total", {"rcode", "*"}}, /* in capitals there */
    {"dns/dropped", "ztdns_dns_dropped_total", {NULL}},
    {"dns/malformed_answered", "ztdns_dns_malformed_total", {NULL}},
    {"dns/pending", "ztdns_dns_pending_queries", {NULL}},
    {"dns/pending_full", "ztdns_dns_refused_total", {"bound", "pending_queries"}},
    {"dns/client_full", "ztdns_dns_refused_total", {"bound", "pending_per_client"}},
    {"dns/tcp_refused", "ztdns_dns_refused_total", {"bound", "tcp_connections"}},
    {"dns/tcp_client_full", "ztdns_dns_refused_total", {"bound", "tcp_per_client"}},
    {"dns/scope_refused", "ztdns_dns_refused_total", {"bound", "client_subnet"}},
    {"dns/scope_no_neighbour", "ztdns_dns_refused_total", {"bound", "client_neighbour"}},
    {"dns/fair_refused", "ztdns_dns_refused_total", {"bound", "upstream_fair_share"}},
    {"dns/accept_paused", "ztdns_accept_paused_total", {"listener", "stub"}},
    {"dns/tcp_conns", "ztdns_dns_tcp_accepted_total", {NULL}},
    {"dns/tcp_open", "ztdns_dns_tcp_connections", {NULL}},
    {"dns/tcp_idle_closed", "ztdns_dns_tcp_idle_closed_total", {NULL}},
    {"dns/tcp_out_overflow", "ztdns_dns_tcp_output_overflow_total", {NULL}},
    {"dns/truncated", "ztdns_dns_truncated_total", {NULL}},
    {"dns/canary", "ztdns_dns_canary_total", {NULL}},
    {"dns/upstream_errors", "ztdns_dns_upstream_errors_total", {NULL}},
    {"dns/bad_answers", "ztdns_dns_bad_answers_total", {"why", "mismatch"}},
    {"dns/chain_errors", "ztdns_dns_bad_answers_total", {"why", "chain"}},
    {"dns/learned", "ztdns_dns_learned_total", {NULL}},
    {"dns/learn_refused", "ztdns_dns_not_learned_total", {"why", "learned_max"}},
    {"dns/learn_quota", "ztdns_dns_not_learned_total", {"why", "learned_per_client"}},
    {"dns/learn_special", "ztdns_dns_not_learned_total", {"why", "special"}},
    {"dns/addrs_dropped", "ztdns_dns_not_learned_total", {"why", "addrs_per_name"}},
    {"dns/owner_unknown", "ztdns_dns_unknown_owner_total", {NULL}},
    {"dns/udp_rcvbuf_drops", "ztdns_dns_udp_buffer_drops_total", {NULL}},
    {"dns/answers/filtered", "ztdns_dns_answers_filtered_total", {NULL}},
    {"dns/answers/emptied", "ztdns_dns_answers_emptied_total", {NULL}},
    {"dns/answers/filter_errors", "ztdns_dns_filter_errors_total", {NULL}},
    {"dns/answers/local_prefixes_dropped", "ztdns_dns_local_prefixes_dropped_total", {NULL}},
    {"dns/answers/records_removed/*", "ztdns_dns_answer_records_removed_total", {"why", "*"}},
    {"dns/answers/never_learn/*", "ztdns_dns_never_learn_total", {"class", "*"}},
    {"dns/servers/0/selected", "ztdns_upstream_selected_total", {"server", "one"}},
    {"dns/servers/0/failovers", "ztdns_upstream_failovers_total", {"server", "one"}},
    {"dns/servers/0/consecutive_failures",
     "ztdns_upstream_consecutive_failures",
     {"server", "one"}},
    {"dns/servers/0/transport/queries", "ztdns_upstream_queries_total", {"server", "one"}},
    {"dns/servers/0/transport/answers", "ztdns_upstream_answers_total", {"server", "one"}},
    {"dns/servers/0/transport/timeouts",
     "ztdns_upstream_failures_total",
     {"server", "one", "reason", "timeout"}},
    {"dns/servers/0/transport/identity_errors",
     "ztdns_upstream_failures_total",
     {"server", "one", "reason", "identity"}},
    {"dns/servers/0/transport/conn_errors",
     "ztdns_upstream_failures_total",
     {"server", "one", "reason", "connect"}},
    {"dns/servers/0/transport/protocol_errors",
     "ztdns_upstream_failures_total",
     {"server", "one", "reason", "protocol"}},
    {"dns/servers/0/transport/connections", "ztdns_upstream_connections_total", {"server", "one"}},
    {"dns/servers/0/transport/resumed", "ztdns_upstream_tls_resumed_total", {"server", "one"}},
    {"dns/servers/0/transport/inflight", "ztdns_upstream_inflight_queries", {"server", "one"}},
    {"dns/servers/0/transport/syn_retries", "ztdns_upstream_syn_retries_total", {"server", "one"}},
    {"dns/servers/0/transport/stale_closed",
     "ztdns_upstream_stale_closed_total",
     {"server", "one"}},
    {"dns/servers/0/transport/inflight_refused",
     "ztdns_upstream_inflight_refused_total",
     {"server", "one"}},
};

/* Integer leaves of the status reply (the registry's own copy under
 * "metrics" aside) that have no registry sample of their own, with why. */
static const char *const not_counters[] = {
    "uptime_s",			     /* ztdns_uptime_seconds: a gauge of the same clock */
    "dns/servers/0/priority",	     /* configuration, not a measurement */
    "dns/servers/0/latency_ms_sum",  /* ztdns_upstream_latency_seconds_sum, in seconds */
    "dns/servers/0/answers_timed",   /* ztdns_upstream_latency_seconds_count */
    "dns/servers/0/latency_ms_le_1", /* the buckets: cumulative, in seconds, there */
};

static unsigned agree_used[sizeof(agree) / sizeof(agree[0])];

static const struct agree *find_agree(const char *p, const char **leaf)
{
	const char *slash = strrchr(p, '/');

	*leaf = slash ? slash + 1 : p;
	for (size_t i = 0; i < sizeof(agree) / sizeof(agree[0]); i++)
		if (!strcmp(agree[i].status, p)) {
			agree_used[i]++;
			return &agree[i];
		}
	for (size_t i = 0; slash && i < sizeof(agree) / sizeof(agree[0]); i++) {
		size_t n = strlen(agree[i].status);

		if (n >= 2 && !strcmp(agree[i].status + n - 2, "/*") &&
		    (size_t)(slash - p) == n - 2 && !strncmp(agree[i].status, p, n - 2)) {
			agree_used[i]++;
			return &agree[i];
		}
	}
	return NULL;
}

static bool not_counter(const char *p)
{
	for (size_t i = 0; i < sizeof(not_counters) / sizeof(not_counters[0]); i++)
		if (!strncmp(p, not_counters[i], strlen(not_counters[i])))
			return true;
	return false;
}

/* One integer leaf: its registry sample must exist and hold its value. */
static void check_leaf(json_t *metrics, const char *p, long long value)
{
	const char *leaf;
	const struct agree *g = find_agree(p, &leaf);
	const char *kv[8] = {NULL};
	char up[64];
	long long want;

	if (!g) {
		CHECK_MSG(not_counter(p), "status counter %s is not checked against the registry",
			  p);
		return;
	}
	snprintf(up, sizeof(up), "%s", leaf);
	for (char *c = up; !strcmp(g->family, "ztdns_dns_answers_total") && *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
	for (unsigned k = 0; k < 6 && g->labels[k]; k++)
		kv[k] = strcmp(g->labels[k], "*") ? g->labels[k] : up;
	want = reg(metrics, g->family, kv);
	CHECK_MSG(want >= 0, "registry has no %s for %s", g->family, p);
	CHECK_MSG(value == want, "%s = %lld, registry %s = %lld", p, value, g->family, want);
}

static void walk(json_t *metrics, json_t *o, const char *p)
{
	char sub[256];

	if (json_is_integer(o)) {
		check_leaf(metrics, p, (long long)json_integer_value(o));
	} else if (json_is_object(o)) {
		const char *k;
		json_t *v;

		json_object_foreach(o, k, v)
		{
			if (!p[0] && !strcmp(k, "metrics"))
				continue;
			snprintf(sub, sizeof(sub), "%s%s%s", p, p[0] ? "/" : "", k);
			walk(metrics, v, sub);
		}
	} else if (json_is_array(o)) {
		size_t i;
		json_t *v;

		json_array_foreach(o, i, v)
		{
			snprintf(sub, sizeof(sub), "%s/%zu", p, i);
			walk(metrics, v, sub);
		}
	}
}

static void test_agreement(void)
{
	json_t *r, *m;

	/* distinct values everywhere */
	for (unsigned i = 0; i < VERDICT_REASON_COUNT; i++)
		d.cnt.verdicts[i] = 1000 + 17 * i;
	d.cnt.accepted = d.cnt.denied = 0;
	for (unsigned i = 0; i < VERDICT_REASON_COUNT; i++) {
		if (verdict_reason_accepts(i))
			d.cnt.accepted += d.cnt.verdicts[i];
		else
			d.cnt.denied += d.cnt.verdicts[i];
	}
	for (unsigned i = 1; i < ARRAY_SIZE(d.cnt.packet_errors); i++)
		d.cnt.packet_errors[i] = 500 + 13 * i;
	d.cnt.would_deny_by[VERDICT_NEVER_RESOLVED] = 29;
	d.cnt.would_deny_by[VERDICT_EXPIRED] = 2;
	d.cnt.would_deny = 31;
	d.cnt.records_dropped = 37;
	d.cnt.reloads = 41;
	d.cnt.reload_failures = 43;
	d.cnt.break_glass_opened = 47;
	d.cnt.break_glass_flows = 53;
	d.xfer.imported = 59;
	d.xfer.refused = 61;
	d.jst = (struct journal_stats){.saves = 67,
				       .save_errors = 3,
				       .saved = 71,
				       .loaded = 73,
				       .load_expired = 79,
				       .load_bad = 83,
				       .load_refused = 89};

	r = cmd("{\"cmd\":\"status\"}");
	m = json_object_get(r, "metrics");
	CHECK(ok(r) && json_is_object(m));
	walk(m, r, "");
	/* no line of the table is stale */
	for (size_t i = 0; i < sizeof(agree) / sizeof(agree[0]); i++)
		CHECK_MSG(agree_used[i] > 0, "status has no %s", agree[i].status);
	json_decref(r);
}

int main(void)
{
	struct upstream *up = NULL;
	struct conf *c = NULL;
	int port = 0;

	memset(&d, 0, sizeof(d));
	d.loop = ev_default_loop(0);
	allowset_reader_register();
	d.allowset = allowset_new(64, 4);
	d.stub = replay_stub_open(
	    d.loop, d.allowset,
	    "\"exceptions\":[\"203.0.113.128/25\"],\"cache\":{\"enabled\":true}", &c, &up, &port);
	CHECK(d.stub != NULL);
	if (!d.stub)
		CHECK_DONE();
	d.conf = c;
	d.upstream = up;
	d.exceptions = exceptions_from_conf(c);
	d.audit = audit_new();
	d.crossing = crossing_new(1000);
	d.policy.allowset = d.allowset;
	d.policy.exceptions = d.exceptions;
	daemon_policy_from_conf(&d.policy, c);
	d.started_ms = allowset_now_ms();
	d.ready = d.dns_ready = true;

	test_commands();
	test_agreement();

	stub_free(&d.stub);
	upstream_free(&d.upstream);
	exceptions_free(&d.exceptions);
	audit_free(&d.audit);
	crossing_free(&d.crossing);
	allowset_free(&d.allowset);
	conf_free(&d.conf);
	allowset_reader_unregister();
	CHECK_DONE();
}
