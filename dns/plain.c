/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dns/plain.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "core/addr.h"
#include "core/util.h"

#define PLAIN_HDR 12

struct plain_q;

struct plain_client {
	struct ev_loop *loop;
	struct addr addrs[CONF_MAX_SERVER_ADDRS];
	unsigned naddrs;
	uint16_t port;
	uint32_t mark;
	struct plain_q *head; /* in flight */
	unsigned ninflight;
	struct upstream_transport_stats st;
	uint8_t rbuf[UPSTREAM_MAX_ANSWER + 1]; /* UDP receive buffer */
};

struct plain_q {
	struct plain_client *c;
	struct plain_q *next, **pprev;
	upstream_done_cb cb;
	void *arg;
	int fd;
	bool tcp;
	unsigned ai; /* address in use */
	ev_io io;
	ev_timer timer;
	uint16_t orig_id;
	size_t qlen, qend; /* qend: end of the question section in q */
	uint8_t *tbuf;	   /* TCP: length-prefixed query out, then the answer in */
	size_t toff, tneed;
	bool tsent;
	uint8_t q[]; /* the query with the client's ID */
};

static void on_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents);

struct plain_client *plain_client_new(struct ev_loop *loop, const struct conf_server *srv,
				      uint32_t mark, int *err)
{
	struct plain_client *c;

	if (!srv || srv->proto != CONF_PROTO_DNS || srv->naddrs == 0 ||
	    srv->naddrs > CONF_MAX_SERVER_ADDRS || srv->port == 0) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		if (err)
			*err = -ENOMEM;
		return NULL;
	}
	c->loop = loop;
	memcpy(c->addrs, srv->addrs, sizeof(srv->addrs[0]) * srv->naddrs);
	c->naddrs = srv->naddrs;
	c->port = srv->port;
	c->mark = mark;
	return c;
}

/* The end of the one question of m (uncompressed name, type, class), or 0. */
static size_t question_end(const uint8_t *m, size_t len)
{
	size_t off = PLAIN_HDR;

	if (len < PLAIN_HDR || m[4] != 0 || m[5] != 1)
		return 0;
	while (off < len && m[off] != 0) {
		if ((m[off] & 0xc0) != 0)
			return 0;
		off += 1u + m[off];
	}
	if (off >= len || len - off < 5)
		return 0;
	return off + 5;
}

static uint8_t lower(uint8_t ch)
{
	return ch >= 'A' && ch <= 'Z' ? (uint8_t)(ch + 32) : ch;
}

/* Does answer a (len bytes) answer q: same ID, QR set, same question? */
static bool answer_matches(const struct plain_q *q, const uint8_t *a, size_t len)
{
	if (len < q->qend || a[0] != q->q[0] || a[1] != q->q[1] || !(a[2] & 0x80) || a[4] != 0 ||
	    a[5] != 1)
		return false;
	for (size_t i = PLAIN_HDR; i < q->qend; i++)
		if (lower(a[i]) != lower(q->q[i]))
			return false;
	return true;
}

static socklen_t to_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->b, 4);
		return sizeof(*sin);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a->b, 16);
		return sizeof(*sin6);
	}
	return 0;
}

static int open_sock(struct plain_q *q, bool tcp)
{
	struct plain_client *c = q->c;
	int last = -ENETUNREACH;

	for (unsigned k = 0; k < c->naddrs; k++) {
		unsigned i = (q->ai + k) % c->naddrs;
		struct sockaddr_storage ss;
		socklen_t sl = to_sockaddr(&c->addrs[i], c->port, &ss);
		int fd =
		    !sl ? -1
			: socket(c->addrs[i].family,
				 (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
				 0);

		if (fd < 0) {
			last = sl ? -errno : -ENETUNREACH;
			continue;
		}
		if (c->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &c->mark, sizeof(c->mark)) < 0) {
			/* Unmarked, the ruleset would drop it (or redirect it
			 * to the stub): never send it. */
			last = -errno;
			close(fd);
			return last;
		}
		if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
			last = -errno;
			close(fd);
			continue;
		}
		q->ai = i;
		return fd;
	}
	return last;
}

static void q_stop(struct plain_q *q)
{
	ev_io_stop(q->c->loop, &q->io);
	ev_timer_stop(q->c->loop, &q->timer);
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}

/* Detach q, count, call back, free q. Touches nothing of c after cb. */
static void complete(struct plain_q *q, int status, const uint8_t *a, size_t len)
{
	struct plain_client *c = q->c;
	upstream_done_cb cb = q->cb;
	void *arg = q->arg;
	uint8_t *ans = NULL;

	q_stop(q);
	*q->pprev = q->next;
	if (q->next)
		q->next->pprev = q->pprev;
	c->ninflight--;
	c->st.inflight = c->ninflight;
	switch (status) {
	case 0:
		c->st.answers++;
		break;
	case -ETIMEDOUT:
		c->st.timeouts++;
		break;
	case -EPROTO:
	case -EMSGSIZE:
		c->st.protocol_errors++;
		break;
	case -ECANCELED:
	case -ENOMEM:
		break;
	default:
		c->st.conn_errors++;
	}
	if (status == 0) {
		/* The caller gets its own ID back. */
		ans = (uint8_t *)a;
		ans[0] = (uint8_t)(q->orig_id >> 8);
		ans[1] = (uint8_t)q->orig_id;
	}
	cb(arg, status, ans, status == 0 ? len : 0);
	free(q->tbuf); /* after cb: a TCP answer is borrowed from it */
	free(q);
}

