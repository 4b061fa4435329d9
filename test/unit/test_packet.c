/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for core/packet: tables of raw packets with the exact fields
 * expected, then two sweeps over every valid packet: truncated at every
 * length (each copy in a buffer of exactly that size, so ASan sees any read
 * past len) and every byte replaced by every value.
 *
 * "test_packet --write-corpus DIR" writes every table packet to DIR, which is
 * how test/fuzz/corpus/packet/ was seeded.
 */
#include "core/packet.h"
#include "core/addr.h"
#include "core/util.h"
#include "test/unit/check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Documentation addresses only (DESIGN.md, test network rules). */
#define V4_A	 192, 0, 2, 1
#define V4_B	 198, 51, 100, 7
#define V6_A	 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01
#define V6_B	 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02
#define V6_A_STR "2001:db8::1"
#define V6_B_STR "2001:db8::2"

/* RFC 791 §3.1: IHL 5, given total length, fragment field and protocol. */
#define V4HDR(tot, frag, proto)                                                                    \
	0x45, 0x00, (tot) >> 8, (tot)&0xff, 0x12, 0x34, (frag) >> 8, (frag)&0xff, 64, proto, 0, 0, \
	    V4_A, V4_B
/* RFC 8200 §3: payload length and next header. */
#define V6HDR(plen, nh) 0x60, 0, 0, 0, (plen) >> 8, (plen)&0xff, nh, 64, V6_A, V6_B
/* RFC 9293 §3.1: ports, seq 1, ack 0, data offset 5, flags, window. */
#define TCP20(sport, dport, flags)                                                                 \
	(sport) >> 8, (sport)&0xff, (dport) >> 8, (dport)&0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50,      \
	    flags, 0xff, 0xff, 0, 0, 0, 0
/* RFC 768: ports, length, checksum. */
#define UDP8(sport, dport, ulen)                                                                   \
	(sport) >> 8, (sport)&0xff, (dport) >> 8, (dport)&0xff, (ulen) >> 8, (ulen)&0xff, 0, 0
/* An 8-byte option header (Hop-by-Hop or Destination Options, RFC 8200
 * §4.3/§4.6) holding one PadN option. */
#define OPT8(nh) nh, 0, 0x01, 0x04, 0, 0, 0, 0
/* RFC 8200 §4.5: fragment offset (in 8-octet units) and M flag. */
#define FRAG8(nh, offset, m)                                                                       \
	nh, 0, ((offset) << 3) >> 8, (((offset) << 3) & 0xff) | (m), 0xca, 0xfe, 0xf0, 0x0d

/* An 8-byte extension header with an all-zero body (Mobility, Shim6, HIP). */
#define EXT8(nh) nh, 0, 0, 0, 0, 0, 0, 0
#define ZERO8	 0, 0, 0, 0, 0, 0, 0, 0
/* RFC 4303 §2: SPI, sequence number, then opaque bytes. */
#define ESP16 0, 0, 1, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8

#define TCP_SYN 0x02
#define TCP_ACK 0x10

/* Hand-aligned byte tables read better than what a formatter makes of them. */
/* clang-format off */

/* ---- IPv4 ---- */

