/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Failover, replayed: the upstream service over three servers on the replay
 * transport (replay.h) with the test's clock. Checked: the order in which
 * servers are tried (priority, then config order), one retry on another
 * server and no third attempt, back-off (doubling, and a server in back-off
 * skipped), a returning server used again once its back-off ends, the
 * preferred server again after upstream_reset_backoff(), the first attempt's
 * half budget and no retry without UPSTREAM_MIN_ATTEMPT_MS left, the
 * back-off bound, refusal at once moving to the next server, forward zones
 * routed to their own servers, and -ECANCELED for what is in flight when the
 * upstream is freed.
 */
#include <stdlib.h>

#include <ev.h>

#include "check.h"
#include "dns/upstream.h"
#include "dns/wire.h"
#include "policy/conf.h"
#include "replay.h"
#include "replay_answers.h"

#define TIMEOUT 2000

static const char conf_text[] =
    "{\"mode\":\"host\",\"servers\":["
    "{\"name\":\"b\",\"protocol\":\"dot\",\"address\":\"192.0.2.2\",\"tls_name\":\"b.test\","
    "\"priority\":20},"
    "{\"name\":\"a\",\"protocol\":\"doh\",\"url\":\"https://a.test/dns-query\","
    "\"bootstrap\":[\"192.0.2.1\"],\"priority\":10},"
    "{\"name\":\"c\",\"protocol\":\"dot\",\"address\":\"192.0.2.3\",\"tls_name\":\"c.test\","
    "\"priority\":20}],"
    "\"forward_zones\":[{\"zone\":\"corp.test\",\"servers\":["
    "{\"name\":\"z\",\"protocol\":\"dot\",\"address\":\"198.51.100.1\",\"tls_name\":\"z.test\"}"
    "]}],"
    "\"limits\":{\"upstream_timeout_ms\":2000}}";

/* what the service's callback got */
static struct {
	unsigned calls;
	int status;
	char server[64];
	size_t len;
} got;

static void on_done(void *arg, int status, const uint8_t *answer, size_t len, const char *server)
{
	(void)arg;
	(void)answer;
	got.calls++;
	got.status = status;
	got.len = len;
	snprintf(got.server, sizeof(got.server), "%s", server ? server : "");
}

static const uint8_t query[] = {0x12, 0x34, 1,	 0,   0,   1,	0,   0,	  0,   0,   0,	 0,
				3,    'w',  'w', 'w', 7,   'e', 'x', 'a', 'm', 'p', 'l', 'e',
				4,    't',  'e', 's', 't', 0,	0,   1,	  0,   1};

/* Ask; the servers tried so far start afresh. */
static int start(struct upstream *u)
{
	memset(&got, 0, sizeof(got));
	replay.order[0] = '\0';
	return upstream_query(u, query, sizeof(query), on_done, NULL);
}

/* The waiting attempt must be on server; fail it with status (0: answer). */
static void step_at(int line, const char *server, int status)
{
	struct replay_query *r = replay_next();

	CHECK_MSG(r && strcmp(r->server, server) == 0, "line %d: expected an attempt on %s, got %s",
		  line, server, r ? r->server : "none");
	if (!r)
		return;
	if (status == 0)
		replay_answer(r, rec_www_a, sizeof(rec_www_a), 0);
	else
		replay_fail(r, status);
}

#define step(server, status) step_at(__LINE__, server, status)

static unsigned server_index(const struct upstream *u, const char *name)
{
	struct upstream_server_stats st;

	for (unsigned i = 0; i < upstream_count(u); i++) {
		upstream_get_server_stats(u, i, &st);
		if (strcmp(st.name, name) == 0)
			return i;
	}
	return 0;
}

static void stats(const struct upstream *u, const char *name, struct upstream_server_stats *st)
{
	upstream_get_server_stats(u, server_index(u, name), st);
}

