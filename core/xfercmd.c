/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/xfercmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/allowset.h"
#include "core/commands.h"
#include "core/control.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/statefile.h"
#include "core/transfer.h"
#include "dns/stub.h"

#define XFERCMD_REFUSED_MAX 16 /* refusals listed in one answer (all counted) */

struct export_ctx {
	json_t *arr;
	uint64_t mono, real;
	size_t count, total;
};

static int export_one(const struct allowset_view *v, void *arg)
{
	struct export_ctx *x = arg;
	json_t *o;

	if (v->expires_ms <= x->mono)
		return 0;
	x->total++;
	if (x->count >= XFERCMD_EXPORT_MAX)
		return 0;
	o = transfer_entry_json(v, x->mono, x->real);
	if (o && json_array_append_new(x->arr, o) == 0)
		x->count++;
	return 0;
}

json_t *xfercmd_export(struct daemon *d, json_t *req)
{
	struct export_ctx x = {
	    .arr = json_array(), .mono = allowset_now_ms(), .real = statefile_real_ms()};
	char when[TRANSFER_TIME_LEN];

	(void)req;
	if (!x.arr)
		return control_error("out of memory");
	allowset_walk(d->allowset, export_one, &x);
	return json_pack("{s:b, s:s, s:i, s:s, s:s, s:o, s:I, s:b}", "ok", 1, "format",
			 TRANSFER_FORMAT, "version", TRANSFER_VERSION, "exported_at",
			 transfer_time_format(x.real, when, sizeof(when)), "mode",
			 conf_mode_name(d->conf->mode), "entries", x.arr, "total",
			 (json_int_t)x.total, "truncated", x.total > x.count);
}

/* What the importing daemon's mode allows as a scope: per-client scopes
 * only on a gateway that keeps them apart, where a learned allowance always
 * has one; elsewhere only the unset scope. */
static int check_scope(const struct daemon *d, const struct transfer_entry *e, char *err,
		       size_t errlen)
{
	const struct conf *c = d->conf;
	bool scoped = c->mode == CONF_MODE_GATEWAY && !c->shared_allowances;
	char a[ADDR_STRLEN];

	addr_format(&e->addr, a, sizeof(a));
	if (!scoped && e->scope.family) {
		snprintf(err, errlen,
			 "%s: scoped to a client, but this daemon (%s mode) has no per-client "
			 "allowances",
			 a, conf_mode_name(c->mode));
		return -EINVAL;
	}
	if (scoped && !e->scope.family && e->source == ALLOWSET_LEARNED) {
		snprintf(err, errlen,
			 "%s: a learned allowance on this gateway belongs to a client (scope)", a);
		return -EINVAL;
	}
	return 0;
}

/* The same never-learn table as the stub's and "allow": what no answer may
 * open, no file opens either (invariant 7). */
static int check_class(struct daemon *d, const struct transfer_entry *e, char *err, size_t errlen)
{
	bool embedded = false;
	enum addr_class cls;
	char a[ADDR_STRLEN];

	if (!d->stub) {
		snprintf(err, errlen, "the DNS stub is not running: nothing can be checked");
		return -EINVAL;
	}
	cls = stub_classify(d->stub, &e->addr, &embedded);
	if (cls == ADDR_CLASS_OK)
		return 0;
	snprintf(err, errlen, "%s is %s%s: never allowed", addr_format(&e->addr, a, sizeof(a)),
		 embedded ? "an IPv6 form of an IPv4 address that is " : "", addr_class_name(cls));
	return -EINVAL;
}

static int add_entry(struct daemon *d, const struct transfer_entry *e, uint64_t mono, uint64_t real)
{
	const struct addr *scope = e->scope.family ? &e->scope : NULL;
	uint64_t expires = mono + (e->expires_real_ms - real);
	const char *server = e->server[0] ? e->server : "import";
	int rc = 0;

	for (unsigned i = 0; i < e->nnames && rc == 0; i++)
		rc = allowset_add(d->allowset, scope, &e->addr, expires, e->source, e->names[i],
				  server, mono);
	if (e->nnames == 0)
		rc = allowset_add(d->allowset, scope, &e->addr, expires, e->source, NULL, server,
				  mono);
	if (rc == 0)
		daemon_fastpath_add(d, scope, &e->addr, expires, mono);
	return rc;
}

json_t *xfercmd_import(struct daemon *d, json_t *req, uid_t uid)
{
	json_t *entries = json_object_get(req, "entries"), *ver = json_object_get(req, "version");
	json_t *refused, *o;
	bool dry = json_is_true(json_object_get(req, "dry_run"));
	uint64_t mono = allowset_now_ms(), real = statefile_real_ms();
	struct transfer_limits lim = {
	    .now_real_ms = real,
	    .learned_max_ms = ((uint64_t)d->conf->ttl.max + d->conf->ttl.grace) * 1000u,
	    .manual_max_ms = (uint64_t)COMMANDS_MANUAL_TTL_MAX * 1000u,
	    .names_max = d->conf->limits.names_per_addr,
	};
	struct transfer_entry *e;
	struct allowset_stats st;
	size_t i, accepted = 0, imported = 0, nrefused = 0;

	/* It grants network access: only root, whoever else may use the socket. */
	if (uid != 0)
		return control_error("import needs root (uid 0), not uid %u", (unsigned)uid);
	if (!json_is_integer(ver) || json_integer_value(ver) != TRANSFER_VERSION)
		return control_error("\"version\" must be %d", TRANSFER_VERSION);
	if (!json_is_array(entries) || json_array_size(entries) > XFERCMD_BATCH_MAX)
		return control_error("\"entries\" must be an array of at most %d entries",
				     XFERCMD_BATCH_MAX);
	e = malloc(sizeof(*e));
	refused = json_array();
	if (!e || !refused) {
		free(e);
		json_decref(refused);
		return control_error("out of memory");
	}
	json_array_foreach(entries, i, o)
	{
		char err[320];
		int rc = transfer_entry_parse(o, &lim, e, err, sizeof(err));

		if (rc == 0)
			rc = check_scope(d, e, err, sizeof(err));
		if (rc == 0)
			rc = check_class(d, e, err, sizeof(err));
		if (rc == 0 && !dry) {
			rc = add_entry(d, e, mono, real);
			if (rc == -ENOSPC)
				snprintf(err, sizeof(err), "the allowset is full (%zu entries)",
					 allowset_capacity(d->allowset));
			else if (rc < 0)
				snprintf(err, sizeof(err), "cannot allow: %s", strerror(-rc));
			else
				imported++;
		}
		if (rc < 0) {
			nrefused++;
			if (json_array_size(refused) < XFERCMD_REFUSED_MAX)
				json_array_append_new(
				    refused,
				    json_pack("{s:I, s:s}", "index", (json_int_t)i, "error", err));
			continue;
		}
		accepted++;
	}
	free(e);
	d->xfer.refused += nrefused;
	d->xfer.imported += imported;
	if (!dry && (imported || nrefused))
		log_info("operator (uid %u) imported %zu allowances (%zu refused)", (unsigned)uid,
			 imported, nrefused);
	allowset_get_stats(d->allowset, &st);
	return json_pack("{s:b, s:b, s:I, s:I, s:I, s:o, s:I}", "ok", 1, "dry_run", dry, "accepted",
			 (json_int_t)accepted, "imported", (json_int_t)imported, "refused_count",
			 (json_int_t)nrefused, "refused", refused, "room",
			 (json_int_t)(allowset_capacity(d->allowset) > st.entries
					  ? allowset_capacity(d->allowset) - st.entries
					  : 0));
}
