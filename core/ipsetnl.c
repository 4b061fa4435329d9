/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/ipsetnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/ipset/ip_set_hash.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

_Static_assert(IPSETNL_ERRNO_MAX == IPSET_ERR_PRIVATE, "ipset error base");
_Static_assert(IPSETNL_ERR_BUSY == IPSET_ERR_BUSY, "ipset busy code");

#define PENDING INT_MIN /* res[] of a message sent and not yet acknowledged */
#define SNDBUF	(1 << 20)
#define RCVBUF	(1 << 20)

struct ipsetnl {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	char sbuf[IPSETNL_BATCH * IPSETNL_MSG_MAX];
	/* An error acknowledgement may carry the request back (if the kernel
	 * ignores NETLINK_CAP_ACK): room for a whole batch of those. */
	char rbuf[IPSETNL_BATCH * (IPSETNL_MSG_MAX + 64)];
};

static const uint8_t kernel_cmd[] = {
    [IPSETNL_CREATE] = IPSET_CMD_CREATE, [IPSETNL_DESTROY] = IPSET_CMD_DESTROY,
    [IPSETNL_FLUSH] = IPSET_CMD_FLUSH,	 [IPSETNL_ADD] = IPSET_CMD_ADD,
    [IPSETNL_DEL] = IPSET_CMD_DEL,
};

static bool put_be32(struct nlmsghdr *nlh, size_t len, uint16_t type, uint32_t v)
{
	return mnl_attr_put_u32_check(nlh, len, type | NLA_F_NET_BYTEORDER, htonl(v));
}

/* IPSET_ATTR_IP / IPSET_ATTR_IP2: a nest holding one address attribute,
 * in network byte order as the kernel requires. */
static bool put_ip(struct nlmsghdr *nlh, size_t len, uint16_t type, const struct addr *a)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, len, type);
	bool v4 = a->family == AF_INET;

	if (!nest)
		return false;
	if (!mnl_attr_put_check(nlh, len,
				(v4 ? IPSET_ATTR_IPADDR_IPV4 : IPSET_ATTR_IPADDR_IPV6) |
				    NLA_F_NET_BYTEORDER,
				v4 ? 4 : 16, a->b))
		return false;
	mnl_attr_nest_end(nlh, nest);
	return true;
}

static bool valid(const struct ipsetnl_op *op)
{
	size_t n;

	if (op->cmd >= sizeof(kernel_cmd) / sizeof(kernel_cmd[0]) || !op->set)
		return false;
	n = strnlen(op->set, IPSETNL_NAME_MAX + 1);
	if (n == 0 || n > IPSETNL_NAME_MAX)
		return false;
	switch (op->cmd) {
	case IPSETNL_CREATE:
		return op->type && strlen(op->type) <= IPSETNL_NAME_MAX &&
		       (op->family == AF_INET || op->family == AF_INET6);
	case IPSETNL_ADD:
	case IPSETNL_DEL:
		return (op->a.family == AF_INET || op->a.family == AF_INET6) &&
		       (op->scope.family == 0 || op->scope.family == op->a.family);
	default:
		return true;
	}
}

size_t ipsetnl_build(void *buf, size_t len, uint32_t seq, const struct ipsetnl_op *op)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct nlattr *data;

	if (!valid(op) || len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*nfg)))
		return 0;
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	/* Older libmnl leaves attribute padding as it found it. */
	memset(buf, 0, len < IPSETNL_MSG_MAX ? len : IPSETNL_MSG_MAX);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_IPSET << 8) | kernel_cmd[op->cmd];
	/* No NLM_F_EXCL: the "-exist" rules (see the header). */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET; /* the family that matters is in the attributes */
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (!mnl_attr_put_u8_check(nlh, len, IPSET_ATTR_PROTOCOL, IPSET_PROTOCOL) ||
	    !mnl_attr_put_strz_check(nlh, len, IPSET_ATTR_SETNAME, op->set))
		return 0;
	switch (op->cmd) {
	case IPSETNL_CREATE:
		if (!mnl_attr_put_strz_check(nlh, len, IPSET_ATTR_TYPENAME, op->type) ||
		    !mnl_attr_put_u8_check(nlh, len, IPSET_ATTR_REVISION, 0) ||
		    !mnl_attr_put_u8_check(nlh, len, IPSET_ATTR_FAMILY, op->family))
			return 0;
		data = mnl_attr_nest_start_check(nlh, len, IPSET_ATTR_DATA);
		if (!data || !put_be32(nlh, len, IPSET_ATTR_TIMEOUT, op->timeout) ||
		    !put_be32(nlh, len, IPSET_ATTR_MAXELEM, op->maxelem))
			return 0;
		mnl_attr_nest_end(nlh, data);
		break;
	case IPSETNL_ADD:
	case IPSETNL_DEL: {
		uint8_t host = op->a.family == AF_INET ? 32 : 128;

		data = mnl_attr_nest_start_check(nlh, len, IPSET_ATTR_DATA);
		if (!data)
			return 0;
		if (op->scope.family) {
			/* hash:net,net: (client, destination), both host prefixes. */
			if (!put_ip(nlh, len, IPSET_ATTR_IP, &op->scope) ||
			    !mnl_attr_put_u8_check(nlh, len, IPSET_ATTR_CIDR, host) ||
			    !put_ip(nlh, len, IPSET_ATTR_IP2, &op->a) ||
			    !mnl_attr_put_u8_check(nlh, len, IPSET_ATTR_CIDR2, host))
				return 0;
		} else if (!put_ip(nlh, len, IPSET_ATTR_IP, &op->a)) {
			return 0;
		}
		if (op->cmd == IPSETNL_ADD && op->timeout &&
		    !put_be32(nlh, len, IPSET_ATTR_TIMEOUT, op->timeout))
			return 0;
		mnl_attr_nest_end(nlh, data);
		break;
	}
	default:
		break;
	}
	return nlh->nlmsg_len;
}