int main(void)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	struct upstream *u;
	struct upstream_server_stats st;
	struct wire_name n;
	int err = 0;

	replay.clock = 1000000;
	CHECK(conf_parse(conf_text, strlen(conf_text), "t.json", &c, &errs) == 0);
	conf_errors_print(&errs, stderr);
	if (!c)
		CHECK_DONE();
	CHECK(upstream_new_replay(loop, c, NULL, NULL, &err) == NULL && err == -EINVAL);
	u = upstream_new_replay(loop, c, &replay_ops, NULL, &err);
	CHECK_MSG(u != NULL, "upstream_new_replay: %d", err);
	if (!u)
		CHECK_DONE();
	CHECK(upstream_count(u) == 3 && upstream_slots(u) == replay_ops.slots);
	CHECK(!upstream_answered(u));

	/* 1. priority first: a (10) before b and c (20) */
	CHECK(start(u) == 0);
	CHECK(got.calls == 0); /* never from inside upstream_query() */
	/* half the budget for the first attempt, another server to fall back on */
	CHECK(replay_next() && replay_next()->timeout_ms == TIMEOUT / 2);
	step("a", 0);
	CHECK(got.calls == 1 && got.status == 0 && !strcmp(got.server, "a") &&
	      got.len == sizeof(rec_www_a));
	CHECK_STREQ(replay.order, "a");
	CHECK(upstream_answered(u));

	/* 2. a fails: one retry, on b (config order breaks the 20/20 tie) */
	CHECK(start(u) == 0);
	step("a", -ECONNREFUSED);
	CHECK(got.calls == 0);
	step("b", 0);
	CHECK(got.calls == 1 && got.status == 0 && !strcmp(got.server, "b"));
	CHECK_STREQ(replay.order, "a b");
	stats(u, "a", &st);
	CHECK(!st.healthy && st.consecutive_failures == 1 && st.failovers == 1 && st.selected == 2);

	/* 3. a in back-off (1 s): b first */
	replay.clock += UPSTREAM_BACKOFF_MIN_MS - 1;
	CHECK(start(u) == 0);
	step("b", 0);
	CHECK_STREQ(replay.order, "b");

	/* 4. a's back-off is over: the returning server is used again */
	replay.clock += 1;
	CHECK(start(u) == 0);
	step("a", 0);
	CHECK(got.status == 0 && !strcmp(got.server, "a"));
	stats(u, "a", &st);
	CHECK(st.healthy && st.consecutive_failures == 0);

	/* 5. back-off doubles: two failures in a row, 2 s */
	CHECK(start(u) == 0);
	step("a", -ETIMEDOUT);
	step("b", 0);
	replay.clock += UPSTREAM_BACKOFF_MIN_MS;
	CHECK(start(u) == 0);
	step("a", -ETIMEDOUT);
	step("b", 0);
	stats(u, "a", &st);
	CHECK(st.consecutive_failures == 2);
	replay.clock += 2 * UPSTREAM_BACKOFF_MIN_MS - 1;
	CHECK(start(u) == 0);
	step("b", 0);
	replay.clock += 1;
	CHECK(start(u) == 0);
	step("a", 0);
	CHECK_STREQ(replay.order, "a");

	/* 6. two attempts at most: a and b fail, c is not tried */
	CHECK(start(u) == 0);
	step("a", -ECONNRESET);
	step("b", -EPROTO);
	CHECK(got.calls == 1 && got.status == -EPROTO && !strcmp(got.server, "b"));
	CHECK(replay_waiting() == 0);
	CHECK_STREQ(replay.order, "a b");

	/* 7. a and b in back-off: c, the healthy one, first */
	CHECK(start(u) == 0);
	step("c", 0);
	CHECK(got.status == 0 && !strcmp(got.server, "c"));

	/* 8. every server down: the one back first is still asked (a probe) */
	CHECK(start(u) == 0);
	step("c", -ETIMEDOUT);
	step("a", -ETIMEDOUT); /* a's 1 s back-off ends before b's */
	CHECK(got.calls == 1 && got.status == -ETIMEDOUT);
	CHECK(start(u) == 0);
	CHECK(replay_next() != NULL);
	stats(u, "b", &st);
	{
		/* the first back among a (2 s), b (1 s) and c (1 s): b, before c in
		 * the config */
		struct replay_query *r = replay_next();

		CHECK_MSG(r && strcmp(r->server, "b") == 0, "probe on %s", r ? r->server : "-");
		if (r)
			replay_fail(r, -ETIMEDOUT);
	}
	/* its retry goes to the next one back: c (1 s), not a (2 s) */
	CHECK(replay_waiting() == 1);
	step("c", 0);
	CHECK(got.status == 0 && !strcmp(got.server, "c"));

	/* 9. upstream_reset_backoff (a link changed): the preferred server again */
	replay.clock += UPSTREAM_BACKOFF_MAX_MS;
	CHECK(start(u) == 0);
	step("a", -ETIMEDOUT);
	step("b", 0);
	stats(u, "a", &st);
	CHECK(!st.healthy);
	upstream_reset_backoff(u);
	stats(u, "a", &st);
	CHECK(st.healthy);
	CHECK(start(u) == 0);
	step("a", 0);

	/* 10. no second attempt without UPSTREAM_MIN_ATTEMPT_MS left */
	CHECK(start(u) == 0);
	replay.clock += TIMEOUT - UPSTREAM_MIN_ATTEMPT_MS;
	step("a", -ETIMEDOUT);
	CHECK(got.calls == 1 && got.status == -ETIMEDOUT && !strcmp(got.server, "a"));
	CHECK_STREQ(replay.order, "a");
	upstream_reset_backoff(u);

	/* 11. refused at once (in-flight bound): the next server at once */
	snprintf(replay.refuse_server, sizeof(replay.refuse_server), "a");
	replay.refuse = -EBUSY;
	CHECK(start(u) == 0);
	step("b", 0);
	CHECK(got.status == 0 && !strcmp(got.server, "b"));
	/* every server refuses: -errno, no callback */
	replay.refuse_server[0] = '\0';
	CHECK(start(u) == -EBUSY && got.calls == 0 && replay_waiting() == 0);
	replay.refuse = 0;

	/* 12. back-off doubles up to UPSTREAM_BACKOFF_MAX_MS, no further */
	upstream_reset_backoff(u);
	CHECK(start(u) == 0);
	step("a", 0); /* an answer: no failure in a row left */
	for (unsigned i = 0; i < 6; i++) {
		CHECK(start(u) == 0);
		step("a", -ETIMEDOUT);
		step("b", 0);
		replay.clock += UPSTREAM_BACKOFF_MAX_MS;
	}
	replay.clock -= UPSTREAM_BACKOFF_MAX_MS; /* just after the 6th failure */
	stats(u, "a", &st);
	CHECK(st.consecutive_failures == 6);
	replay.clock += UPSTREAM_BACKOFF_MAX_MS - 1; /* 1 s * 2^5 would be 32 s */
	CHECK(start(u) == 0);
	step("b", 0);
	replay.clock += 1;
	CHECK(start(u) == 0);
	step("a", 0);

	/* 13. forward zones: corp.test and below to z, the rest to the service */
	CHECK(wire_name_from_str("host.corp.test", &n) == WIRE_OK);
	CHECK(upstream_route(u, &n) != u);
	CHECK(start(upstream_route(u, &n)) == 0);
	step("z", 0);
	CHECK(!strcmp(got.server, "z"));
	CHECK(wire_name_from_str("corp.test", &n) == WIRE_OK && upstream_route(u, &n) != u);
	CHECK(wire_name_from_str("notcorp.test", &n) == WIRE_OK && upstream_route(u, &n) == u);
	CHECK(wire_name_from_str("test", &n) == WIRE_OK && upstream_route(u, &n) == u);

	/* 14. freed with a query in flight: -ECANCELED, exactly once */
	CHECK(start(u) == 0);
	CHECK(replay_waiting() == 1);
	upstream_free(&u);
	CHECK(u == NULL && got.calls == 1 && got.status == -ECANCELED && replay_waiting() == 0);
	conf_free(&c);
	CHECK_DONE();
}
