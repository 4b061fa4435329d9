/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DNS over TLS client (RFC 7858) on the libev loop. See dot.h.
 *
 * One connection at a time per server. A query lives in exactly one of two
 * lists: "unsent" (waiting for a connection or for room in the write
 * buffer) or "sent" (its bytes were handed to TLS on the current
 * connection). Each query holds one of DOT_MAX_INFLIGHT slots; the slot
 * number is the low byte of the ID we put on the wire, so an answer finds its
 * query in O(1), and the high byte is a per-client counter, so a late answer
 * to a query that timed out does not match the next query that took its
 * slot.
 *
 * Re-entrancy: callbacks may add queries or free the client. So a query is
 * detached from every list before its callback runs, queries never start I/O
 * from dot_client_query() (a zero-delay "kick" timer does it on the next loop
 * iteration), lists of queries to fail are taken out of the client before
 * the first callback, and the client's memory is released only when the
 * outermost of its own handlers on the stack returns (depth/dead).
 */
#include "dns/dot.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "core/util.h"
#include "dns/tls.h"

/* RFC 7766 §8: two length bytes, then the message. */
#define DOT_FRAME_MAX (2 + UPSTREAM_MAX_ANSWER)
#define DOT_HDR_LEN   12 /* RFC 1035 §4.1.1 */
#define DOT_WHY_LEN   256

_Static_assert(DOT_MAX_INFLIGHT == 256, "the slot is the low byte of the wire ID");

enum dot_state { DOT_CLOSED, DOT_CONNECTING, DOT_HANDSHAKE, DOT_READY };

struct dot_query;

struct dot_qlist {
	struct dot_query *head, *tail;
};

struct dot_query {
	struct dot_query *prev, *next;
	struct dot_qlist *list; /* the list it is on, NULL when detached */
	struct dot_client *c;
	ev_timer timer; /* the deadline */
	ev_tstamp deadline;
	ev_tstamp sent_at; /* when its bytes went to TLS (on the sent list) */
	upstream_done_cb cb;
	void *arg;
	uint16_t orig_id; /* the caller's ID, restored in the answer */
	uint16_t wire_id;
	uint16_t slot;
	bool retried; /* already resent once on a new connection */
	size_t len;   /* framed length: 2 + message */
	uint8_t msg[];
};

struct dot_client {
	struct ev_loop *loop;
	struct conf_server srv; /* copy; owns name and tls_name, url/ca_file NULL */
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	enum dot_state state;
	ev_io io;
	int io_events;
	ev_timer conn_timer; /* TCP connect + TLS handshake of one address */
	ev_timer idle_timer; /* READY with nothing in flight */
	ev_timer kick;	     /* zero-delay: connect or flush outside callers */
	ev_tstamp idle_s;
	ev_tstamp conn_started;	      /* connect to the current address began */
	ev_tstamp last_rx;	      /* bytes last came from the server on this connection */
	unsigned addr_idx;	      /* the address to use next */
	unsigned addr_tries;	      /* addresses failed in this connect round */
	int last_err;		      /* why the last address failed */
	bool verified;		      /* identity checked on the current connection */
	bool want_write;	      /* an SSL call wants the socket writable */
	bool answered;		      /* the current connection delivered an answer */
	unsigned fruitless;	      /* connections in a row lost without an answer */
	unsigned conn_gen;	      /* counts connections that reached READY */
	SSL_SESSION *session;	      /* from a verified connection: resume it */
	SSL_SESSION *pending_session; /* arrived before verification (TLS 1.2) */
	struct dot_qlist unsent, sent;
	struct dot_qlist failing; /* being completed with an error right now */
	struct dot_query *slots[DOT_MAX_INFLIGHT];
	uint16_t free_slots[DOT_MAX_INFLIGHT];
	unsigned nfree;
	uint8_t gen;
	uint8_t *wbuf; /* framed queries being written: wbuf[woff .. wlen) */
	size_t wlen, woff;
	uint8_t *rbuf; /* bytes read, answers parsed from rbuf[roff .. rlen) */
	size_t rlen, roff;
	unsigned depth; /* our handlers on the stack */
	bool dead;	/* dot_client_free() was called */
	struct upstream_transport_stats st;
};

