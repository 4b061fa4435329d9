/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dns/peeruid.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEERUID_STALE_MAX 8 /* old replies skipped before giving up */

struct peeruid {
	int fd;
	uint32_t seq;
};

struct peeruid *peeruid_new(int *err)
{
	struct peeruid *p = calloc(1, sizeof(*p));

	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
	if (p->fd < 0) {
		*err = -errno;
		free(p);
		return NULL;
	}
	return p;
}

void peeruid_free(struct peeruid **pp)
{
	if (!pp || !*pp)
		return;
	close((*pp)->fd);
	free(*pp);
	*pp = NULL;
}

static void put_end(__be16 *port, __be32 *a, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		*port = sin->sin_port;
		memcpy(a, &sin->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		*port = sin6->sin6_port;
		memcpy(a, &sin6->sin6_addr, 16);
	}
}

int peeruid_lookup(struct peeruid *p, int tcp, const struct sockaddr_storage *local,
		   const struct sockaddr_storage *peer, uint32_t *uid)
{
	uint64_t inode;

	return peeruid_lookup_sock(p, tcp, local, peer, uid, &inode);
}

int peeruid_lookup_sock(struct peeruid *p, int tcp, const struct sockaddr_storage *local,
			const struct sockaddr_storage *peer, uint32_t *uid, uint64_t *inode)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req;
	union {
		struct nlmsghdr nh;
		uint8_t b[1024];
	} rep;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	uint32_t seq;
	int rc = -EPROTO;

	if (peer->ss_family != local->ss_family ||
	    (peer->ss_family != AF_INET && peer->ss_family != AF_INET6))
		return -EAFNOSUPPORT;
	seq = ++p->seq;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST; /* one exact socket, no dump */
	req.nh.nlmsg_seq = seq;
	req.r.sdiag_family = peer->ss_family;
	req.r.sdiag_protocol = tcp ? IPPROTO_TCP : IPPROTO_UDP;
	req.r.idiag_states = ~0u;
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	/* The socket we want is the peer's: its own end is "src". The kernel's
	 * UDP exact lookup reads the pair the other way round (src is the
	 * remote end of the socket looked up, udp_diag.c: "src and dst are
	 * swapped for historical reasons"), TCP's does not. */
	if (tcp) {
		put_end(&req.r.id.idiag_sport, req.r.id.idiag_src, peer);
		put_end(&req.r.id.idiag_dport, req.r.id.idiag_dst, local);
	} else {
		put_end(&req.r.id.idiag_sport, req.r.id.idiag_src, local);
		put_end(&req.r.id.idiag_dport, req.r.id.idiag_dst, peer);
	}
	if (sendto(p->fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	/* The kernel answers inside sendto(): the reply is queued already. */
	for (unsigned i = 0; i < PEERUID_STALE_MAX; i++) {
		ssize_t n = recv(p->fd, rep.b, sizeof(rep.b), MSG_DONTWAIT);
		const struct nlmsghdr *nh = &rep.nh;

		if (n < 0) {
			rc = errno == EAGAIN ? -ENOENT : -errno;
			goto out;
		}
		if ((size_t)n < sizeof(*nh) || nh->nlmsg_len > (size_t)n ||
		    nh->nlmsg_len < sizeof(*nh)) {
			rc = -EPROTO;
			goto out;
		}
		if (nh->nlmsg_seq != seq)
			continue; /* a late reply to an earlier question */
		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				rc = -EPROTO;
			else
				rc = e->error < 0 ? e->error : -ENOENT;
			goto out;
		}
		if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
			rc = -EPROTO;
			goto out;
		}
		*uid = ((const struct inet_diag_msg *)NLMSG_DATA(nh))->idiag_uid;
		*inode = ((const struct inet_diag_msg *)NLMSG_DATA(nh))->idiag_inode;
		rc = 0;
		goto out;
	}
out:
	return rc;
}

/* RFC-less kernel ABI: linux/inet_diag.h. One S_EQ test on the socket's
 * own port: accept (len 0 after "yes") or reject (len < 0 after "no"). */
struct peeruid_bc {
	struct inet_diag_bc_op op, port;
};

int peeruid_lookup_redirected(struct peeruid *p, int tcp, const struct sockaddr_storage *peer,
			      uint32_t *uid)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
		struct nlattr na;
		struct peeruid_bc bc;
	} req;
	union {
		struct nlmsghdr nh;
		uint8_t b[8192];
	} rep;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	__be16 pport;
	__be32 paddr[4] = {0};
	size_t alen = peer->ss_family == AF_INET ? 4 : 16;
	uint32_t seq, found = 0;
	unsigned matches = 0;
	bool conflict = false, done = false;
	int rc = -ENOENT;

	if (peer->ss_family != AF_INET && peer->ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	put_end(&pport, paddr, peer);
	seq = ++p->seq;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = seq;
	req.r.sdiag_family = peer->ss_family;
	req.r.sdiag_protocol = tcp ? IPPROTO_TCP : IPPROTO_UDP;
	req.r.idiag_states = ~0u;
	req.na.nla_len = sizeof(req.na) + sizeof(req.bc);
	req.na.nla_type = INET_DIAG_REQ_BYTECODE;
	req.bc.op = (struct inet_diag_bc_op){
	    .code = INET_DIAG_BC_S_EQ, .yes = sizeof(req.bc), .no = sizeof(req.bc) + 4};
	req.bc.port.no = ntohs(pport);
	if (sendto(p->fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	/* Bounded: a dump of a handful of sockets, read until NLMSG_DONE. */
	for (unsigned i = 0; i < 64 && !done; i++) {
		ssize_t n = recv(p->fd, rep.b, sizeof(rep.b), 0);
		const struct nlmsghdr *nh;
		size_t left;

		if (n < 0)
			return errno == EAGAIN ? -ENOENT : -errno;
		left = (size_t)n;
		for (nh = &rep.nh; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
			const struct inet_diag_msg *m;

			if (nh->nlmsg_seq != seq)
				continue; /* a late reply to an earlier question */
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR)
				return -EPROTO;
			if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				return -EPROTO;
			m = NLMSG_DATA(nh);
			if (m->id.idiag_sport != pport || m->id.idiag_dport != htons(53) ||
			    memcmp(m->id.idiag_src, paddr, alen) != 0)
				continue;
			if (matches++ && m->idiag_uid != found)
				conflict = true;
			found = m->idiag_uid;
		}
	}
	if (!done)
		return -EPROTO;
	if (matches && !conflict) {
		*uid = found;
		rc = 0;
	}
	return rc;
}
