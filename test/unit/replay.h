/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The replay transport of the stub and failover tests: it stands where
 * dns/doh.c and dns/dot.c stand (upstream_new_replay()), keeps each query
 * the upstream sends, and the test answers them later with recorded wire
 * bytes (replay_answer) or fails them (replay_fail). The clock the
 * upstream's back-off reads is replay_clock, moved by the test.
 */
#ifndef ZTDNS_TEST_REPLAY_H
#define ZTDNS_TEST_REPLAY_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <unistd.h>

#include "dns/stub.h"
#include "dns/upstream.h"
#include "policy/conf.h"

#define REPLAY_MAX   32
#define REPLAY_QSIZE 512

struct replay_query {
	bool used;
	char server[64];
	uint8_t q[REPLAY_QSIZE];
	size_t len;
	uint32_t timeout_ms;
	upstream_done_cb cb;
	void *arg;
};

static struct replay {
	struct replay_query rq[REPLAY_MAX];
	unsigned sent;		/* queries accepted, in total */
	unsigned canceled;	/* completed by cancel() */
	int refuse;		/* -errno: query() refuses with it */
	char refuse_server[64]; /* only this server refuses ("" every one) */
	char order[256];	/* the servers asked, in order, space-separated */
	uint64_t clock;		/* ms, read by the upstream (now_ms) */
	bool use_clock;
} replay;

static int replay_query_cb(void *ctx, const char *server, const uint8_t *q, size_t len,
			   uint32_t timeout_ms, upstream_done_cb cb, void *cb_arg)
{
	size_t o = strlen(replay.order);

	(void)ctx;
	if (replay.refuse && (!replay.refuse_server[0] || !strcmp(replay.refuse_server, server)))
		return replay.refuse;
	if (len > REPLAY_QSIZE)
		return -EMSGSIZE;
	for (unsigned i = 0; i < REPLAY_MAX; i++) {
		struct replay_query *r = &replay.rq[i];

		if (r->used)
			continue;
		r->used = true;
		snprintf(r->server, sizeof(r->server), "%s", server);
		memcpy(r->q, q, len);
		r->len = len;
		r->timeout_ms = timeout_ms;
		r->cb = cb;
		r->arg = cb_arg;
		replay.sent++;
		snprintf(replay.order + o, sizeof(replay.order) - o, "%s%s", o ? " " : "", server);
		return 0;
	}
	return -EBUSY;
}

static void replay_cancel_cb(void *ctx, const char *server)
{
	(void)ctx;
	for (unsigned i = 0; i < REPLAY_MAX; i++) {
		struct replay_query *r = &replay.rq[i];

		if (r->used && strcmp(r->server, server) == 0) {
			r->used = false;
			replay.canceled++;
			r->cb(r->arg, -ECANCELED, NULL, 0);
		}
	}
}

static uint64_t replay_now_cb(void *ctx)
{
	(void)ctx;
	return replay.clock;
}

static const struct upstream_replay_ops replay_ops = {
    .query = replay_query_cb, .cancel = replay_cancel_cb, .now_ms = replay_now_cb, .slots = 16};

/* The oldest query still waiting, NULL if none. */
static inline struct replay_query *replay_next(void)
{
	for (unsigned i = 0; i < REPLAY_MAX; i++)
		if (replay.rq[i].used)
			return &replay.rq[i];
	return NULL;
}

static inline unsigned replay_waiting(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < REPLAY_MAX; i++)
		n += replay.rq[i].used;
	return n;
}

/* Answer r with the recorded message rec (len bytes), its ID replaced by
 * the query's (id_delta added: a wrong ID). */
static inline void replay_answer(struct replay_query *r, const uint8_t *rec, size_t len,
				 int id_delta)
{
	uint8_t buf[4096];
	uint16_t id = (uint16_t)((r->q[0] << 8 | r->q[1]) + id_delta);
	upstream_done_cb cb = r->cb;
	void *arg = r->arg;

	if (len > sizeof(buf))
		len = sizeof(buf);
	memcpy(buf, rec, len);
	if (len >= 2) {
		buf[0] = (uint8_t)(id >> 8);
		buf[1] = (uint8_t)id;
	}
	r->used = false;
	cb(arg, 0, buf, len);
}

static inline void replay_fail(struct replay_query *r, int status)
{
	upstream_done_cb cb = r->cb;
	void *arg = r->arg;

	r->used = false;
	cb(arg, status, NULL, 0);
}

/* A stub on a free loopback UDP/TCP port (a few tried) with one DoT server
 * "one" on the replay transport; extra: more JSON members of the
 * configuration (may be ""). Fills *c, *up, *port; NULL on failure. */
static inline struct stub *replay_stub_open(struct ev_loop *loop, struct allowset *as,
					    const char *extra, struct conf **c,
					    struct upstream **up, int *port)
{
	struct conf_errors errs = {0};
	struct stub *s = NULL;
	int err = 0;

	*c = NULL;
	*up = NULL;
	for (int i = 0; i < 50 && !s; i++) {
		char text[2048];

		*port = 20000 + (int)((getpid() * 7 + i * 131) % 40000);
		snprintf(text, sizeof(text),
			 "{\"mode\":\"host\",\"servers\":[{\"name\":\"one\",\"protocol\":\"dot\","
			 "\"address\":\"192.0.2.53\",\"tls_name\":\"pdns.test\"}],"
			 "\"listen\":[\"127.0.0.1:%d\"]%s%s}",
			 *port, extra[0] ? "," : "", extra);
		conf_free(c);
		if (conf_parse(text, strlen(text), "t.json", c, &errs) < 0) {
			conf_errors_print(&errs, stderr);
			break;
		}
		if (!*up)
			*up = upstream_new_replay(loop, *c, &replay_ops, NULL, &err);
		if (!*up) {
			fprintf(stderr, "upstream_new_replay: %s\n", strerror(-err));
			break;
		}
		s = stub_new(loop, *c, *up, as, &err);
		if (!s && err != -EADDRINUSE)
			break;
	}
	if (!s)
		fprintf(stderr, "stub_new: %s\n", strerror(-err));
	return s;
}

#endif
