/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dns/upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "core/log.h"
#include "core/util.h"
#include "dns/doh.h"
#include "dns/dot.h"
#include "dns/plain.h"
#include "dns/wire.h"
#include "policy/conf.h"

/* One transport (DoH, DoT, plain DNS, the test-only replay): the only place
 * upstream.c touches a client. ctx is the client (replay: the struct
 * upstream_server itself, which holds rops and rctx). */
struct upstream_ops {
	unsigned (*slots)(const void *ctx); /* the in-flight bound */
	int (*query)(void *ctx, const uint8_t *q, size_t len, uint32_t timeout_ms,
		     upstream_done_cb cb, void *cb_arg);
	void (*stats)(const void *ctx, struct upstream_transport_stats *st);
	void (*close)(void *ctx);
};

struct upstream_server {
	char name[64];
	enum conf_proto proto;
	int priority;
	const struct upstream_ops *ops;
	void *client;				/* ops' context; NULL: not set up */
	const struct upstream_replay_ops *rops; /* replay transport only */
	void *rctx;
	unsigned fails;	     /* consecutive */
	uint64_t down_until; /* monotonic ms; 0 = healthy */
	uint64_t selected, failovers, lat_sum, lat_count;
	uint64_t lat_buckets[8];
};

struct upstream {
	struct ev_loop *loop;
	uint32_t timeout_ms;
	bool answered;	     /* a server answered once */
	bool probe_inflight; /* the readiness probe is on its way */
	void (*ready_cb)(void *arg);
	void *ready_arg;
	ev_timer probe_timer; /* readiness probes until a first answer */
	struct upstream_server servers[CONF_MAX_SERVERS];
	unsigned order[CONF_MAX_SERVERS]; /* by priority, then config order */
	unsigned n;
	/* forward_zones: names at or under zones[i] go to zone_up[i] */
	struct wire_name zones[CONF_MAX_FORWARD_ZONES];
	struct upstream *zone_up[CONF_MAX_FORWARD_ZONES];
	unsigned nzones;
	const struct upstream_replay_ops *rops; /* upstream_new_replay(); NULL: real clock */
	void *rctx;
};

/* One question on its way: at most two attempts on two servers. */
struct upstream_req {
	struct upstream *u;
	upstream_answer_cb cb;
	void *arg;
	uint64_t deadline, sent_at;
	unsigned server; /* index into servers[] of the current attempt */
	unsigned attempts;
	size_t len;
	uint8_t q[];
};

