/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the answer cache with what the stub gives it: any answer that
 * wire_msg_parse() accepts (an upstream's bytes), re-encoded by
 * wire_filter_answer() as dns/stub.c cache_store() does. The first input byte is
 * the age in seconds at lookup. abort() on a broken invariant: a hit that
 * does not parse, differs from the answer in anything but its TTLs, has a
 * TTL above the answer's (or ttl.max) or not lowered by the age, or a hit
 * at or past the entry's life; the bounds ever exceeded.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/cache.h"
#include "dns/wire.h"

#define RR_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool keep_all(void *arg, const struct addr *a)
{
	(void)arg;
	(void)a;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_rr rr[RR_MAX], rr2[RR_MAX];
	static uint8_t out[WIRE_MAX_MSG], enc[CACHE_ENTRY_MAX];
	const struct cache_limits lim = {
	    .max_entries = 4, .max_bytes = CACHE_ENTRY_MAX, .negative_max = 2, .max_ttl = 100};
	struct cache_key k = {0};
	struct cache_stats st;
	struct wire_msg m, o;
	struct cache *c;
	unsigned age;
	size_t len;
	int rc;

	if (size < 1)
		return 0;
	age = data[0];
	data++;
	size--;
	if (wire_msg_parse(data, size, rr, RR_MAX, &m) != WIRE_OK)
		return 0;
	{
		struct wire_filter_result fr;

		if (wire_filter_answer(&m, keep_all, NULL, enc, sizeof(enc), &size, &fr) !=
			WIRE_OK ||
		    wire_msg_parse(enc, size, rr, RR_MAX, &m) != WIRE_OK)
			return 0;
		data = enc;
	}
	c = cache_new(&lim, 42);
	if (!c)
		abort();
	k.qname = m.qname;
	k.qtype = m.qtype;
	k.qclass = m.qclass;
	rc = cache_insert(c, &k, &m, "fuzz", 1000);
	if (rc != 0 && rc != -ENODATA && rc != -E2BIG)
		abort();
	rc = cache_lookup(c, &k, 1000 + (uint64_t)age * 1000, out, sizeof(out), &len, NULL);
	if (rc == 0) {
		uint32_t life = 100;

		if (len != size || memcmp(out, data, WIRE_HDR_LEN) != 0)
			abort();
		if (wire_msg_parse(out, len, rr2, RR_MAX, &o) != WIRE_OK || o.nrr != m.nrr)
			abort();
		for (size_t i = 0; i < m.nrr; i++) {
			uint32_t want = m.rr[i].ttl < 100 ? m.rr[i].ttl : 100;

			if (m.rr[i].type == WIRE_TYPE_OPT) {
				if (memcmp(out + m.rr[i].name_off, data + m.rr[i].name_off,
					   m.rr[i].rdata_off + m.rr[i].rdlen - m.rr[i].name_off))
					abort();
				continue;
			}
			if (want < life)
				life = want;
			want = want > age ? want - age : 0;
			if (o.rr[i].ttl != want)
				abort();
		}
		if (age >= life)
			abort(); /* served at or past its life */
	} else if (rc != -ENOENT) {
		abort();
	}
	cache_get_stats(c, &st);
	if (st.entries > lim.max_entries || st.bytes > lim.max_bytes ||
	    st.negative_entries > lim.negative_max)
		abort();
	cache_free(&c);
	return 0;
}
