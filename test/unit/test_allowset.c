/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Allowset: insert, lookup, refresh, expiry, sweep, bound, names, and one
 * writer with several concurrent readers. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "core/allowset.h"

static struct addr v4(unsigned n)
{
	struct addr a;
	uint8_t b[4] = {198, 18, (uint8_t)(n >> 8), (uint8_t)n};

	addr_from_v4(&a, b);
	return a;
}

static void test_basic(void)
{
	struct allowset *as = allowset_new(16, 2);
	struct allowset_view v;
	struct addr a = v4(1), b = v4(2), six, scope = v4(99);
	struct allowset_stats st;

	CHECK(as != NULL);
	addr_parse("2001:db8::1", &six);
	CHECK(allowset_lookup(as, NULL, &a, 1000, NULL, false) == ALLOWSET_MISS);
	CHECK(allowset_add(as, NULL, &a, 5000, ALLOWSET_LEARNED, "a.example", "s1", 1000) == 0);
	CHECK(allowset_lookup(as, NULL, &a, 1000, &v, true) == ALLOWSET_HIT);
	CHECK_STREQ(v.names, "a.example");
	CHECK_STREQ(v.server, "s1");
	CHECK(v.expires_ms == 5000);
	CHECK(v.source == ALLOWSET_LEARNED);
	/* The exact boundary: at expires_ms it is expired. */
	CHECK(allowset_lookup(as, NULL, &a, 4999, NULL, false) == ALLOWSET_HIT);
	CHECK(allowset_lookup(as, NULL, &a, 5000, NULL, false) == ALLOWSET_EXPIRED);
	/* Another address, another family, another scope: separate keys. */
	CHECK(allowset_lookup(as, NULL, &b, 1000, NULL, false) == ALLOWSET_MISS);
	CHECK(allowset_lookup(as, NULL, &six, 1000, NULL, false) == ALLOWSET_MISS);
	CHECK(allowset_lookup(as, &scope, &a, 1000, NULL, false) == ALLOWSET_MISS);
	/* Refresh keeps the later expiry and adds names up to the bound. */
	CHECK(allowset_add(as, NULL, &a, 3000, ALLOWSET_LEARNED, "b.example", NULL, 1000) == 0);
	CHECK(allowset_add(as, NULL, &a, 9000, ALLOWSET_LEARNED, "A.EXAMPLE", NULL, 1000) == 0);
	CHECK(allowset_add(as, NULL, &a, 9000, ALLOWSET_LEARNED, "c.example", NULL, 1000) == 0);
	CHECK(allowset_lookup(as, NULL, &a, 1000, &v, false) == ALLOWSET_HIT);
	CHECK(v.expires_ms == 9000);
	CHECK_STREQ(v.names, "a.example, b.example");
	CHECK(v.hits == 1);
	allowset_get_stats(as, &st);
	CHECK(st.names_dropped == 1);
	CHECK(st.inserts == 1 && st.refreshes == 3);
	/* A manual allow is not demoted by a later lookup. */
	CHECK(allowset_add(as, NULL, &b, 9000, ALLOWSET_MANUAL, NULL, "operator", 1000) == 0);
	CHECK(allowset_add(as, NULL, &b, 9000, ALLOWSET_LEARNED, "x", NULL, 1000) == 0);
	CHECK(allowset_lookup(as, NULL, &b, 1000, &v, false) == ALLOWSET_HIT);
	CHECK(v.source == ALLOWSET_MANUAL);
	/* Remove. */
	CHECK(allowset_remove(as, NULL, &b) == 0);
	CHECK(allowset_remove(as, NULL, &b) == -ENOENT);
	CHECK(allowset_lookup(as, NULL, &b, 1000, NULL, false) == ALLOWSET_MISS);
	/* Scoped entry. */
	CHECK(allowset_add(as, &scope, &six, 9000, ALLOWSET_LEARNED, "v6", NULL, 1000) == 0);
	CHECK(allowset_lookup(as, &scope, &six, 1000, &v, false) == ALLOWSET_HIT);
	CHECK(addr_equal(&v.scope, &scope));
	CHECK(allowset_lookup(as, NULL, &six, 1000, NULL, false) == ALLOWSET_MISS);
	CHECK(allowset_flush(as) == 2);
	CHECK(allowset_lookup(as, NULL, &a, 1000, NULL, false) == ALLOWSET_MISS);
	allowset_free(&as);
	CHECK(as == NULL);
	allowset_free(&as); /* NULL-safe */
}

