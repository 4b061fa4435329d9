/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The on-link prefixes: one RTM_GETROUTE dump over a NETLINK_ROUTE socket
 * (libmnl), filtered to the routes without a gateway. Nothing is cached:
 * the ruleset asks each time it renders (start and SIGHUP).
 */
#include "core/onlink.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

static int onlink_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, RTA_MAX) < 0)
		return MNL_CB_OK; /* newer attribute: not ours to read */
	if ((t == RTA_OIF || t == RTA_TABLE) && mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	if (t == RTA_DST && mnl_attr_get_payload_len(a) != 16) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	tb[t] = a;
	return MNL_CB_OK;
}

static int onlink_route(const struct nlmsghdr *nlh, void *data)
{
	struct onlink_list *l = data;
	const struct nlattr *tb[RTA_MAX + 1] = {0};
	const struct rtmsg *rt;
	struct onlink_prefix o = {0};
	uint32_t table;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rt)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	rt = mnl_nlmsg_get_payload(nlh);
	if (rt->rtm_family != AF_INET6)
		return MNL_CB_OK; /* its RTA_DST is 4 bytes: not for onlink_attr() */
	if (mnl_attr_parse(nlh, sizeof(*rt), onlink_attr, tb) < 0)
		return MNL_CB_ERROR;
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rt->rtm_table;
	/* A direct route of the main table: no gateway, one interface. */
	if (table != RT_TABLE_MAIN || rt->rtm_type != RTN_UNICAST ||
	    (rt->rtm_flags & RTM_F_CLONED) || tb[RTA_GATEWAY] || tb[RTA_MULTIPATH] || !tb[RTA_OIF])
		return MNL_CB_OK;
	if (rt->rtm_dst_len > 128 || (rt->rtm_dst_len && !tb[RTA_DST])) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	o.p.addr.family = AF_INET6;
	if (tb[RTA_DST])
		memcpy(o.p.addr.b, mnl_attr_get_payload(tb[RTA_DST]), 16);
	o.p.len = rt->rtm_dst_len;
	for (unsigned i = o.p.len; i < 128; i++)
		o.p.addr.b[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	o.ifindex = mnl_attr_get_u32(tb[RTA_OIF]);
	/* fe80::/10 is accepted whatever the interface. */
	if (o.p.len >= 10 && o.p.addr.b[0] == 0xfe && (o.p.addr.b[1] & 0xc0) == 0x80)
		return MNL_CB_OK;
	/* An on-link default (or /8) route would let an NS reach any address
	 * past a proxying router; NUD to such neighbours is given up instead. */
	if (o.p.len < ONLINK_MIN_LEN) {
		l->too_short++;
		return MNL_CB_OK;
	}
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i].p.len == o.p.len && addr_equal(&l->v[i].p.addr, &o.p.addr) &&
		    l->v[i].ifindex == o.ifindex)
			return MNL_CB_OK;
	if (l->n == ONLINK_MAX) {
		l->over_cap++;
		return MNL_CB_OK;
	}
	l->v[l->n++] = o;
	return MNL_CB_OK;
}

int onlink_parse(const void *buf, size_t len, unsigned seq, unsigned portid, struct onlink_list *l)
{
	const uint8_t *p = buf;
	size_t off = 0;

	/* mnl_nlmsg_ok() compares nlmsg_len as an int, so a length of 2^31 or
	 * more passes it and the walk jumps out of the buffer: check every
	 * header's length as an unsigned size first. */
	while (len - off >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(p + off);
		size_t n = nlh->nlmsg_len;

		if (n < sizeof(*nlh) || n > len - off) {
			errno = EBADMSG;
			return MNL_CB_ERROR;
		}
		n = NLMSG_ALIGN(n);
		if (n > len - off)
			break; /* the last message's padding is not there */
		off += n;
	}
	errno = 0;
	return mnl_cb_run(buf, len, seq, portid, onlink_route, l);
}

/* iptables-restore splits on blanks and treats quotes and '#' specially:
 * keep only names that cannot change the meaning of a rule line. */
static bool onlink_name_plain(const char *n)
{
	if (!n[0])
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '.' || *n == '-' || *n == '_' ||
		      *n == '@' || *n == '+'))
			return false;
	return true;
}

/* Name each kept interface; drop loopback and what cannot be named. */
static void onlink_names(struct onlink_list *l)
{
	unsigned k = 0;

	for (unsigned i = 0; i < l->n; i++) {
		struct onlink_prefix o = l->v[i];

		if (!if_indextoname(o.ifindex, o.ifname) || !onlink_name_plain(o.ifname)) {
			l->bad_name++;
			continue;
		}
		if (strcmp(o.ifname, "lo") == 0)
			continue;
		l->v[k++] = o;
	}
	l->n = k;
}

int onlink_read(struct onlink_list *l)
{
	/* 32 KiB (libmnl's MNL_SOCKET_DUMP_SIZE): more than the kernel puts in
	 * one dump message, so none is truncated. */
	_Alignas(struct nlmsghdr) char buf[32768];
	struct timeval tv = {.tv_sec = 2};
	struct mnl_socket *nl = NULL;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	unsigned seq = (unsigned)time(NULL), portid;
	int ret = 0;

	memset(l, 0, sizeof(*l));
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	/* A kernel that never answers must not hold up the start. */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		ret = -errno;
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET6;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	for (unsigned reads = 0;; reads++) {
		ssize_t n;
		int rc;

		if (reads == ONLINK_MAX_READS) {
			ret = -E2BIG;
			goto out;
		}
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		rc = onlink_parse(buf, (size_t)n, seq, portid, l);
		if (rc < 0) {
			ret = errno ? -errno : -EPROTO;
			goto out;
		}
		if (rc == MNL_CB_STOP)
			break;
	}
out:
	if (nl)
		mnl_socket_close(nl);
	onlink_names(l);
	return ret;
}