int ipsetnl_parse_acks(const void *buf, size_t len, uint32_t portid,
		       void (*fn)(void *arg, uint32_t seq, int err), void *arg)
{
	const struct nlmsghdr *nlh = buf;
	int left = len > INT_MAX ? INT_MAX : (int)len, n = 0;

	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_type == NLMSG_ERROR && (portid == 0 || nlh->nlmsg_pid == portid)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
				return -EPROTO;
			/* A positive error is not something the kernel sends. */
			fn(arg, nlh->nlmsg_seq, e->error > 0 ? -EPROTO : e->error);
			n++;
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	/* Trailing bytes that do not make a whole message. */
	return left == 0 ? n : -EPROTO;
}

const char *ipsetnl_strerror(int err)
{
	switch (-err) {
	case IPSET_ERR_PROTOCOL:
		return "ipset protocol mismatch";
	case IPSET_ERR_FIND_TYPE:
		return "set type not supported by the kernel";
	case IPSET_ERR_MAX_SETS:
		return "too many sets";
	case IPSET_ERR_BUSY:
		return "set is referenced by a rule";
	case IPSET_ERR_EXIST:
		return "set exists with other parameters";
	case IPSET_ERR_TYPE_MISMATCH:
		return "set exists with another type";
	case IPSET_ERR_INVALID_FAMILY:
		return "address family does not match the set";
	case IPSET_ERR_TIMEOUT:
		return "set has no timeout support";
	case IPSET_ERR_IPADDR_IPV4:
	case IPSET_ERR_IPADDR_IPV6:
		return "bad address for the set";
	case IPSET_ERR_HASH_FULL:
		return "set is full";
	case IPSET_ERR_HASH_ELEM:
		return "bad element for the set";
	default:
		return -err > 0 && -err < IPSET_ERR_PRIVATE ? strerror(-err) : "ipset error";
	}
}

struct ipsetnl *ipsetnl_open(int *err)
{
	struct ipsetnl *n = calloc(1, sizeof(*n));
	struct timeval tv = {.tv_sec = IPSETNL_WAIT_MS / 1000,
			     .tv_usec = (IPSETNL_WAIT_MS % 1000) * 1000};
	int one = 1, rcv = RCVBUF, snd = SNDBUF, fd;

	if (!n) {
		*err = -ENOMEM;
		return NULL;
	}
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->nl || mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		*err = -errno;
		goto fail;
	}
	fd = mnl_socket_get_fd(n->nl);
	/* Acknowledgements without the request echoed back; a receive that
	 * never ends is bounded by IPSETNL_WAIT_MS. */
	if (mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) < 0) {
		*err = -errno;
		goto fail;
	}
	n->portid = mnl_socket_get_portid(n->nl);
	n->seq = 1;
	*err = 0;
	return n;
fail:
	ipsetnl_close(&n);
	return NULL;
}

void ipsetnl_close(struct ipsetnl **np)
{
	if (!np || !*np)
		return;
	if ((*np)->nl)
		mnl_socket_close((*np)->nl);
	free(*np);
	*np = NULL;
}

struct ack_ctx {
	int *res;      /* of the batch's first operation */
	uint32_t base; /* its sequence number */
	size_t span;   /* operations in the batch */
	size_t acked;
};

static void on_ack(void *arg, uint32_t seq, int err)
{
	struct ack_ctx *a = arg;
	uint32_t off = seq - a->base; /* wraps like the sequence numbers do */

	/* Late replies to an earlier batch that timed out fall outside. */
	if (off < a->span && a->res[off] == PENDING) {
		a->res[off] = err;
		a->acked++;
	}
}

int ipsetnl_run(struct ipsetnl *n, const struct ipsetnl_op *ops, size_t count, int *res)
{
	size_t i = 0;
	int rc = 0;

	while (i < count && rc == 0) {
		struct ack_ctx a = {.res = res + i, .base = n->seq};
		size_t len = 0, sent = 0;

		for (; i < count && a.span < IPSETNL_BATCH; i++, a.span++) {
			size_t room = sizeof(n->sbuf) - len;
			size_t m =
			    ipsetnl_build(n->sbuf + len, room, a.base + (uint32_t)a.span, &ops[i]);

			if (m == 0 && room >= IPSETNL_MSG_MAX) {
				res[i] = -EINVAL; /* cannot be built: never sent */
				continue;
			}
			if (m == 0)
				break; /* full: the next batch */
			res[i] = PENDING;
			len += m;
			sent++;
		}
		n->seq += (uint32_t)a.span;
		if (sent == 0)
			continue;
		if (mnl_socket_sendto(n->nl, n->sbuf, len) < 0) {
			rc = -errno;
			break;
		}
		while (a.acked < sent) {
			ssize_t r = mnl_socket_recvfrom(n->nl, n->rbuf, sizeof(n->rbuf));

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				/* EAGAIN: SO_RCVTIMEO ran out; ENOBUFS: replies lost. */
				rc = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
				break;
			}
			if (ipsetnl_parse_acks(n->rbuf, (size_t)r, n->portid, on_ack, &a) < 0) {
				rc = -EPROTO;
				break;
			}
		}
	}
	/* Whatever was not acknowledged did not (as far as we know) happen. */
	for (size_t j = 0; j < i; j++)
		if (res[j] == PENDING)
			res[j] = rc ? rc : -ETIMEDOUT;
	for (size_t j = i; j < count; j++)
		res[j] = rc ? rc : -EIO;
	return rc;
}