static void test_bound_and_sweep(void)
{
	struct allowset *as = allowset_new(100, 4);
	struct allowset_stats st;
	struct addr extra = v4(1000), late = v4(1001);

	/* Fill with 50 short-lived and 50 long-lived entries. */
	for (unsigned i = 0; i < 100; i++) {
		struct addr a = v4(i);

		CHECK(allowset_add(as, NULL, &a, i < 50 ? 2000 : 100000, ALLOWSET_LEARNED, NULL,
				   NULL, 1000) == 0);
	}
	/* Full of unexpired entries: refused, counted, remembered. */
	CHECK(allowset_add(as, NULL, &extra, 50000, ALLOWSET_LEARNED, NULL, NULL, 1500) == -ENOSPC);
	CHECK(allowset_was_refused(as, NULL, &extra));
	CHECK(!allowset_was_refused(as, NULL, &late));
	allowset_get_stats(as, &st);
	CHECK(st.full == 1 && st.entries == 100);
	/* Nothing unexpired was evicted. */
	for (unsigned i = 0; i < 100; i++) {
		struct addr a = v4(i);

		CHECK(allowset_lookup(as, NULL, &a, 1500, NULL, false) == ALLOWSET_HIT);
	}
	/* Once the short ones expire, a new insert evicts expired ones only. */
	CHECK(allowset_add(as, NULL, &late, 50000, ALLOWSET_LEARNED, NULL, NULL, 3000) == 0);
	allowset_get_stats(as, &st);
	CHECK(st.evicted == 50);
	CHECK(st.entries == 51);
	for (unsigned i = 50; i < 100; i++) {
		struct addr a = v4(i);

		CHECK(allowset_lookup(as, NULL, &a, 3000, NULL, false) == ALLOWSET_HIT);
	}
	/* The sweep keeps recently expired entries (for "expired N s ago"),
	 * and removes them after the keep window. */
	allowset_sweep(as, 100001);
	allowset_get_stats(as, &st);
	CHECK(st.entries == 51 && st.swept == 0);
	CHECK(allowset_lookup(as, NULL, &late, 100001, NULL, false) == ALLOWSET_EXPIRED);
	allowset_sweep(as, 100000 + ALLOWSET_EXPIRED_KEEP_MS);
	allowset_get_stats(as, &st);
	/* The 50 long-lived entries and "late" are all past the window. */
	CHECK(st.swept == 51);
	CHECK(st.entries == 0);
	allowset_free(&as);
}

#define READERS 3
#define KEYS	4096
#define ROUNDS	200

struct stress {
	struct allowset *as;
	atomic_bool stop;
	atomic_ulong lookups, bad;
};

/* Keys below KEYS/2 are always present with a far expiry; readers must never
 * miss them while the writer churns the upper half. */
static void *reader(void *arg)
{
	struct stress *s = arg;
	unsigned long n = 0, seed = (unsigned long)pthread_self();

	allowset_reader_register();
	while (!atomic_load(&s->stop) && n < 50000000UL) {
		struct addr a;
		struct allowset_view v;

		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		a = v4((unsigned)(seed >> 33) % (KEYS / 2));
		if (allowset_lookup(s->as, NULL, &a, 1000, &v, true) != ALLOWSET_HIT ||
		    !addr_equal(&v.addr, &a) || v.nnames != 1)
			atomic_fetch_add(&s->bad, 1);
		n++;
	}
	atomic_fetch_add(&s->lookups, n);
	allowset_reader_unregister();
	return NULL;
}