static const uint8_t v4_tcp[] = {V4HDR(40, 0x4000, 6), TCP20(49152, 443, TCP_SYN)};
static const uint8_t v4_udp[] = {V4HDR(32, 0, 17), UDP8(53000, 53, 12), 0xde, 0xad, 0xbe, 0xef};
static const uint8_t v4_icmp[] = {V4HDR(28, 0, 1), 8, 0, 0xf7, 0xfe, 0, 1, 0, 0};
/* IHL 6: a Router Alert option (RFC 2113) moves the transport header. */
static const uint8_t v4_opts_tcp[] = {
	0x46, 0x00, 0x00, 44, 0x12, 0x34, 0x40, 0x00, 64, 6, 0, 0, V4_A, V4_B,
	0x94, 0x04, 0x00, 0x00,
	TCP20(80, 50000, TCP_SYN | TCP_ACK),
};
/* RFC 9260 §3.1: ports, verification tag, checksum. */
static const uint8_t v4_sctp[] = {V4HDR(32, 0, 132), 0x0b, 0x59, 0x0b, 0x5a, ZERO8};
static const uint8_t v4_udplite[] = {V4HDR(28, 0, 136), UDP8(1234, 5678, 8)};
/* RFC 4340 §5.1: ports, data offset, CCVal/CsCov, checksum, type... */
static const uint8_t v4_dccp[] = {V4HDR(36, 0, 33), 0x13, 0x88, 0x13, 0x89, 3, 0, 0, 0, ZERO8};
static const uint8_t v4_gre[] = {V4HDR(28, 0, 47), 0, 0, 0x08, 0, 0x45, 0, 0, 0};
static const uint8_t v4_esp[] = {V4HDR(36, 0, 50), ESP16};
/* Total length 0: a BIG TCP GSO packet. */
static const uint8_t v4_gso[] = {V4HDR(0, 0x4000, 6), TCP20(49152, 443, TCP_ACK)};
/* The reserved ("evil") bit is not a fragment. */
static const uint8_t v4_rsvbit[] = {V4HDR(28, 0x8000, 17), UDP8(1, 2, 8)};
static const uint8_t v4_mf[] = {V4HDR(40, 0x2000, 6), TCP20(49152, 443, TCP_SYN)};
static const uint8_t v4_offset[] = {V4HDR(40, 185, 6), TCP20(49152, 443, TCP_SYN)};
static const uint8_t v4_ihl4[] = {
	0x44, 0, 0, 40, 0x12, 0x34, 0, 0, 64, 6, 0, 0, V4_A, V4_B, TCP20(1, 2, TCP_SYN),
};
/* IHL 15 announces 60 bytes of header; only 40 are here. */
static const uint8_t v4_ihl15[] = {
	0x4f, 0, 0, 100, 0x12, 0x34, 0, 0, 64, 6, 0, 0, V4_A, V4_B, TCP20(1, 2, TCP_SYN),
};
static const uint8_t v4_totlen_small[] = {V4HDR(16, 0, 6), TCP20(1, 2, TCP_SYN)};
/* Total length says the packet ends with the IP header; the TCP bytes after
 * it are not part of it. */
static const uint8_t v4_totlen_clamp[] = {V4HDR(20, 0, 6), TCP20(1, 2, TCP_SYN)};
static const uint8_t v5[] = {
	0x55, 0, 0, 40, 0x12, 0x34, 0, 0, 64, 6, 0, 0, V4_A, V4_B, TCP20(1, 2, TCP_SYN),
};
static const uint8_t v0[] = {0x00, 0, 0, 40, 0x12, 0x34, 0, 0, 64, 6, 0, 0, V4_A, V4_B};

/* ---- IPv6 ---- */

static const uint8_t v6_tcp[] = {V6HDR(20, 6), TCP20(54321, 22, TCP_SYN)};
static const uint8_t v6_udp[] = {V6HDR(12, 17), UDP8(546, 547, 12), 1, 2, 3, 4};
static const uint8_t v6_icmp6[] = {V6HDR(8, 58), 128, 0, 0, 0, 0, 1, 0, 1};
/* Hop-by-Hop -> Destination Options -> Routing (type 4, segments left 0) ->
 * atomic Fragment -> TCP. */
static const uint8_t v6_chain[] = {
	V6HDR(52, 0),
	OPT8(60),
	OPT8(43),
	44, 0, 4, 0, 0, 0, 0, 0,
	FRAG8(6, 0, 0),
	TCP20(40000, 443, TCP_SYN),
};
/* Destination Options with Hdr Ext Len 1: 16 bytes. */
static const uint8_t v6_dst16_udp[] = {
	V6HDR(24, 60),
	17, 1, 0x01, 0x0c, 0, 0, 0, 0, ZERO8,
	UDP8(5353, 5353, 8),
};
/* RFC 4302 §2.2: Payload Len 4 -> (4 + 2) * 4 = 24 bytes (SPI, sequence
 * number, 96-bit ICV). */
