/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/fastpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>

#include "core/allowset.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/util.h"
#include "policy/conf.h"

struct fastpath {
	struct ev_loop *loop;
	char ipset[256];
	bool per_client;
	ev_timer timer;
	char *buf; /* pending "ipset restore" lines */
	size_t len, cap;
	unsigned nlines;
	struct fastpath_stats st;
};

static int run_restore(struct fastpath *f, const char *text, size_t len)
{
	char *argv[] = {f->ipset, "-exist", "restore", NULL};
	int rc = spawn_run(argv, text, len, NULL, 0);

	if (rc != 0) {
		f->st.errors++;
		log_ratelimited(LOG_WARNING, "fast path: ipset restore failed (status %d)", rc);
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

void fastpath_sync(struct fastpath *f)
{
	if (!f || f->len == 0)
		return;
	if (run_restore(f, f->buf, f->len) == 0)
		f->st.batches++;
	f->len = 0;
	f->nlines = 0;
	ev_timer_stop(f->loop, &f->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	fastpath_sync(container_of(w, struct fastpath, timer));
}

static void queue_line(struct fastpath *f, const char *line)
{
	size_t n = strlen(line);

	if (f->nlines >= FASTPATH_BATCH_MAX) {
		f->st.dropped++;
		return;
	}
	if (f->len + n + 1 > f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16384;
		char *g;

		while (cap < f->len + n + 1)
			cap *= 2;
		g = realloc(f->buf, cap);
		if (!g) {
			f->st.dropped++;
			return;
		}
		f->buf = g;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, line, n);
	f->len += n;
	f->buf[f->len++] = '\n';
	f->nlines++;
	if (!ev_is_active(&f->timer)) {
		ev_timer_set(&f->timer, FASTPATH_FLUSH_MS / 1000.0, 0.);
		ev_timer_start(f->loop, &f->timer);
	}
}

/* The set and the element text for an allowance. */
static bool element(const struct fastpath *f, const struct addr *scope, const struct addr *a,
		    const char **set, char *el, size_t len)
{
	char d[ADDR_STRLEN], s[ADDR_STRLEN];
	bool client =
	    f->per_client && scope && (scope->family == AF_INET || scope->family == AF_INET6);

	if (client && scope->family != a->family)
		return false;
	addr_format(a, d, sizeof(d));
	if (client) {
		*set = a->family == AF_INET ? FASTPATH_SET4C : FASTPATH_SET6C;
		snprintf(el, len, "%s,%s", addr_format(scope, s, sizeof(s)), d);
	} else {
		*set = a->family == AF_INET ? FASTPATH_SET4 : FASTPATH_SET6;
		snprintf(el, len, "%s", d);
	}
	return true;
}

void fastpath_add(struct fastpath *f, const struct addr *scope, const struct addr *a,
		  uint32_t seconds)
{
	char el[2 * ADDR_STRLEN + 2], line[256];
	const char *set;

	if (!f || seconds == 0 || !element(f, scope, a, &set, el, sizeof(el)))
		return;
	snprintf(line, sizeof(line), "add %s %s timeout %u", set, el, seconds);
	queue_line(f, line);
	f->st.added++;
}

void fastpath_del(struct fastpath *f, const struct addr *scope, const struct addr *a)
{
	char el[2 * ADDR_STRLEN + 2], line[256];
	const char *set;

	if (!f || !element(f, scope, a, &set, el, sizeof(el)))
		return;
	snprintf(line, sizeof(line), "del %s %s", set, el);
	queue_line(f, line);
	f->st.removed++;
	/* A revocation must not wait: new flows are judged by the kernel. */
	fastpath_sync(f);
}

void fastpath_flush_all(struct fastpath *f)
{
	if (!f)
		return;
	queue_line(f, "flush " FASTPATH_SET4);
	queue_line(f, "flush " FASTPATH_SET6);
	if (f->per_client) {
		queue_line(f, "flush " FASTPATH_SET4C);
		queue_line(f, "flush " FASTPATH_SET6C);
	}
	fastpath_sync(f);
}

struct fastpath *fastpath_new(struct ev_loop *loop, const struct conf *c, int *err)
{
	struct fastpath *f = calloc(1, sizeof(*f));
	char text[1024];
	int n;

	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	if (!spawn_find("ipset", f->ipset, sizeof(f->ipset))) {
		log_err("fast path: the ipset tool is not installed");
		free(f);
		*err = -ENOENT;
		return NULL;
	}
	f->loop = loop;
	f->per_client = c->mode == CONF_MODE_GATEWAY && !c->shared_allowances;
	ev_init(&f->timer, on_timer);
	/* Sets survive a crash like the rules do; start from empty ones. */
	n = snprintf(text, sizeof(text),
		     "create %s hash:ip family inet timeout 86400 maxelem %u\n"
		     "create %s hash:ip family inet6 timeout 86400 maxelem %u\n"
		     "flush %s\nflush %s\n",
		     FASTPATH_SET4, c->limits.learned_max, FASTPATH_SET6, c->limits.learned_max,
		     FASTPATH_SET4, FASTPATH_SET6);
	if (f->per_client)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "create %s hash:net,net family inet timeout 86400 maxelem %u\n"
			      "create %s hash:net,net family inet6 timeout 86400 maxelem %u\n"
			      "flush %s\nflush %s\n",
			      FASTPATH_SET4C, c->limits.learned_max, FASTPATH_SET6C,
			      c->limits.learned_max, FASTPATH_SET4C, FASTPATH_SET6C);
	*err = run_restore(f, text, (size_t)n);
	if (*err < 0) {
		free(f);
		return NULL;
	}
	return f;
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
		char text[256];
		int n = snprintf(text, sizeof(text), "destroy %s\ndestroy %s\n", FASTPATH_SET4,
				 FASTPATH_SET6);

		if (f->per_client)
			n += snprintf(text + n, sizeof(text) - (size_t)n,
				      "destroy %s\ndestroy %s\n", FASTPATH_SET4C, FASTPATH_SET6C);
		run_restore(f, text, (size_t)n);
	}
	free(f->buf);
	free(f);
	*fp = NULL;
}

int fastpath_remove_sets(void)
{
	static const char *const sets[] = {FASTPATH_SET4, FASTPATH_SET6, FASTPATH_SET4C,
					   FASTPATH_SET6C};
	char ipset[256], *names = NULL;
	char *list[] = {ipset, "list", "-n", NULL};
	int rc;

	if (!spawn_find("ipset", ipset, sizeof(ipset)))
		return 0; /* no ipset, no sets */
	rc = spawn_run(list, NULL, 0, &names, 1u << 20);
	if (rc != 0) {
		free(names);
		return rc < 0 ? rc : -EIO;
	}
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		char *destroy[] = {ipset, "destroy", (char *)sets[i], NULL};
		const char *p = names;
		size_t n = strlen(sets[i]);
		bool found = false;

		while (p && *p && !found) {
			found = strncmp(p, sets[i], n) == 0 && (p[n] == '\n' || p[n] == '\0');
			p = strchr(p, '\n');
			p = p ? p + 1 : NULL;
		}
		if (found && spawn_run(destroy, NULL, 0, NULL, 0) != 0 && rc == 0)
			rc = -EBUSY; /* still referenced by a rule */
	}
	free(names);
	return rc;
}

void fastpath_get_stats(const struct fastpath *f, struct fastpath_stats *st)
{
	if (f)
		*st = f->st;
	else
		memset(st, 0, sizeof(*st));
}