static void dot_connect_addr(struct dot_client *c);
static void dot_addr_failed(struct dot_client *c, int err);

/* ---------------------------------------------------------------- lists */

static void dot_list_push(struct dot_qlist *l, struct dot_query *q)
{
	q->list = l;
	q->next = NULL;
	q->prev = l->tail;
	if (l->tail)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
}

static void dot_list_remove(struct dot_query *q)
{
	struct dot_qlist *l = q->list;

	if (!l)
		return;
	if (q->prev)
		q->prev->next = q->next;
	else
		l->head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		l->tail = q->prev;
	q->prev = q->next = NULL;
	q->list = NULL;
}

/* Append every query of src to dst (src ends empty). */
static void dot_list_move(struct dot_qlist *dst, struct dot_qlist *src)
{
	struct dot_query *q;

	while ((q = src->head)) {
		dot_list_remove(q);
		dot_list_push(dst, q);
	}
}

/* ---------------------------------------------------------------- helpers */

static const char *dot_addr_str(const struct dot_client *c, char *buf, size_t len)
{
	return addr_format(&c->srv.addrs[c->addr_idx], buf, len);
}

static unsigned dot_inflight(const struct dot_client *c)
{
	return DOT_MAX_INFLIGHT - c->nfree;
}

/* Release the memory; only when none of our handlers is on the stack. */
static void dot_destroy(struct dot_client *c)
{
	SSL_SESSION_free(c->session);
	SSL_SESSION_free(c->pending_session);
	SSL_CTX_free(c->ctx);
	free(c->srv.name);
	free(c->srv.tls_name);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

static void dot_enter(struct dot_client *c)
{
	c->depth++;
}

static void dot_leave(struct dot_client *c)
{
	if (--c->depth == 0 && c->dead)
		dot_destroy(c);
}

static void dot_set_events(struct dot_client *c, int events)
{
	if (c->io_events == events && (ev_is_active(&c->io) != 0) == (events != 0))
		return;
	ev_io_stop(c->loop, &c->io);
	c->io_events = events;
	if (events && c->fd >= 0) {
		ev_io_set(&c->io, c->fd, events);
		ev_io_start(c->loop, &c->io);
	}
}

static void dot_kick(struct dot_client *c)
{
	if (!ev_is_active(&c->kick)) {
		ev_timer_set(&c->kick, 0., 0.);
		ev_timer_start(c->loop, &c->kick);
	}
}

static void dot_idle_check(struct dot_client *c)
{
	if (c->dead || c->state != DOT_READY || dot_inflight(c) || ev_is_active(&c->idle_timer))
		return;
	ev_timer_set(&c->idle_timer, c->idle_s, 0.);
	ev_timer_start(c->loop, &c->idle_timer);
}

/* ---------------------------------------------------------------- completion */

static void dot_count(struct dot_client *c, int status)
{
	switch (status) {
	case 0:
		c->st.answers++;
		break;
	case -ETIMEDOUT:
		c->st.timeouts++;
		break;
	case -EACCES:
		c->st.identity_errors++;
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
		break;
	}
}

/* Detach q from everything, call back once, free it. c stays valid (the
 * caller holds a depth reference) even if the callback frees the client. */
static void dot_query_finish(struct dot_client *c, struct dot_query *q, int status,
			     const uint8_t *answer, size_t len)
{
	ev_timer_stop(c->loop, &q->timer);
	dot_list_remove(q);
	c->slots[q->slot] = NULL;
	c->free_slots[c->nfree++] = q->slot;
	c->st.inflight--;
	dot_count(c, status);
	q->cb(q->arg, status, answer, len);
	free(q);
	dot_idle_check(c);
}

/* Complete every query of l with status. They go through c->failing first:
 * queries added by the callbacks land on unsent and are not touched here (a
 * callback that re-queries cannot loop), and a callback that frees the client
 * still gets the rest cancelled before dot_client_free() returns. */
static void dot_fail_list(struct dot_client *c, struct dot_qlist *l, int status)
{
	struct dot_query *q;

	dot_list_move(&c->failing, l);
	while ((q = c->failing.head))
		dot_query_finish(c, q, status, NULL, 0);
}

static void dot_conn_close(struct dot_client *c, bool graceful)
{
	dot_set_events(c, 0);
	ev_timer_stop(c->loop, &c->conn_timer);
	ev_timer_stop(c->loop, &c->idle_timer);
	if (c->ssl) {
		if (graceful) {
			/* close_notify, without waiting for the server's */
			ERR_clear_error();
			SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	ERR_clear_error();
	c->state = DOT_CLOSED;
	c->verified = false;
	c->want_write = false;
	c->answered = false;
	c->wlen = c->woff = 0;
	c->rlen = c->roff = 0;
	SSL_SESSION_free(c->pending_session);
	c->pending_session = NULL;
}

/* Close, and fail every query, queued or sent, with status. */
static void dot_conn_fatal(struct dot_client *c, int status)
{
	struct dot_qlist l = {0};

	dot_conn_close(c, false);
	dot_list_move(&l, &c->failing);
	dot_list_move(&l, &c->sent);
	dot_list_move(&l, &c->unsent);
	dot_fail_list(c, &l, status);
}

/*
 * The connection ended under us (server close or reset, RFC 7766 §6.2.3
 * lets a server do that). Sent queries are resent once on a new connection
 * if their deadline allows (retry), else failed with status; queued ones
 * simply wait for the new connection. A server that keeps closing
 * connections without ever answering (two in a row) gets everything failed,
 * so that we never spin on reconnects until the deadlines.
 */
static void dot_conn_lost(struct dot_client *c, int status, bool retry)
{
	struct dot_qlist again = {0}, fail = {0};
	ev_tstamp now = ev_now(c->loop);
	struct dot_query *q;

	c->fruitless = c->answered ? 0 : c->fruitless + 1;
	if (c->fruitless >= 2) {
		c->fruitless = 0;
		dot_conn_fatal(c, status);
		return;
	}
	dot_conn_close(c, false);
	while ((q = c->sent.head)) {
		dot_list_remove(q);
		if (retry && !q->retried && q->deadline > now) {
			q->retried = true;
			dot_list_push(&again, q);
		} else {
			dot_list_push(&fail, q);
		}
	}
	dot_list_move(&again, &c->unsent);
	dot_list_move(&c->unsent, &again);
	if (c->unsent.head)
		dot_kick(c);
	dot_fail_list(c, &fail, status);
}

/* ---------------------------------------------------------------- TLS */

static int dot_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct dot_client *c = SSL_get_app_data(ssl);

	if (!c || c->ssl != ssl)
		return 0;
	/* A session is only worth resuming once its server was verified;
	 * TLS 1.2 hands it over before our pin check, TLS 1.3 after. */
	if (c->verified) {
		SSL_SESSION_free(c->session);
		c->session = sess;
	} else {
		SSL_SESSION_free(c->pending_session);
		c->pending_session = sess;
	}
	return 1; /* we keep the reference */
}

static void dot_identity_failed(struct dot_client *c, const char *why)
{
	char a[ADDR_STRLEN];

	log_ratelimited(LOG_WARNING, "dot %s (%s): server identity refused: %s", c->srv.name,
			dot_addr_str(c, a, sizeof(a)), why);
	/* Never resume a session with a server that failed once. */
	SSL_SESSION_free(c->session);
	c->session = NULL;
	dot_conn_fatal(c, -EACCES);
}

/* Write queued queries: as many as fit in one buffer, one SSL_write for
 * many (one TLS record for a burst). Returns 0 or -errno for the connection. */
static int dot_flush(struct dot_client *c)
{
	struct dot_query *q;
	int n, ret = 0;

	for (;;) {
		if (c->woff == c->wlen) {
			c->woff = c->wlen = 0;
			while ((q = c->unsent.head) && c->wlen + q->len <= DOT_FRAME_MAX) {
				memcpy(c->wbuf + c->wlen, q->msg, q->len);
				c->wlen += q->len;
				dot_list_remove(q);
				dot_list_push(&c->sent, q);
				q->sent_at = ev_now(c->loop);
			}
			if (!c->wlen)
				break;
		}
		ERR_clear_error();
		n = SSL_write(c->ssl, c->wbuf + c->woff, (int)(c->wlen - c->woff));
		if (n > 0) {
			c->woff += (size_t)n;
			continue;
		}
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_WRITE:
			c->want_write = true;
			goto out;
		case SSL_ERROR_WANT_READ:
			goto out;
		case SSL_ERROR_ZERO_RETURN:
		case SSL_ERROR_SYSCALL:
			ret = -ECONNRESET;
			goto out;
		default:
			ret = -EPROTO;
			goto out;
		}
	}
out:
	return ret;
}

/* One framed message from the server: hand it to its query. Returns 0, or
 * -EPROTO when it cannot be a DNS message at all. */
static int dot_answer(struct dot_client *c, uint8_t *msg, size_t len)
{
	struct dot_query *q;
	uint16_t id;
	int ret = 0;

	if (len < DOT_HDR_LEN) {
		ret = -EPROTO;
		goto out;
	}
	id = (uint16_t)(msg[0] << 8 | msg[1]);
	q = c->slots[id % DOT_MAX_INFLIGHT];
	if (!q || q->wire_id != id || q->list != &c->sent) {
		/* late (its query timed out) or never asked: ignore */
		c->st.protocol_errors++;
		log_debug("dot %s: answer with unknown ID %u ignored", c->srv.name, id);
		goto out;
	}
	msg[0] = (uint8_t)(q->orig_id >> 8);
	msg[1] = (uint8_t)q->orig_id;
	c->answered = true;
	c->fruitless = 0;
	dot_query_finish(c, q, 0, msg, len);
out:
	return ret;
}

/* Deliver every complete frame in rbuf (RFC 7766 §8). Returns 0 or -EPROTO;
 * the caller checks c->dead. */
static int dot_frames(struct dot_client *c)
{
	size_t flen;
	uint8_t *p;
	int ret = 0;

	while (c->rlen - c->roff >= 2) {
		p = c->rbuf + c->roff;
		flen = (size_t)p[0] << 8 | p[1];
		if (flen == 0 || flen > UPSTREAM_MAX_ANSWER) {
			ret = -EPROTO;
			goto out;
		}
		if (c->rlen - c->roff < 2 + flen)
			break;
		c->roff += 2 + flen;
		ret = dot_answer(c, p + 2, flen);
		if (ret < 0 || c->dead)
			goto out;
	}
	if (c->roff == c->rlen)
		c->roff = c->rlen = 0;
out:
	return ret;
}

/* Read until TLS has nothing more. Returns 0 or -errno for the connection
 * (-ECONNRESET: closed by the server, may be retried). */
static int dot_read(struct dot_client *c)
{
	char why[DOT_WHY_LEN];
	int n, ret = 0;

	for (;;) {
		if (c->roff) {
			/* keep the partial frame at the start: a whole frame always fits */
			memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
			c->rlen -= c->roff;
			c->roff = 0;
		}
		ERR_clear_error();
		n = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(DOT_FRAME_MAX - c->rlen));
		if (n <= 0) {
			switch (SSL_get_error(c->ssl, n)) {
			case SSL_ERROR_WANT_READ:
				goto out;
			case SSL_ERROR_WANT_WRITE:
				c->want_write = true;
				goto out;
			case SSL_ERROR_ZERO_RETURN:
			case SSL_ERROR_SYSCALL:
				ret = -ECONNRESET;
				goto out;
			default:
				ERR_error_string_n(ERR_peek_error(), why, sizeof(why));
				log_ratelimited(LOG_WARNING, "dot %s: TLS error: %s", c->srv.name,
						why);
				ret = -EPROTO;
				goto out;
			}
		}
		c->rlen += (size_t)n;
		c->last_rx = ev_now(c->loop);
		ret = dot_frames(c);
		if (ret < 0) {
			log_ratelimited(LOG_WARNING, "dot %s: bad DNS framing from server",
					c->srv.name);
			goto out;
		}
		if (c->dead)
			goto out;
	}
out:
	return ret;
}

