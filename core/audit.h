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

struct audit;

struct audit *audit_new(void);
void audit_free(struct audit **a);

/* Count one would-deny. uid is -1 when unknown. When the table is full a new
 * key is not stored, and audit_dropped() counts it. */
void audit_record(struct audit *a, const struct addr *dst, uint16_t port, uint8_t proto,
		  int64_t uid, const char *reason, uint64_t now_ms);

/* The report: {"entries":[{dst, port, proto, uid, reason, count, first_s_ago,
 * last_s_ago}...] (most hits first), "dropped": N, "proposed_exceptions":
 * [...]}. With v4_len / v6_len below 32 / 128, destinations are aggregated
 * to those prefix lengths in the proposal. New reference, caller owns. */
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
