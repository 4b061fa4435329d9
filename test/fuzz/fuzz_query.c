/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the stub side: parse the input as a client's query, decide the
 * answer as the stub does (wire_query_rcode), build the error response into
 * a 512-byte buffer, and check it: it must always fit, echo the ID, and when
 * the query parsed, answer exactly its question. A query that parsed must
 * also survive a rebuild (wire_build_query) unchanged.
 *
 * The same bytes, as a string, also drive the presentation-name parser:
 * parse, format, parse again must give the same name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dns/wire.h"

#define OUR_UDP_SIZE 1232

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void name_round_trip(const uint8_t *data, size_t size)
{
	char s[WIRE_NAME_STRLEN], back[WIRE_NAME_STRLEN];
	struct wire_name n, n2;

	if (size >= sizeof(s))
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (wire_name_from_str(s, &n) != WIRE_OK)
		return;
	wire_name_format(&n, back, sizeof(back));
	if (strlen(back) >= sizeof(back) - 1 || wire_name_from_str(back, &n2) != WIRE_OK ||
	    !wire_name_equal(&n, &n2) || memcmp(n.b, n2.b, n.len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_rr rr[2];
	struct wire_query q, q2;
	struct wire_msg r;
	uint8_t out[512];
	size_t outlen;
	enum wire_err err, berr;
	int rcode;
	uint16_t edns;

	name_round_trip(data, size);
	err = wire_query_parse(data, size, &q);
	rcode = wire_query_rcode(err);
	if (rcode < 0) {
		if (err != WIRE_ERR_SHORT && err != WIRE_ERR_QR)
			abort();
		return 0;
	}
	if (rcode == WIRE_RCODE_NOERROR)
		rcode = WIRE_RCODE_REFUSED;
	edns = (q.edns || rcode > 15) ? OUR_UDP_SIZE : 0;
	berr = wire_build_error(data, size, (unsigned)rcode, edns, out, sizeof(out), &outlen);
	if (berr != WIRE_OK || outlen > sizeof(out) || outlen < WIRE_HDR_LEN)
		abort();
	if (out[0] != data[0] || out[1] != data[1] || !(out[2] & 0x80))
		abort();
	if (wire_msg_parse(out, outlen, rr, ARRAY_SIZE(rr), &r) == WIRE_OK) {
		if (r.rcode != rcode || r.id != q.id || (edns != 0) != r.edns)
			abort();
		if (memcmp(out + WIRE_HDR_LEN, data + WIRE_HDR_LEN, r.question_end - WIRE_HDR_LEN))
			abort();
	} else if (err == WIRE_OK || out[5] != 0) {
		abort(); /* a parsed query's question is always echoed */
	}
	if (err == WIRE_OK) {
		if (wire_answer_matches(&r, q.id, &q.qname, q.qtype, q.qclass) != WIRE_OK)
			abort();
		if (wire_build_query(q.id, &q.qname, q.qtype, q.rd, q.edns_udp_size, out,
				     sizeof(out), &outlen) != WIRE_OK)
			abort();
		if (wire_query_parse(out, outlen, &q2) != WIRE_OK || q2.id != q.id ||
		    q2.rd != q.rd || q2.qtype != q.qtype || q2.qclass != WIRE_CLASS_IN ||
		    !wire_name_equal(&q2.qname, &q.qname) || q2.edns != (q.edns_udp_size != 0))
			abort();
	}
	return 0;
}
