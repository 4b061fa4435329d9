/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "core/log.h"
#include "core/util.h"

struct control_client {
	struct control *ctl;
	ev_io rio, wio;
	int fd;
	uid_t uid;
	size_t inlen;
	char in[CONTROL_MAX_LINE];
	char *out;
	size_t outlen, outoff;
	bool closing; /* close once the output is written */
	bool subscribed;
	bool deferred; /* an answer owed (control_defer): input waits */
	uint64_t id;   /* the token control_defer() hands out */
	json_t *filter;
};

struct control {
	struct ev_loop *loop;
	ev_io io;
	ev_timer pause; /* accept stopped after EMFILE/ENFILE */
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uid_t allowed_uid;
	control_handler handler;
	void *arg;
	struct control_client *clients[CONTROL_MAX_CLIENTS];
	unsigned subscribers;
	uint64_t next_id;
	struct control_stats st;
};

json_t *control_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static void client_close(struct control_client *cl)
{
	struct control *c = cl->ctl;

	ev_io_stop(c->loop, &cl->rio);
	ev_io_stop(c->loop, &cl->wio);
	close(cl->fd);
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i] == cl)
			c->clients[i] = NULL;
	if (cl->subscribed)
		c->subscribers--;
	json_decref(cl->filter);
	free(cl->out);
	free(cl);
}

/* Try to write pending output; returns false if the client was closed. */
static bool client_flush(struct control_client *cl)
{
	while (cl->outoff < cl->outlen) {
		ssize_t n = send(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(cl->ctl->loop, &cl->wio);
				return true;
			}
			client_close(cl);
			return false;
		}
		cl->outoff += (size_t)n;
	}
	ev_io_stop(cl->ctl->loop, &cl->wio);
	cl->outlen = cl->outoff = 0;
	if (cl->closing) {
		client_close(cl);
		return false;
	}
	return true;
}

static void client_send(struct control_client *cl, json_t *resp)
{
	char *text = json_dumps(resp, JSON_COMPACT);
	size_t len;
	char *grown;

	json_decref(resp);
	if (!text) {
		cl->closing = true;
		return;
	}
	len = strlen(text);
	if (cl->outlen - cl->outoff + len + 1 > CONTROL_MAX_OUTPUT) {
		/* A client that does not read its answers is dropped. */
		free(text);
		cl->closing = true;
		return;
	}
	grown = realloc(cl->out, cl->outlen + len + 1);
	if (!grown) {
		free(text);
		cl->closing = true;
		return;
	}
	cl->out = grown;
	memcpy(cl->out + cl->outlen, text, len);
	cl->out[cl->outlen + len] = '\n';
	cl->outlen += len + 1;
	free(text);
}

static void handle_line(struct control_client *cl, const char *line, size_t len)
{
	struct control *c = cl->ctl;
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *resp;

	if (!req || !json_is_object(req)) {
		c->st.bad_requests++;
		resp = control_error("bad request: %s", req ? "not a JSON object" : jerr.text);
	} else {
		c->st.requests++;
		resp = c->handler(c->arg, req, cl->uid, cl);
		if (!resp && cl->deferred) {
			json_decref(req); /* answered by control_reply() */
			return;
		}
		cl->deferred = false; /* a handler that deferred may answer after all */
		if (!resp)
			resp = control_error("internal error");
	}
	json_decref(req);
	client_send(cl, resp);
}

/* Handle every whole line received, up to one whose answer is deferred. */
static void client_process(struct control_client *cl)
{
	size_t start = 0;

	for (size_t i = 0; i < cl->inlen && !cl->deferred; i++) {
		if (cl->in[i] != '\n')
			continue;
		if (i > start)
			handle_line(cl, cl->in + start, i - start);
		start = i + 1;
	}
	if (start > 0) {
		memmove(cl->in, cl->in + start, cl->inlen - start);
		cl->inlen -= start;
	} else if (cl->inlen == sizeof(cl->in) && !cl->deferred) {
		cl->ctl->st.bad_requests++;
		client_send(cl, control_error("request longer than %d bytes", CONTROL_MAX_LINE));
		cl->closing = true;
		cl->inlen = 0;
	}
	if (cl->closing || cl->deferred)
		ev_io_stop(cl->ctl->loop, &cl->rio);
}

static void on_client_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *cl = container_of(w, struct control_client, rio);
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(cl->fd, cl->in + cl->inlen, sizeof(cl->in) - cl->inlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(cl);
		return;
	}
	cl->inlen += (size_t)n;
	client_process(cl);
	client_flush(cl);
}

uint64_t control_defer(struct control_client *cl)
{
	cl->deferred = true;
	return cl->id;
}

void control_reply(struct control *c, uint64_t token, json_t *resp)
{
	struct control_client *cl = NULL;

	for (unsigned i = 0; c && i < CONTROL_MAX_CLIENTS && !cl; i++)
		if (c->clients[i] && c->clients[i]->id == token && c->clients[i]->deferred)
			cl = c->clients[i];
	if (!cl) {
		json_decref(resp); /* the client has gone */
		return;
	}
	cl->deferred = false;
	client_send(cl, resp ? resp : control_error("internal error"));
	client_process(cl);
	if (!cl->closing && !cl->deferred)
		ev_io_start(c->loop, &cl->rio);
	client_flush(cl);
}

