/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/allowset.h"
#include "core/audit.h"
#include "core/control.h"
#include "core/crossing.h"
#include "core/daemon.h"
#include "core/fastpath.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/nfqueue.h"
#include "core/owner.h"
#include "core/util.h"
#include "core/verdictlog.h"
#include "core/vplane.h"
#include "dns/querylog.h"
#include "dns/cache.h"
#include "dns/stub.h"
#include "dns/upstream.h"

#ifndef ZTDNS_VERSION
#define ZTDNS_VERSION "unknown"
#endif

#define L(...)                                                                                     \
	{                                                                                          \
		__VA_ARGS__, NULL                                                                  \
	}
#define NOL                                                                                        \
	{                                                                                          \
		NULL                                                                               \
	}
#define UPL L("server", "protocol", "identity")

/* id, name, type, unit, help, labels. The one list (STYLE.md: one table,
 * the rest derived). */
#define STATS_FAMILIES(X)                                                                          \
	X(BUILD_INFO, "ztdns_build_info", GAUGE, "", "Always 1; the version in a label.",          \
	  L("version"))                                                                            \
	X(READY, "ztdns_ready", GAUGE, "", "1 once the daemon is enforcing and answering.", NOL)   \
	X(UPTIME, "ztdns_uptime_seconds", GAUGE, "seconds", "Time since the daemon started.", NOL) \
	X(VERDICTS, "ztdns_verdicts_total", COUNTER, "", "Verdicts given, by reason.",             \
	  L("reason", "verdict"))                                                                  \
	X(WOULD_DENY, "ztdns_would_deny_total", COUNTER, "",                                       \
	  "Audit mode: denials turned into accepts, by the denial's reason.", L("reason"))         \
	X(QUEUE_WAIT, "ztdns_verdict_queue_wait_seconds", HISTOGRAM, "seconds",                    \
	  "Time from a packet's queueing to its verdict. clock=kernel: from the packet's kernel "  \
	  "timestamp (NFQA_TIMESTAMP, when present and near the realtime or monotonic clock); "    \
	  "clock=read: from when its verdict thread read it (no usable timestamp).",               \
	  L("clock"))                                                                              \
	X(AUDIT_DROPPED, "ztdns_audit_dropped_total", COUNTER, "",                                 \
	  "Audit mode: would-deny records not aggregated (table full).", NOL)                      \
	X(BG_OPEN, "ztdns_break_glass_open", GAUGE, "",                                            \
	  "1 while an operator's break-glass is open.", NOL)                                       \
	X(BG_OPENED, "ztdns_break_glass_opened_total", COUNTER, "",                                \
	  "Break-glass openings by an operator.", NOL)                                             \
	X(IMPORTED, "ztdns_import_entries_total", COUNTER, "",                                     \
	  "ztdnsctl import: entries added or renewed, and entries refused (dry run or not).",      \
	  L("outcome"))                                                                            \
	X(BG_FLOWS, "ztdns_break_glass_flows_total", COUNTER, "",                                  \
	  "Flows accepted only because the break-glass was open.", NOL)                            \
	X(PACKET_ERRORS, "ztdns_packet_errors_total", COUNTER, "",                                 \
	  "Packets whose headers could not be parsed, by error.", L("error"))                      \
	X(SIGNALS_IGNORED, "ztdns_signals_ignored_total", COUNTER, "",                             \
	  "Signals received that have no action.", NOL)                                            \
	X(Q_RECEIVED, "ztdns_queue_received_total", COUNTER, "", "Packets read from NFQUEUE.",     \
	  L("queue"))                                                                              \
	X(Q_PACKETS, "ztdns_queue_packets_total", COUNTER, "",                                     \
	  "Verdicts sent to NFQUEUE, by outcome.", L("queue", "outcome"))                          \
	X(Q_ENOBUFS, "ztdns_queue_enobufs_total", COUNTER, "",                                     \
	  "Queue socket overruns reported by the kernel.", L("queue"))                             \
	X(Q_MALFORMED, "ztdns_queue_malformed_total", COUNTER, "",                                 \
	  "Netlink messages from the queue that could not be parsed.", L("queue"))                 \
	X(Q_SEND_ERRORS, "ztdns_queue_send_errors_total", COUNTER, "",                             \
	  "Verdict sendmsg failures.", L("queue"))                                                 \
	X(Q_NL_ERRORS, "ztdns_queue_netlink_errors_total", COUNTER, "",                            \
	  "Netlink errors received for verdicts.", L("queue"))                                     \
	X(Q_BATCHES, "ztdns_queue_batches_total", COUNTER, "", "sendmsg calls carrying verdicts.", \
	  L("queue"))                                                                              \
	X(Q_BATCH_MAX, "ztdns_queue_batch_max_verdicts", GAUGE, "verdicts",                        \
	  "Most verdicts sent in one sendmsg.", L("queue"))                                        \
	X(Q_K_OVERFLOW, "ztdns_queue_kernel_overflow_total", COUNTER, "",                          \
	  "Packets the kernel dropped: queue full (fail closed).", L("queue"))                     \
	X(Q_K_SOCKDROP, "ztdns_queue_kernel_socket_drops_total", COUNTER, "",                      \
	  "Packets the kernel dropped: netlink socket full.", L("queue"))                          \
	X(Q_WAITING, "ztdns_queue_waiting_packets", GAUGE, "packets",                              \
	  "Packets waiting for a verdict now.", L("queue"))                                        \
	X(AS_ENTRIES, "ztdns_allowset_entries", GAUGE, "entries",                                  \
	  "Allowances in the table (expired ones included).", NOL)                                 \
	X(AS_CAPACITY, "ztdns_allowset_capacity_entries", GAUGE, "entries",                        \
	  "The bound on allowances (limits.learned_max).", NOL)                                    \
	X(AS_OWNERS, "ztdns_allowset_owners", GAUGE, "",                                           \
	  "Clients (LAN addresses, local uids) with allowances.", NOL)                             \
	X(AS_INSERTS, "ztdns_allowset_inserts_total", COUNTER, "", "New allowances.", NOL)         \
	X(AS_REFRESHES, "ztdns_allowset_refreshes_total", COUNTER, "",                             \
	  "Existing allowances extended.", NOL)                                                    \
	X(AS_FULL, "ztdns_allowset_full_total", COUNTER, "",                                       \
	  "Allowances refused: the table was full.", NOL)                                          \
	X(AS_EVICTED, "ztdns_allowset_evictions_total", COUNTER, "",                               \
	  "Expired allowances removed to make room.", NOL)                                         \
	X(AS_SWEPT, "ztdns_allowset_swept_total", COUNTER, "",                                     \
	  "Expired allowances removed by the sweep.", NOL)                                         \
	X(AS_QUOTA, "ztdns_allowset_quota_total", COUNTER, "",                                     \
	  "Allowances refused: the client's limits.learned_per_client was reached.", NOL)          \
	X(AS_NAMES_DROPPED, "ztdns_allowset_names_dropped_total", COUNTER, "",                     \
	  "Names not remembered for an allowance (names per address bound).", NOL)                 \
	X(AS_REMOVED, "ztdns_allowset_removed_total", COUNTER, "",                                 \
	  "Allowances revoked or flushed by an operator.", NOL)                                    \
	X(CR_RECORDED, "ztdns_crossing_recorded_total", COUNTER, "",                               \
	  "Gateway: denied outbound SYNs remembered against crossing SYNs.", NOL)                  \
	X(CR_EVICTED, "ztdns_crossing_evicted_total", COUNTER, "",                                 \
	  "Gateway: live records pushed out of a full set (the set fails closed).", NOL)           \
	X(CR_FAILING, "ztdns_crossing_sets_failing_closed", GAUGE, "",                             \
	  "Gateway: sets refusing every WAN SYN toward their client ports now.", NOL)              \
	X(FP_ENABLED, "ztdns_fast_path_enabled", GAUGE, "", "1 when ruleset.fast_path is on.",     \
	  NOL)                                                                                     \
	X(FP_ADDED, "ztdns_fast_path_added_total", COUNTER, "",                                    \
	  "Addresses mirrored into the kernel fast-path sets.", NOL)                               \
	X(FP_REMOVED, "ztdns_fast_path_removed_total", COUNTER, "",                                \
	  "Addresses removed from the kernel fast-path sets.", NOL)                                \
	X(FP_BATCHES, "ztdns_fast_path_batches_total", COUNTER, "",                                \
	  "Fast-path set update batches sent to the kernel.", NOL)                                 \
	X(FP_ERRORS, "ztdns_fast_path_errors_total", COUNTER, "",                                  \
	  "Fast-path set update batches that failed.", NOL)                                        \
	X(FP_DROPPED, "ztdns_fast_path_dropped_total", COUNTER, "",                                \
	  "Addresses not mirrored: batch full (the flow still goes through NFQUEUE).", NOL)        \
	X(FP_FAILSAFE, "ztdns_fast_path_failsafe_flushes_total", COUNTER, "",                      \
	  "Kernel sets emptied because a removal failed (nothing revoked stays).", NOL)            \
	X(VREC_DROPPED, "ztdns_verdict_records_dropped_total", COUNTER, "",                        \
	  "Verdict log/watch records lost: a verdict thread's ring was full.", NOL)                \
	X(DNS_UDP_DROPS, "ztdns_dns_udp_buffer_drops_total", COUNTER, "",                          \
	  "Queries the kernel dropped: a stub UDP socket's receive buffer was full.", NOL)         \
	X(CACHE_EVENTS, "ztdns_cache_events_total", COUNTER, "",                                   \
	  "Answer cache events (ztdnsctl cache stats), by event.", L("event"))                     \
	X(CACHE_NOW, "ztdns_cache_current", GAUGE, "",                                             \
	  "Answer cache now: entries, bytes, negative entries.", L("what"))                        \
	X(QLOG_LINES, "ztdns_query_log_lines_total", COUNTER, "",                                  \
	  "Query log lines, by outcome: written, dropped (buffer full), error (write failed).",    \
	  L("outcome"))                                                                            \
	X(DNS_QUERIES, "ztdns_dns_queries_total", COUNTER, "", "Queries received by the stub.",    \
	  L("transport"))                                                                          \
	X(DNS_ANSWERS, "ztdns_dns_answers_total", COUNTER, "",                                     \
	  "Answers sent by the stub, by RCODE.", L("rcode"))                                       \
	X(DNS_DROPPED, "ztdns_dns_dropped_total", COUNTER, "",                                     \
	  "Queries not answered at all (unusable).", NOL)                                          \
	X(DNS_MALFORMED, "ztdns_dns_malformed_total", COUNTER, "",                                 \
	  "Malformed queries answered FORMERR, NOTIMP or BADVERS.", NOL)                           \
	X(DNS_LEARNED, "ztdns_dns_learned_total", COUNTER, "",                                     \
	  "Addresses put in the allowset from answers.", NOL)                                      \
	X(DNS_REFUSED, "ztdns_dns_refused_total", COUNTER, "",                                     \
	  "Queries or connections refused at a bound, by bound.", L("bound"))                      \
	X(DNS_NOT_LEARNED, "ztdns_dns_not_learned_total", COUNTER, "",                             \
	  "Answer addresses not put in the allowset, by why.", L("why"))                           \
	X(DNS_OWNER_UNKNOWN, "ztdns_dns_unknown_owner_total", COUNTER, "",                         \
	  "Local queries or connections whose socket's uid was not found.", NOL)                   \
	X(DNS_TCP_OPEN, "ztdns_dns_tcp_connections", GAUGE, "", "Stub TCP connections open now.",  \
	  NOL)                                                                                     \
	X(DNS_TCP_ACCEPTED, "ztdns_dns_tcp_accepted_total", COUNTER, "",                           \
	  "Stub TCP connections accepted.", NOL)                                                   \
	X(DNS_TCP_IDLE, "ztdns_dns_tcp_idle_closed_total", COUNTER, "",                            \
	  "Stub TCP connections closed idle.", NOL)                                                \
	X(DNS_TCP_OVERFLOW, "ztdns_dns_tcp_output_overflow_total", COUNTER, "",                    \
	  "Stub TCP connections closed: their output buffer was full.", NOL)                       \
	X(DNS_TRUNCATED, "ztdns_dns_truncated_total", COUNTER, "", "UDP answers cut with TC=1.",   \
	  NOL)                                                                                     \
	X(DNS_CANARY, "ztdns_dns_canary_total", COUNTER, "",                                       \
	  "use-application-dns.net queries answered locally.", NOL)                                \
	X(DNS_UPSTREAM_ERR, "ztdns_dns_upstream_errors_total", COUNTER, "",                        \
	  "SERVFAIL answers because no server answered.", NOL)                                     \
	X(DNS_BAD_ANSWERS, "ztdns_dns_bad_answers_total", COUNTER, "",                             \
	  "Upstream answers refused, by why.", L("why"))                                           \
	X(DNS_REMOVED, "ztdns_dns_answer_records_removed_total", COUNTER, "",                      \
	  "Answer records removed because their address was not learned, by why.", L("why"))       \
	X(DNS_FILTERED, "ztdns_dns_answers_filtered_total", COUNTER, "",                           \
	  "Answers sent with records removed.", NOL)                                               \
	X(DNS_EMPTIED, "ztdns_dns_answers_emptied_total", COUNTER, "",                             \
	  "Answers turned into SERVFAIL: nothing asked was left after removal.", NOL)              \
	X(DNS_FILTER_ERR, "ztdns_dns_filter_errors_total", COUNTER, "",                            \
	  "Answers turned into SERVFAIL: the filtered answer could not be built.", NOL)            \
	X(DNS_NEVER_LEARN, "ztdns_dns_never_learn_total", COUNTER, "",                             \
	  "Never-learn addresses in answers, by class.", L("class"))                               \
	X(DNS_LOCAL_PFX, "ztdns_dns_local_prefixes_dropped_total", COUNTER, "",                    \
	  "Interface prefixes not tracked (bound reached).", NOL)                                  \
	X(DNS_PENDING, "ztdns_dns_pending_queries", GAUGE, "queries",                              \
	  "Queries waiting for an upstream answer.", NOL)                                          \
	X(ACCEPT_PAUSED, "ztdns_accept_paused_total", COUNTER, "",                                 \
	  "Listeners paused because accept() ran out of descriptors, by listener.", L("listener")) \
	X(CTL_ACCEPTED, "ztdns_control_connections_total", COUNTER, "",                            \
	  "Control socket connections accepted.", NOL)                                             \
	X(CTL_REFUSED, "ztdns_control_refused_total", COUNTER, "",                                 \
	  "Control socket connections refused, by why.", L("why"))                                 \
	X(CTL_REQUESTS, "ztdns_control_requests_total", COUNTER, "",                               \
	  "Control requests, by result.", L("result"))                                             \
	X(CTL_EVENTS, "ztdns_control_events_total", COUNTER, "", "Watch event lines, by outcome.", \
	  L("outcome"))                                                                            \
	X(MX_CONNECTIONS, "ztdns_metrics_connections_total", COUNTER, "",                          \
	  "Metrics endpoint connections, by outcome.", L("outcome"))                               \
	X(MX_SCRAPES, "ztdns_metrics_scrapes_total", COUNTER, "",                                  \
	  "GET or HEAD /metrics answered.", NOL)                                                   \
	X(UP_QUERIES, "ztdns_upstream_queries_total", COUNTER, "",                                 \
	  "Queries sent to each Protective DNS server.", UPL)                                      \
	X(UP_ANSWERS, "ztdns_upstream_answers_total", COUNTER, "", "Answers from each server.",    \
	  UPL)                                                                                     \
	X(UP_FAILURES, "ztdns_upstream_failures_total", COUNTER, "",                               \
	  "Failed exchanges, by reason (TLS included).",                                           \
	  L("server", "protocol", "identity", "reason"))                                           \
	X(UP_CONNECTIONS, "ztdns_upstream_connections_total", COUNTER, "",                         \
	  "TLS connections opened.", UPL)                                                          \
	X(UP_RESUMED, "ztdns_upstream_tls_resumed_total", COUNTER, "", "TLS sessions resumed.",    \
	  UPL)                                                                                     \
	X(UP_SELECTED, "ztdns_upstream_selected_total", COUNTER, "",                               \
	  "Attempts sent to each server (failover included).", UPL)                                \
	X(UP_FAILOVERS, "ztdns_upstream_failovers_total", COUNTER, "",                             \
	  "Attempts that moved on from this server to the next.", UPL)                             \
	X(UP_INFLIGHT_REF, "ztdns_upstream_inflight_refused_total", COUNTER, "",                   \
	  "Queries refused: the server's in-flight bound was reached.", UPL)                       \
	X(UP_SYN_RETRIES, "ztdns_upstream_syn_retries_total", COUNTER, "",                         \
	  "DoT: fresh SYNs sent for a connect nothing answered.", UPL)                             \
	X(UP_STALE_CLOSED, "ztdns_upstream_stale_closed_total", COUNTER, "",                       \
	  "Connections given up: nothing received from the server in time.", UPL)                  \
	X(UP_INFLIGHT, "ztdns_upstream_inflight_queries", GAUGE, "queries",                        \
	  "Queries waiting for this server now.", UPL)                                             \
	X(UP_HEALTHY, "ztdns_upstream_healthy", GAUGE, "", "1 if the server is not in back-off.",  \
	  UPL)                                                                                     \
	X(UP_CONSEC, "ztdns_upstream_consecutive_failures", GAUGE, "",                             \
	  "Failures in a row (reset by an answer).", UPL)                                          \
	X(UP_LATENCY, "ztdns_upstream_latency_seconds", HISTOGRAM, "seconds",                      \
	  "Answer latency per server.", UPL)                                                       \
	X(RELOADS, "ztdns_reloads_total", COUNTER, "", "Configuration reloads, by result.",        \
	  L("result"))                                                                             \
	X(J_SAVES, "ztdns_journal_saves_total", COUNTER, "",                                       \
	  "Warm-restart journal writes, by result.", L("result"))                                  \
	X(J_SAVED, "ztdns_journal_saved_entries", GAUGE, "entries",                                \
	  "Allowances in the last journal write.", NOL)                                            \
	X(J_LOADED, "ztdns_journal_loaded_total", COUNTER, "",                                     \
	  "Journal lines read at start, by outcome.", L("outcome"))                                \
	X(LOG_FALLBACKS, "ztdns_log_journal_fallbacks_total", COUNTER, "",                         \
	  "Log lines sent to syslog because journald refused them.", NOL)                          \
	X(LOG_DROPPED, "ztdns_log_journal_dropped_total", COUNTER, "",                             \
	  "Log lines dropped because journald's socket was full.", NOL)                            \
	X(VLOG_ERRORS, "ztdns_verdict_log_errors_total", COUNTER, "",                              \
	  "Verdict log lines lost because the output failed.", NOL)                                \
	X(OWNER_LOOKUPS, "ztdns_sender_lookups_total", COUNTER, "",                                \
	  "Local senders looked up for verdict lines (socket, then /proc), by outcome.",           \
	  L("outcome"))                                                                            \
	X(OWNER_SCANS, "ztdns_sender_proc_scans_total", COUNTER, "",                               \
	  "Scans of /proc for a socket's process (cache misses within the budget).", NOL)          \
	X(OWNER_EVICTED, "ztdns_sender_cache_evictions_total", COUNTER, "",                        \
	  "Live sender cache entries pushed out of the full cache.", NOL)

