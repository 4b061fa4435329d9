/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/ipsetnl: the ipset netlink messages, byte for byte against a table
 * written by hand from the kernel's attribute layout (include/uapi/linux/
 * netfilter/ipset/ip_set.h), every message truncated at every length, bad
 * operations refused, and the acknowledgement parser on good, foreign,
 * truncated and malformed replies. No root, no socket.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>

#include "check.h"
#include "core/addr.h"
#include "core/ipsetnl.h"

int main(void);

/* add ztdns4 198.51.100.10 timeout 300, seq 0x01020304 */
static const uint8_t add4[] = {
    64,	  0,	0,    0,		      /* nlmsg_len */
    0x09, 0x06,				      /* type: NFNL_SUBSYS_IPSET << 8 | IPSET_CMD_ADD */
    0x05, 0x00,				      /* flags: NLM_F_REQUEST | NLM_F_ACK (no NLM_F_EXCL) */
    0x04, 0x03, 0x02, 0x01,		      /* seq */
    0,	  0,	0,    0,		      /* pid */
    2,	  0,	0,    0,		      /* nfgenmsg: AF_INET, NFNETLINK_V0, res_id 0 */
    5,	  0,	1,    0,    7,	 0,   0,   0, /* IPSET_ATTR_PROTOCOL = 7, padded */
    11,	  0,	2,    0,    'z', 't', 'd', 'n', 's', '4', 0, 0, /* IPSET_ATTR_SETNAME */
    24,	  0,	7,    0x80,					/* IPSET_ATTR_DATA, nested */
    12,	  0,	1,    0x80,					/* IPSET_ATTR_IP, nested */
    8,	  0,	1,    0x40, 198, 51,  100, 10, /* IPSET_ATTR_IPADDR_IPV4, net order */
    8,	  0,	6,    0x40, 0,	 0,   1,   44, /* IPSET_ATTR_TIMEOUT 300, net order */
};

/* del ztdns6c 2001:db8::1,2001:db8::2 (client, destination), seq 7 */
static const uint8_t del6c[] = {
    108, 0, 0,	0,    0x0a, 0x06, 0x05, 0x00, 7,   0,	0,   0, 0, 0,
    0,	 0, 2,	0,    0,    0,	  5,	0,    1,   0,	7,   0, 0, 0, /* protocol */
    12,	 0, 2,	0,    'z',  't',  'd',	'n',  's', '6', 'c', 0,	      /* setname */
    68,	 0, 7,	0x80,						      /* data */
    24,	 0, 1,	0x80,						      /* IP (the client) */
    20,	 0, 2,	0x40, 0x20, 0x01, 0x0d, 0xb8, 0,   0,	0,   0, 0, 0,
    0,	 0, 0,	0,    0,    1,	  5,	0,    3,   0,	128, 0, 0, 0, /* CIDR 128 */
    24,	 0, 20, 0x80,						      /* IP2 (the destination) */
    20,	 0, 2,	0x40, 0x20, 0x01, 0x0d, 0xb8, 0,   0,	0,   0, 0, 0,
    0,	 0, 0,	0,    0,    2,	  5,	0,    21,  0,	128, 0, 0, 0, /* CIDR2 128 */
};

/* create ztdns6 hash:ip family inet6 timeout 86400 maxelem 65536, seq 1 */
static const uint8_t create6[] = {
    88, 0, 0,  0,    0x02, 0x06, 0x05, 0x00, 1,	  0,   0,   0, 0, 0,
    0,	0, 2,  0,    0,	   0,	 5,    0,    1,	  0,   7,   0, 0, 0, /* protocol */
    11, 0, 2,  0,    'z',  't',	 'd',  'n',  's', '6', 0,   0,	     /* setname */
    12, 0, 3,  0,    'h',  'a',	 's',  'h',  ':', 'i', 'p', 0,	     /* typename */
    5,	0, 4,  0,    0,	   0,	 0,    0,			     /* revision 0 */
    5,	0, 5,  0,    10,   0,	 0,    0,			     /* family inet6 */
    20, 0, 7,  0x80,						     /* data */
    8,	0, 6,  0x40, 0,	   1,	 0x51, 0x80,			     /* timeout 86400 */
    8,	0, 19, 0x40, 0,	   1,	 0,    0,			     /* maxelem 65536 */
};