static int start_tcp(struct plain_q *q)
{
	int fd;

	q_stop(q);
	ev_timer_start(q->c->loop, &q->timer); /* the same deadline */
	q->tbuf = malloc(UPSTREAM_MAX_ANSWER + 2);
	if (!q->tbuf)
		return -ENOMEM;
	q->tbuf[0] = (uint8_t)(q->qlen >> 8);
	q->tbuf[1] = (uint8_t)q->qlen;
	memcpy(q->tbuf + 2, q->q, q->qlen);
	q->toff = 0;
	q->tneed = q->qlen + 2;
	q->tsent = false;
	fd = open_sock(q, true);
	if (fd < 0)
		return fd;
	q->fd = fd;
	q->tcp = true;
	q->c->st.connections++;
	ev_io_set(&q->io, fd, EV_WRITE);
	ev_io_start(q->c->loop, &q->io);
	return 0;
}

static void on_udp(struct plain_q *q)
{
	struct plain_client *c = q->c;

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(q->fd, c->rbuf, sizeof(c->rbuf), MSG_TRUNC);
		int rc;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* ICMP port unreachable and the like. */
			complete(q, -errno, NULL, 0);
			return;
		}
		if ((size_t)n > UPSTREAM_MAX_ANSWER || !answer_matches(q, c->rbuf, (size_t)n)) {
			c->st.protocol_errors++; /* not ours: keep waiting */
			continue;
		}
		if (!(c->rbuf[2] & 0x02)) {
			complete(q, 0, c->rbuf, (size_t)n);
			return;
		}
		rc = start_tcp(q); /* TC=1: ask again over TCP (RFC 7766) */
		if (rc < 0)
			complete(q, rc, NULL, 0);
		return;
	}
}

static void on_tcp(struct plain_q *q, int revents)
{
	ssize_t n;

	if (!q->tsent) {
		n = send(q->fd, q->tbuf + q->toff, q->tneed - q->toff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				complete(q, -errno, NULL, 0);
			return;
		}
		q->toff += (size_t)n;
		if (q->toff < q->tneed)
			return;
		q->tsent = true;
		q->toff = 0;
		q->tneed = 2;
		ev_io_stop(q->c->loop, &q->io);
		ev_io_set(&q->io, q->fd, EV_READ);
		ev_io_start(q->c->loop, &q->io);
		return;
	}
	(void)revents;
	n = recv(q->fd, q->tbuf + q->toff, q->tneed - q->toff, 0);
	if (n == 0) {
		complete(q, -ECONNRESET, NULL, 0);
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			complete(q, -errno, NULL, 0);
		return;
	}
	q->toff += (size_t)n;
	if (q->toff < q->tneed)
		return;
	if (q->tneed == 2) {
		size_t mlen = (size_t)q->tbuf[0] << 8 | q->tbuf[1];

		if (mlen < PLAIN_HDR) {
			complete(q, -EPROTO, NULL, 0);
			return;
		}
		q->toff = 0;
		q->tneed = mlen;
		return;
	}
	if (!answer_matches(q, q->tbuf, q->tneed)) {
		complete(q, -EPROTO, NULL, 0);
		return;
	}
	complete(q, 0, q->tbuf, q->tneed);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct plain_q *q = container_of(w, struct plain_q, io);

	(void)loop;
	if (q->tcp)
		on_tcp(q, revents);
	else
		on_udp(q);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	complete(container_of(w, struct plain_q, timer), -ETIMEDOUT, NULL, 0);
}

int plain_client_query(struct plain_client *c, const uint8_t *qm, size_t len, uint32_t timeout_ms,
		       upstream_done_cb cb, void *arg)
{
	struct plain_q *q;
	uint16_t id;
	size_t qend;
	int fd;

	if (!c || !qm || !cb || timeout_ms == 0 || len < PLAIN_HDR || len > UPSTREAM_MAX_ANSWER)
		return -EINVAL;
	qend = question_end(qm, len);
	if (!qend)
		return -EINVAL;
	if (c->ninflight >= PLAIN_MAX_INFLIGHT) {
		c->st.inflight_refused++;
		return -EAGAIN;
	}
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		return -EAGAIN;
	q = calloc(1, sizeof(*q) + len);
	if (!q)
		return -ENOMEM;
	q->c = c;
	q->cb = cb;
	q->arg = arg;
	q->fd = -1;
	q->orig_id = (uint16_t)(qm[0] << 8 | qm[1]);
	q->qlen = len;
	q->qend = qend;
	memcpy(q->q, qm, len);
	q->q[0] = (uint8_t)(id >> 8);
	q->q[1] = (uint8_t)id;
	ev_init(&q->io, on_io);
	ev_timer_init(&q->timer, on_timeout, timeout_ms / 1000.0, 0.);
	/* Larger than a UDP payload can be: TCP from the start. */
	fd = len > 65507 ? -EMSGSIZE : open_sock(q, false);
	if (fd >= 0 && send(fd, q->q, len, 0) < 0) {
		int e = -errno;

		close(fd);
		fd = e;
	}
	if (fd < 0) {
		free(q);
		return fd;
	}
	q->fd = fd;
	ev_io_set(&q->io, fd, EV_READ);
	ev_io_start(c->loop, &q->io);
	ev_timer_start(c->loop, &q->timer);
	q->next = c->head;
	q->pprev = &c->head;
	if (c->head)
		c->head->pprev = &q->next;
	c->head = q;
	c->ninflight++;
	c->st.queries++;
	c->st.inflight = c->ninflight;
	return 0;
}

void plain_client_get_stats(const struct plain_client *c, struct upstream_transport_stats *st)
{
	*st = c->st;
	st->inflight = c->ninflight;
}

void plain_client_free(struct plain_client **cp)
{
	struct plain_client *c;

	if (!cp || !*cp)
		return;
	c = *cp;
	*cp = NULL;
	while (c->head)
		complete(c->head, -ECANCELED, NULL, 0);
	free(c);
}
