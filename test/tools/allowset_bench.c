/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * allowset_bench: micro-benchmark of core/allowset (figure H5 of
 * test/bench/run.sh).
 *
 *   allowset_bench [--lookups N] [--named] [--scoped] SIZE...
 *
 * For each SIZE: a fresh table of SIZE IPv4 entries (manual allowances, or
 * learned ones with one name each with --named; with --scoped, in the scopes
 * of AB_SCOPES gateway clients, entry i in client i % AB_SCOPES, and looked
 * up in its scope), then N lookups of present
 * addresses in a random order (hit), N of absent ones (miss) and N of the same
 * 1024 present ones (hot: the cache-resident floor), timed with the thread's
 * CPU clock (CLOCK_THREAD_CPUTIME_ID: a shared machine does not inflate it)
 * around the whole loop, from one registered reader thread.
 * Memory per entry is the growth of malloc's in-use bytes (mallinfo2
 * uordblks, plus mmapped blocks hblkhd) from before allowset_new() to after
 * the last insertion, divided by SIZE: table buckets, entries and metadata.
 * One line per size:
 *   ALLOWSET entries=N named=0|1 scoped=0|1 hit_ns=X miss_ns=Y hot_ns=Z bytes_per_entry=B
 *     insert_ns=I lookups=N
 * Exit 0, or 1 when a lookup gives a wrong answer or on a set-up error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/addr.h"
#include "core/allowset.h"

