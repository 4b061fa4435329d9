/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/netwatch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "core/log.h"
#include "core/util.h"

struct netwatch {
	struct ev_loop *loop;
	struct mnl_socket *nl;
	ev_io io;
	void (*cb)(void *arg);
	void *arg;
	struct netwatch_stats st;
};

static bool netwatch_is_change(uint16_t type)
{
	switch (type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
	case RTM_NEWADDR:
	case RTM_DELADDR:
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		return true;
	default:
		return false;
	}
}

static void netwatch_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct netwatch *w = container_of(io, struct netwatch, io);
	uint8_t buf[NETWATCH_BUF];
	bool changed = false;

	(void)loop;
	(void)revents;
	for (unsigned i = 0; i < NETWATCH_BUDGET; i++) {
		ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == ENOBUFS) {
				/* lost some: whatever they said, something changed */
				w->st.overrun++;
				changed = true;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_ratelimited(LOG_WARNING, "netwatch: %s", strerror(errno));
			break;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			/* only the kernel's own notifications */
			if (nlh->nlmsg_pid != 0 || !netwatch_is_change(nlh->nlmsg_type))
				continue;
			w->st.events++;
			changed = true;
		}
	}
	if (changed) {
		w->st.changes++;
		w->cb(w->arg);
	}
}

struct netwatch *netwatch_new(struct ev_loop *loop, void (*cb)(void *arg), void *arg, int *err)
{
	struct netwatch *w = calloc(1, sizeof(*w));
	int rc = 0;

	if (!w) {
		rc = -ENOMEM;
		goto out;
	}
	w->loop = loop;
	w->cb = cb;
	w->arg = arg;
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!w->nl || mnl_socket_bind(w->nl,
				      RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
					  RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
				      MNL_SOCKET_AUTOPID) < 0) {
		rc = errno ? -errno : -EIO;
		goto out;
	}
	ev_io_init(&w->io, netwatch_io_cb, mnl_socket_get_fd(w->nl), EV_READ);
	ev_io_start(loop, &w->io);
out:
	if (rc < 0) {
		netwatch_free(&w);
		if (err)
			*err = rc;
	}
	return w;
}

void netwatch_get_stats(const struct netwatch *w, struct netwatch_stats *st)
{
	*st = w->st;
}

void netwatch_free(struct netwatch **wp)
{
	struct netwatch *w;

	if (!wp || !*wp)
		return;
	w = *wp;
	if (w->nl) {
		ev_io_stop(w->loop, &w->io);
		mnl_socket_close(w->nl);
	}
	free(w);
	*wp = NULL;
}
