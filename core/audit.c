/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/packet.h"
#include "policy/conf.h"

struct audit_entry {
	struct addr dst;
	uint16_t port;
	uint8_t proto;
	int64_t uid;
	char comm[AUDIT_NAME_MAX], unit[AUDIT_NAME_MAX];
	char reason[24];
	uint64_t count, first_ms, last_ms;
};

struct audit_sender {
	char comm[AUDIT_NAME_MAX], unit[AUDIT_NAME_MAX];
	int64_t uid;
	uint64_t count;
};

struct audit {
	struct audit_entry *e;
	size_t n;
	uint64_t dropped;
	struct audit_sender senders[AUDIT_MAX_SENDERS];
	size_t nsenders;
	uint64_t senders_dropped;
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
	a->nsenders = 0;
	a->senders_dropped = 0;
}

uint64_t audit_dropped(const struct audit *a)
{
	return a->dropped;
}

/* Count one event for its sender (comm, unit, uid); past the bound it is
 * counted in senders_dropped. */
static void count_sender(struct audit *a, const char *c, const char *u, int64_t uid)
{
	struct audit_sender *s;

	for (size_t i = 0; i < a->nsenders; i++) {
		s = &a->senders[i];
		if (s->uid == uid && strcmp(s->comm, c) == 0 && strcmp(s->unit, u) == 0) {
			s->count++;
			return;
		}
	}
	if (a->nsenders == AUDIT_MAX_SENDERS) {
		a->senders_dropped++;
		return;
	}
	s = &a->senders[a->nsenders++];
	snprintf(s->comm, sizeof(s->comm), "%s", c);
	snprintf(s->unit, sizeof(s->unit), "%s", u);
	s->uid = uid;
	s->count = 1;
}

void audit_record(struct audit *a, const struct addr *dst, uint16_t port, uint8_t proto,
		  int64_t uid, const char *comm, const char *unit, const char *reason,
		  uint64_t now_ms)
{
	struct audit_entry *e;
	char c[AUDIT_NAME_MAX], u[AUDIT_NAME_MAX];

	snprintf(c, sizeof(c), "%s", comm ? comm : "");
	snprintf(u, sizeof(u), "%s", unit ? unit : "");
	count_sender(a, c, u, uid);

	/* A linear scan: audit mode is for finding out, not for line rate, and
	 * the table is bounded. */
	for (size_t i = 0; i < a->n; i++) {
		e = &a->e[i];
		if (e->port == port && e->proto == proto && e->uid == uid &&
		    addr_equal(&e->dst, dst) && strcmp(e->reason, reason) == 0) {
			e->count++;
			e->last_ms = now_ms;
			if (c[0]) { /* the latest sender found */
				memcpy(e->comm, c, sizeof(c));
				memcpy(e->unit, u, sizeof(u));
			}
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

	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return a->first_ms > b->first_ms ? 1 : a->first_ms < b->first_ms ? -1 : 0; /* older first */
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

static int sender_by_count(const void *x, const void *y)
{
	const struct audit_sender *a = *(const struct audit_sender *const *)x;
	const struct audit_sender *b = *(const struct audit_sender *const *)y;

	return a->count < b->count ? 1 : a->count > b->count ? -1 : 0;
}

static json_t *null_or_str(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

/* The senders, most events first. */
static json_t *senders_json(const struct audit *a)
{
	const struct audit_sender *v[AUDIT_MAX_SENDERS];
	json_t *out = json_array();

	for (size_t i = 0; i < a->nsenders; i++)
		v[i] = &a->senders[i];
	qsort(v, a->nsenders, sizeof(v[0]), sender_by_count);
	for (size_t i = 0; i < a->nsenders; i++)
		json_array_append_new(
		    out, json_pack("{s:o, s:o, s:o, s:I}", "comm", null_or_str(v[i]->comm), "unit",
				   null_or_str(v[i]->unit), "uid",
				   v[i]->uid >= 0 ? json_integer(v[i]->uid) : json_null(), "count",
				   (json_int_t)v[i]->count));
	return out;
}

json_t *audit_report(const struct audit *a, unsigned v4_len, unsigned v6_len, uint64_t now_ms)
{
	json_t *entries = json_array(), *proposed = json_array();
	const struct audit_entry **sorted = calloc(a->n ? a->n : 1, sizeof(*sorted));
	struct prefix *seen = calloc(a->n ? a->n : 1, sizeof(*seen));
	size_t nseen = 0;

	if (!sorted || !seen) {
		free(sorted);
		free(seen);
		json_decref(entries);
		json_decref(proposed);
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
		json_object_set_new(o, "comm", null_or_str(e->comm));
		json_object_set_new(o, "unit", null_or_str(e->unit));
		json_array_append_new(entries, o);
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
	return json_pack("{s:o, s:o, s:I, s:I, s:o}", "entries", entries, "senders",
			 senders_json(a), "dropped", (json_int_t)a->dropped, "senders_dropped",
			 (json_int_t)a->senders_dropped, "proposed_exceptions", proposed);
}

#define AUDIT_GROUP "audit-report"

/* The group object named AUDIT_GROUP in a dumped "exceptions" array. */
static json_t *audit_group(json_t *exc)
{
	json_t *e;
	size_t i;

	json_array_foreach(exc, i, e)
	{
		json_t *name = json_object_get(e, "name");

		if (json_is_string(name) && strcmp(json_string_value(name), AUDIT_GROUP) == 0 &&
		    json_is_array(json_object_get(e, "subnets")))
			return json_object_get(e, "subnets");
	}
	return NULL;
}

json_t *audit_config(const struct conf *c, json_t *proposed, struct audit_config_counts *n)
{
	char *text = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);
	json_t *root = NULL, *exc, *into, *p;
	json_error_t jerr;
	unsigned total = c->nexceptions;

	memset(n, 0, sizeof(*n));
	if (!f)
		return NULL;
	conf_dump(c, f);
	if (fclose(f) == 0)
		root = json_loadb(text, len, 0, &jerr);
	free(text);
	exc = json_object_get(root, "exceptions");
	if (!root || !json_is_array(exc)) {
		json_decref(root);
		return NULL;
	}
	into = audit_group(exc);
	if (!into && c->nexception_groups < CONF_MAX_EXCEPTION_GROUPS) {
		json_t *g = json_pack("{s:s, s:[]}", "name", AUDIT_GROUP, "subnets");

		if (!g || json_array_append_new(exc, g) < 0) {
			json_decref(root);
			return NULL;
		}
		into = json_object_get(g, "subnets");
	}
	if (!into)
		into = exc; /* no room for a group: plain prefixes */
	json_array_foreach(proposed, i, p)
	{
		struct prefix pr;
		bool dup = false;

		if (!json_is_string(p) || addr_prefix_parse(json_string_value(p), &pr) < 0)
			continue;
		for (unsigned j = 0; j < c->nexceptions && !dup; j++)
			dup = c->exceptions[j].len == pr.len &&
			      addr_equal(&c->exceptions[j].addr, &pr.addr);
		if (dup) {
			n->present++;
		} else if (total >= CONF_MAX_EXCEPTIONS ||
			   json_array_size(exc) >= CONF_MAX_EXCEPTIONS) {
			n->omitted++;
		} else if (json_array_append(into, p) == 0) {
			n->added++;
			total++;
		}
	}
	/* An empty group would be refused: leave it out. */
	if (into != exc && json_array_size(into) == 0) {
		json_t *e;

		json_array_foreach(exc, i, e) if (json_object_get(e, "subnets") == into)
		{
			json_array_remove(exc, i);
			break;
		}
	}
	return root;
}
