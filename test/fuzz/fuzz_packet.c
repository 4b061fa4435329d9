/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for core/packet: any bytes in, and when the parser says
 * PACKET_OK, the result must agree with the bytes (abort() otherwise, so the
 * fuzzer reports it). Reads past size are left to ASan.
 */
#include "core/packet.h"
#include "core/addr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_packet_l4_need(uint8_t proto)
{
	switch (proto) {
	case 6:	  /* tcp */
	case 17:  /* udp */
	case 33:  /* dccp */
	case 132: /* sctp */
	case 136: /* udplite */
		return 4;
	case 1:	 /* icmp */
	case 58: /* icmpv6 */
		return 2;
	default:
		return 0;
	}
}

static void fuzz_packet_check(const uint8_t *data, size_t size, const struct packet_info *pi)
{
	size_t l4 = pi->l4_offset, need = fuzz_packet_l4_need(pi->proto);
	size_t end = size, iplen;
	struct addr src, dst;

	if (size < 20)
		abort();
	switch (data[0] >> 4) {
	case 4:
		if (l4 != (size_t)(data[0] & 0x0f) * 4 || l4 < 20 || pi->proto != data[9])
			abort();
		/* Fragments never pass. */
		if ((data[6] << 8 | data[7]) & 0x3fff)
			abort();
		/* Nothing may come from beyond the total length (0: GSO). */
		iplen = (size_t)(data[2] << 8 | data[3]);
		if (iplen != 0 && iplen < end)
			end = iplen;
		addr_from_v4(&src, data + 12);
		addr_from_v4(&dst, data + 16);
		break;
	case 6:
		if (size < 40 || l4 < 40)
			abort();
		/* The walk ends on a transport, never on an extension header
		 * the kernel skips (ipv6_ext_hdr()) or on No Next Header;
		 * Mobility, HIP and Shim6 are transports for the kernel. */
		switch (pi->proto) {
		case 0:
		case 43:
		case 44:
		case 51:
		case 59:
		case 60:
			abort();
		}
		iplen = (size_t)(data[4] << 8 | data[5]);
		if (iplen != 0 && 40 + iplen < end)
			end = 40 + iplen;
		addr_from_v6(&src, data + 8);
		addr_from_v6(&dst, data + 24);
		break;
	default:
		abort();
	}
	if (!addr_equal(&pi->src, &src) || !addr_equal(&pi->dst, &dst))
		abort();
	/* l4_len is what the IP header's length leaves after the headers. */
	iplen = data[0] >> 4 == 4	   ? (size_t)(data[2] << 8 | data[3])
		: (data[4] << 8 | data[5]) ? 40 + (size_t)(data[4] << 8 | data[5])
					   : 0;
	if (iplen == 0 ? pi->l4_len != PACKET_L4_LEN_UNKNOWN : pi->l4_len != iplen - l4)
		abort();
	if (l4 > end || l4 + need > end)
		abort();
	if (need == 4 && (pi->sport != (data[l4] << 8 | data[l4 + 1]) ||
			  pi->dport != (data[l4 + 2] << 8 | data[l4 + 3])))
		abort();
	if (need != 4 && (pi->sport || pi->dport))
		abort();
	if (need == 2 && (pi->icmp_type != data[l4] || pi->icmp_code != data[l4 + 1]))
		abort();
	if (need != 2 && (pi->icmp_type || pi->icmp_code))
		abort();
	if (pi->tcp_flags && (pi->proto != 6 || l4 + 14 > end || pi->tcp_flags != data[l4 + 13]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct packet_info pi;
	enum packet_err e;
	char name[4];

	e = packet_parse(data, size, &pi);
	if (!packet_strerror(e))
		abort();
	if (e == PACKET_OK) {
		fuzz_packet_check(data, size, &pi);
		/* A deliberately small buffer: the number must be cut, not
		 * written past it. */
		if (!packet_proto_name(pi.proto, name, sizeof(name)))
			abort();
	}
	return 0;
}