static const uint8_t v6_ah_tcp[] = {
	V6HDR(44, 51),
	6, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1,
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	TCP20(40001, 8443, TCP_SYN),
};
static const uint8_t v6_esp[] = {V6HDR(16, 50), ESP16};
/* Mobility (RFC 6275 §6.1.1), HIP (RFC 7401 §5.1) and Shim6 (RFC 5533 §5)
 * are not in the kernel's ipv6_ext_hdr(): ip6tables and conntrack stop at
 * them, so they are the transport, whatever their Next Header says. */
static const uint8_t v6_mobility_tcp[] = {
	V6HDR(36, 0), OPT8(135), EXT8(6), TCP20(1000, 2000, TCP_SYN),
};
static const uint8_t v6_shim6_hip_udp[] = {
	V6HDR(32, 60), OPT8(140), EXT8(139), EXT8(17), UDP8(3000, 4000, 8),
};
/* RFC 4861 §4.3: type 135, code, checksum, reserved, target address. */
#define NS24 135, 0, 0, 0, 0, 0, 0, 0, V6_B
/* An NS wrapped in each of them: never ICMPv6 for the kernel, so never for
 * us (issue 10: this passed for NDP and reached a global address). */
static const uint8_t v6_mobility_ns[] = {V6HDR(32, 135), EXT8(58), NS24};
static const uint8_t v6_hbh_hip_ns[] = {V6HDR(40, 0), OPT8(139), EXT8(58), NS24};
static const uint8_t v6_dst_shim6_ns[] = {V6HDR(40, 60), OPT8(140), EXT8(58), NS24};
/* Headers the kernel does walk: Destination Options, then a real NS. */
static const uint8_t v6_dst_ns[] = {V6HDR(32, 60), OPT8(58), NS24};
/* An NS with 64 bytes of "options" after it: l4_len tells the verdict. */
static const uint8_t v6_ns_big[] = {V6HDR(88, 58), NS24, 1, 8, 0, 0, 0, 0, 0, 0,
	ZERO8, ZERO8, ZERO8, ZERO8, ZERO8, ZERO8, ZERO8};
/* The reserved bits of an atomic fragment do not make it a real one. */
static const uint8_t v6_frag_rsv[] = {
	V6HDR(16, 44), 17, 0, 0, 0x06, 1, 2, 3, 4, UDP8(6000, 7000, 8),
};
/* Payload length 0: jumbogram (RFC 2675) or BIG TCP; no clamp. */
static const uint8_t v6_plen0[] = {V6HDR(0, 6), TCP20(54321, 22, TCP_ACK)};
static const uint8_t v6_unknown[] = {V6HDR(4, 253), 1, 2, 3, 4};
/* Eight extension headers: the limit, still accepted. */
static const uint8_t v6_ext8[] = {
	V6HDR(72, 60),
	OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(17),
	UDP8(1, 2, 8),
};
/* Nine: one too many. */
static const uint8_t v6_ext9[] = {
	V6HDR(80, 60),
	OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(60), OPT8(17),
	UDP8(1, 2, 8),
};
static const uint8_t v6_hbh_late[] = {V6HDR(36, 60), OPT8(0), OPT8(6), TCP20(1, 2, TCP_SYN)};
static const uint8_t v6_hbh_twice[] = {V6HDR(36, 0), OPT8(0), OPT8(6), TCP20(1, 2, TCP_SYN)};
static const uint8_t v6_nonext[] = {V6HDR(0, 59)};
static const uint8_t v6_hbh_nonext[] = {V6HDR(8, 0), OPT8(59)};
static const uint8_t v6_frag_first[] = {V6HDR(28, 44), FRAG8(6, 0, 1), TCP20(1, 2, TCP_SYN)};
static const uint8_t v6_frag_later[] = {V6HDR(16, 44), FRAG8(6, 185, 0), 1, 2, 3, 4, 5, 6, 7, 8};
/* Hdr Ext Len 10 announces 88 bytes; 8 are here. */
static const uint8_t v6_ext_trunc[] = {V6HDR(88, 60), 6, 10, 0x01, 0x04, 0, 0, 0, 0};
/* Payload length 2 ends the packet inside the UDP ports. */
static const uint8_t v6_plen_clamp[] = {V6HDR(2, 17), UDP8(1, 2, 8)};
static const uint8_t v6_short[] = {V6HDR(20, 6)};

