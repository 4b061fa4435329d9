/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/crossing.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct crossing_rec {
	struct addr client, peer;
	uint16_t cport, pport;
	uint64_t expires_ms; /* 0: empty */
};

struct crossing_set {
	struct crossing_rec rec[CROSSING_WAYS];
	uint64_t closed_until_ms; /* a live record was evicted: fail closed */
};

struct crossing {
	/* Verdict threads record and match, the loop reads the counters:
	 * one short critical section each (gateway SYNs only). */
	pthread_mutex_t lock;
	uint32_t ttl_ms;
	uint64_t seed;
	struct crossing_stats st;
	struct crossing_set sets[CROSSING_SETS];
};

struct crossing *crossing_new(uint32_t ttl_ms)
{
	struct crossing *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ttl_ms = ttl_ms;
	pthread_mutex_init(&c->lock, NULL);
	/* Keyed, so that a LAN client cannot aim at another client's set. A
	 * failed getrandom leaves a fixed key: still correct, only aimable. */
	if (getrandom(&c->seed, sizeof(c->seed), GRND_NONBLOCK) != sizeof(c->seed))
		c->seed = 0x9e3779b97f4a7c15ull;
	return c;
}

void crossing_free(struct crossing **c)
{
	if (!c || !*c)
		return;
	pthread_mutex_destroy(&(*c)->lock);
	free(*c);
	*c = NULL;
}

/* FNV-1a over the client's address and port, keyed by the seed. */
static unsigned set_of(const struct crossing *c, const struct addr *client, uint16_t cport)
{
	uint64_t h = 0xcbf29ce484222325ull ^ c->seed;

	for (size_t i = 0; i < sizeof(client->b); i++)
		h = (h ^ client->b[i]) * 0x100000001b3ull;
	h = (h ^ client->family) * 0x100000001b3ull;
	h = (h ^ (cport & 0xff)) * 0x100000001b3ull;
	h = (h ^ (cport >> 8)) * 0x100000001b3ull;
	h ^= h >> 29;
	return (unsigned)(h % CROSSING_SETS);
}

static bool rec_is(const struct crossing_rec *r, const struct addr *client, uint16_t cport,
		   const struct addr *peer, uint16_t pport)
{
	return r->cport == cport && r->pport == pport && addr_equal(&r->client, client) &&
	       addr_equal(&r->peer, peer);
}

void crossing_record(struct crossing *c, const struct addr *client, uint16_t cport,
		     const struct addr *peer, uint16_t pport, uint64_t now_ms)
{
	struct crossing_set *s = &c->sets[set_of(c, client, cport)];
	struct crossing_rec *slot = NULL, *oldest = &s->rec[0];

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < CROSSING_WAYS; i++) {
		struct crossing_rec *r = &s->rec[i];

		if (r->expires_ms > now_ms && rec_is(r, client, cport, peer, pport)) {
			slot = r; /* a retransmission: refresh */
			break;
		}
		if (!slot && r->expires_ms <= now_ms)
			slot = r;
		if (r->expires_ms < oldest->expires_ms)
			oldest = r;
	}
	if (!slot) {
		/* Full of live records: the one evicted could still be crossed,
		 * so the whole set answers "crossing" until it would expire. */
		slot = oldest;
		if (slot->expires_ms > s->closed_until_ms)
			s->closed_until_ms = slot->expires_ms;
		c->st.evicted++;
	}
	slot->client = *client;
	slot->peer = *peer;
	slot->cport = cport;
	slot->pport = pport;
	slot->expires_ms = now_ms + c->ttl_ms;
	c->st.recorded++;
	pthread_mutex_unlock(&c->lock);
}

bool crossing_match(const struct crossing *c, const struct addr *client, uint16_t cport,
		    const struct addr *peer, uint16_t pport, uint64_t now_ms)
{
	const struct crossing_set *s = &c->sets[set_of(c, client, cport)];
	pthread_mutex_t *lock = (pthread_mutex_t *)&c->lock; /* const: no visible change */
	bool hit = false;

	pthread_mutex_lock(lock);
	if (s->closed_until_ms > now_ms)
		hit = true;
	for (unsigned i = 0; !hit && i < CROSSING_WAYS; i++)
		if (s->rec[i].expires_ms > now_ms && rec_is(&s->rec[i], client, cport, peer, pport))
			hit = true;
	pthread_mutex_unlock(lock);
	return hit;
}

void crossing_get_stats(const struct crossing *c, uint64_t now_ms, struct crossing_stats *st)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&c->lock;

	pthread_mutex_lock(lock);
	*st = c->st;
	st->sets_failing_closed = 0;
	for (unsigned i = 0; i < CROSSING_SETS; i++)
		st->sets_failing_closed += c->sets[i].closed_until_ms > now_ms;
	pthread_mutex_unlock(lock);
}