/* READY: read (answers, session tickets, close), then write what is queued. */
static void dot_ready_io(struct dot_client *c, bool do_read)
{
	int ret = 0;

	c->want_write = false;
	if (do_read) {
		ret = dot_read(c);
		if (c->dead)
			return;
	}
	if (!ret)
		ret = dot_flush(c);
	if (ret < 0) {
		dot_conn_lost(c, ret, ret == -ECONNRESET);
		return;
	}
	dot_set_events(c, EV_READ | (c->want_write ? EV_WRITE : 0));
}

static void dot_handshake(struct dot_client *c)
{
	char why[DOT_WHY_LEN];
	int r, err;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		ev_timer_stop(c->loop, &c->conn_timer);
		if (tls_verify_identity(c->ssl, &c->srv, why, sizeof(why)) < 0) {
			dot_identity_failed(c, why);
			return;
		}
		c->verified = true;
		if (c->pending_session) {
			SSL_SESSION_free(c->session);
			c->session = c->pending_session;
			c->pending_session = NULL;
		}
		c->st.connections++;
		if (SSL_session_reused(c->ssl))
			c->st.resumed++;
		c->state = DOT_READY;
		c->conn_gen++;
		c->last_rx = ev_now(c->loop);
		c->addr_tries = 0;
		/* write what waited for the handshake before anything else: a
		 * connection closed at once must still have charged the queries
		 * it carried (at most one resend each) */
		dot_ready_io(c, false);
		if (!c->dead)
			dot_idle_check(c);
		return;
	}
	err = SSL_get_error(c->ssl, r);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		dot_set_events(c, EV_READ);
		return;
	case SSL_ERROR_WANT_WRITE:
		dot_set_events(c, EV_WRITE);
		return;
	default:
		break;
	}
	if (tls_handshake_error(c->ssl, why, sizeof(why)) == -EACCES) {
		dot_identity_failed(c, why);
		return;
	}
	if (err == SSL_ERROR_SYSCALL) {
		/* closed or reset during the handshake: maybe only this address */
		dot_addr_failed(c, -ECONNRESET);
		return;
	}
	log_ratelimited(LOG_WARNING, "dot %s: %s", c->srv.name, why);
	dot_conn_fatal(c, -EPROTO);
}