enum stats_id {
#define X(id, name, type, unit, help, labels) F_##id,
	STATS_FAMILIES(X)
#undef X
	    F__COUNT
};

static const struct stats_family families[F__COUNT] = {
#define X(id, name, type, unit, help, labels) [F_##id] = {name, STATS_##type, unit, help, labels},
    STATS_FAMILIES(X)
#undef X
};

unsigned stats_family_count(void)
{
	return F__COUNT;
}

const struct stats_family *stats_family_at(unsigned i)
{
	return i < F__COUNT ? &families[i] : NULL;
}

const char *stats_type_name(enum stats_type t)
{
	switch (t) {
	case STATS_COUNTER:
		return "counter";
	case STATS_GAUGE:
		return "gauge";
	case STATS_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/* ---- one pass over the owners, two sinks ---- */

struct stats_out {
	void (*sample)(struct stats_out *o, unsigned fam, const char *suffix, const char *const *lv,
		       double v);
};

static void emit(struct stats_out *o, unsigned fam, const char *suffix, const char *const *lv,
		 double v)
{
	o->sample(o, fam, suffix, lv, v);
}

#define E0(o, f, v)	 emit(o, F_##f, NULL, NULL, (double)(v))
#define EL(o, f, v, ...) emit(o, F_##f, NULL, (const char *const[]){__VA_ARGS__, NULL}, (double)(v))

/* The one place the verdict counters are read: when they become per-thread,
 * this returns their sum. */
static const struct daemon_counters *daemon_cnt(struct daemon *d)
{
	daemon_counters_sync(d);
	return &d->cnt;
}

static void collect_core(struct stats_out *o, struct daemon *d)
{
	const struct daemon_counters *c = daemon_cnt(d);
	uint64_t now = allowset_now_ms();

	EL(o, BUILD_INFO, 1, ZTDNS_VERSION);
	E0(o, READY, d->ready ? 1 : 0);
	E0(o, UPTIME, d->started_ms && now > d->started_ms ? (now - d->started_ms) / 1000.0 : 0);
	for (unsigned r = 0; r < VERDICT_REASON_COUNT; r++)
		EL(o, VERDICTS, c->verdicts[r], verdict_reason_name(r),
		   verdict_reason_accepts(r) ? "accept" : "deny");
	E0(o, AUDIT_DROPPED, d->audit ? audit_dropped(d->audit) : 0);
	E0(o, BG_OPEN, breakglass_is_open(&d->bg, now) ? 1 : 0);
	E0(o, BG_OPENED, c->break_glass_opened);
	E0(o, BG_FLOWS, c->break_glass_flows);
	EL(o, IMPORTED, d->xfer.imported, "imported");
	EL(o, IMPORTED, d->xfer.refused, "refused");
	E0(o, VREC_DROPPED, c->records_dropped);
	for (unsigned e = 1; e < ARRAY_SIZE(c->packet_errors); e++)
		EL(o, PACKET_ERRORS, c->packet_errors[e], packet_strerror(e));
	E0(o, SIGNALS_IGNORED, d->signals_ignored);
	EL(o, RELOADS, c->reloads, "ok");
	EL(o, RELOADS, c->reload_failures, "failed");
	EL(o, J_SAVES, d->jst.saves - d->jst.save_errors, "ok");
	EL(o, J_SAVES, d->jst.save_errors, "failed");
	E0(o, J_SAVED, d->jst.saved);
	EL(o, J_LOADED, d->jst.loaded, "restored");
	EL(o, J_LOADED, d->jst.load_expired, "expired");
	EL(o, J_LOADED, d->jst.load_bad, "malformed");
	EL(o, J_LOADED, d->jst.load_refused, "refused");
	E0(o, LOG_FALLBACKS, log_journal_fallbacks());
	E0(o, LOG_DROPPED, log_journal_dropped());
	E0(o, VLOG_ERRORS, d->vlog ? verdictlog_errors(d->vlog) : 0);
}

/* One histogram's samples: the buckets b (not cumulative) under their le
 * strings, then _sum and _count. lv: the family's own nl label values. */
static void emit_histogram(struct stats_out *o, unsigned fam, const char *const *lv, unsigned nl,
			   const uint64_t *b, const char *const *le, unsigned nb, double sum,
			   uint64_t count)
{
	const char *v[STATS_MAX_LABELS + 2];
	uint64_t cum = 0;

	for (unsigned i = 0; i < nl && i < STATS_MAX_LABELS; i++)
		v[i] = lv[i];
	nl = UTIL_MIN(nl, STATS_MAX_LABELS);
	v[nl + 1] = NULL;
	for (unsigned k = 0; k < nb; k++) {
		cum += b[k];
		v[nl] = le[k];
		emit(o, fam, "_bucket", v, (double)cum);
	}
	v[nl] = NULL;
	emit(o, fam, "_sum", v, sum);
	emit(o, fam, "_count", v, (double)count);
}

static void collect_owner(struct stats_out *o, struct daemon *d)
{
	struct owner_stats st = {0};

	if (d->owner)
		owner_get_stats(d->owner, &st);
	EL(o, OWNER_LOOKUPS, st.found - st.cache_hits, "found");
	EL(o, OWNER_LOOKUPS, st.cache_hits, "cached");
	EL(o, OWNER_LOOKUPS, st.no_socket, "no_socket");
	EL(o, OWNER_LOOKUPS, st.not_found, "not_found");
	EL(o, OWNER_LOOKUPS, st.not_permitted, "not_permitted");
	EL(o, OWNER_LOOKUPS, st.budget, "budget_exhausted");
	E0(o, OWNER_SCANS, st.scans);
	E0(o, OWNER_EVICTED, st.cache_evicted);
}

/* Summed from the verdict threads' own counters (core/vplane.h). */
static void collect_vplane(struct stats_out *o, struct daemon *d)
{
	static const char *const clocks[VPLANE_CLOCKS] = {"kernel", "read"};
	struct vplane_counters c = {0};
	char lebuf[VPLANE_QWAIT_BUCKETS - 1][24];
	const char *le[VPLANE_QWAIT_BUCKETS];

	if (d->vp)
		vplane_sum(d->vp, &c);
	for (unsigned r = 0; r < VERDICT_REASON_COUNT; r++)
		if (!verdict_reason_accepts(r))
			EL(o, WOULD_DENY, d->cnt.would_deny_by[r], verdict_reason_name(r));
	for (unsigned b = 0; b < VPLANE_QWAIT_BUCKETS - 1; b++) {
		snprintf(lebuf[b], sizeof(lebuf[b]), "%g", vplane_qwait_le_ns[b] / 1e9);
		le[b] = lebuf[b];
	}
	le[VPLANE_QWAIT_BUCKETS - 1] = "+Inf";
	for (unsigned k = 0; k < VPLANE_CLOCKS; k++) {
		uint64_t n = 0;

		for (unsigned b = 0; b < VPLANE_QWAIT_BUCKETS; b++)
			n += c.qwait[k][b];
		emit_histogram(o, F_QUEUE_WAIT, &clocks[k], 1, c.qwait[k], le, VPLANE_QWAIT_BUCKETS,
			       (double)c.qwait_sum_ns[k] / 1e9, n);
	}
}

static void collect_queues(struct stats_out *o, struct daemon *d)
{
	for (unsigned i = 0; i < d->nqueues; i++) {
		struct nfqueue_stats st;
		struct nfqueue_kernel_stats ks;
		unsigned q = nfqueue_num(d->queues[i]);
		char qs[8];

		snprintf(qs, sizeof(qs), "%u", q);
		nfqueue_get_stats(d->queues[i], &st);
		EL(o, Q_RECEIVED, st.packets, qs);
		EL(o, Q_PACKETS, st.accepted, qs, "accepted");
		EL(o, Q_PACKETS, st.dropped, qs, "dropped");
		EL(o, Q_PACKETS, st.rejected, qs, "rejected");
		EL(o, Q_ENOBUFS, st.enobufs, qs);
		EL(o, Q_MALFORMED, st.malformed, qs);
		EL(o, Q_SEND_ERRORS, st.send_errors, qs);
		EL(o, Q_NL_ERRORS, st.nl_errors, qs);
		EL(o, Q_BATCHES, st.batches, qs);
		EL(o, Q_BATCH_MAX, st.batch_max, qs);
		if (nfqueue_kernel_stats((uint16_t)q, &ks) == 0) {
			EL(o, Q_K_OVERFLOW, ks.queue_dropped, qs);
			EL(o, Q_K_SOCKDROP, ks.user_dropped, qs);
			EL(o, Q_WAITING, ks.queue_total, qs);
		}
	}
}

static void collect_allowset(struct stats_out *o, struct daemon *d)
{
	struct allowset_stats as;

	if (!d->allowset)
		return;
	allowset_get_stats(d->allowset, &as);
	E0(o, AS_ENTRIES, as.entries);
	E0(o, AS_CAPACITY, allowset_capacity(d->allowset));
	E0(o, AS_OWNERS, allowset_owner_count(d->allowset));
	E0(o, AS_INSERTS, as.inserts);
	E0(o, AS_REFRESHES, as.refreshes);
	E0(o, AS_FULL, as.full);
	E0(o, AS_EVICTED, as.evicted);
	E0(o, AS_SWEPT, as.swept);
	E0(o, AS_QUOTA, as.quota);
	E0(o, AS_NAMES_DROPPED, as.names_dropped);
	E0(o, AS_REMOVED, as.removed);
}

static void collect_kernel_side(struct stats_out *o, struct daemon *d)
{
	struct fastpath_stats fs = {0};

	if (d->crossing) {
		struct crossing_stats cs;

		crossing_get_stats(d->crossing, allowset_now_ms(), &cs);
		E0(o, CR_RECORDED, cs.recorded);
		E0(o, CR_EVICTED, cs.evicted);
		E0(o, CR_FAILING, cs.sets_failing_closed);
	}
	if (d->fastpath)
		fastpath_get_stats(d->fastpath, &fs);
	E0(o, FP_ENABLED, d->fastpath ? 1 : 0);
	E0(o, FP_ADDED, fs.added);
	E0(o, FP_REMOVED, fs.removed);
	E0(o, FP_BATCHES, fs.batches);
	E0(o, FP_ERRORS, fs.errors);
	E0(o, FP_DROPPED, fs.dropped);
	E0(o, FP_FAILSAFE, fs.failsafe_flushes);
}

static void collect_stub(struct stats_out *o, struct daemon *d)
{
	static const char *const rcodes[6] = {"NOERROR",  "FORMERR", "SERVFAIL",
					      "NXDOMAIN", "NOTIMP",  "REFUSED"};
	struct stub_counter why[STUB_REMOVED_WHYS];
	struct stub_stats ss = {0};
	unsigned n;

	if (d->stub)
		stub_get_stats(d->stub, &ss);
	EL(o, DNS_QUERIES, ss.udp_queries, "udp");
	EL(o, DNS_QUERIES, ss.tcp_queries, "tcp");
	for (unsigned i = 0; i < 6; i++)
		EL(o, DNS_ANSWERS, ss.rcodes[i], rcodes[i]);
	EL(o, DNS_ANSWERS, ss.rcode_other, "other");
	E0(o, DNS_DROPPED, ss.dropped);
	E0(o, DNS_MALFORMED, ss.formerr);
	E0(o, DNS_LEARNED, ss.learned);
	EL(o, DNS_REFUSED, ss.pending_full, "pending_queries");
	EL(o, DNS_REFUSED, ss.client_full, "pending_per_client");
	EL(o, DNS_REFUSED, ss.tcp_refused, "tcp_connections");
	EL(o, DNS_REFUSED, ss.tcp_client_full, "tcp_per_client");
	EL(o, DNS_REFUSED, ss.scope_refused, "client_subnet");
	EL(o, DNS_REFUSED, ss.scope_no_neigh, "client_neighbour");
	EL(o, DNS_REFUSED, ss.fair_refused, "upstream_fair_share");
	E0(o, DNS_UDP_DROPS, ss.udp_rcvbuf_drops);
	EL(o, DNS_NOT_LEARNED, ss.learn_refused, "learned_max");
	EL(o, DNS_NOT_LEARNED, ss.learn_quota, "learned_per_client");
	EL(o, DNS_NOT_LEARNED, ss.learn_special, "special");
	EL(o, DNS_NOT_LEARNED, ss.addrs_dropped, "addrs_per_name");
	E0(o, DNS_OWNER_UNKNOWN, ss.owner_unknown);
	E0(o, DNS_TCP_OPEN, ss.tcp_open);
	E0(o, DNS_TCP_ACCEPTED, ss.tcp_conns);
	E0(o, DNS_TCP_IDLE, ss.tcp_idle_closed);
	E0(o, DNS_TCP_OVERFLOW, ss.tcp_out_overflow);
	E0(o, DNS_TRUNCATED, ss.truncated);
	E0(o, DNS_CANARY, ss.canary);
	E0(o, DNS_UPSTREAM_ERR, ss.upstream_errors);
	EL(o, DNS_BAD_ANSWERS, ss.bad_answers, "mismatch");
	EL(o, DNS_BAD_ANSWERS, ss.chain_errors, "chain");
	n = stub_removed_counters(&ss, why);
	for (unsigned i = 0; i < n; i++)
		EL(o, DNS_REMOVED, why[i].value, why[i].name);
	E0(o, DNS_FILTERED, ss.answers_filtered);
	E0(o, DNS_EMPTIED, ss.answers_emptied);
	E0(o, DNS_FILTER_ERR, ss.filter_errors);
	for (unsigned c = 1; c < ADDR_CLASS__COUNT; c++)
		EL(o, DNS_NEVER_LEARN, ss.never_learn[c], addr_class_name(c));
	E0(o, DNS_LOCAL_PFX, ss.local_prefixes_dropped);
	E0(o, DNS_PENDING, ss.pending);
	EL(o, ACCEPT_PAUSED, ss.accept_paused, "stub");
	if (d->qlog) {
		struct querylog_stats qs;

		querylog_get_stats(d->qlog, &qs);
		EL(o, QLOG_LINES, qs.lines, "written");
		EL(o, QLOG_LINES, qs.dropped, "dropped");
		EL(o, QLOG_LINES, qs.errors, "error");
	}
	if (d->stub && stub_cache(d->stub)) {
		struct cache_counter cn[CACHE_COUNTERS];
		struct cache_stats cst;

		cache_get_stats(stub_cache(d->stub), &cst);
		n = cache_counters(&cst, cn);
		for (unsigned i = 0; i < n; i++) {
			if (cn[i].gauge)
				EL(o, CACHE_NOW, cn[i].value, cn[i].name);
			else
				EL(o, CACHE_EVENTS, cn[i].value, cn[i].name);
		}
	}
}

static void collect_endpoints(struct stats_out *o, struct daemon *d)
{
	struct control_stats cs = {0};
	struct metrics_stats ms = {0};

	if (d->control)
		control_get_stats(d->control, &cs);
	metrics_get_stats(d->metrics, &ms);
	EL(o, ACCEPT_PAUSED, cs.accept_paused, "control");
	EL(o, ACCEPT_PAUSED, ms.accept_paused, "metrics");
	E0(o, CTL_ACCEPTED, cs.accepted);
	EL(o, CTL_REFUSED, cs.refused_creds, "credentials");
	EL(o, CTL_REFUSED, cs.refused_full, "full");
	EL(o, CTL_REQUESTS, cs.requests, "read");
	EL(o, CTL_REQUESTS, cs.bad_requests, "malformed");
	EL(o, CTL_EVENTS, cs.events, "queued");
	EL(o, CTL_EVENTS, cs.events_dropped, "dropped");
	EL(o, MX_CONNECTIONS, ms.accepted, "accepted");
	EL(o, MX_CONNECTIONS, ms.refused_full, "refused_full");
	E0(o, MX_SCRAPES, ms.scrapes);
}

static void collect_upstream(struct stats_out *o, const struct upstream *up, const char *identity)
{
	/* upstream.h: latency buckets <=1, 2, 5, 10, 50, 100, 1000 ms, more */
	static const char *const le[8] = {"0.001", "0.002", "0.005", "0.01",
					  "0.05",  "0.1",   "1",     "+Inf"};

	for (unsigned i = 0; up && i < upstream_count(up); i++) {
		struct upstream_server_stats ss;

		upstream_get_server_stats(up, i, &ss);
#define UP(f, v)    EL(o, f, v, ss.name, ss.proto, identity)
#define UPR(v, why) EL(o, UP_FAILURES, v, ss.name, ss.proto, identity, why)
		UP(UP_QUERIES, ss.t.queries);
		UP(UP_ANSWERS, ss.t.answers);
		UPR(ss.t.timeouts, "timeout");
		UPR(ss.t.identity_errors, "identity");
		UPR(ss.t.conn_errors, "connect");
		UPR(ss.t.protocol_errors, "protocol");
		UP(UP_CONNECTIONS, ss.t.connections);
		UP(UP_RESUMED, ss.t.resumed);
		UP(UP_SELECTED, ss.selected);
		UP(UP_FAILOVERS, ss.failovers);
		UP(UP_INFLIGHT_REF, ss.t.inflight_refused);
		UP(UP_SYN_RETRIES, ss.t.syn_retries);
		UP(UP_STALE_CLOSED, ss.t.stale_closed);
		UP(UP_INFLIGHT, ss.t.inflight);
		UP(UP_HEALTHY, ss.healthy ? 1 : 0);
		UP(UP_CONSEC, ss.consecutive_failures);
#undef UP
#undef UPR
		emit_histogram(o, F_UP_LATENCY, (const char *const[]){ss.name, ss.proto, identity},
			       3, ss.latency_buckets, le, 8, (double)ss.latency_ms_sum / 1000.0,
			       ss.latency_count);
	}
}

static void collect(struct stats_out *o, struct daemon *d)
{
	collect_core(o, d);
	collect_vplane(o, d);
	collect_owner(o, d);
	collect_queues(o, d);
	collect_allowset(o, d);
	collect_kernel_side(o, d);
	collect_stub(o, d);
	collect_endpoints(o, d);
	collect_upstream(o, d->upstream, "default");
	for (unsigned i = 0; d->conf && i < d->nid_upstream && i < d->conf->nidentities; i++) {
		char pb[PREFIX_STRLEN];

		collect_upstream(
		    o, d->id_upstream[i],
		    addr_prefix_format(&d->conf->identities[i].subnet, pb, sizeof(pb)));
	}
}

static const char *label_name(const struct stats_family *f, unsigned i)
{
	for (unsigned k = 0; k <= i; k++)
		if (k >= STATS_MAX_LABELS || !f->labels[k])
			return "le"; /* the one label past a histogram's own */
	return f->labels[i];
}

/* ---- Prometheus text: samples gathered per family, then written in order ---- */

struct prom_out {
	struct stats_out o;
	FILE *fam[F__COUNT];
	char *buf[F__COUNT];
	size_t len[F__COUNT];
};

/* Text format: backslash, double quote and newline escaped in label values. */
static void prom_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void prom_value(FILE *f, double v)
{
	if (v >= 0 && v < 9007199254740992.0 && v == floor(v))
		fprintf(f, "%llu", (unsigned long long)v);
	else
		fprintf(f, "%.9g", v);
}

static void prom_sample(struct stats_out *o, unsigned fam, const char *suffix,
			const char *const *lv, double v)
{
	struct prom_out *p = container_of(o, struct prom_out, o);
	FILE *f = p->fam[fam];

	if (!f)
		return;
	fputs(families[fam].name, f);
	if (suffix)
		fputs(suffix, f);
	for (unsigned i = 0; lv && lv[i]; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "{", label_name(&families[fam], i));
		prom_escape(f, lv[i]);
		fputc('"', f);
		if (!lv[i + 1])
			fputc('}', f);
	}
	fputc(' ', f);
	prom_value(f, v);
	fputc('\n', f);
}

int stats_render_prometheus(struct daemon *d, FILE *f)
{
	struct prom_out p = {.o.sample = prom_sample};
	int rc = 0;

	for (unsigned i = 0; i < F__COUNT; i++) {
		p.fam[i] = open_memstream(&p.buf[i], &p.len[i]);
		if (!p.fam[i])
			rc = -ENOMEM;
	}
	if (rc == 0)
		collect(&p.o, d);
	for (unsigned i = 0; i < F__COUNT; i++) {
		if (!p.fam[i])
			continue;
		fclose(p.fam[i]);
		if (rc == 0) {
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", families[i].name,
				families[i].help, families[i].name,
				stats_type_name(families[i].type));
			fwrite(p.buf[i], 1, p.len[i], f);
		}
		free(p.buf[i]);
	}
	return rc;
}

