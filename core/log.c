#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
