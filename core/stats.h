/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one stats registry: every counter, gauge and histogram the daemon
 * exports is defined once here (name, help, type, unit, label names) and
 * filled once from its owner's getter; both the control socket's status
 * JSON ("metrics" object) and the Prometheus text exposition are rendered
 * from the same pass, so the two cannot drift apart.
 */
#ifndef ZTDNS_STATS_H
#define ZTDNS_STATS_H

#include <stdio.h>

#include <jansson.h>

struct daemon;

enum stats_type { STATS_COUNTER, STATS_GAUGE, STATS_HISTOGRAM };

#define STATS_MAX_LABELS 5

struct stats_family {
	const char *name; /* Prometheus family name (counters end in _total) */
	enum stats_type type;
	const char *unit; /* base unit ("seconds", "entries"...) or "" */
	const char *help;
	const char *labels[STATS_MAX_LABELS]; /* NULL-terminated; histograms add "le" */
};

/* The registry, in exposition order. Static storage. */
unsigned stats_family_count(void);
const struct stats_family *stats_family_at(unsigned i);
const char *stats_type_name(enum stats_type t);

/* Write the text exposition (format 0.0.4) for d to f: per family, HELP and
 * TYPE right before its samples. Every part of d may be NULL (not running).
 * Returns 0 or -ENOMEM. */
int stats_render_prometheus(struct daemon *d, FILE *f);

/* The same samples as JSON: {family: {"type", "unit", "help", "samples":
 * [{"labels": {...}, "value": n, "suffix": "_bucket"?}]}}. New reference,
 * caller owns; NULL when out of memory. */
json_t *stats_render_json(struct daemon *d);

#endif
