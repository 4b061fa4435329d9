/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/packet.h"

struct audit_entry {
	struct addr dst;
	uint16_t port;
	uint8_t proto;
	int64_t uid;
	char comm[AUDIT_NAME_MAX], unit[AUDIT_NAME_MAX];
	char reason[24];
	uint64_t count, first_ms, last_ms;
};

struct audit {
	struct audit_entry *e;
	size_t n;
	uint64_t dropped;
};

struct audit *audit_new(void)
{
	struct audit *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->e = calloc(AUDIT_MAX_ENTRIES, sizeof(*a->e));
	if (!a->e) {
		free(a);
		return NULL;
	}
	return a;
}

void audit_free(struct audit **ap)
{
	if (!ap || !*ap)
		return;
	free((*ap)->e);
	free(*ap);
	*ap = NULL;
}

void audit_clear(struct audit *a)
{
	a->n = 0;
	a->dropped = 0;
}

uint64_t audit_dropped(const struct audit *a)
{
	return a->dropped;
}

void audit_record(struct audit *a, const struct addr *dst, uint16_t port, uint8_t proto,
		  int64_t uid, const char *comm, const char *unit, const char *reason,
		  uint64_t now_ms)
{
	struct audit_entry *e;
	char c[AUDIT_NAME_MAX], u[AUDIT_NAME_MAX];

	snprintf(c, sizeof(c), "%s", comm ? comm : "");
	snprintf(u, sizeof(u), "%s", unit ? unit : "");

	/* A linear scan: audit mode is for finding out, not for line rate, and
	 * the table is bounded. */
	for (size_t i = 0; i < a->n; i++) {
		e = &a->e[i];
		if (e->port == port && e->proto == proto && e->uid == uid &&
		    addr_equal(&e->dst, dst) && strcmp(e->reason, reason) == 0 &&
		    strcmp(e->comm, c) == 0 && strcmp(e->unit, u) == 0) {
			e->count++;
			e->last_ms = now_ms;
			return;
		}
	}
	if (a->n == AUDIT_MAX_ENTRIES) {
		a->dropped++;
		return;
	}
	e = &a->e[a->n++];
	e->dst = *dst;
	e->port = port;
	e->proto = proto;
	e->uid = uid;
	memcpy(e->comm, c, sizeof(c));
	memcpy(e->unit, u, sizeof(u));
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	e->count = 1;
	e->first_ms = e->last_ms = now_ms;
}

static int by_count(const void *x, const void *y)
{
	const struct audit_entry *a = *(const struct audit_entry *const *)x;
	const struct audit_entry *b = *(const struct audit_entry *const *)y;

	return a->count < b->count ? 1 : a->count > b->count ? -1 : 0;
}

static struct prefix truncate_to(const struct addr *a, unsigned len)
{
	struct prefix p = {.addr = *a};
	unsigned bits = addr_bits(a);

	if (len > bits)
		len = bits;
	p.len = (uint8_t)len;
	for (unsigned i = len; i < bits; i++)
		p.addr.b[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	return p;
}

static const char *json_str0(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* Add e's count to its sender's line in senders (comm, unit, uid). */
static void add_sender(json_t *senders, const struct audit_entry *e)
{
	json_t *s, *uid = e->uid >= 0 ? json_integer(e->uid) : json_null();
	size_t i;

	json_array_foreach(senders, i, s)
	{
		if (json_equal(json_object_get(s, "uid"), uid) &&
		    strcmp(json_str0(s, "comm"), e->comm) == 0 &&
		    strcmp(json_str0(s, "unit"), e->unit) == 0) {
			json_object_set_new(
			    s, "count",
			    json_integer(json_integer_value(json_object_get(s, "count")) +
					 (json_int_t)e->count));
			json_decref(uid);
			return;
		}
	}
	json_array_append_new(senders,
			      json_pack("{s:o, s:o, s:o, s:I}", "comm",
					e->comm[0] ? json_string(e->comm) : json_null(), "unit",
					e->unit[0] ? json_string(e->unit) : json_null(), "uid", uid,
					"count", (json_int_t)e->count));
}

static int sender_by_count(const void *x, const void *y)
{
	json_int_t a = json_integer_value(json_object_get(*(json_t *const *)x, "count"));
	json_int_t b = json_integer_value(json_object_get(*(json_t *const *)y, "count"));

	return a < b ? 1 : a > b ? -1 : 0;
}

/* senders sorted by count, most first (a new array). */
static json_t *sorted_senders(json_t *senders)
{
	size_t n = json_array_size(senders);
	json_t **v = calloc(n ? n : 1, sizeof(*v)), *out = json_array();

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(senders, i);
	if (v)
		qsort(v, n, sizeof(*v), sender_by_count);
	for (size_t i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(senders);
	return out;
}

json_t *audit_report(const struct audit *a, unsigned v4_len, unsigned v6_len, uint64_t now_ms)
{
	json_t *entries = json_array(), *proposed = json_array(), *senders = json_array();
	const struct audit_entry **sorted = calloc(a->n ? a->n : 1, sizeof(*sorted));
	struct prefix *seen = calloc(a->n ? a->n : 1, sizeof(*seen));
	size_t nseen = 0;

	if (!sorted || !seen) {
		free(sorted);
		free(seen);
		json_decref(entries);
		json_decref(proposed);
		json_decref(senders);
		return NULL;
	}
	for (size_t i = 0; i < a->n; i++)
		sorted[i] = &a->e[i];
	qsort(sorted, a->n, sizeof(*sorted), by_count);
	for (size_t i = 0; i < a->n; i++) {
		const struct audit_entry *e = sorted[i];
		char d[ADDR_STRLEN], pn[8], pb[PREFIX_STRLEN];
		struct prefix p = truncate_to(&e->dst, e->dst.family == AF_INET ? v4_len : v6_len);
		bool dup = false;
		json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:I, s:I, s:I}", "dst",
				      addr_format(&e->dst, d, sizeof(d)), "port", e->port, "proto",
				      packet_proto_name(e->proto, pn, sizeof(pn)), "reason",
				      e->reason, "count", (json_int_t)e->count, "first_s_ago",
				      (json_int_t)((now_ms - e->first_ms) / 1000), "last_s_ago",
				      (json_int_t)((now_ms - e->last_ms) / 1000));

		json_object_set_new(o, "uid", e->uid >= 0 ? json_integer(e->uid) : json_null());
		json_object_set_new(o, "comm", e->comm[0] ? json_string(e->comm) : json_null());
		json_object_set_new(o, "unit", e->unit[0] ? json_string(e->unit) : json_null());
		json_array_append_new(entries, o);
		add_sender(senders, e);
		for (size_t j = 0; j < nseen; j++)
			dup |= seen[j].len == p.len && addr_equal(&seen[j].addr, &p.addr);
		if (!dup) {
			seen[nseen++] = p;
			json_array_append_new(proposed,
					      json_string(addr_prefix_format(&p, pb, sizeof(pb))));
		}
	}
	free(sorted);
	free(seen);
	return json_pack("{s:o, s:o, s:I, s:o}", "entries", entries, "senders",
			 sorted_senders(senders), "dropped", (json_int_t)a->dropped,
			 "proposed_exceptions", proposed);
}