/* flush ztdns4, seq 9 */
static const uint8_t flush4[] = {
    40, 0, 0, 0, 0x04, 0x06, 0x05, 0x00, 9,  0, 0, 0, 0,   0,	0,   0,	  2,   0,   0, 0,
    5,	0, 1, 0, 7,    0,    0,	   0,	 11, 0, 2, 0, 'z', 't', 'd', 'n', 's', '4', 0, 0,
};

static struct addr ip(const char *s)
{
	struct addr a;

	if (addr_parse(s, &a) < 0)
		memset(&a, 0, sizeof(a));
	return a;
}

/* Built exactly as the table says, and refused at every shorter length
 * without writing past it. */
static void check_message(const char *what, const struct ipsetnl_op *op, uint32_t seq,
			  const uint8_t *want, size_t wantlen)
{
	uint8_t buf[IPSETNL_MSG_MAX + 16];
	size_t n;

	memset(buf, 0xa5, sizeof(buf));
	n = ipsetnl_build(buf, sizeof(buf), seq, op);
	CHECK_MSG(n == wantlen, "%s: length %zu, want %zu", what, n, wantlen);
	CHECK_MSG(n == wantlen && memcmp(buf, want, wantlen) == 0, "%s: bytes differ", what);
	for (size_t i = 0; i < n && i < wantlen; i++)
		if (buf[i] != want[i])
			fprintf(stderr, "%s: byte %zu is %u, want %u\n", what, i, buf[i], want[i]);
	CHECK_MSG(wantlen <= IPSETNL_MSG_MAX, "%s: longer than IPSETNL_MSG_MAX", what);
	for (size_t len = 0; len < wantlen; len++) {
		bool clean = true;

		memset(buf, 0xa5, sizeof(buf));
		n = ipsetnl_build(buf, len, seq, op);
		for (size_t i = len; i < sizeof(buf); i++)
			clean = clean && buf[i] == 0xa5;
		CHECK_MSG(n == 0, "%s: built into %zu bytes (needs %zu)", what, len, wantlen);
		CHECK_MSG(clean, "%s: wrote past %zu bytes", what, len);
	}
}

static void test_messages(void)
{
	struct ipsetnl_op op;

	op = (struct ipsetnl_op){.cmd = IPSETNL_ADD, .set = "ztdns4", .timeout = 300};
	op.a = ip("198.51.100.10");
	check_message("add4", &op, 0x01020304, add4, sizeof(add4));

	op = (struct ipsetnl_op){.cmd = IPSETNL_DEL, .set = "ztdns6c", .timeout = 300};
	op.a = ip("2001:db8::2");
	op.scope = ip("2001:db8::1");
	/* A del carries no timeout, whatever the op says. */
	check_message("del6c", &op, 7, del6c, sizeof(del6c));

	op = (struct ipsetnl_op){.cmd = IPSETNL_CREATE,
				 .set = "ztdns6",
				 .type = "hash:ip",
				 .family = AF_INET6,
				 .timeout = 86400,
				 .maxelem = 65536};
	check_message("create6", &op, 1, create6, sizeof(create6));

	op = (struct ipsetnl_op){.cmd = IPSETNL_FLUSH, .set = "ztdns4"};
	check_message("flush4", &op, 9, flush4, sizeof(flush4));
}

/* The largest message we can be asked for still fits IPSETNL_MSG_MAX. */
static void test_largest(void)
{
	struct ipsetnl_op op = {
	    .cmd = IPSETNL_ADD, .set = "0123456789012345678901234567890", .timeout = 1};
	uint8_t buf[IPSETNL_MSG_MAX];

	op.a = ip("2001:db8::2");
	op.scope = ip("2001:db8::1");
	CHECK(strlen(op.set) == IPSETNL_NAME_MAX);
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) > 0);
}

static void test_refused(void)
{
	uint8_t buf[IPSETNL_MSG_MAX];
	struct ipsetnl_op ok = {.cmd = IPSETNL_ADD, .set = "ztdns4", .timeout = 5};
	struct ipsetnl_op op;

	ok.a = ip("192.0.2.1");
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &ok) > 0);

	op = ok;
	op.set = "01234567890123456789012345678901"; /* 32: one too long */
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) == 0);
	op.set = "";
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) == 0);
	op.set = NULL;
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) == 0);
	op = ok;
	op.a.family = 0;
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) == 0);
	op = ok;
	op.scope = ip("2001:db8::1"); /* client of the other family */
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) == 0);
	op = ok;
	op.cmd = 200;
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) == 0);
	op = (struct ipsetnl_op){.cmd = IPSETNL_CREATE, .set = "x", .family = AF_INET};
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) == 0); /* no type */
	op.type = "hash:ip";
	op.family = 0;
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) == 0);
	op.family = AF_INET;
	CHECK(ipsetnl_build(buf, sizeof(buf), 1, &op) > 0);
}