static int dot_tls_start(struct dot_client *c)
{
	int ret = 0;

	ERR_clear_error();
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
		ret = -ENOMEM;
		goto out;
	}
	SSL_set_app_data(c->ssl, c);
	ret = tls_set_peer_name(c->ssl, c->srv.tls_name);
	if (ret < 0)
		goto out;
	if (c->session && !SSL_set_session(c->ssl, c->session)) {
		/* not fatal: a full handshake then */
		ERR_clear_error();
	}
	/* Writes resume where they stopped; the buffer never moves, but its
	 * tail is re-offered from a new offset after a partial write. */
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_connect_state(c->ssl);
	c->state = DOT_HANDSHAKE;
out:
	return ret;
}

/* ---------------------------------------------------------------- TCP */

static int dot_map_conn_err(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return -ECONNREFUSED;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EADDRNOTAVAIL:
		return -ENETUNREACH;
	case ETIMEDOUT:
		return -ETIMEDOUT;
	case ENOMEM:
	case ENOBUFS:
		return -ENOMEM;
	default:
		return -ECONNRESET;
	}
}

/* The connect timer: the rest of DOT_CONNECT_TIMEOUT_MS of this address,
 * and while the SYN is unanswered at most DOT_SYN_RETRY_MS (see
 * dot_conn_timer_cb). */