static void test_concurrent(void)
{
	struct stress s = {.as = allowset_new(KEYS * 2, 4)};
	pthread_t th[READERS];
	struct allowset_stats st;

	allowset_reader_register();
	for (unsigned i = 0; i < KEYS / 2; i++) {
		struct addr a = v4(i);

		allowset_add(s.as, NULL, &a, 1000000, ALLOWSET_LEARNED, "stable.example", NULL, 0);
	}
	for (unsigned i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader, &s);
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned i = KEYS / 2; i < KEYS; i++) {
			struct addr a = v4(i);

			allowset_add(s.as, NULL, &a, 1000000, ALLOWSET_LEARNED, "churn.example",
				     NULL, 0);
		}
		/* Renaming a stable key replaces its names under readers. */
		for (unsigned i = 0; i < 64; i++) {
			struct addr a = v4(i);

			allowset_add(s.as, NULL, &a, 1000000 + r, ALLOWSET_LEARNED,
				     "stable.example", "srv", 0);
		}
		for (unsigned i = KEYS / 2; i < KEYS; i++) {
			struct addr a = v4(i);

			allowset_remove(s.as, NULL, &a);
		}
	}
	atomic_store(&s.stop, true);
	for (unsigned i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	allowset_get_stats(s.as, &st);
	CHECK_MSG(atomic_load(&s.bad) == 0, "%lu bad lookups", atomic_load(&s.bad));
	CHECK(atomic_load(&s.lookups) > 0);
	CHECK(st.entries == KEYS / 2);
	printf("concurrent: %lu lookups by %d readers during %d churn rounds\n",
	       atomic_load(&s.lookups), READERS, ROUNDS);
	allowset_free(&s.as);
	allowset_reader_unregister();
}

/*
 * Churn under readers: the writer inserts, refreshes, renames, rebinds,
 * removes, lets expire, evicts (a table too small for everything), sweeps
 * and unscopes churn keys, scoped and not, while readers look them up. An
 * entry's every field is derived from its key (expiry = X * CH_MOD + key,
 * name "k<key>.churn", link from the key), so a reader that got fields of
 * another entry, of a record being reused, or freed names, sees it (ASan
 * catches the last too). Stable keys must always be found. Bounded by
 * CH_ROUNDS rounds and CH_SECONDS seconds.
 */
#define CH_STABLE  256
#define CH_KEYS	   2048
#define CH_MOD	   8192
#define CH_ROUNDS  400
#define CH_SECONDS 8
#define CH_NOW	   (1000u * CH_MOD) /* readers' clock: X < 1000 is expired */

struct churn {
	struct allowset *as;
	atomic_bool stop;
	atomic_ulong lookups, hits, bad, stable_miss;
};

static void churn_name(unsigned k, char *buf, size_t len)
{
	snprintf(buf, len, "k%u.churn", k);
}

static uint64_t churn_link(unsigned k)
{
	uint8_t mac[6] = {2, 0, 0, 0, (uint8_t)(k >> 8), (uint8_t)k};

	return allowset_link(7, mac);
}

static struct addr churn_scope(unsigned k)
{
	return v4(60000u + k % 4);
}

/* Is view v, found for key k (scoped or not), made only of k's fields? */
static bool churn_view_ok(const struct allowset_view *v, enum allowset_result r, unsigned k,
			  const struct addr *a, const struct addr *scope)
{
	char name[32];

	churn_name(k, name, sizeof(name));
	if (!addr_equal(&v->addr, a) || (scope && !addr_equal(&v->scope, scope)))
		return false;
	if (v->expires_ms % CH_MOD != k || (r == ALLOWSET_HIT) != (v->expires_ms > CH_NOW))
		return false;
	/* Names: its own, possibly with the unscoped copy's, never another's. */
	if (v->nnames < 1 || strncmp(v->names, name, strlen(name)) != 0)
		return false;
	return v->source == ALLOWSET_LEARNED;
}

