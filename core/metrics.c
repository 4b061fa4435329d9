/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/metrics.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <microhttpd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/util.h"

struct metrics {
	struct ev_loop *loop;
	struct daemon *d;
	struct MHD_Daemon *mhd;
	int fd;
	ev_io io;     /* our listening socket */
	ev_io mhd_io; /* MHD's epoll descriptor */
	ev_timer tick;
	ev_timer pause; /* accept stopped after EMFILE/ENFILE */
	struct metrics_stats st;
	char unix_path[108];
};

/* ---- the HTTP side: libmicrohttpd on our loop ---- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
				 char *body, size_t len, enum MHD_ResponseMemoryMode mode,
				 const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* GET and HEAD /metrics (MHD leaves the body out of a HEAD answer but keeps
 * its Content-Length); 405 for other methods there, 404 elsewhere. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct metrics *m = cls;
	char *body = NULL;
	size_t blen = 0;
	FILE *f;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, "/metrics") != 0)
		return send_text(c, MHD_HTTP_NOT_FOUND, "text/plain", (char *)"GET /metrics\n", 13,
				 MHD_RESPMEM_PERSISTENT, NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
				 (char *)"GET or HEAD\n", 12, MHD_RESPMEM_PERSISTENT, "GET, HEAD");
	f = open_memstream(&body, &blen);
	if (!f)
		return MHD_NO;
	if (stats_render_prometheus(m->d, f) < 0) {
		fclose(f);
		free(body);
		return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
				 (char *)"out of memory\n", 14, MHD_RESPMEM_PERSISTENT, NULL);
	}
	fclose(f);
	m->st.scrapes++;
	return send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, blen,
			 MHD_RESPMEM_MUST_FREE, NULL);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_ratelimited(LOG_WARNING, "metrics: %s", buf);
}

/* Let MHD do what is due, then arm the timer for its next deadline (idle
 * connections are closed after METRICS_TIMEOUT_S). */
static void mhd_step(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	MHD_run(m->mhd);
	ev_timer_stop(m->loop, &m->tick);
	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES) {
		ev_timer_set(&m->tick, (double)ms / 1000.0, 0.);
		ev_timer_start(m->loop, &m->tick);
	}
}

static void on_mhd_io(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	mhd_step(container_of(w, struct metrics, mhd_io));
}

static void on_mhd_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	mhd_step(container_of(w, struct metrics, tick));
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct metrics *m = container_of(w, struct metrics, pause);

	(void)revents;
	ev_io_start(loop, &m->io);
}

/* We accept (so the descriptor-exhaustion pause and the counters stay ours)
 * and hand the connection to MHD, which refuses it past its connection
 * limit (and closes it in every failure case). */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics *m = container_of(w, struct metrics, io);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd;

	(void)revents;
	fd = accept4(m->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (UTIL_ACCEPT_MUST_PAUSE(errno)) {
			m->st.accept_paused++;
			log_ratelimited(LOG_WARNING, "metrics: accept: %s; pausing %.1f s",
					strerror(errno), UTIL_ACCEPT_PAUSE_S);
			ev_io_stop(loop, &m->io);
			ev_timer_set(&m->pause, UTIL_ACCEPT_PAUSE_S, 0.);
			ev_timer_start(loop, &m->pause);
		}
		return;
	}
	if (MHD_add_connection(m->mhd, fd, (struct sockaddr *)&ss, sl) == MHD_YES)
		m->st.accepted++;
	else
		m->st.refused_full++;
	mhd_step(m);
}

void metrics_get_stats(const struct metrics *m, struct metrics_stats *st)
{
	if (m)
		*st = m->st;
	else
		memset(st, 0, sizeof(*st));
}

struct metrics *metrics_new(struct ev_loop *loop, const char *spec, struct daemon *d, int *err)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	const union MHD_DaemonInfo *info;
	int one = 1, rc;

	if (!m) {
		*err = -ENOMEM;
		return NULL;
	}
	m->fd = -1;
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
		mode_t old;

		if (strlen(spec + 5) >= sizeof(sun->sun_path)) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, spec + 5, strlen(spec + 5));
		snprintf(m->unix_path, sizeof(m->unix_path), "%s", spec + 5);
		sl = sizeof(*sun);
		m->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (m->fd < 0) {
			rc = -errno;
			goto fail;
		}
		unlink(m->unix_path);
		old = umask(0117); /* 0660: a scraper in our group may read it */
		rc = bind(m->fd, (struct sockaddr *)&ss, sl);
		umask(old);
	} else {
		char host[ADDR_STRLEN + 2];
		const char *colon = strrchr(spec, ':');
		struct addr a;
		size_t hl;

		if (!colon) {
			rc = -EINVAL;
			goto fail;
		}
		hl = (size_t)(colon - spec);
		if (spec[0] == '[' && hl >= 2) {
			memcpy(host, spec + 1, hl - 2);
			host[hl - 2] = '\0';
		} else if (hl < sizeof(host)) {
			memcpy(host, spec, hl);
			host[hl] = '\0';
		} else {
			rc = -EINVAL;
			goto fail;
		}
		if (addr_parse(host, &a) < 0) {
			rc = -EINVAL;
			goto fail;
		}
		if (a.family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
			memcpy(&sin->sin_addr, a.b, 4);
			sl = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
			memcpy(&sin6->sin6_addr, a.b, 16);
			sl = sizeof(*sin6);
		}
		m->fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (m->fd < 0) {
			rc = -errno;
			goto fail;
		}
		setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		rc = bind(m->fd, (struct sockaddr *)&ss, sl);
	}
	if (rc < 0 || listen(m->fd, METRICS_MAX_CLIENTS) < 0) {
		rc = -errno;
		goto fail;
	}
	m->loop = loop;
	m->d = d;
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0,
				  NULL, NULL, on_request, m, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned)METRICS_MAX_CLIENTS, MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned)METRICS_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				  (size_t)METRICS_REQ_MAX * 4, MHD_OPTION_EXTERNAL_LOGGER,
				  mhd_logger, NULL, MHD_OPTION_END);
	if (!m->mhd) {
		rc = -ENOMEM;
		goto fail;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		rc = -EINVAL;
		goto fail;
	}
	ev_io_init(&m->io, on_accept, m->fd, EV_READ);
	ev_io_init(&m->mhd_io, on_mhd_io, info->epoll_fd, EV_READ);
	ev_init(&m->tick, on_mhd_tick);
	ev_init(&m->pause, on_accept_pause);
	ev_io_start(loop, &m->io);
	ev_io_start(loop, &m->mhd_io);
	return m;
fail:
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	if (m->fd >= 0)
		close(m->fd);
	if (m->unix_path[0])
		unlink(m->unix_path);
	free(m);
	*err = rc;
	return NULL;
}

void metrics_free(struct metrics **mp)
{
	struct metrics *m;

	if (!mp || !*mp)
		return;
	m = *mp;
	ev_io_stop(m->loop, &m->io);
	ev_io_stop(m->loop, &m->mhd_io);
	ev_timer_stop(m->loop, &m->tick);
	ev_timer_stop(m->loop, &m->pause);
	MHD_stop_daemon(m->mhd); /* closes every connection it holds */
	close(m->fd);
	if (m->unix_path[0])
		unlink(m->unix_path);
	free(m);
	*mp = NULL;
}
