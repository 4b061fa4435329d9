/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/neigh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

/* Replies read per lookup before giving up: stale answers of earlier
 * lookups (a reply that came after we stopped reading) are skipped. */
#define NEIGH_READ_MAX 8
#define NEIGH_BUF      8192 /* one neighbour message is well under 1 KiB */

struct neigh {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	struct neigh_stats st;
};

struct neigh *neigh_new(int *err)
{
	struct neigh *n = calloc(1, sizeof(*n));
	int one = 1;

	if (!n) {
		*err = -ENOMEM;
		return NULL;
	}
	n->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!n->nl || mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		*err = -errno;
		neigh_free(&n);
		return NULL;
	}
	/* Errors come back with the request's header only. */
	mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	n->portid = mnl_socket_get_portid(n->nl);
	n->seq = (uint32_t)time(NULL);
	return n;
}

void neigh_free(struct neigh **np)
{
	if (!np || !*np)
		return;
	if ((*np)->nl)
		mnl_socket_close((*np)->nl);
	free(*np);
	*np = NULL;
}

struct neigh_reply {
	int rc;
	uint8_t mac[6];
};

static int parse_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, NDA_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static int on_reply(const struct nlmsghdr *nlh, void *data)
{
	/* NUD_VALID without NUD_NOARP: an address that answered (or an
	 * administrator wrote), not one the device never resolves. */
	const uint16_t usable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT;
	struct neigh_reply *r = data;
	const struct nlattr *tb[NDA_MAX + 1] = {0};
	const struct ndmsg *nd;

	if (nlh->nlmsg_type != RTM_NEWNEIGH ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ndmsg))
		return MNL_CB_OK;
	nd = mnl_nlmsg_get_payload(nlh);
	mnl_attr_parse(nlh, sizeof(*nd), parse_attr, tb);
	if (!(nd->ndm_state & usable) || !tb[NDA_LLADDR] ||
	    mnl_attr_get_payload_len(tb[NDA_LLADDR]) != 6) {
		r->rc = -EHOSTUNREACH;
		return MNL_CB_STOP;
	}
	memcpy(r->mac, mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
	r->rc = 0;
	return MNL_CB_STOP;
}

int neigh_lookup(struct neigh *n, uint32_t ifindex, const struct addr *ip, uint8_t mac[6])
{
	char buf[NEIGH_BUF];
	struct nlmsghdr *nlh;
	struct ndmsg *nd;
	struct neigh_reply r = {.rc = -EIO};
	uint32_t seq = ++n->seq;
	int rc = -EIO;

	n->st.lookups++;
	if (ip->family != AF_INET && ip->family != AF_INET6) {
		rc = -EAFNOSUPPORT;
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = (uint8_t)ip->family;
	nd->ndm_ifindex = (int)ifindex;
	mnl_attr_put(nlh, NDA_DST, ip->family == AF_INET ? 4 : 16, ip->b);
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	for (int i = 0; i < NEIGH_READ_MAX; i++) {
		ssize_t len = mnl_socket_recvfrom(n->nl, buf, sizeof(buf));
		int cb;

		if (len < 0) {
			rc = -errno;
			goto out;
		}
		cb = mnl_cb_run(buf, (size_t)len, seq, n->portid, on_reply, &r);
		if (cb < 0) {
			/* An older request's reply: read on. */
			if (errno == EPROTO || errno == ESRCH)
				continue;
			rc = errno == ENOENT ? -ENOENT : -errno;
			goto out;
		}
		if (cb == MNL_CB_STOP) {
			rc = r.rc;
			if (rc == 0)
				memcpy(mac, r.mac, 6);
			goto out;
		}
	}
	rc = -EIO;
out:
	if (rc == 0)
		n->st.found++;
	else if (rc == -ENOENT)
		n->st.missing++;
	else if (rc == -EHOSTUNREACH)
		n->st.unusable++;
	else
		n->st.errors++;
	return rc;
}

void neigh_get_stats(const struct neigh *n, struct neigh_stats *st)
{
	*st = n->st;
}
