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

#include "dns/upstream.h"

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

#endif
