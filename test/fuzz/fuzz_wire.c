/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the upstream side: parse the input as an answer, then extract the
 * chain for the question it carries, as the stub does after
 * wire_answer_matches(). abort() on any broken invariant: a bound exceeded,
 * an owner index off the chain, an address whose bytes are not in the input,
 * a chain with a repeated name, a TC cut that does not parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/util.h"
#include "dns/wire.h"

#define FOUND_MAX 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool bytes_in(const uint8_t *data, size_t size, const struct addr *a)
{
	size_t w = a->family == AF_INET ? 4 : 16;

	for (size_t o = 0; o + w <= size; o++)
		if (memcmp(data + o, a->b, w) == 0)
			return true;
	return false;
}

static void check_chain(const struct wire_msg *m, const struct wire_chain *c, size_t max)
{
	char name[WIRE_NAME_STRLEN];

	if (c->nfound > max || c->nnames < 1 || c->nnames > WIRE_DEFAULT_MAX_CHAIN + 1)
		abort();
	if (!wire_name_equal(&c->names[0], &m->qname))
		abort();
	for (unsigned i = 0; i < c->nnames; i++) {
		wire_name_format(&c->names[i], name, sizeof(name));
		if (strlen(name) >= sizeof(name))
			abort();
		for (unsigned j = 0; j < i; j++)
			if (wire_name_equal(&c->names[i], &c->names[j]))
				abort();
	}
	for (size_t i = 0; i < c->nfound; i++) {
		const struct wire_found *f = &c->found[i];

		if (f->owner >= c->nnames)
			abort();
		if (f->addr.family != AF_INET && f->addr.family != AF_INET6)
			abort();
		if (!bytes_in(m->buf, m->len, &f->addr))
			abort();
		for (size_t j = 0; j < i; j++)
			if (addr_equal(&c->found[j].addr, &f->addr))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_chain chain, one;
	struct wire_rr rr[WIRE_DEFAULT_MAX_RECORDS];
	struct wire_found found[FOUND_MAX], found1[1];
	struct wire_name owner;
	struct wire_msg m;
	enum wire_err err, err1;
	uint8_t *copy;
	size_t len;
	bool tc;

	if (wire_msg_parse(data, size, rr, ARRAY_SIZE(rr), &m) != WIRE_OK)
		return 0;
	if (m.nrr > ARRAY_SIZE(rr) || m.question_end > size || m.buf != data)
		abort();
	for (size_t i = 0; i < m.nrr; i++) {
		if ((size_t)m.rr[i].rdata_off + m.rr[i].rdlen > size || m.rr[i].name_off >= size)
			abort();
		if (wire_rr_owner(&m, &m.rr[i], &owner) != WIRE_OK)
			abort();
	}
	if ((m.flags & WIRE_FLAG_QR) && WIRE_FLAGS_OPCODE(m.flags) == WIRE_OPCODE_QUERY &&
	    wire_answer_matches(&m, m.id, &m.qname, m.qtype, m.qclass) != WIRE_OK)
		abort();

	err = wire_chain_extract(&m, WIRE_DEFAULT_MAX_CHAIN, found, FOUND_MAX, &chain);
	if (err != WIRE_OK) {
		if (chain.nfound != 0)
			abort();
	} else {
		check_chain(&m, &chain, FOUND_MAX);
	}
	/* a smaller bound keeps the first address and counts the rest */
	err1 = wire_chain_extract(&m, WIRE_DEFAULT_MAX_CHAIN, found1, 1, &one);
	if (err1 != err)
		abort();
	if (err == WIRE_OK) {
		check_chain(&m, &one, 1);
		if (one.nfound != (chain.nfound ? 1u : 0u) || one.nnames != chain.nnames)
			abort();
		if (one.nfound && !addr_equal(&one.found[0].addr, &chain.found[0].addr))
			abort();
		if (chain.nfound + chain.dropped > 1 && one.dropped == 0)
			abort();
	}

	/* a TC cut for a 512-byte client parses, with the same question */
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	len = size;
	if (wire_fit_udp(copy, &len, WIRE_MIN_UDP, 0, &tc) != WIRE_OK)
		abort();
	if (tc) {
		struct wire_msg t;

		if (len > WIRE_MIN_UDP || wire_msg_parse(copy, len, rr, 1, &t) != WIRE_OK ||
		    !(t.flags & WIRE_FLAG_TC) || t.nrr != 0 || !wire_name_equal(&t.qname, &m.qname))
			abort();
	} else if (len != size || memcmp(copy, data, size) != 0) {
		abort();
	}
	free(copy);
	return 0;
}