struct packet_case {
	const char *name;
	const uint8_t *pkt;
	size_t len;
	enum packet_err err;
	const char *src, *dst; /* expected when err is PACKET_OK */
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t icmp_type, icmp_code, tcp_flags;
	uint16_t l4_offset;
};

#define PKT(a)	   #a, a, sizeof(a)
#define PKTN(a, n) #a "/" #n, a, (n)
#define V4S	   "192.0.2.1", "198.51.100.7"
#define V6S	   V6_A_STR, V6_B_STR
#define NOADDR	   NULL, NULL

static const struct packet_case packet_cases[] = {
	/* IPv4, valid */
	{PKT(v4_tcp), PACKET_OK, V4S, 6, 49152, 443, 0, 0, TCP_SYN, 20},
	{PKT(v4_udp), PACKET_OK, V4S, 17, 53000, 53, 0, 0, 0, 20},
	{PKT(v4_icmp), PACKET_OK, V4S, 1, 0, 0, 8, 0, 0, 20},
	{PKT(v4_opts_tcp), PACKET_OK, V4S, 6, 80, 50000, 0, 0, TCP_SYN | TCP_ACK, 24},
	{PKT(v4_sctp), PACKET_OK, V4S, 132, 2905, 2906, 0, 0, 0, 20},
	{PKT(v4_udplite), PACKET_OK, V4S, 136, 1234, 5678, 0, 0, 0, 20},
	{PKT(v4_dccp), PACKET_OK, V4S, 33, 5000, 5001, 0, 0, 0, 20},
	{PKT(v4_gre), PACKET_OK, V4S, 47, 0, 0, 0, 0, 0, 20},
	{PKT(v4_esp), PACKET_OK, V4S, 50, 0, 0, 0, 0, 0, 20},
	{PKT(v4_gso), PACKET_OK, V4S, 6, 49152, 443, 0, 0, TCP_ACK, 20},
	{PKT(v4_rsvbit), PACKET_OK, V4S, 17, 1, 2, 0, 0, 0, 20},
	/* The copy range cut the TCP header: ports are enough, flags stay 0
	 * until byte 14 of TCP is there. */
	{PKTN(v4_tcp, 24), PACKET_OK, V4S, 6, 49152, 443, 0, 0, 0, 20},
	{PKTN(v4_tcp, 33), PACKET_OK, V4S, 6, 49152, 443, 0, 0, 0, 20},
	{PKTN(v4_tcp, 34), PACKET_OK, V4S, 6, 49152, 443, 0, 0, TCP_SYN, 20},
	{PKTN(v4_udp, 24), PACKET_OK, V4S, 17, 53000, 53, 0, 0, 0, 20},
	{PKTN(v4_icmp, 22), PACKET_OK, V4S, 1, 0, 0, 8, 0, 0, 20},
	/* IPv4, refused */
	{PKT(v4_mf), PACKET_ERR_FRAGMENT, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v4_offset), PACKET_ERR_FRAGMENT, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v4_ihl4), PACKET_ERR_HEADER, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v4_ihl15), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v4_totlen_small), PACKET_ERR_HEADER, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v4_totlen_clamp), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKTN(v4_tcp, 19), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKTN(v4_tcp, 23), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKTN(v4_icmp, 21), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v5), PACKET_ERR_VERSION, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v0), PACKET_ERR_VERSION, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{"empty", NULL, 0, PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	/* IPv6, valid */
	{PKT(v6_tcp), PACKET_OK, V6S, 6, 54321, 22, 0, 0, TCP_SYN, 40},
	{PKT(v6_udp), PACKET_OK, V6S, 17, 546, 547, 0, 0, 0, 40},
	{PKT(v6_icmp6), PACKET_OK, V6S, 58, 0, 0, 128, 0, 0, 40},
	{PKT(v6_chain), PACKET_OK, V6S, 6, 40000, 443, 0, 0, TCP_SYN, 72},
	{PKT(v6_dst16_udp), PACKET_OK, V6S, 17, 5353, 5353, 0, 0, 0, 56},
	{PKT(v6_ah_tcp), PACKET_OK, V6S, 6, 40001, 8443, 0, 0, TCP_SYN, 64},
	{PKT(v6_esp), PACKET_OK, V6S, 50, 0, 0, 0, 0, 0, 40},
	{PKT(v6_mobility_tcp), PACKET_OK, V6S, 135, 0, 0, 0, 0, 0, 48},
	{PKT(v6_shim6_hip_udp), PACKET_OK, V6S, 140, 0, 0, 0, 0, 0, 48},
	{PKT(v6_mobility_ns), PACKET_OK, V6S, 135, 0, 0, 0, 0, 0, 40},
	{PKT(v6_hbh_hip_ns), PACKET_OK, V6S, 139, 0, 0, 0, 0, 0, 48},
	{PKT(v6_dst_shim6_ns), PACKET_OK, V6S, 140, 0, 0, 0, 0, 0, 48},
	{PKT(v6_dst_ns), PACKET_OK, V6S, 58, 0, 0, 135, 0, 0, 48},
	{PKT(v6_ns_big), PACKET_OK, V6S, 58, 0, 0, 135, 0, 0, 40},
	{PKT(v6_frag_rsv), PACKET_OK, V6S, 17, 6000, 7000, 0, 0, 0, 48},
	{PKT(v6_plen0), PACKET_OK, V6S, 6, 54321, 22, 0, 0, TCP_ACK, 40},
	{PKT(v6_unknown), PACKET_OK, V6S, 253, 0, 0, 0, 0, 0, 40},
	{PKT(v6_ext8), PACKET_OK, V6S, 17, 1, 2, 0, 0, 0, 104},
	{PKTN(v6_chain, 82), PACKET_OK, V6S, 6, 40000, 443, 0, 0, 0, 72},
	/* IPv6, refused */
	{PKT(v6_ext9), PACKET_ERR_EXT_CHAIN, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_hbh_late), PACKET_ERR_EXT_CHAIN, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_hbh_twice), PACKET_ERR_EXT_CHAIN, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_nonext), PACKET_ERR_PROTO, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_hbh_nonext), PACKET_ERR_PROTO, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_frag_first), PACKET_ERR_FRAGMENT, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_frag_later), PACKET_ERR_FRAGMENT, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_ext_trunc), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_plen_clamp), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKT(v6_short), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKTN(v6_tcp, 39), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKTN(v6_chain, 71), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
	{PKTN(v6_chain, 75), PACKET_ERR_TRUNCATED, NOADDR, 0, 0, 0, 0, 0, 0, 0},
};
/* clang-format on */

