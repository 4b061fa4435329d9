/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static bool log_syslog;

void log_init(const char *ident, int level, bool use_syslog)
{
	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
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

/* journald's native protocol: KEY=value lines in one datagram. */
static bool journal_send(const char *line)
{
	static const char path[] = "/run/systemd/journal/socket";
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char msg[2048];
	int fd, n;
	bool ok;

	n = snprintf(msg, sizeof(msg),
		     "PRIORITY=6\nSYSLOG_IDENTIFIER=ztdnsd\nMESSAGE_ID=%s\nMESSAGE=%s\n",
		     LOG_MSGID_VERDICT, line);
	if (n < 0 || (size_t)n >= sizeof(msg) || strchr(line, '\n'))
		return false;
	memcpy(sun.sun_path, path, sizeof(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sun,
		    sizeof(sun)) == n;
	close(fd);
	return ok;
}

void log_verdict(const char *line)
{
	if (!log_syslog) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	if (!journal_send(line))
		syslog(LOG_INFO, "[%s] %s", LOG_MSGID_VERDICT, line);
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

void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
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