static void dot_conn_timer_arm(struct dot_client *c, bool syn)
{
	ev_tstamp left = c->conn_started + DOT_CONNECT_TIMEOUT_MS / 1000.0 - ev_now(c->loop);

	if (syn && left > DOT_SYN_RETRY_MS / 1000.0)
		left = DOT_SYN_RETRY_MS / 1000.0;
	ev_timer_stop(c->loop, &c->conn_timer);
	ev_timer_set(&c->conn_timer, left > 0 ? left : 0., 0.);
	ev_timer_start(c->loop, &c->conn_timer);
}

/* Start a non-blocking connect to the current address. */
static int dot_tcp_start(struct dot_client *c)
{
	const struct addr *a = &c->srv.addrs[c->addr_idx];
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, ret = 0;

	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(c->srv.port);
		memcpy(&sin->sin_addr, a->b, 4);
		sl = sizeof(*sin);
	} else if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(c->srv.port);
		memcpy(&sin6->sin6_addr, a->b, 16);
		sl = sizeof(*sin6);
	} else {
		ret = -ENETUNREACH;
		goto out;
	}
	c->fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		ret = dot_map_conn_err(errno);
		goto out;
	}
	/* queries are small and latency-bound (RFC 7766 §10) */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&ss, sl) == 0) {
		dot_conn_timer_arm(c, false);
		ret = dot_tls_start(c);
		if (!ret)
			dot_set_events(c, EV_WRITE); /* the handshake starts from the loop */
		goto out;
	}
	dot_conn_timer_arm(c, true);
	if (errno != EINPROGRESS) {
		ret = dot_map_conn_err(errno);
		goto out;
	}
	c->state = DOT_CONNECTING;
	dot_set_events(c, EV_WRITE);