struct acks {
	unsigned n;
	uint32_t seq[8];
	int err[8];
};

static void on_ack(void *arg, uint32_t seq, int err)
{
	struct acks *a = arg;

	if (a->n < 8) {
		a->seq[a->n] = seq;
		a->err[a->n] = err;
	}
	a->n++;
}

/* An NLMSG_ERROR reply (with NETLINK_CAP_ACK: the request's header only). */
static size_t put_ack(uint8_t *p, uint32_t pid, uint32_t seq, int err)
{
	struct nlmsghdr h = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr)),
			     .nlmsg_type = NLMSG_ERROR,
			     .nlmsg_seq = seq,
			     .nlmsg_pid = pid};
	struct nlmsgerr e = {.error = err};

	memcpy(p, &h, sizeof(h));
	memcpy(p + NLMSG_HDRLEN, &e, sizeof(e));
	return NLMSG_ALIGN(h.nlmsg_len);
}

static void test_acks(void)
{
	uint8_t buf[512];
	size_t len = 0, full;
	struct acks a = {0};
	int rc;

	len += put_ack(buf + len, 42, 10, 0);
	len += put_ack(buf + len, 42, 11, -4352); /* IPSET_ERR_HASH_FULL */
	len += put_ack(buf + len, 43, 12, 0);	  /* someone else's */
	len += put_ack(buf + len, 42, 13, 5);	  /* positive: malformed */
	full = len;
	rc = ipsetnl_parse_acks(buf, len, 42, on_ack, &a);
	CHECK(rc == 3);
	CHECK(a.n == 3);
	CHECK(a.seq[0] == 10 && a.err[0] == 0);
	CHECK(a.seq[1] == 11 && a.err[1] == -4352);
	CHECK(a.seq[2] == 13 && a.err[2] == -EPROTO);
	CHECK(strcmp(ipsetnl_strerror(-4352), "set is full") == 0);
	CHECK(strcmp(ipsetnl_strerror(-IPSETNL_ERR_BUSY), "set is referenced by a rule") == 0);
	CHECK(strcmp(ipsetnl_strerror(-ENOENT), strerror(ENOENT)) == 0);

	/* Cut at every length: never more than what is whole, and a cut in
	 * the middle of a message is reported. */
	for (size_t cut = 0; cut < full; cut++) {
		struct acks b = {0};
		size_t whole = cut / NLMSG_ALIGN(NLMSG_LENGTH(sizeof(struct nlmsgerr)));
		unsigned want = whole > 2 ? (unsigned)whole - 1 : (unsigned)whole;

		rc = ipsetnl_parse_acks(buf, cut, 42, on_ack, &b);
		CHECK_MSG(b.n == want, "cut %zu: %u acks, want %u", cut, b.n, want);
		CHECK_MSG(rc == (cut % 36 ? -EPROTO : (int)want), "cut %zu: rc %d", cut, rc);
	}

	/* A header that claims less than an nlmsgerr. */
	{
		struct nlmsghdr h = {.nlmsg_len = NLMSG_HDRLEN + 4, .nlmsg_type = NLMSG_ERROR};
		struct acks b = {0};

		memset(buf, 0, sizeof(buf));
		memcpy(buf, &h, sizeof(h));
		CHECK(ipsetnl_parse_acks(buf, NLMSG_HDRLEN + 4, 0, on_ack, &b) == -EPROTO);
		CHECK(b.n == 0);
	}
	/* A length past the buffer. */
	{
		struct acks b = {0};

		len = put_ack(buf, 42, 1, 0);
		((struct nlmsghdr *)buf)->nlmsg_len = 400;
		CHECK(ipsetnl_parse_acks(buf, len, 42, on_ack, &b) == -EPROTO);
		CHECK(b.n == 0);
	}
}

int main(void)
{
	test_messages();
	test_largest();
	test_refused();
	test_acks();
	CHECK_DONE();
}
