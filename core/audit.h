/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit aggregation: in audit mode every would-deny verdict is counted by
 * (destination, port, protocol, uid), in a bounded table, so that
 * "ztdnsctl audit-report" can show what enforcing would break and propose
 * an exceptions block to review. Event loop thread only.
 */
#ifndef ZTDNS_AUDIT_H
#define ZTDNS_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/addr.h"

#define AUDIT_MAX_ENTRIES 4096
#define AUDIT_NAME_MAX	  96 /* comm and unit, with the NUL */
#define AUDIT_MAX_SENDERS 256

struct audit;

struct audit *audit_new(void);
void audit_free(struct audit **a);

/* Count one would-deny. uid is -1 when unknown; comm and unit (the sending
 * process's command name and systemd unit or container, core/owner.h) are
 * NULL or "" when unknown (copied, cut at AUDIT_NAME_MAX - 1 bytes). The
 * entry's key is (dst, port, proto, uid, reason), so that a sender not
 * found for some events does not split it; the entry shows the latest
 * sender found. Each event also counts for its sender (comm, unit, uid) in a
 * second table of AUDIT_MAX_SENDERS. When a table is full a new key is not
 * stored, and audit_dropped() or the report's senders_dropped counts it. */
void audit_record(struct audit *a, const struct addr *dst, uint16_t port, uint8_t proto,
		  int64_t uid, const char *comm, const char *unit, const char *reason,
		  uint64_t now_ms);

/* The report: {"entries":[{dst, port, proto, uid, comm, unit, reason, count,
 * first_s_ago, last_s_ago}...] (most hits first; comm and unit null when
 * never found), "senders": [{comm, unit, uid, count}...] (every event by
 * sender, most first; comm and unit null when not found), "dropped": N,
 * "senders_dropped": N, "proposed_exceptions": [...]}. With v4_len / v6_len
 * below 32 / 128, destinations are aggregated to those prefix lengths in
 * the proposal. New reference, caller owns. */
json_t *audit_report(const struct audit *a, unsigned v4_len, unsigned v6_len, uint64_t now_ms);

/* What audit_config() did with the proposal. */
struct audit_config_counts {
	unsigned added;	  /* prefixes added to the configuration */
	unsigned present; /* already an exception of it (an equal prefix) */
	unsigned omitted; /* past CONF_MAX_EXCEPTIONS */
};

struct conf;

/* audit-report --config: the canonical configuration of c (conf_dump(),
 * every key) with the proposed prefixes (audit_report()'s
 * "proposed_exceptions", CIDR texts) added as the exception group
 * "audit-report" (or, with no room for another group, as plain
 * prefixes), leaving out those equal to an existing exception, which the
 * configuration would refuse as duplicates. Returns a new reference, or
 * NULL (out of memory). */
json_t *audit_config(const struct conf *c, json_t *proposed, struct audit_config_counts *n);

uint64_t audit_dropped(const struct audit *a);
void audit_clear(struct audit *a);

#endif
