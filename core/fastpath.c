/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/fastpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>

#include "core/ipsetnl.h"
#include "core/log.h"
#include "core/util.h"
#include "policy/conf.h"

#define SET_TIMEOUT 86400 /* the sets' default; every add carries its own */

static const char *const all_sets[] = {FASTPATH_SET4, FASTPATH_SET6, FASTPATH_SET4C,
				       FASTPATH_SET6C};

struct fastpath {
	struct ev_loop *loop;
	struct ipsetnl *nl;
	bool per_client;
	ev_timer timer;
	struct ipsetnl_op *ops; /* pending, FASTPATH_BATCH_MAX */
	int *res;		/* their results, FASTPATH_BATCH_MAX */
	size_t nops;
	struct fastpath_stats st;
};

static unsigned nsets(const struct fastpath *f)
{
	return f->per_client ? 4 : 2;
}

/* Run ops (at most FASTPATH_BATCH_MAX) on a fresh socket if the last one
 * broke. Returns the number of operations that failed. */
static size_t run_ops(struct fastpath *f, const struct ipsetnl_op *ops, size_t n, int *res)
{
	size_t failed = 0;
	int rc;

	if (!f->nl) {
		f->nl = ipsetnl_open(&rc);
		if (!f->nl) {
			for (size_t i = 0; i < n; i++)
				res[i] = rc;
			log_ratelimited(LOG_WARNING, "fast path: cannot open the ipset socket: %s",
					strerror(-rc));
			return n;
		}
	}
	rc = ipsetnl_run(f->nl, ops, n, res);
	if (rc < 0) {
		log_ratelimited(LOG_WARNING, "fast path: the ipset exchange failed: %s",
				strerror(-rc));
		ipsetnl_close(&f->nl); /* reopened next time */
	}
	for (size_t i = 0; i < n; i++)
		if (res[i] != 0) {
			failed++;
			log_ratelimited(LOG_WARNING, "fast path: %s %s: %s",
					ops[i].cmd == IPSETNL_DEL ? "del from" : "update of",
					ops[i].set, ipsetnl_strerror(res[i]));
		}
	return failed;
}

/* A removal that may not have happened would leave the kernel accepting
 * what the allowset refuses. Empty every set instead: the flows it held go
 * back to the queue and are judged there (fail closed). */
static void failsafe_flush(struct fastpath *f)
{
	struct ipsetnl_op ops[4];
	int res[4];
	unsigned n = nsets(f);

	for (unsigned i = 0; i < n; i++)
		ops[i] = (struct ipsetnl_op){.cmd = IPSETNL_FLUSH, .set = all_sets[i]};
	f->st.failsafe_flushes++;
	/* Once more on a fresh socket if the first try broke the exchange. */
	if (run_ops(f, ops, n, res) != 0 && run_ops(f, ops, n, res) != 0)
		log_err("fast path: cannot empty the sets after a failed removal: "
			"revoked destinations may stay reachable until their timeout");
}

void fastpath_sync(struct fastpath *f)
{
	bool removal_failed = false;

	if (!f || f->nops == 0)
		return;
	ev_timer_stop(f->loop, &f->timer);
	f->st.errors += run_ops(f, f->ops, f->nops, f->res);
	for (size_t i = 0; i < f->nops; i++)
		if (f->res[i] != 0 && f->ops[i].cmd != IPSETNL_ADD)
			removal_failed = true;
	f->st.batches++;
	f->nops = 0;
	if (removal_failed)
		failsafe_flush(f);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	fastpath_sync(container_of(w, struct fastpath, timer));
}

static bool queue_op(struct fastpath *f, const struct ipsetnl_op *op)
{
	if (f->nops >= FASTPATH_BATCH_MAX) {
		/* A removal never waits for room (the callers sync at once);
		 * an add that finds none is left to the queue. */
		f->st.dropped++;
		return false;
	}
	f->ops[f->nops++] = *op;
	if (!ev_is_active(&f->timer)) {
		ev_timer_set(&f->timer, FASTPATH_FLUSH_MS / 1000.0, 0.);
		ev_timer_start(f->loop, &f->timer);
	}
	return true;
}

/* The set and the element for an allowance. */
static bool element(const struct fastpath *f, const struct addr *scope, const struct addr *a,
		    struct ipsetnl_op *op)
{
	bool client =
	    f->per_client && scope && (scope->family == AF_INET || scope->family == AF_INET6);

	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    (client && scope->family != a->family))
		return false;
	op->a = *a;
	if (client) {
		op->set = a->family == AF_INET ? FASTPATH_SET4C : FASTPATH_SET6C;
		op->scope = *scope;
	} else {
		op->set = a->family == AF_INET ? FASTPATH_SET4 : FASTPATH_SET6;
	}
	return true;
}

void fastpath_add(struct fastpath *f, const struct addr *scope, const struct addr *a,
		  uint32_t seconds)
{
	struct ipsetnl_op op = {.cmd = IPSETNL_ADD, .timeout = seconds};

	if (!f || seconds == 0 || !element(f, scope, a, &op))
		return;
	if (queue_op(f, &op))
		f->st.added++;
}

