/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for core/onlink's route dump parser: any bytes as one
 * netlink receive buffer. Whatever it keeps must be a prefix the ruleset may
 * render: within the bound, /16 or longer, not fe80::/10, host bits clear,
 * each (prefix, interface) once (abort() otherwise).
 */
#include "core/onlink.h"

#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The kernel hands the parser an aligned buffer; so does this. */
	static _Alignas(struct nlmsghdr) uint8_t buf[1 << 16];
	static struct onlink_list l;

	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	memset(&l, 0, sizeof(l));
	(void)onlink_parse(buf, size, 0, 0, &l);
	if (l.n > ONLINK_MAX)
		abort();
	for (unsigned i = 0; i < l.n; i++) {
		const struct prefix *p = &l.v[i].p;

		if (p->addr.family != AF_INET6 || p->len < ONLINK_MIN_LEN || p->len > 128)
			abort();
		if (p->addr.b[0] == 0xfe && (p->addr.b[1] & 0xc0) == 0x80)
			abort();
		for (unsigned b = p->len; b < 128; b++)
			if (p->addr.b[b / 8] & (0x80 >> (b % 8)))
				abort();
		for (unsigned j = 0; j < i; j++)
			if (l.v[j].ifindex == l.v[i].ifindex && l.v[j].p.len == p->len &&
			    addr_equal(&l.v[j].p.addr, &p->addr))
				abort();
	}
	return 0;
}
