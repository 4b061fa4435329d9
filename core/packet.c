/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packet header parser for the verdict path. The input is what NFQUEUE
 * copies in copy-packet mode (about 128 bytes), so the buffer is usually
 * shorter than the packet: only the bytes a verdict needs are required, and
 * every one of them is checked against the buffer before it is read.
 */
#include "core/packet.h"

#include <stdio.h>
#include <string.h>

/* Numbers spelled out here rather than taken from <netinet/in.h>, where some
 * (Mobility, HIP, Shim6, UDP-Lite) are missing on older C libraries. */
enum {
	PACKET_P_HOPOPTS = 0,	 /* RFC 8200 §4.3 */
	PACKET_P_ICMP = 1,	 /* RFC 792 */
	PACKET_P_TCP = 6,	 /* RFC 9293 */
	PACKET_P_UDP = 17,	 /* RFC 768 */
	PACKET_P_DCCP = 33,	 /* RFC 4340 */
	PACKET_P_ROUTING = 43,	 /* RFC 8200 §4.4 */
	PACKET_P_FRAGMENT = 44,	 /* RFC 8200 §4.5 */
	PACKET_P_GRE = 47,	 /* RFC 2784 */
	PACKET_P_ESP = 50,	 /* RFC 4303 */
	PACKET_P_AH = 51,	 /* RFC 4302 */
	PACKET_P_ICMPV6 = 58,	 /* RFC 4443 */
	PACKET_P_NONE = 59,	 /* RFC 8200 §4.7 */
	PACKET_P_DSTOPTS = 60,	 /* RFC 8200 §4.6 */
	PACKET_P_SCTP = 132,	 /* RFC 9260 */
	PACKET_P_MOBILITY = 135, /* RFC 6275 §6.1 */
	PACKET_P_UDPLITE = 136,	 /* RFC 3828 */
	PACKET_P_HIP = 139,	 /* RFC 7401 §5.1 */
	PACKET_P_SHIM6 = 140,	 /* RFC 5533 §5 */
};

#define PACKET_IPV4_MIN_HDR 20
#define PACKET_IPV6_HDR	    40
#define PACKET_PORTS_LEN    4  /* source and destination port lead every header that has them */
#define PACKET_TCP_FLAGS_AT 13 /* RFC 9293 §3.1: flags are the 14th byte */
#define PACKET_ICMP_LEN	    2  /* type and code */

/* The longest walk: each extension header is at most 2048 bytes ((255 + 1) * 8;
 * AH at most (255 + 2) * 4), so l4_offset always fits its uint16_t. */
_Static_assert(PACKET_IPV6_HDR + PACKET_MAX_EXT_HEADERS * 2048 <= UINT16_MAX,
	       "l4_offset must hold the longest extension header chain");

static uint16_t packet_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * The transport header at off, within the first end bytes. Protocols without
 * ports (or unknown ones) need no bytes at all: the verdict decides on the
 * addresses and the protocol number alone.
 */
static enum packet_err packet_transport(const uint8_t *buf, size_t end, size_t off, uint8_t proto,
					size_t ip_end, struct packet_info *out)
{
	out->proto = proto;
	out->l4_offset = (uint16_t)off;
	/* ip_end is where the IP header says the packet ends (0: it does not
	 * say), which lies past the copied bytes for all but small packets. */
	out->l4_len =
	    ip_end >= off && ip_end != 0 ? (uint32_t)(ip_end - off) : PACKET_L4_LEN_UNKNOWN;

	switch (proto) {
	case PACKET_P_TCP:
	case PACKET_P_UDP:
	case PACKET_P_DCCP:
	case PACKET_P_SCTP:
	case PACKET_P_UDPLITE:
		/* RFC 9293 §3.1, RFC 768, RFC 4340 §5.1, RFC 9260 §3.1,
		 * RFC 3828 §3.1: source port then destination port. */
		if (end - off < PACKET_PORTS_LEN)
			return PACKET_ERR_TRUNCATED;
		out->sport = packet_be16(buf + off);
		out->dport = packet_be16(buf + off + 2);
		/* A short copy may stop before the flags; the ports are what
		 * the verdict needs, so that is not an error. */
		if (proto == PACKET_P_TCP && end - off > PACKET_TCP_FLAGS_AT)
			out->tcp_flags = buf[off + PACKET_TCP_FLAGS_AT];
		return PACKET_OK;
	case PACKET_P_ICMP:
	case PACKET_P_ICMPV6:
		/* RFC 792, RFC 4443 §2.1: type then code. */
		if (end - off < PACKET_ICMP_LEN)
			return PACKET_ERR_TRUNCATED;
		out->icmp_type = buf[off];
		out->icmp_code = buf[off + 1];
		return PACKET_OK;
	default:
		return PACKET_OK;
	}
}