#define AB_MAX_SIZE    (1u << 24)
#define AB_MAX_LOOKUPS 100000000u
#define AB_SCOPES      64u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* Entry i of a table: spread over 10.0.0.0/8 .. (odd multiplier: distinct). */
static void key_of(uint32_t i, bool present, struct addr *a)
{
	uint32_t v = 0x0A000000u + i * 2654435761u % 0x00FFFFFFu;
	uint8_t b[4];

	/* Absent keys live in 172.16.0.0/12 .. never inserted. */
	if (!present)
		v = 0xAC100000u + (i * 40503u & 0x000FFFFFu);
	v = htonl(v);
	memcpy(b, &v, 4);
	addr_from_v4(a, b);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int bench(uint32_t size, uint32_t lookups, bool named, bool scoped)
{
	struct allowset *as;
	struct addr *keys, *miss, *order, scopes[AB_SCOPES];
	const struct addr **oscope, **mscope;
	uint64_t now = allowset_now_ms(), t0, t_hit, t_miss, t_hot, t_ins,
		 seed = 88172645463325252ull;
	size_t before, after;
	uint32_t nuniq = size < 1000003 ? size : 1000003, bad = 0;
	int rc = 0;

	keys = calloc(size, sizeof(*keys));
	order = calloc(lookups, sizeof(*order));
	miss = calloc(lookups, sizeof(*miss));
	oscope = calloc(lookups, sizeof(*oscope));
	mscope = calloc(lookups, sizeof(*mscope));
	if (!keys || !order || !miss || !oscope || !mscope) {
		fprintf(stderr, "allowset_bench: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < AB_SCOPES; i++) {
		uint8_t b[4] = {192, 0, 2, (uint8_t)(i + 1)};

		addr_from_v4(&scopes[i], b);
	}
	for (uint32_t i = 0; i < size; i++)
		key_of(i, true, &keys[i]);
	/* Lookup order fixed before timing: random present keys, then absent ones. */
	for (uint32_t i = 0; i < lookups; i++) {
		uint32_t k = (uint32_t)(xorshift(&seed) % size);

		order[i] = keys[k];
		oscope[i] = scoped ? &scopes[k % AB_SCOPES] : NULL;
		mscope[i] = scoped ? &scopes[i % AB_SCOPES] : NULL;
		key_of((uint32_t)(xorshift(&seed) % nuniq), false, &miss[i]);
	}

	before = heap_used();
	as = allowset_new(size, 8);
	if (!as) {
		perror("allowset_new");
		return 1;
	}
	t0 = now_ns();
	for (uint32_t i = 0; i < size; i++) {
		int r = allowset_add(as, scoped ? &scopes[i % AB_SCOPES] : NULL, &keys[i],
				     now + 3600000, named ? ALLOWSET_LEARNED : ALLOWSET_MANUAL,
				     named ? "host.bench.test" : NULL, named ? "pdns" : NULL, now);

		if (r < 0) {
			fprintf(stderr, "allowset_add #%u: %s\n", i, strerror(-r));
			rc = 1;
			goto out;
		}
	}
	t_ins = now_ns() - t0;
	after = heap_used();

	/* The table grows in liburcu's worker thread (CDS_LFHT_AUTO_RESIZE):
	 * give it a second, then one warm-up pass. */
	{
		struct timespec ts = {1, 0};

		nanosleep(&ts, NULL);
	}
	for (uint32_t i = 0; i < lookups && i < 100000; i++)
		(void)allowset_lookup(as, oscope[i], &order[i], now, NULL, false);
	t0 = now_ns();
	for (uint32_t i = 0; i < lookups; i++)
		bad += allowset_lookup(as, oscope[i], &order[i], now, NULL, false) != ALLOWSET_HIT;
	t_hit = now_ns() - t0;
	t0 = now_ns();
	for (uint32_t i = 0; i < lookups; i++)
		bad += allowset_lookup(as, mscope[i], &miss[i], now, NULL, false) != ALLOWSET_MISS;
	t_miss = now_ns() - t0;
	/* Hot: the same 1024 present keys over and over (all in cache). */
	t0 = now_ns();
	for (uint32_t i = 0; i < lookups; i++)
		bad += allowset_lookup(as, oscope[i & 1023], &order[i & 1023], now, NULL, false) !=
		       ALLOWSET_HIT;
	t_hot = now_ns() - t0;
	if (bad) {
		fprintf(stderr, "allowset_bench: %u wrong lookup results\n", bad);
		rc = 1;
	}
	printf("ALLOWSET entries=%u named=%d scoped=%d hit_ns=%.1f miss_ns=%.1f hot_ns=%.1f "
	       "bytes_per_entry=%.1f insert_ns=%.1f lookups=%u\n",
	       size, named, scoped, (double)t_hit / lookups, (double)t_miss / lookups,
	       (double)t_hot / lookups, (double)(after - before) / size, (double)t_ins / size,
	       lookups);
	fflush(stdout);
out:
	allowset_free(&as);
	free(keys);
	free(order);
	free(miss);
	free(oscope);
	free(mscope);
	return rc;
}

int main(int argc, char **argv)
{
	uint32_t lookups = 5000000;
	bool named = false, scoped = false;
	int rc = 0, nsizes = 0;

	allowset_reader_register();
	for (int i = 1; i < argc; i++) {
		char *end;
		unsigned long v;

		if (!strcmp(argv[i], "--named")) {
			named = true;
			continue;
		}
		if (!strcmp(argv[i], "--scoped")) {
			scoped = true;
			continue;
		}
		if (!strcmp(argv[i], "--lookups") && i + 1 < argc) {
			errno = 0;
			v = strtoul(argv[++i], &end, 10);
			if (errno || *end || v == 0 || v > AB_MAX_LOOKUPS) {
				fprintf(stderr, "allowset_bench: bad --lookups %s\n", argv[i]);
				return 1;
			}
			lookups = (uint32_t)v;
			continue;
		}
		errno = 0;
		v = strtoul(argv[i], &end, 10);
		if (errno || *end || v == 0 || v > AB_MAX_SIZE) {
			fprintf(
			    stderr,
			    "usage: allowset_bench [--lookups N] [--named] [--scoped] SIZE...\n");
			return 1;
		}
		rc |= bench((uint32_t)v, lookups, named, scoped);
		nsizes++;
	}
	if (!nsizes)
		rc |= bench(100000, lookups, named, scoped);
	allowset_reader_unregister();
	return rc;
}