static void on_client_write(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	client_flush(container_of(w, struct control_client, wio));
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control *c = container_of(w, struct control, pause);

	(void)revents;
	ev_io_start(loop, &c->io);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control *c = container_of(w, struct control, io);
	struct control_client *cl;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	unsigned slot;
	int fd;

	(void)revents;
	fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (UTIL_ACCEPT_MUST_PAUSE(errno)) {
			c->st.accept_paused++;
			log_ratelimited(LOG_WARNING, "control: accept: %s; pausing %.1f s",
					strerror(errno), UTIL_ACCEPT_PAUSE_S);
			ev_io_stop(loop, &c->io);
			ev_timer_set(&c->pause, UTIL_ACCEPT_PAUSE_S, 0.);
			ev_timer_start(loop, &c->pause);
		}
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    (cred.uid != 0 && cred.uid != c->allowed_uid && cred.uid != geteuid())) {
		c->st.refused_creds++;
		log_ratelimited(LOG_WARNING, "control: refused a client with uid %d",
				clen == sizeof(cred) ? (int)cred.uid : -1);
		close(fd);
		return;
	}
	for (slot = 0; slot < CONTROL_MAX_CLIENTS; slot++)
		if (!c->clients[slot])
			break;
	cl = slot < CONTROL_MAX_CLIENTS ? calloc(1, sizeof(*cl)) : NULL;
	if (!cl) {
		c->st.refused_full++;
		log_ratelimited(LOG_WARNING, "control: too many clients");
		close(fd);
		return;
	}
	c->st.accepted++;
	cl->ctl = c;
	cl->id = ++c->next_id;
	cl->fd = fd;
	cl->uid = cred.uid;
	c->clients[slot] = cl;
	ev_io_init(&cl->rio, on_client_read, fd, EV_READ);
	ev_io_init(&cl->wio, on_client_write, fd, EV_WRITE);
	ev_io_start(loop, &cl->rio);
}

struct control *control_new(struct ev_loop *loop, const char *path, uid_t allowed_uid,
			    control_handler h, void *arg, int *err)
{
	struct control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[sizeof(sun.sun_path)];
	char *slash;
	mode_t old;
	int rc;

	if (!c) {
		rc = -ENOMEM;
		goto fail;
	}
	c->fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			goto fail;
		}
	}
	memcpy(sun.sun_path, path, strlen(path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		goto fail;
	}
	unlink(path);
	old = umask(0177);
	rc = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(c->fd, 16) < 0) {
		rc = -errno;
		goto fail;
	}
	if (allowed_uid != 0 && chown(path, allowed_uid, (gid_t)-1) < 0)
		log_warn("control: chown %s", path);
	c->loop = loop;
	c->allowed_uid = allowed_uid;
	c->handler = h;
	c->arg = arg;
	ev_io_init(&c->io, on_accept, c->fd, EV_READ);
	ev_init(&c->pause, on_accept_pause);
	ev_io_start(loop, &c->io);
	return c;
fail:
	if (c && c->fd >= 0)
		close(c->fd);
	free(c);
	*err = rc;
	return NULL;
}

void control_free(struct control **cp)
{
	struct control *c;

	if (!cp || !*cp)
		return;
	c = *cp;
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i])
			client_close(c->clients[i]);
	ev_io_stop(c->loop, &c->io);
	ev_timer_stop(c->loop, &c->pause);
	close(c->fd);
	unlink(c->path);
	free(c);
	*cp = NULL;
}

void control_subscribe(struct control_client *cl, json_t *filter)
{
	if (!cl->subscribed)
		cl->ctl->subscribers++;
	cl->subscribed = true;
	json_decref(cl->filter);
	cl->filter = json_incref(filter);
}

bool control_has_subscribers(const struct control *c)
{
	return c && c->subscribers > 0;
}

void control_publish(struct control *c, control_match match, const void *event, const char *line,
		     size_t len)
{
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *cl = c->clients[i];
		char *grown;

		if (!cl || !cl->subscribed || cl->closing)
			continue;
		if (cl->filter && match && !match(cl->filter, event))
			continue;
		if (cl->outlen - cl->outoff + len + 1 > CONTROL_WATCH_OUTPUT) {
			c->st.events_dropped++;
			continue;
		}
		grown = realloc(cl->out, cl->outlen + len + 1);
		if (!grown) {
			c->st.events_dropped++;
			continue;
		}
		cl->out = grown;
		memcpy(cl->out + cl->outlen, line, len);
		cl->out[cl->outlen + len] = '\n';
		cl->outlen += len + 1;
		c->st.events++;
		client_flush(cl); /* may close cl: nothing of it is used after */
	}
}

void control_get_stats(const struct control *c, struct control_stats *st)
{
	*st = c->st;
}