void fastpath_del(struct fastpath *f, const struct addr *scope, const struct addr *a)
{
	struct ipsetnl_op op = {.cmd = IPSETNL_DEL};

	if (!f || !element(f, scope, a, &op))
		return;
	/* Make room: a removal is never dropped. */
	if (f->nops >= FASTPATH_BATCH_MAX)
		fastpath_sync(f);
	queue_op(f, &op);
	f->st.removed++;
	/* A revocation must not wait: new flows are judged by the kernel. */
	fastpath_sync(f);
}

void fastpath_flush_all(struct fastpath *f)
{
	if (!f)
		return;
	/* Pending adds first, so that none lands after the flush. */
	fastpath_sync(f);
	for (unsigned i = 0; i < nsets(f); i++)
		queue_op(f, &(struct ipsetnl_op){.cmd = IPSETNL_FLUSH, .set = all_sets[i]});
	fastpath_sync(f);
}

/* The errno to hand back for a kernel result. */
static int as_errno(int res)
{
	return res < 0 && res > -IPSETNL_ERRNO_MAX ? res : -EIO;
}

struct fastpath *fastpath_new(struct ev_loop *loop, const struct conf *c, int *err)
{
	struct fastpath *f = calloc(1, sizeof(*f));
	struct ipsetnl_op ops[8];
	int res[8];
	unsigned n = 0;

	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	f->loop = loop;
	f->per_client = c->mode == CONF_MODE_GATEWAY && !c->shared_allowances;
	ev_init(&f->timer, on_timer);
	f->ops = calloc(FASTPATH_BATCH_MAX, sizeof(*f->ops));
	f->res = calloc(FASTPATH_BATCH_MAX, sizeof(*f->res));
	f->nl = ipsetnl_open(err);
	if (!f->ops || !f->res || !f->nl) {
		if (f->ops && f->res)
			log_err("fast path: cannot open the ipset netlink socket: %s",
				strerror(-*err));
		else
			*err = -ENOMEM;
		goto fail;
	}
	/* Sets survive a crash like the rules do; start from empty ones. */
	for (unsigned i = 0; i < nsets(f); i++) {
		ops[n++] = (struct ipsetnl_op){.cmd = IPSETNL_CREATE,
					       .set = all_sets[i],
					       .type = i < 2 ? "hash:ip" : "hash:net,net",
					       .family = i % 2 ? AF_INET6 : AF_INET,
					       .timeout = SET_TIMEOUT,
					       .maxelem = c->limits.learned_max};
		ops[n++] = (struct ipsetnl_op){.cmd = IPSETNL_FLUSH, .set = all_sets[i]};
	}
	if (ipsetnl_run(f->nl, ops, n, res) < 0)
		log_err("fast path: the ipset exchange failed");
	for (unsigned i = 0; i < n; i++)
		if (res[i] != 0) {
			log_err("fast path: cannot %s set %s: %s",
				ops[i].cmd == IPSETNL_CREATE ? "create" : "empty", ops[i].set,
				ipsetnl_strerror(res[i]));
			*err = as_errno(res[i]);
			goto fail;
		}
	*err = 0;
	return f;
fail:
	ipsetnl_close(&f->nl);
	free(f->ops);
	free(f->res);
	free(f);
	return NULL;
}

void fastpath_free(struct fastpath **fp, bool keep)
{
	struct fastpath *f;

	if (!fp || !*fp)
		return;
	f = *fp;
	fastpath_sync(f);
	ev_timer_stop(f->loop, &f->timer);
	if (!keep) {
		struct ipsetnl_op ops[4];
		int res[4];

		for (unsigned i = 0; i < nsets(f); i++)
			ops[i] = (struct ipsetnl_op){.cmd = IPSETNL_DESTROY, .set = all_sets[i]};
		run_ops(f, ops, nsets(f), res);
	}
	ipsetnl_close(&f->nl);
	free(f->ops);
	free(f->res);
	free(f);
	*fp = NULL;
}

int fastpath_remove_sets(void)
{
	struct ipsetnl_op ops[4];
	int res[4], rc;
	struct ipsetnl *nl = ipsetnl_open(&rc);

	if (!nl)
		return rc;
	for (unsigned i = 0; i < 4; i++)
		ops[i] = (struct ipsetnl_op){.cmd = IPSETNL_DESTROY, .set = all_sets[i]};
	rc = ipsetnl_run(nl, ops, 4, res);
	for (unsigned i = 0; i < 4 && rc == 0; i++) {
		if (res[i] == 0 || res[i] == -ENOENT)
			continue; /* destroyed, or never there */
		if (res[i] == -EOPNOTSUPP || res[i] == -EPROTONOSUPPORT)
			break; /* no ipset in this kernel, no sets */
		rc = res[i] == -IPSETNL_ERR_BUSY ? -EBUSY : as_errno(res[i]);
	}
	ipsetnl_close(&nl);
	return rc;
}

void fastpath_get_stats(const struct fastpath *f, struct fastpath_stats *st)
{
	if (f)
		*st = f->st;
	else
		memset(st, 0, sizeof(*st));
}