out:
	return ret;
}

/* Try addresses from addr_idx on, until one starts connecting; when every
 * address of this round failed, fail the queries with the last reason. */
static void dot_connect_addr(struct dot_client *c)
{
	char a[ADDR_STRLEN];
	int ret;

	while (c->addr_tries < c->srv.naddrs) {
		c->conn_started = ev_now(c->loop);
		ret = dot_tcp_start(c);
		if (ret == 0)
			return;
		dot_conn_close(c, false);
		if (ret == -ENOMEM) {
			c->addr_tries = 0;
			dot_conn_fatal(c, ret);
			return;
		}
		log_ratelimited(LOG_INFO, "dot %s: connect to %s failed: %s", c->srv.name,
				dot_addr_str(c, a, sizeof(a)), strerror(-ret));
		c->last_err = ret;
		c->addr_tries++;
		c->addr_idx = (c->addr_idx + 1) % c->srv.naddrs;
	}
	c->addr_tries = 0;
	dot_conn_fatal(c, c->last_err ? c->last_err : -ECONNREFUSED);
}

static void dot_addr_failed(struct dot_client *c, int err)
{
	char a[ADDR_STRLEN];

	log_ratelimited(LOG_INFO, "dot %s: connection to %s failed: %s", c->srv.name,
			dot_addr_str(c, a, sizeof(a)), strerror(-err));
	dot_conn_close(c, false);
	c->last_err = err;
	c->addr_tries++;
	c->addr_idx = (c->addr_idx + 1) % c->srv.naddrs;
	dot_connect_addr(c);
}

static void dot_connected(struct dot_client *c)
{
	socklen_t sl = sizeof(int);
	int soerr = 0, ret;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		dot_addr_failed(c, dot_map_conn_err(soerr));
		return;
	}
	dot_conn_timer_arm(c, false);
	ret = dot_tls_start(c);
	if (ret < 0) {
		dot_conn_fatal(c, ret);
		return;
	}
	dot_handshake(c);
}

/* ---------------------------------------------------------------- watchers */

static void dot_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dot_client *c = container_of(w, struct dot_client, io);

	(void)loop;
	(void)revents;
	dot_enter(c);
	switch (c->state) {
	case DOT_CONNECTING:
		dot_connected(c);
		break;
	case DOT_HANDSHAKE:
		dot_handshake(c);
		break;
	case DOT_READY:
		dot_ready_io(c, true);
		break;
	case DOT_CLOSED:
		dot_set_events(c, 0);
		break;
	}
	dot_leave(c);
}