/* Bytes of the transport header the parser needs for this protocol. */
static size_t test_l4_need(uint8_t proto)
{
	switch (proto) {
	case 6:
	case 17:
	case 33:
	case 132:
	case 136:
		return 4;
	case 1:
	case 58:
		return 2;
	default:
		return 0;
	}
}

/* A copy in a heap buffer of exactly n bytes: a read past n is an ASan
 * report, not a silent pass. */
static uint8_t *test_dup(const uint8_t *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	if (!b) {
		perror("malloc");
		exit(2);
	}
	if (n)
		memcpy(b, p, n);
	return b;
}

static enum packet_err test_parse(const uint8_t *p, size_t n, struct packet_info *pi)
{
	uint8_t *b = test_dup(p, n);
	enum packet_err e = packet_parse(n ? b : NULL, n, pi);

	free(b);
	return e;
}

static void test_table(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(packet_cases); i++) {
		const struct packet_case *c = &packet_cases[i];
		struct packet_info pi;
		struct addr src, dst;
		enum packet_err e;

		e = test_parse(c->pkt, c->len, &pi);
		CHECK_MSG(e == c->err, "%s: got %s, want %s", c->name, packet_strerror(e),
			  packet_strerror(c->err));
		if (c->err != PACKET_OK || e != PACKET_OK)
			continue;
		CHECK(addr_parse(c->src, &src) == 0 && addr_parse(c->dst, &dst) == 0);
		CHECK_MSG(addr_equal(&pi.src, &src), "%s: src", c->name);
		CHECK_MSG(addr_equal(&pi.dst, &dst), "%s: dst", c->name);
		CHECK_MSG(pi.proto == c->proto, "%s: proto %u", c->name, pi.proto);
		CHECK_MSG(pi.sport == c->sport && pi.dport == c->dport, "%s: ports %u %u", c->name,
			  pi.sport, pi.dport);
		CHECK_MSG(pi.icmp_type == c->icmp_type && pi.icmp_code == c->icmp_code,
			  "%s: icmp %u/%u", c->name, pi.icmp_type, pi.icmp_code);
		CHECK_MSG(pi.tcp_flags == c->tcp_flags, "%s: flags %#x", c->name, pi.tcp_flags);
		CHECK_MSG(pi.l4_offset == c->l4_offset, "%s: l4_offset %u", c->name, pi.l4_offset);
	}
}