static enum packet_err packet_parse_v4(const uint8_t *buf, size_t len, struct packet_info *out)
{
	size_t hlen, tot_len, end;
	uint16_t frag;

	/* RFC 791 §3.1 */
	if (len < PACKET_IPV4_MIN_HDR)
		return PACKET_ERR_TRUNCATED;
	addr_from_v4(&out->src, buf + 12);
	addr_from_v4(&out->dst, buf + 16);
	out->hop_limit = buf[8]; /* RFC 791: TTL */

	hlen = (size_t)(buf[0] & 0x0f) * 4;
	if (hlen < PACKET_IPV4_MIN_HDR)
		return PACKET_ERR_HEADER;
	/* Total length 0 is what the kernel puts in a GSO packet too big for
	 * the field (BIG TCP); any other value must at least cover the header. */
	tot_len = packet_be16(buf + 2);
	if (tot_len != 0 && tot_len < hlen)
		return PACKET_ERR_HEADER;
	if (hlen > len)
		return PACKET_ERR_TRUNCATED;

	/* Conntrack reassembles before our hooks, so a fragment here is
	 * something we cannot classify: MF set or a non-zero offset. */
	frag = packet_be16(buf + 6);
	if (frag & 0x3fff)
		return PACKET_ERR_FRAGMENT;

	/* A total length beyond the buffer is the copy range at work; one short
	 * of it means the bytes after it are not part of the packet. */
	end = len;
	if (tot_len != 0 && tot_len < end)
		end = tot_len;
	/* No extension headers to walk in IPv4: AH or ESP here is the
	 * transport as far as the verdict is concerned (ports 0). */
	return packet_transport(buf, end, hlen, buf[9], tot_len, out);
}

static enum packet_err packet_parse_v6(const uint8_t *buf, size_t len, struct packet_info *out)
{
	size_t off = PACKET_IPV6_HDR, end = len, hlen, payload, ip_end = 0;
	uint8_t next;
	unsigned n;

	/* RFC 8200 §3 */
	if (len < PACKET_IPV6_HDR)
		return PACKET_ERR_TRUNCATED;
	addr_from_v6(&out->src, buf + 8);
	addr_from_v6(&out->dst, buf + 24);
	out->hop_limit = buf[7]; /* RFC 8200 §3 */

	/* Payload length 0 is a jumbogram (RFC 2675) or a BIG TCP GSO packet:
	 * no limit but the buffer. */
	payload = packet_be16(buf + 4);
	if (payload != 0)
		ip_end = PACKET_IPV6_HDR + payload;
	if (payload != 0 && ip_end < end)
		end = ip_end;

