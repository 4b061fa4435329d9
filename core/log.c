/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

static int log_level = LOG_INFO;
static bool log_syslog;
static int journal_fd = -1; /* connected to journald's socket at log_init() */
static uint64_t journal_fallbacks, journal_dropped;

/* One datagram socket to journald, connected once and kept (reconnected
 * when journald restarted). Non-blocking: a journald that cannot keep up
 * costs a counted line, never a stalled loop. */
static int journal_connect(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	memcpy(sun.sun_path, LOG_JOURNAL_SOCKET, sizeof(LOG_JOURNAL_SOCKET));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void log_init(const char *ident, int level, bool use_syslog)
{
	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog) {
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		if (journal_fd < 0)
			journal_fd = journal_connect();
	}
}

/* journald's native protocol (systemd.journal-fields(7), "Native
 * Protocol"): KEY=value lines in one datagram; MESSAGE in the binary form
 * (KEY, newline, 64-bit little-endian length, value, newline) so that it
 * may hold newlines. Returns false when the caller should use syslog
 * (no journald, or it refused the line); a full socket drops the line
 * (counted) and returns true. */
static bool journal_sendv(int level, const char *msgid, const char *msg, const char *suffix,
			  const struct log_field *fields, unsigned n)
{
	static char nl[] = "\n";
	struct iovec iov[8 + 2 * LOG_MAX_FIELDS];
	char prio[16], id[64], text[1200], buf[LOG_MAX_FIELDS][320];
	uint8_t len8[8];
	struct msghdr mh = {.msg_iov = iov};
	unsigned k = 0;
	size_t tl;
	ssize_t rc;

	if (journal_fd < 0)
		return false;
	snprintf(prio, sizeof(prio), "PRIORITY=%d\n", level);
	iov[k++] = (struct iovec){prio, strlen(prio)};
	iov[k++] = (struct iovec){(char *)"SYSLOG_IDENTIFIER=ztdnsd\n", 25};
	if (msgid) {
		snprintf(id, sizeof(id), "MESSAGE_ID=%s\n", msgid);
		iov[k++] = (struct iovec){id, strlen(id)};
	}
	snprintf(text, sizeof(text), "%s%s", msg, suffix ? suffix : "");
	tl = strlen(text);
	for (unsigned i = 0; i < 8; i++)
		len8[i] = (uint8_t)((uint64_t)tl >> (8 * i));
	iov[k++] = (struct iovec){(char *)"MESSAGE\n", 8};
	iov[k++] = (struct iovec){len8, 8};
	iov[k++] = (struct iovec){text, tl};
	iov[k++] = (struct iovec){nl, 1};
	for (unsigned i = 0; i < n && i < LOG_MAX_FIELDS; i++) {
		int len = snprintf(buf[i], sizeof(buf[i]), "%s=%s", fields[i].name,
				   fields[i].value ? fields[i].value : "");

		/* a field cut short or spanning lines is left out, not mangled */
		if (len < 0 || (size_t)len >= sizeof(buf[i]) || strchr(buf[i], '\n'))
			continue;
		iov[k++] = (struct iovec){buf[i], (size_t)len};
		iov[k++] = (struct iovec){nl, 1};
	}
	mh.msg_iovlen = k;
	rc = sendmsg(journal_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (rc < 0 && (errno == ECONNREFUSED || errno == ENOTCONN)) {
		/* journald restarted: its socket is a new one */
		close(journal_fd);
		journal_fd = journal_connect();
		if (journal_fd >= 0)
			rc = sendmsg(journal_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	if (rc >= 0)
		return true;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		journal_dropped++;
		return true;
	}
	journal_fallbacks++;
	return false;
}

uint64_t log_journal_dropped(void)
{
	return journal_dropped;
}

uint64_t log_journal_fallbacks(void)
{
	return journal_fallbacks;
}

void log_set_level(int level)
{
	log_level = level;
}

bool log_enabled(int level)
{
	return level <= log_level;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void vlog(int level, const char *fmt, va_list ap, const char *suffix)
    __attribute__((format(printf, 2, 0)));

static void vlog(int level, const char *fmt, va_list ap, const char *suffix)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_syslog) {
		if (!journal_sendv(level, NULL, buf, suffix, NULL, 0))
			syslog(level, "%s%s", buf, suffix ? suffix : "");
	} else {
		struct timespec ts;
		struct tm tm;
		char tbuf[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03dZ ztdnsd %s: %s%s\n", tbuf, (int)(ts.tv_nsec / 1000000),
			level_name(level), buf, suffix ? suffix : "");
	}
}

bool log_to_syslog(void)
{
	return log_syslog;
}

void log_record(const char *msgid, const char *line, const struct log_field *fields, unsigned n)
{
	if (!log_syslog) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	if (strchr(line, '\n') || !journal_sendv(LOG_INFO, msgid, line, NULL, fields, n))
		syslog(LOG_INFO, "[%s] %s", msgid, line);
}

void log_verdict_fields(const char *line, const struct log_field *fields, unsigned n)
{
	log_record(LOG_MSGID_VERDICT, line, fields, n);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	char suffix[160];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(errno));
	if (!log_enabled(LOG_WARNING))
		return;
	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, suffix);
	va_end(ap);
}

void log_limited(struct log_ratelimit *rl, int level, const char *fmt, ...)
{
	struct timespec ts;
	uint64_t now;
	va_list ap;
	char suffix[64] = "";

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (now - rl->window_ms >= 1000) {
		if (rl->suppressed)
			snprintf(suffix, sizeof(suffix), " (%u similar messages suppressed)",
				 rl->suppressed);
		rl->window_ms = now;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count >= LOG_RATELIMIT_BURST) {
		rl->suppressed++;
		return;
	}
	rl->count++;
	va_start(ap, fmt);
	vlog(level, fmt, ap, suffix[0] ? suffix : NULL);
	va_end(ap);
}