/* l4_len comes from the IP header's length, not from the bytes copied. */
static void test_l4_len(void)
{
	static const struct {
		const char *name;
		const uint8_t *pkt;
		size_t len, copied;
		uint32_t want;
	} rows[] = {
	    {PKT(v4_tcp), sizeof(v4_tcp), 20},
	    {PKT(v4_opts_tcp), sizeof(v4_opts_tcp), 20},
	    {PKT(v4_gso), sizeof(v4_gso), PACKET_L4_LEN_UNKNOWN},
	    {PKT(v6_tcp), sizeof(v6_tcp), 20},
	    {PKT(v6_chain), sizeof(v6_chain), 20},
	    {PKT(v6_plen0), sizeof(v6_plen0), PACKET_L4_LEN_UNKNOWN},
	    {PKT(v6_dst_ns), sizeof(v6_dst_ns), 24},
	    {PKT(v6_mobility_ns), sizeof(v6_mobility_ns), 32},
	    /* Only 42 bytes copied: the length is still the whole message. */
	    {PKT(v6_ns_big), 42, 88},
	    {PKT(v6_ns_big), sizeof(v6_ns_big), 88},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct packet_info pi;

		CHECK_MSG(test_parse(rows[i].pkt, rows[i].copied, &pi) == PACKET_OK, "%s",
			  rows[i].name);
		CHECK_MSG(pi.l4_len == rows[i].want, "%s: l4_len %u, want %u", rows[i].name,
			  pi.l4_len, rows[i].want);
	}
}

/* On refused packets src/dst are filled once the fixed IP header was read. */
static void test_partial_fill(void)
{
	struct packet_info pi;
	struct addr a;

	CHECK(test_parse(v4_mf, sizeof(v4_mf), &pi) == PACKET_ERR_FRAGMENT);
	CHECK(addr_parse("198.51.100.7", &a) == 0 && addr_equal(&pi.dst, &a));
	CHECK(test_parse(v6_ext9, sizeof(v6_ext9), &pi) == PACKET_ERR_EXT_CHAIN);
	CHECK(addr_parse(V6_A_STR, &a) == 0 && addr_equal(&pi.src, &a));
	CHECK(test_parse(v6_tcp, 39, &pi) == PACKET_ERR_TRUNCATED);
	CHECK(pi.src.family == 0 && pi.dst.family == 0 && pi.proto == 0);
}

/*
 * Every prefix of a valid packet: fewer bytes than the parser needs (IP
 * header, extension headers, ports / ICMP type and code) must be
 * TRUNCATED; enough bytes must give the full packet's result, except the TCP
 * flags, which appear with the 14th byte of TCP.
 */
