/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packet header parser for the verdict path: from the first bytes of an
 * IPv4 or IPv6 packet (as NFQUEUE copies them) to the facts a verdict needs.
 * Every length is checked before it is read; what cannot be parsed is an
 * error, and the caller drops the packet (fail closed).
 */
#ifndef ZTDNS_PACKET_H
#define ZTDNS_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

/* IPv6 extension headers walked at most (a longer chain is refused). The
 * headers walked are the kernel's (ipv6_ext_hdr(): Hop-by-Hop, Routing,
 * Fragment, AH, Destination Options), so that the transport found here is
 * the one ip6tables and conntrack judged; Mobility, HIP and Shim6 end the
 * walk and are the transport. */
#define PACKET_MAX_EXT_HEADERS 8

enum packet_err {
	PACKET_OK = 0,
	PACKET_ERR_TRUNCATED, /* shorter than a header it announces */
	PACKET_ERR_VERSION,   /* not IPv4 or IPv6 */
	PACKET_ERR_HEADER,    /* bad IHL, total length, or similar */
	PACKET_ERR_EXT_CHAIN, /* too many / malformed IPv6 extension headers */
	PACKET_ERR_FRAGMENT,  /* any fragment: conntrack reassembles before our
			       * hooks, so one seen here is refused (an IPv6 atomic
			       * fragment, offset 0 and M=0, is walked through) */
	PACKET_ERR_PROTO,     /* transport protocol unknown or unusable */
};

struct packet_info {
	struct addr src, dst;
	uint8_t proto;	/* IPPROTO_TCP, UDP, ICMP, ICMPV6, SCTP, ... */
	uint16_t sport; /* host order; 0 when the protocol has no ports */
	uint16_t dport;
	uint8_t icmp_type; /* ICMP/ICMPv6 only */
	uint8_t icmp_code;
	uint8_t tcp_flags;  /* TCP only */
	uint8_t hop_limit;  /* IPv4 TTL / IPv6 hop limit */
	uint16_t l4_offset; /* where the transport header starts */
	/* Transport header and payload length as the IP header gives it
	 * (total or payload length, less the headers walked), so that a
	 * verdict can bound a message's size although only its first bytes
	 * were copied; PACKET_L4_LEN_UNKNOWN when the header says 0 (GSO,
	 * jumbogram). */
	uint32_t l4_len;
};

#define PACKET_L4_LEN_UNKNOWN UINT32_MAX

/* Parse buf (len bytes). Returns PACKET_OK and fills *out, or an error (and
 * *out is partially filled: src/dst are set when the IP header was read). */
enum packet_err packet_parse(const uint8_t *buf, size_t len, struct packet_info *out);

/* A static string for an error code. */
const char *packet_strerror(enum packet_err e);

/* Name of a transport protocol ("tcp", "udp", "icmp", "icmpv6", or the
 * number as text in a static buffer of the caller's: buf, len). */
const char *packet_proto_name(uint8_t proto, char *buf, size_t len);

#endif
