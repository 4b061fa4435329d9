/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

static int log_level = LOG_INFO;
static bool log_syslog;
static bool log_journal; /* journald's socket was there at log_init() */
static uint64_t journal_fallbacks;

void log_init(const char *ident, int level, bool use_syslog)
{
	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog) {
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_journal = access(LOG_JOURNAL_SOCKET, W_OK) == 0;
	}
}

/* journald's native protocol through libsystemd: its one datagram socket is
 * opened on first use and kept. extra fields after the standard ones.
 * Returns false when journald refused it (the caller falls back to syslog). */
static bool journal_sendv(int level, const char *msgid, const char *msg, const char *suffix,
			  const struct log_field *fields, unsigned n)
{
	struct iovec iov[5 + LOG_MAX_FIELDS];
	char prio[16], id[64], text[1200], buf[LOG_MAX_FIELDS][320];
	unsigned k = 0;

	if (!log_journal)
		return false;
	snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
	snprintf(text, sizeof(text), "MESSAGE=%s%s", msg, suffix ? suffix : "");
	iov[k++] = (struct iovec){prio, strlen(prio)};
	iov[k++] = (struct iovec){(char *)"SYSLOG_IDENTIFIER=ztdnsd", 24};
	if (msgid) {
		snprintf(id, sizeof(id), "MESSAGE_ID=%s", msgid);
		iov[k++] = (struct iovec){id, strlen(id)};
	}
	iov[k++] = (struct iovec){text, strlen(text)};
	for (unsigned i = 0; i < n && i < LOG_MAX_FIELDS; i++) {
		int len = snprintf(buf[i], sizeof(buf[i]), "%s=%s", fields[i].name,
				   fields[i].value ? fields[i].value : "");

		/* a field cut short or spanning lines is left out, not mangled */
		if (len < 0 || (size_t)len >= sizeof(buf[i]) || strchr(buf[i], '\n'))
			continue;
		iov[k++] = (struct iovec){buf[i], (size_t)len};
	}
	if (sd_journal_sendv(iov, (int)k) < 0) {
		journal_fallbacks++;
		return false;
	}
	return true;
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

void log_verdict_fields(const char *line, const struct log_field *fields, unsigned n)
{
	if (!log_syslog) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	if (strchr(line, '\n') ||
	    !journal_sendv(LOG_INFO, LOG_MSGID_VERDICT, line, NULL, fields, n))
		syslog(LOG_INFO, "[%s] %s", LOG_MSGID_VERDICT, line);
}

void log_verdict(const char *line)
{
	log_verdict_fields(line, NULL, 0);
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