static bool test_truncate_one(const struct packet_case *c, size_t n, const struct packet_info *full,
			      char *why, size_t whylen)
{
	size_t need = (size_t)full->l4_offset + test_l4_need(full->proto);
	struct packet_info pi;
	enum packet_err e = test_parse(c->pkt, n, &pi);
	uint8_t flags;

	if (n < need) {
		if (e == PACKET_ERR_TRUNCATED)
			return true;
		snprintf(why, whylen, "len %zu < %zu: got %s", n, need, packet_strerror(e));
		return false;
	}
	if (e != PACKET_OK) {
		snprintf(why, whylen, "len %zu >= %zu: got %s", n, need, packet_strerror(e));
		return false;
	}
	flags = full->proto == 6 && n >= (size_t)full->l4_offset + 14 ? full->tcp_flags : 0;
	if (!addr_equal(&pi.src, &full->src) || !addr_equal(&pi.dst, &full->dst) ||
	    pi.proto != full->proto || pi.sport != full->sport || pi.dport != full->dport ||
	    pi.icmp_type != full->icmp_type || pi.icmp_code != full->icmp_code ||
	    pi.tcp_flags != flags || pi.l4_offset != full->l4_offset) {
		snprintf(why, whylen, "len %zu: fields differ from the full packet", n);
		return false;
	}
	return true;
}

static void test_truncations(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(packet_cases); i++) {
		const struct packet_case *c = &packet_cases[i];
		struct packet_info full;
		char why[128] = "";
		bool ok = true;

		if (c->err != PACKET_OK)
			continue;
		if (test_parse(c->pkt, c->len, &full) != PACKET_OK) {
			CHECK_MSG(0, "%s: full packet refused", c->name);
			continue;
		}
		for (size_t n = 0; n <= c->len && ok; n++)
			ok = test_truncate_one(c, n, &full, why, sizeof(why));
		CHECK_MSG(ok, "%s truncated: %s", c->name, why);
	}
}

/* Does a successful result agree with the bytes it came from? */
static bool test_consistent(const uint8_t *b, size_t n, const struct packet_info *pi, char *why,
			    size_t whylen)
{
	struct addr src, dst;
	size_t l4 = pi->l4_offset;

	if (n < 20 || (b[0] >> 4 != 4 && b[0] >> 4 != 6)) {
		snprintf(why, whylen, "accepted without an IP header");
		return false;
	}
	if (b[0] >> 4 == 4) {
		addr_from_v4(&src, b + 12);
		addr_from_v4(&dst, b + 16);
		if (l4 != (size_t)(b[0] & 0x0f) * 4 || pi->proto != b[9]) {
			snprintf(why, whylen, "IPv4 l4_offset %zu / proto %u", l4, pi->proto);
			return false;
		}
	} else {
		if (n < 40 || l4 < 40) {
			snprintf(why, whylen, "IPv6 l4_offset %zu in %zu bytes", l4, n);
			return false;
		}
		addr_from_v6(&src, b + 8);
		addr_from_v6(&dst, b + 24);
	}
	if (!addr_equal(&pi->src, &src) || !addr_equal(&pi->dst, &dst)) {
		snprintf(why, whylen, "addresses do not match the bytes");
		return false;
	}
	if (l4 + test_l4_need(pi->proto) > n) {
		snprintf(why, whylen, "l4_offset %zu past %zu bytes", l4, n);
		return false;
	}
	if (test_l4_need(pi->proto) == 4 &&
	    (pi->sport != (b[l4] << 8 | b[l4 + 1]) || pi->dport != (b[l4 + 2] << 8 | b[l4 + 3]))) {
		snprintf(why, whylen, "ports do not match the bytes");
		return false;
	}
	if (test_l4_need(pi->proto) == 2 &&
	    (pi->icmp_type != b[l4] || pi->icmp_code != b[l4 + 1])) {
		snprintf(why, whylen, "ICMP type/code do not match the bytes");
		return false;
	}
	if (pi->tcp_flags && (pi->proto != 6 || l4 + 14 > n || pi->tcp_flags != b[l4 + 13])) {
		snprintf(why, whylen, "TCP flags do not match the bytes");
		return false;
	}
	return true;
}