static void dot_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dot_client *c = container_of(w, struct dot_client, conn_timer);

	(void)loop;
	(void)revents;
	dot_enter(c);
	if (c->state == DOT_CONNECTING && c->unsent.head &&
	    ev_now(c->loop) - c->conn_started < DOT_CONNECT_TIMEOUT_MS / 1000.0) {
		/* No SYN-ACK within the kernel's initial RTO (RFC 6298: 1 s): a
		 * fresh SYN now, where the kernel would wait 2 s more and then 4.
		 * A server whose address comes back after an outage is then
		 * reached within about a second, whatever the outage lasted. */
		int ret;

		dot_conn_close(c, false);
		c->st.syn_retries++;
		ret = dot_tcp_start(c);
		if (ret < 0) {
			dot_conn_close(c, false);
			dot_addr_failed(c, ret);
		}
	} else if (c->state == DOT_CONNECTING || c->state == DOT_HANDSHAKE) {
		dot_addr_failed(c, -ETIMEDOUT);
	}
	dot_leave(c);
}

static void dot_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dot_client *c = container_of(w, struct dot_client, idle_timer);

	(void)loop;
	(void)revents;
	if (c->state == DOT_READY && !dot_inflight(c))
		dot_conn_close(c, true);
}

static void dot_kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dot_client *c = container_of(w, struct dot_client, kick);

	(void)loop;
	(void)revents;
	dot_enter(c);
	if (c->state == DOT_CLOSED && c->unsent.head) {
		c->addr_tries = 0;
		dot_connect_addr(c);
	} else if (c->state == DOT_READY) {
		dot_ready_io(c, false);
	}
	dot_leave(c);
}

static void dot_query_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dot_query *q = container_of(w, struct dot_query, timer);
	struct dot_client *c = q->c;
	/* Nothing at all came back on this connection since the query was
	 * written: the path or the server is gone (a drop, not a reset, so TCP
	 * would keep it for minutes and retransmit ever more slowly). Later
	 * queries must not queue behind it: a new connection instead. */
	bool stale = q->list == &c->sent && c->state == DOT_READY && c->last_rx < q->sent_at;
	unsigned conn = c->conn_gen;

	(void)loop;
	(void)revents;
	dot_enter(c);
	dot_query_finish(c, q, -ETIMEDOUT, NULL, 0);
	if (stale && !c->dead && c->state == DOT_READY && c->conn_gen == conn) {
		log_ratelimited(LOG_INFO,
				"dot %s: nothing received for a timed-out query: "
				"connection replaced",
				c->srv.name);
		c->st.stale_closed++;
		dot_conn_lost(c, -ETIMEDOUT, true);
	}
	dot_leave(c);
}

/* ---------------------------------------------------------------- API */

struct dot_client *dot_client_new(struct ev_loop *loop, const struct conf_server *srv,
				  const char *client_cert, const char *client_key, int *err)
{
	char why[DOT_WHY_LEN];
	struct dot_client *c = NULL;
	int ret = 0;

	if (!loop || !srv || !srv->tls_name || !srv->tls_name[0] || !srv->naddrs ||
	    srv->naddrs > CONF_MAX_SERVER_ADDRS || !srv->port || srv->npins > CONF_MAX_PINS) {
		ret = -EINVAL;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		ret = -ENOMEM;
		goto out;
	}
	c->loop = loop;
	c->fd = -1;
	c->srv = *srv;
	c->srv.url = NULL;
	c->srv.ca_file = NULL;
	c->srv.name = strdup(srv->name ? srv->name : srv->tls_name);
	c->srv.tls_name = strdup(srv->tls_name);
	c->rbuf = malloc(DOT_FRAME_MAX);
	c->wbuf = malloc(DOT_FRAME_MAX);
	if (!c->srv.name || !c->srv.tls_name || !c->rbuf || !c->wbuf) {
		ret = -ENOMEM;
		goto out;
	}
	c->ctx = tls_client_ctx_new(srv, client_cert, client_key, why, sizeof(why));
	if (!c->ctx) {
		log_err("dot %s: %s", c->srv.name, why);
		ret = -EINVAL;
		goto out;
	}
	SSL_CTX_sess_set_new_cb(c->ctx, dot_new_session_cb);
	for (unsigned i = 0; i < DOT_MAX_INFLIGHT; i++)
		c->free_slots[i] = (uint16_t)(DOT_MAX_INFLIGHT - 1 - i);
	c->nfree = DOT_MAX_INFLIGHT;
	c->idle_s = DOT_IDLE_TIMEOUT_MS / 1000.0;
	ev_io_init(&c->io, dot_io_cb, -1, 0);
	ev_timer_init(&c->conn_timer, dot_conn_timer_cb, 0., 0.);
	ev_timer_init(&c->idle_timer, dot_idle_cb, 0., 0.);
	ev_timer_init(&c->kick, dot_kick_cb, 0., 0.);
out:
	if (ret < 0 && c) {
		dot_destroy(c);
		c = NULL;
	}
	if (err)
		*err = ret;
	return c;
}