/* ---- JSON ---- */

struct json_out {
	struct stats_out o;
	json_t *samples[F__COUNT];
};

static void json_sample(struct stats_out *o, unsigned fam, const char *suffix,
			const char *const *lv, double v)
{
	struct json_out *j = container_of(o, struct json_out, o);
	json_t *s = json_object(), *labels = json_object();

	for (unsigned i = 0; lv && lv[i]; i++)
		json_object_set_new(labels, label_name(&families[fam], i), json_string(lv[i]));
	json_object_set_new(s, "labels", labels);
	if (v >= 0 && v < 9007199254740992.0 && v == floor(v))
		json_object_set_new(s, "value", json_integer((json_int_t)v));
	else
		json_object_set_new(s, "value", json_real(v));
	if (suffix)
		json_object_set_new(s, "suffix", json_string(suffix));
	json_array_append_new(j->samples[fam], s);
}

json_t *stats_render_json(struct daemon *d)
{
	struct json_out j = {.o.sample = json_sample};
	json_t *out = json_object();

	for (unsigned i = 0; i < F__COUNT; i++)
		j.samples[i] = json_array();
	collect(&j.o, d);
	for (unsigned i = 0; i < F__COUNT; i++)
		json_object_set_new(out, families[i].name,
				    json_pack("{s:s, s:s, s:s, s:o}", "type",
					      stats_type_name(families[i].type), "unit",
					      families[i].unit, "help", families[i].help, "samples",
					      j.samples[i]));
	return out;
}