	next = buf[6];
	for (n = 0;; n++) {
		switch (next) {
		case PACKET_P_HOPOPTS:
			/* RFC 8200 §4.1: only right after the IPv6 header. */
			if (n != 0)
				return PACKET_ERR_EXT_CHAIN;
			/* fall through */
		case PACKET_P_ROUTING:
		case PACKET_P_DSTOPTS:
		case PACKET_P_AH:
		case PACKET_P_FRAGMENT:
			/* Exactly the kernel's ipv6_ext_hdr() set (less None,
			 * below), which ip6tables' "-p" and conntrack walk. */
			break;
		case PACKET_P_NONE:
			/* RFC 8200 §4.7: nothing follows, so no flow to judge. */
			return PACKET_ERR_PROTO;
		case PACKET_P_MOBILITY:
		case PACKET_P_HIP:
		case PACKET_P_SHIM6:
			/* RFC 6275, 7401 and 5533 call these extension headers,
			 * but the kernel does not skip them: for ip6tables and
			 * conntrack the transport is 135/139/140, so it is for
			 * us too. Walking on would let "Mobility -> ICMPv6 NS"
			 * pass for NDP here while the kernel judged protocol 135. */
			return packet_transport(buf, end, off, next, ip_end, out);
		default:
			/* ESP (RFC 4303) lands here too: what follows it is
			 * encrypted, so it is the transport as far as we can see. */
			return packet_transport(buf, end, off, next, ip_end, out);
		}

		if (n >= PACKET_MAX_EXT_HEADERS)
			return PACKET_ERR_EXT_CHAIN;
		/* Every extension header starts with Next Header and a length
		 * (RFC 8200 §4; the Fragment header's second byte is reserved). */
		if (end - off < 2)
			return PACKET_ERR_TRUNCATED;

		if (next == PACKET_P_FRAGMENT) {
			uint16_t frag;

			/* RFC 8200 §4.5: a fixed 8 bytes. */
			hlen = 8;
			if (end - off < hlen)
				return PACKET_ERR_TRUNCATED;
			/* Offset (13 bits) and M (low bit): only an atomic
			 * fragment, both zero, is a whole packet (RFC 6946 §4). */
			frag = packet_be16(buf + off + 2);
			if (frag & 0xfff9)
				return PACKET_ERR_FRAGMENT;
		} else if (next == PACKET_P_AH) {
			/* RFC 4302 §2.2: length in 4-octet units, minus 2. */
			hlen = ((size_t)buf[off + 1] + 2) * 4;
		} else {
			/* RFC 8200 §4.3, §4.4, §4.6:
			 * 8-octet units, not counting the first 8. */
			hlen = ((size_t)buf[off + 1] + 1) * 8;
		}
		if (end - off < hlen)
			return PACKET_ERR_TRUNCATED;
		next = buf[off];
		off += hlen;
	}
}

enum packet_err packet_parse(const uint8_t *buf, size_t len, struct packet_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!buf || len == 0)
		return PACKET_ERR_TRUNCATED;
	switch (buf[0] >> 4) {
	case 4:
		return packet_parse_v4(buf, len, out);
	case 6:
		return packet_parse_v6(buf, len, out);
	default:
		return PACKET_ERR_VERSION;
	}
}

const char *packet_strerror(enum packet_err e)
{
	switch (e) {
	case PACKET_OK:
		return "ok";
	case PACKET_ERR_TRUNCATED:
		return "truncated packet";
	case PACKET_ERR_VERSION:
		return "not IPv4 or IPv6";
	case PACKET_ERR_HEADER:
		return "bad IP header";
	case PACKET_ERR_EXT_CHAIN:
		return "bad IPv6 extension header chain";
	case PACKET_ERR_FRAGMENT:
		return "fragment";
	case PACKET_ERR_PROTO:
		return "no usable transport protocol";
	}
	return "unknown packet error";
}

const char *packet_proto_name(uint8_t proto, char *buf, size_t len)
{
	switch (proto) {
	case PACKET_P_TCP:
		return "tcp";
	case PACKET_P_UDP:
		return "udp";
	case PACKET_P_ICMP:
		return "icmp";
	case PACKET_P_ICMPV6:
		return "icmpv6";
	case PACKET_P_SCTP:
		return "sctp";
	case PACKET_P_UDPLITE:
		return "udplite";
	case PACKET_P_DCCP:
		return "dccp";
	case PACKET_P_ESP:
		return "esp";
	case PACKET_P_AH:
		return "ah";
	case PACKET_P_GRE:
		return "gre";
	}
	if (!buf || len == 0)
		return "?";
	snprintf(buf, len, "%u", (unsigned)proto);
	return buf;
}