int dot_client_query(struct dot_client *c, const uint8_t *q, size_t len, uint32_t timeout_ms,
		     upstream_done_cb cb, void *arg)
{
	struct dot_query *dq;
	int ret = 0;

	if (!c || !q || len < DOT_HDR_LEN || len > UPSTREAM_MAX_ANSWER || !timeout_ms || !cb) {
		ret = -EINVAL;
		goto out;
	}
	if (c->dead) {
		ret = -ECANCELED;
		goto out;
	}
	if (!c->nfree) {
		c->st.inflight_refused++;
		ret = -EAGAIN;
		goto out;
	}
	dq = malloc(sizeof(*dq) + 2 + len);
	if (!dq) {
		ret = -ENOMEM;
		goto out;
	}
	memset(dq, 0, sizeof(*dq));
	dq->c = c;
	dq->cb = cb;
	dq->arg = arg;
	dq->slot = c->free_slots[--c->nfree];
	dq->wire_id = (uint16_t)((unsigned)++c->gen << 8 | dq->slot);
	dq->orig_id = (uint16_t)(q[0] << 8 | q[1]);
	dq->len = 2 + len;
	dq->msg[0] = (uint8_t)(len >> 8);
	dq->msg[1] = (uint8_t)len;
	memcpy(dq->msg + 2, q, len);
	dq->msg[2] = (uint8_t)(dq->wire_id >> 8);
	dq->msg[3] = (uint8_t)dq->wire_id;
	dq->deadline = ev_now(c->loop) + timeout_ms / 1000.0;
	ev_timer_init(&dq->timer, dot_query_timeout_cb, timeout_ms / 1000.0, 0.);
	ev_timer_start(c->loop, &dq->timer);
	c->slots[dq->slot] = dq;
	dot_list_push(&c->unsent, dq);
	c->st.queries++;
	c->st.inflight++;
	ev_timer_stop(c->loop, &c->idle_timer);
	if (c->state == DOT_CLOSED || c->state == DOT_READY)
		dot_kick(c);
out:
	return ret;
}

void dot_client_set_idle_timeout(struct dot_client *c, uint32_t ms)
{
	if (c)
		c->idle_s = (ms ? ms : DOT_IDLE_TIMEOUT_MS) / 1000.0;
}

void dot_client_get_stats(const struct dot_client *c, struct upstream_transport_stats *st)
{
	if (c && st)
		*st = c->st;
}

void dot_client_free(struct dot_client **cp)
{
	struct dot_client *c;

	if (!cp || !*cp)
		return;
	c = *cp;
	*cp = NULL;
	if (c->dead)
		return;
	c->dead = true;
	dot_enter(c);
	ev_timer_stop(c->loop, &c->kick);
	dot_conn_close(c, c->state == DOT_READY);
	dot_conn_fatal(c, -ECANCELED); /* also what was being failed */
	dot_leave(c);
}