static uint64_t now_ms(const struct upstream *u)
{
	struct timespec ts;

	if (u->rops && u->rops->now_ms)
		return u->rops->now_ms(u->rctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The operations of a transport whose client functions follow the
 * <name>_client_{query,get_stats,free} shape (DoH, DoT, plain DNS): one
 * definition, so the three tables cannot drift apart. */
#define UPSTREAM_TRANSPORT_OPS(name, max_inflight)                                                 \
	static int name##_query(void *c, const uint8_t *q, size_t len, uint32_t t,                 \
				upstream_done_cb cb, void *arg)                                    \
	{                                                                                          \
		return name##_client_query(c, q, len, t, cb, arg);                                 \
	}                                                                                          \
	static void name##_stats(const void *c, struct upstream_transport_stats *st)               \
	{                                                                                          \
		name##_client_get_stats(c, st);                                                    \
	}                                                                                          \
	static void name##_close(void *c)                                                          \
	{                                                                                          \
		struct name##_client *d = c;                                                       \
                                                                                                   \
		name##_client_free(&d);                                                            \
	}                                                                                          \
	static unsigned name##_slots(const void *c)                                                \
	{                                                                                          \
		(void)c;                                                                           \
		return max_inflight;                                                               \
	}                                                                                          \
	static const struct upstream_ops name##_ops = {name##_slots, name##_query, name##_stats,   \
						       name##_close}

UPSTREAM_TRANSPORT_OPS(doh, DOH_MAX_INFLIGHT);
UPSTREAM_TRANSPORT_OPS(dot, DOT_MAX_INFLIGHT);
UPSTREAM_TRANSPORT_OPS(plain, PLAIN_MAX_INFLIGHT);

static unsigned replay_slots(const void *c)
{
	const struct upstream_server *s = c;

	return s->rops->slots;
}

static int replay_query(void *c, const uint8_t *q, size_t len, uint32_t t, upstream_done_cb cb,
			void *arg)
{
	struct upstream_server *s = c;

	return s->rops->query(s->rctx, s->name, q, len, t, cb, arg);
}

static void replay_stats(const void *c, struct upstream_transport_stats *st)
{
	(void)c;
	(void)st; /* the replay transport keeps no transport counters */
}

static void replay_close(void *c)
{
	struct upstream_server *s = c;

	s->rops->cancel(s->rctx, s->name);
}

static const struct upstream_ops replay_ops = {replay_slots, replay_query, replay_stats,
					       replay_close};

static void on_probe_timer(struct ev_loop *loop, ev_timer *w, int revents);

/* One service over servers[0 .. n). */
static struct upstream *upstream_build(struct ev_loop *loop, const struct conf_server *servers,
				       unsigned n, bool plain_ok, uint32_t timeout_ms,
				       const char *client_cert, const char *client_key,
				       const struct upstream_replay_ops *rops, void *rctx, int *err)
{
	struct upstream *u = calloc(1, sizeof(*u));
	int rc = 0;

	if (!u) {
		*err = -ENOMEM;
		return NULL;
	}
	u->loop = loop;
	u->timeout_ms = timeout_ms;
	u->rops = rops;
	u->rctx = rctx;
	ev_timer_init(&u->probe_timer, on_probe_timer, 0., 0.);
	for (unsigned i = 0; i < n; i++) {
		const struct conf_server *cs = &servers[i];
		struct upstream_server *s = &u->servers[i];

		snprintf(s->name, sizeof(s->name), "%s", cs->name);
		s->proto = cs->proto;
		s->priority = cs->priority;
		s->rops = rops;
		s->rctx = rctx;
		if (rops) {
			s->ops = &replay_ops;
			s->client = s;
		} else if (cs->proto == CONF_PROTO_DOH) {
			s->ops = &doh_ops;
			s->client = doh_client_new(loop, cs, client_cert, client_key, &rc);
		} else if (cs->proto == CONF_PROTO_DOT) {
			s->ops = &dot_ops;
			s->client = dot_client_new(loop, cs, client_cert, client_key, &rc);
		} else if (plain_ok) {
			s->ops = &plain_ops;
			s->client = plain_client_new(loop, cs, PLAIN_SOCKET_MARK, &rc);
		}
		if (!s->client) {
			log_err("server %s: cannot set up its client: %s", s->name, strerror(-rc));
			u->n = i;
			upstream_free(&u);
			*err = rc ? rc : -EINVAL;
			return NULL;
		}
	}
	u->n = n;
	/* Stable insertion sort by priority: config order breaks ties. */
	for (unsigned i = 0; i < u->n; i++) {
		unsigned j = i;

		while (j > 0 && u->servers[u->order[j - 1]].priority > u->servers[i].priority) {
			u->order[j] = u->order[j - 1];
			j--;
		}
		u->order[j] = i;
	}
	return u;
}

static struct upstream *upstream_new_with(struct ev_loop *loop, const struct conf *c,
					  const char *client_cert, const char *client_key,
					  const struct upstream_replay_ops *rops, void *rctx,
					  int *err)
{
	struct upstream *u =
	    upstream_build(loop, c->servers, c->nservers, false, c->limits.upstream_timeout_ms,
			   client_cert, client_key, rops, rctx, err);

	for (unsigned i = 0; u && i < c->nfzones; i++) {
		const struct conf_forward_zone *z = &c->fzones[i];

		if (wire_name_from_str(z->zone, &u->zones[i]) != WIRE_OK) {
			*err = -EINVAL;
			upstream_free(&u);
			break;
		}
		u->zone_up[i] = upstream_build(loop, z->servers, z->nservers, z->insecure_plain_dns,
					       c->limits.upstream_timeout_ms, client_cert,
					       client_key, rops, rctx, err);
		if (!u->zone_up[i]) {
			log_err("forward zone %s: cannot set up its servers", z->zone);
			upstream_free(&u);
			break;
		}
		u->nzones = i + 1;
	}
	return u;
}

struct upstream *upstream_new(struct ev_loop *loop, const struct conf *c, const char *client_cert,
			      const char *client_key, int *err)
{
	return upstream_new_with(loop, c, client_cert, client_key, NULL, NULL, err);
}

struct upstream *upstream_new_replay(struct ev_loop *loop, const struct conf *c,
				     const struct upstream_replay_ops *ops, void *ctx, int *err)
{
	if (!ops || !ops->query || !ops->cancel) {
		*err = -EINVAL;
		return NULL;
	}
	return upstream_new_with(loop, c, NULL, NULL, ops, ctx, err);
}

/* Is name at or under zone (both lowercase wire form)? */
static bool name_in_zone(const struct wire_name *name, const struct wire_name *zone)
{
	unsigned off = 0;

	while (off < name->len && name->len - off >= zone->len) {
		if (name->len - off == zone->len && memcmp(name->b + off, zone->b, zone->len) == 0)
			return true;
		if (name->b[off] == 0)
			break;
		off += 1u + name->b[off];
	}
	return false;
}

struct upstream *upstream_route(struct upstream *u, const struct wire_name *qname)
{
	struct upstream *best = u;
	uint8_t best_len = 0;

	for (unsigned i = 0; i < u->nzones; i++)
		if (u->zones[i].len > best_len && name_in_zone(qname, &u->zones[i])) {
			best = u->zone_up[i];
			best_len = u->zones[i].len;
		}
	return best;
}

void upstream_free(struct upstream **up)
{
	struct upstream *u;

	if (!up || !*up)
		return;
	u = *up;
	ev_timer_stop(u->loop, &u->probe_timer);
	u->ready_cb = NULL; /* the probe in flight completes with -ECANCELED */
	for (unsigned i = 0; i < CONF_MAX_SERVERS; i++) {
		struct upstream_server *s = &u->servers[i];

		if (s->client)
			s->ops->close(s->client);
		s->client = NULL;
	}
	for (unsigned i = 0; i < u->nzones; i++)
		upstream_free(&u->zone_up[i]);
	free(u);
	*up = NULL;
}

unsigned upstream_slots(const struct upstream *u)
{
	unsigned slots = 0;

	for (unsigned i = 0; i < u->n; i++) {
		const struct upstream_server *s = &u->servers[i];
		unsigned b = s->ops->slots(s->client);

		if (!slots || b < slots)
			slots = b;
	}
	return slots;
}

static bool healthy(const struct upstream_server *s, uint64_t now)
{
	return s->down_until <= now;
}

/* The preferred healthy server not yet tried; if every untried one is
 * down, the untried one that comes back first (so a probe still happens
 * and recovery is noticed). Returns n when none is left. */
static unsigned pick(const struct upstream *u, uint64_t now, int exclude)
{
	unsigned best = u->n;

	for (unsigned k = 0; k < u->n; k++) {
		unsigned i = u->order[k];

		if ((int)i == exclude)
			continue;
		if (healthy(&u->servers[i], now))
			return i;
		if (best == u->n || u->servers[i].down_until < u->servers[best].down_until)
			best = i;
	}
	return best;
}

static void mark_failed(struct upstream_server *s, uint64_t now)
{
	uint64_t backoff = UPSTREAM_BACKOFF_MIN_MS;

	s->fails++;
	for (unsigned i = 1; i < s->fails && backoff < UPSTREAM_BACKOFF_MAX_MS; i++)
		backoff *= 2;
	if (backoff > UPSTREAM_BACKOFF_MAX_MS)
		backoff = UPSTREAM_BACKOFF_MAX_MS;
	s->down_until = now + backoff;
}

static void mark_ok(struct upstream_server *s, uint64_t latency)
{
	static const uint64_t edges[7] = {1, 2, 5, 10, 50, 100, 1000};
	unsigned b = 0;

	if (s->fails)
		log_info("server %s answers again", s->name);
	s->fails = 0;
	s->down_until = 0;
	s->lat_sum += latency;
	s->lat_count++;
	while (b < 7 && latency > edges[b])
		b++;
	s->lat_buckets[b]++;
}

static void on_answer(void *arg, int status, const uint8_t *answer, size_t len);

static void note_answered(struct upstream *u)
{
	void (*cb)(void *) = u->ready_cb;

	if (u->answered)
		return;
	u->answered = true;
	ev_timer_stop(u->loop, &u->probe_timer);
	u->ready_cb = NULL;
	if (cb)
		cb(u->ready_arg);
}

static int send_attempt(struct upstream_req *r, uint64_t now)
{
	struct upstream *u = r->u;
	struct upstream_server *s = &u->servers[r->server];
	uint64_t left = r->deadline > now ? r->deadline - now : 0;
	uint32_t budget = (uint32_t)left;

	/* With another server to fall back on, the first attempt gets half the
	 * time, so that a dead primary still leaves time for the secondary. */
	if (r->attempts == 0 && u->n > 1 && budget >= 2 * UPSTREAM_MIN_ATTEMPT_MS)
		budget /= 2;
	r->attempts++;
	r->sent_at = now;
	s->selected++;
	return s->ops->query(s->client, r->q, r->len, budget, on_answer, r);
}

static void finish(struct upstream_req *r, int status, const uint8_t *answer, size_t len)
{
	r->cb(r->arg, status, answer, len, r->u->servers[r->server].name);
	free(r);
}

static void on_answer(void *arg, int status, const uint8_t *answer, size_t len)
{
	struct upstream_req *r = arg;
	struct upstream *u = r->u;
	struct upstream_server *s = &u->servers[r->server];
	uint64_t now = now_ms(u);
	unsigned next;

	if (status == 0) {
		mark_ok(s, now - r->sent_at);
		note_answered(u);
		finish(r, 0, answer, len);
		return;
	}
	if (status == -ECANCELED) {
		finish(r, status, NULL, 0);
		return;
	}
	mark_failed(s, now);
	log_ratelimited(LOG_WARNING, "server %s: %s (attempt %u)", s->name, strerror(-status),
			r->attempts);
	/* Retry once, on another server, if there is one and time is left. */
	next = r->attempts < 2 ? pick(u, now, (int)r->server) : u->n;
	if (next < u->n && r->deadline > now + UPSTREAM_MIN_ATTEMPT_MS) {
		unsigned failed = r->server;

		s->failovers++;
		r->server = next;
		if (send_attempt(r, now) == 0)
			return;
		r->server = failed;
	}
	finish(r, status, NULL, 0);
}

int upstream_query(struct upstream *u, const uint8_t *q, size_t len, upstream_answer_cb cb,
		   void *arg)
{
	struct upstream_req *r;
	uint64_t now = now_ms(u);
	int rc;

	if (u->n == 0)
		return -ENOENT;
	r = malloc(sizeof(*r) + len);
	if (!r)
		return -ENOMEM;
	r->u = u;
	r->cb = cb;
	r->arg = arg;
	r->deadline = now + u->timeout_ms;
	r->attempts = 0;
	r->len = len;
	memcpy(r->q, q, len);
	r->server = pick(u, now, -1);
	rc = send_attempt(r, now);
	if (rc < 0) {
		/* Refused at once (in-flight bound): try the next server now. */
		unsigned next = pick(u, now, (int)r->server);

		if (next < u->n) {
			r->server = next;
			rc = send_attempt(r, now);
		}
	}
	if (rc < 0)
		free(r);
	return rc;
}

unsigned upstream_count(const struct upstream *u)
{
	return u->n;
}

unsigned upstream_zone_count(const struct upstream *u)
{
	return u->nzones;
}

const struct upstream *upstream_zone(const struct upstream *u, unsigned i)
{
	return i < u->nzones ? u->zone_up[i] : NULL;
}

void upstream_get_server_stats(const struct upstream *u, unsigned i,
			       struct upstream_server_stats *st)
{
	const struct upstream_server *s = &u->servers[i];

	memset(st, 0, sizeof(*st));
	st->name = s->name;
	st->proto = conf_proto_name(s->proto);
	st->priority = s->priority;
	st->healthy = healthy(s, now_ms(u));
	st->consecutive_failures = s->fails;
	st->selected = s->selected;
	st->failovers = s->failovers;
	st->latency_ms_sum = s->lat_sum;
	st->latency_count = s->lat_count;
	memcpy(st->latency_buckets, s->lat_buckets, sizeof(st->latency_buckets));
	s->ops->stats(s->client, &st->t);
}

void upstream_reset_backoff(struct upstream *u)
{
	for (unsigned i = 0; i < u->n; i++)
		u->servers[i].down_until = 0;
	for (unsigned i = 0; i < u->nzones; i++)
		upstream_reset_backoff(u->zone_up[i]);
}

bool upstream_answered(const struct upstream *u)
{
	return u->answered;
}

static void on_probe_answer(void *arg, int status, const uint8_t *answer, size_t len,
			    const char *server)
{
	struct upstream *u = arg;

	(void)answer;
	(void)len;
	(void)server;
	u->probe_inflight = false;
	if (status != -ECANCELED && !u->answered && u->ready_cb && !ev_is_active(&u->probe_timer)) {
		ev_timer_set(&u->probe_timer, UPSTREAM_READY_PROBE_MS / 1000.0, 0.);
		ev_timer_start(u->loop, &u->probe_timer);
	}
}

static void on_probe_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* RFC 1035 §4.1: ID 0, RD, one question: invalid. SOA IN */
	static const uint8_t probe[] = {0,   0,	  1,   0,   0,	 1,   0,   0, 0, 0, 0, 0, 7,
					'i', 'n', 'v', 'a', 'l', 'i', 'd', 0, 0, 6, 0, 1};
	struct upstream *u = container_of(w, struct upstream, probe_timer);

	(void)loop;
	(void)revents;
	if (u->answered || u->probe_inflight)
		return;
	if (upstream_query(u, probe, sizeof(probe), on_probe_answer, u) == 0) {
		u->probe_inflight = true;
		return;
	}
	ev_timer_set(&u->probe_timer, UPSTREAM_READY_PROBE_MS / 1000.0, 0.);
	ev_timer_start(u->loop, &u->probe_timer);
}

int upstream_when_answered(struct upstream *u, void (*cb)(void *arg), void *arg)
{
	if (u->ready_cb)
		return -EALREADY;
	if (u->answered) {
		cb(arg);
		return 0;
	}
	u->ready_cb = cb;
	u->ready_arg = arg;
	ev_timer_set(&u->probe_timer, 0., 0.);
	ev_timer_start(u->loop, &u->probe_timer);
	return 0;
}