static void *churn_reader(void *arg)
{
	struct churn *c = arg;
	unsigned long n = 0, hits = 0, bad = 0, smiss = 0, seed = (unsigned long)pthread_self();

	allowset_reader_register();
	while (!atomic_load(&c->stop) && n < 20000000UL) {
		struct allowset_view v;
		enum allowset_result r;
		unsigned k;
		struct addr a, sc;
		bool scoped;

		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		k = (unsigned)(seed >> 33) % (CH_STABLE + CH_KEYS);
		a = v4(k);
		if (k < CH_STABLE) {
			r = allowset_lookup(c->as, NULL, &a, CH_NOW, &v, true);
			if (r != ALLOWSET_HIT)
				smiss++;
			else if (!addr_equal(&v.addr, &a) || strcmp(v.names, "stable.example") != 0)
				bad++;
			n++;
			continue;
		}
		k -= CH_STABLE;
		scoped = (seed >> 20) & 1;
		sc = churn_scope(k);
		if ((seed >> 21) & 1) {
			r = allowset_lookup(c->as, scoped ? &sc : NULL, &a, CH_NOW, &v, true);
			if (r != ALLOWSET_MISS) {
				hits++;
				if (!churn_view_ok(&v, r, k, &a, scoped ? &sc : NULL))
					bad++;
			}
		} else {
			uint64_t exp = 0, link = 1;
			enum allowset_source src = 0;

			r = allowset_probe(c->as, scoped ? &sc : NULL, &a, CH_NOW, &exp, &src,
					   &link, true);
			if (r != ALLOWSET_MISS) {
				hits++;
				if (exp % CH_MOD != k || (r == ALLOWSET_HIT) != (exp > CH_NOW) ||
				    src != ALLOWSET_LEARNED || (link != 0 && link != churn_link(k)))
					bad++;
			}
		}
		n++;
	}
	atomic_fetch_add(&c->lookups, n);
	atomic_fetch_add(&c->hits, hits);
	atomic_fetch_add(&c->bad, bad);
	atomic_fetch_add(&c->stable_miss, smiss);
	allowset_reader_unregister();
	return NULL;
}

