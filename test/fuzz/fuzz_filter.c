/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the answer filter (invariant 7): parse the input as an answer, keep
 * only the addresses whose last byte is even, filter. abort() if the output
 * does not parse, has more records than the input, or carries any address
 * (A/AAAA by the low byte of the type, as musl reads it, in any class and
 * section, or an SVCB/HTTPS hint) that keep() refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/util.h"
#include "dns/wire.h"

#define RR_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool keep_even(void *arg, const struct addr *a)
{
	unsigned last = a->family == AF_INET ? 3 : 15;

	(*(unsigned *)arg)++;
	return (a->b[last] & 1) == 0;
}

static bool refuse_odd(void *arg, const struct addr *a)
{
	if (!keep_even(arg, a))
		abort(); /* an address that should have been removed */
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_rr rr[RR_MAX], rr2[RR_MAX];
	static uint8_t out[WIRE_MAX_MSG];
	struct wire_filter_result res;
	struct wire_msg m, m2;
	unsigned calls = 0;
	size_t outlen;

	if (wire_msg_parse(data, size, rr, RR_MAX, &m) != WIRE_OK)
		return 0;
	if (wire_filter_answer(&m, keep_even, &calls, out, sizeof(out), &outlen, &res) != WIRE_OK)
		return 0;
	if (wire_msg_parse(out, outlen, rr2, RR_MAX, &m2) != WIRE_OK)
		abort();
	if (m2.nrr + res.removed != m.nrr || m2.question_end != m.question_end ||
	    memcmp(out + 2, data + 2, 2) != 0 || !wire_name_equal(&m.qname, &m2.qname))
		abort();
	/* the output holds nothing the filter would remove again */
	if (wire_filter_needed(&m2, refuse_odd, &calls))
		abort();
	return 0;
}