/* Every byte of every valid packet set to every other value. */
static void test_mutations(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(packet_cases); i++) {
		const struct packet_case *c = &packet_cases[i];
		unsigned accepted = 0, refused = 0;
		char why[256] = "";
		bool ok = true;
		uint8_t *b;

		if (c->err != PACKET_OK)
			continue;
		b = test_dup(c->pkt, c->len);
		for (size_t pos = 0; pos < c->len && ok; pos++) {
			for (unsigned v = 0; v < 256 && ok; v++) {
				struct packet_info pi;
				char detail[128];

				if (v == c->pkt[pos])
					continue;
				b[pos] = (uint8_t)v;
				if (packet_parse(b, c->len, &pi) != PACKET_OK) {
					refused++;
				} else if (test_consistent(b, c->len, &pi, detail,
							   sizeof(detail))) {
					accepted++;
				} else {
					snprintf(why, sizeof(why), "byte %zu = %#x: %s", pos, v,
						 detail);
					ok = false;
				}
			}
			b[pos] = c->pkt[pos];
		}
		free(b);
		CHECK_MSG(ok, "%s mutated: %s", c->name, why);
		/* The sweep must exercise both outcomes, or it proves nothing. */
		CHECK_MSG(accepted > 0 && refused > 0, "%s mutated: %u accepted, %u refused",
			  c->name, accepted, refused);
	}
}

static void test_strings(void)
{
	static const enum packet_err all[] = {
	    PACKET_OK,	       PACKET_ERR_TRUNCATED, PACKET_ERR_VERSION,
	    PACKET_ERR_HEADER, PACKET_ERR_EXT_CHAIN, PACKET_ERR_FRAGMENT,
	    PACKET_ERR_PROTO,
	};
	char buf[8];

	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		const char *s = packet_strerror(all[i]);

		CHECK(s != NULL && s[0] != '\0');
		for (size_t j = 0; j < i; j++)
			CHECK_MSG(strcmp(s, packet_strerror(all[j])) != 0, "duplicate '%s'", s);
	}
	CHECK(packet_strerror((enum packet_err)99) != NULL);

	CHECK_STREQ(packet_proto_name(6, buf, sizeof(buf)), "tcp");
	CHECK_STREQ(packet_proto_name(17, buf, sizeof(buf)), "udp");
	CHECK_STREQ(packet_proto_name(1, buf, sizeof(buf)), "icmp");
	CHECK_STREQ(packet_proto_name(58, buf, sizeof(buf)), "icmpv6");
	CHECK_STREQ(packet_proto_name(132, buf, sizeof(buf)), "sctp");
	CHECK_STREQ(packet_proto_name(136, buf, sizeof(buf)), "udplite");
	CHECK_STREQ(packet_proto_name(50, buf, sizeof(buf)), "esp");
	CHECK_STREQ(packet_proto_name(51, buf, sizeof(buf)), "ah");
	CHECK_STREQ(packet_proto_name(47, buf, sizeof(buf)), "gre");
	CHECK_STREQ(packet_proto_name(253, buf, sizeof(buf)), "253");
	CHECK_STREQ(packet_proto_name(0, buf, sizeof(buf)), "0");
	/* Too small a buffer truncates, never overflows. */
	CHECK_STREQ(packet_proto_name(253, buf, 2), "2");
}

static int test_write_corpus(const char *dir)
{
	for (size_t i = 0; i < ARRAY_SIZE(packet_cases); i++) {
		const struct packet_case *c = &packet_cases[i];
		char path[4096], name[64];
		FILE *f;

		/* Cut copies ("v4_tcp/24") are the fuzzer's job to find. */
		if (!c->pkt || strchr(c->name, '/'))
			continue;
		snprintf(name, sizeof(name), "%s", c->name);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		f = fopen(path, "wb");
		if (!f) {
			perror(path);
			return 1;
		}
		if (fwrite(c->pkt, 1, c->len, f) != c->len) {
			perror(path);
			fclose(f);
			return 1;
		}
		if (fclose(f) != 0) {
			perror(path);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return test_write_corpus(argv[2]);

	test_table();
	test_partial_fill();
	test_l4_len();
	test_truncations();
	test_mutations();
	test_strings();
	CHECK_DONE();
}