static void test_churn(void)
{
	/* Room for the stable keys and about half the churn: full tables,
	 * eviction of expired entries and refusals happen. */
	struct churn c = {.as = allowset_new(CH_STABLE + CH_KEYS / 2, 3)};
	pthread_t th[READERS];
	struct allowset_stats st;
	uint64_t deadline = allowset_now_ms() + CH_SECONDS * 1000u;
	unsigned long seed = 12345, rounds = 0, refused = 0;
	char name[32];

	allowset_reader_register();
	CHECK(c.as != NULL);
	for (unsigned i = 0; i < CH_STABLE; i++) {
		struct addr a = v4(i);

		CHECK(allowset_add(c.as, NULL, &a, UINT64_MAX / 8, ALLOWSET_LEARNED,
				   "stable.example", NULL, 0) == 0);
	}
	for (unsigned i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, churn_reader, &c);
	for (unsigned r = 0; r < CH_ROUNDS && allowset_now_ms() < deadline; r++, rounds++) {
		/* The writer's clock: entries of X < 1000 are expired for the
		 * readers; the writer evicts and sweeps by its own. */
		uint64_t wnow = (uint64_t)(r % 50) * 100 * CH_MOD;

		for (unsigned j = 0; j < CH_KEYS; j++) {
			unsigned k;
			struct addr a, sc;
			uint64_t x;
			int rc;

			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			k = (unsigned)(seed >> 33) % CH_KEYS;
			a = v4(CH_STABLE + k);
			sc = churn_scope(k);
			x = 500 + (seed >> 13) % 1000; /* about half expired */
			churn_name(k, name, sizeof(name));
			switch ((seed >> 24) % 8) {
			case 0:
			case 1:
			case 2:
				rc = allowset_add(c.as, NULL, &a, x * CH_MOD + k, ALLOWSET_LEARNED,
						  name, "srv", wnow);
				break;
			case 3:
			case 4:
				rc = allowset_add_linked(c.as, &sc, churn_link(k), &a,
							 x * CH_MOD + k, ALLOWSET_LEARNED, name,
							 NULL, wnow);
				break;
			case 5:
				rc = allowset_remove(c.as, NULL, &a);
				break;
			case 6:
				rc = allowset_remove(c.as, &sc, &a);
				break;
			default:
				rc =
				    allowset_add_owned(c.as, &sc, churn_link(k), &a, x * CH_MOD + k,
						       ALLOWSET_LEARNED, name, NULL, wnow, &sc, 64);
				break;
			}
			refused += rc == -ENOSPC || rc == -EDQUOT;
		}
		if (r % 16 == 15)
			allowset_sweep(c.as, wnow + ALLOWSET_EXPIRED_KEEP_MS);
		if (r % 64 == 63)
			allowset_unscope(c.as, CH_NOW);
	}
	atomic_store(&c.stop, true);
	for (unsigned i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	allowset_get_stats(c.as, &st);
	CHECK_MSG(atomic_load(&c.bad) == 0, "%lu torn or foreign views", atomic_load(&c.bad));
	CHECK_MSG(atomic_load(&c.stable_miss) == 0, "%lu stable keys missed",
		  atomic_load(&c.stable_miss));
	CHECK(atomic_load(&c.hits) > 0);
	CHECK(st.entries <= CH_STABLE + CH_KEYS / 2);
	CHECK(st.inserts > 0 && st.removed > 0);
	/* Every stable key is still there, with its names. */
	for (unsigned i = 0; i < CH_STABLE; i++) {
		struct addr a = v4(i);
		struct allowset_view v;

		CHECK(allowset_lookup(c.as, NULL, &a, CH_NOW, &v, false) == ALLOWSET_HIT &&
		      strcmp(v.names, "stable.example") == 0);
	}
	printf("churn: %lu lookups (%lu found churn entries) by %d readers during %lu rounds; "
	       "%lu refused, %llu evicted, %llu swept, %llu full\n",
	       atomic_load(&c.lookups), atomic_load(&c.hits), READERS, rounds, refused,
	       (unsigned long long)st.evicted, (unsigned long long)st.swept,
	       (unsigned long long)st.full);
	allowset_free(&c.as);
	allowset_reader_unregister();
}

static int count_one(const struct allowset_view *v, void *arg)
{
	(void)v;
	++*(unsigned *)arg;
	return 0;
}

/* Records and slots are reused: thousands of insert/remove cycles through a
 * small table (tombstones rebuilt away, records recycled after grace
 * periods, the writer waiting for one when every free record still waits)
 * leave exactly the entries that should be there, IPv4 and IPv6, scoped and
 * not; a non-IP address is refused. */
static void test_reuse(void)
{
	struct allowset *as = allowset_new(8, 2);
	struct addr keep4 = v4(7), keep6, sc = v4(500), notip = {0};
	struct allowset_view v;
	struct allowset_stats st;
	unsigned n = 0, bad = 0;
	uint64_t t0 = allowset_now_ms();

	CHECK(as != NULL);
	addr_parse("2001:db8::7", &keep6);
	CHECK(allowset_add(as, NULL, &keep4, 1000000, ALLOWSET_LEARNED, "keep4", NULL, 0) == 0);
	CHECK(allowset_add(as, &sc, &keep6, 1000000, ALLOWSET_LEARNED, "keep6", NULL, 0) == 0);
	for (unsigned i = 0; i < 20000; i++) {
		struct addr a = v4(1000 + i % 3000), six;
		char buf[40];

		snprintf(buf, sizeof(buf), "2001:db8::1:%x", i % 5000);
		addr_parse(buf, &six);
		bad += allowset_add(as, i % 2 ? &sc : NULL, &a, 50000, ALLOWSET_LEARNED, "c", NULL,
				    0) != 0;
		bad += allowset_add(as, NULL, &six, 50000, ALLOWSET_MANUAL, NULL, "op", 0) != 0;
		bad += allowset_lookup(as, i % 2 ? &sc : NULL, &a, 1, &v, false) != ALLOWSET_HIT ||
		       !addr_equal(&v.addr, &a) || strcmp(v.names, "c") != 0;
		bad += allowset_remove(as, i % 2 ? &sc : NULL, &a) != 0;
		bad += allowset_remove(as, NULL, &six) != 0;
		bad += allowset_lookup(as, NULL, &keep4, 1, NULL, false) != ALLOWSET_HIT ||
		       allowset_lookup(as, &sc, &keep6, 1, NULL, false) != ALLOWSET_HIT;
	}
	CHECK_MSG(bad == 0, "%u wrong answers in 20000 cycles", bad);
	printf("reuse: 20000 insert/remove cycles of 2 entries in %llu ms\n",
	       (unsigned long long)(allowset_now_ms() - t0));
	allowset_get_stats(as, &st);
	CHECK(st.entries == 2 && st.inserts == 40002 && st.removed == 40000);
	CHECK(allowset_walk(as, count_one, &n) == 0 && n == 2);
	CHECK(allowset_lookup(as, &sc, &keep6, 1, &v, false) == ALLOWSET_HIT &&
	      addr_equal(&v.scope, &sc) && strcmp(v.names, "keep6") == 0);
	CHECK(allowset_scoped_elsewhere(as, &keep6) && !allowset_scoped_elsewhere(as, &keep4));
	CHECK(allowset_add(as, NULL, &notip, 1000, ALLOWSET_LEARNED, NULL, NULL, 0) == -EINVAL);
	CHECK(allowset_lookup(as, NULL, &notip, 1, NULL, false) == ALLOWSET_MISS);
	allowset_free(&as);
}

static void test_unscope(void)
{
	struct allowset *as = allowset_new(16, 4);
	struct addr c1 = v4(200), c2 = v4(201), d1 = v4(1), d2 = v4(2);
	struct allowset_view v;

	allowset_add(as, &c1, &d1, 5000, ALLOWSET_LEARNED, "a.example", "s1", 1000);
	allowset_add(as, &c2, &d1, 7000, ALLOWSET_LEARNED, "b.example", "s1", 1000);
	allowset_add(as, allowset_scope_self(), &d2, 6000, ALLOWSET_LEARNED, "c.example", NULL,
		     1000);
	allowset_add(as, &c1, &d2, 1500, ALLOWSET_LEARNED, "old.example", NULL, 1000);
	CHECK(allowset_unscope(as, 2000) == 3); /* the expired one stays as it was */
	CHECK(allowset_lookup(as, NULL, &d1, 2000, &v, false) == ALLOWSET_HIT);
	CHECK(v.expires_ms == 7000);
	/* Both clients' names, in the order the table is walked. */
	CHECK(v.nnames == 2);
	CHECK(strcmp(v.names, "a.example, b.example") == 0 ||
	      strcmp(v.names, "b.example, a.example") == 0);
	CHECK(allowset_lookup(as, NULL, &d2, 2000, &v, false) == ALLOWSET_HIT);
	CHECK_STREQ(v.names, "c.example");
	CHECK(allowset_lookup(as, &c1, &d1, 2000, NULL, false) == ALLOWSET_MISS);
	CHECK(allowset_lookup(as, &c1, &d2, 2000, NULL, false) == ALLOWSET_EXPIRED);
	allowset_free(&as);
}

/* Per-owner quota: a new entry counts against the owner that caused it; a
 * renewal by anyone is accepted and does not move it; an owner at its quota
 * gets -EDQUOT (explained as over-cap) while the others keep their room;
 * an owner's expired entries are reclaimed for it; leaving the table gives
 * the count back. */
static void test_owner_quota(void)
{
	struct allowset *as = allowset_new(64, 2);
	struct addr o1 = v4(901), o2 = v4(902), a;
	struct allowset_stats st;

	CHECK(as != NULL);
	for (unsigned i = 0; i < 4; i++) {
		a = v4(i);
		CHECK(allowset_add_owned(as, NULL, 0, &a, 10000, ALLOWSET_LEARNED, "x", NULL, 1000,
					 &o1, 4) == 0);
	}
	CHECK(allowset_owner_entries(as, &o1) == 4);
	a = v4(4);
	CHECK(allowset_add_owned(as, NULL, 0, &a, 10000, ALLOWSET_LEARNED, "x", NULL, 1000, &o1,
				 4) == -EDQUOT);
	CHECK(allowset_lookup(as, NULL, &a, 1000, NULL, false) == ALLOWSET_MISS);
	CHECK(allowset_was_refused(as, NULL, &a));
	/* The other owner still has its whole quota. */
	CHECK(allowset_add_owned(as, NULL, 0, &a, 10000, ALLOWSET_LEARNED, "x", NULL, 1000, &o2,
				 4) == 0);
	CHECK(allowset_owner_entries(as, &o2) == 1);
	/* o1 renewing o2's entry (and its own) is accepted and moves nothing. */
	CHECK(allowset_add_owned(as, NULL, 0, &a, 20000, ALLOWSET_LEARNED, "y", NULL, 1000, &o1,
				 4) == 0);
	a = v4(0);
	CHECK(allowset_add_owned(as, NULL, 0, &a, 20000, ALLOWSET_LEARNED, "y", NULL, 1000, &o1,
				 4) == 0);
	CHECK(allowset_owner_entries(as, &o1) == 4);
	CHECK(allowset_owner_entries(as, &o2) == 1);
	CHECK(allowset_owner_count(as) == 2);
	/* Unowned additions (journal, operator) count against nobody. */
	a = v4(50);
	CHECK(allowset_add(as, NULL, &a, 10000, ALLOWSET_MANUAL, NULL, "operator", 1000) == 0);
	CHECK(allowset_owner_count(as) == 2);
	/* A removal gives the count back. */
	a = v4(1);
	CHECK(allowset_remove(as, NULL, &a) == 0);
	CHECK(allowset_owner_entries(as, &o1) == 3);
	a = v4(10);
	CHECK(allowset_add_owned(as, NULL, 0, &a, 10000, ALLOWSET_LEARNED, "x", NULL, 1000, &o1,
				 4) == 0);
	/* Expired entries of o1 (v4(2), v4(3), v4(10) expire at 10000; v4(0)
	 * at 20000) are reclaimed when it is at its quota. */
	a = v4(11);
	CHECK(allowset_add_owned(as, NULL, 0, &a, 30000, ALLOWSET_LEARNED, "x", NULL, 15000, &o1,
				 4) == 0);
	CHECK(allowset_owner_entries(as, &o1) == 2);
	/* The owner leaves with its last entry. */
	a = v4(4);
	CHECK(allowset_remove(as, NULL, &a) == 0);
	CHECK(allowset_owner_entries(as, &o2) == 0);
	CHECK(allowset_owner_count(as) == 1);
	allowset_get_stats(as, &st);
	CHECK(st.quota == 1);
	/* Scoped entries count the same way (gateway clients). */
	a = v4(20);
	CHECK(allowset_add_owned(as, &o2, 0, &a, 10000, ALLOWSET_LEARNED, "s", NULL, 1000, &o2,
				 1) == 0);
	a = v4(21);
	CHECK(allowset_add_owned(as, &o2, 0, &a, 10000, ALLOWSET_LEARNED, "s", NULL, 1000, &o2,
				 1) == -EDQUOT);
	CHECK(allowset_flush(as) > 0);
	CHECK(allowset_owner_count(as) == 0);
	allowset_free(&as);
}

int main(void)
{
	allowset_reader_register();
	test_basic();
	test_bound_and_sweep();
	test_unscope();
	test_owner_quota();
	test_reuse();
	allowset_reader_unregister();
	test_concurrent();
	test_churn();
	CHECK_DONE();
}
