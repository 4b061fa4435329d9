/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Daemon logging: levels, stderr on a terminal or in the foreground, syslog
 * otherwise, and rate limiting for anything on a hot path. The level is
 * checked before formatting.
 */
#ifndef ZTDNS_LOG_H
#define ZTDNS_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Levels are syslog's: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
void log_init(const char *ident, int level, bool use_syslog);
void log_set_level(int level);
bool log_enabled(int level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like log_msg at LOG_WARNING, with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

/* The stable journald MESSAGE_ID of verdict lines (journalctl
 * MESSAGE_ID=5a7d0e8c4b2f4c1e9d3a6b7c8e9f0a1b). */
#define LOG_MSGID_VERDICT "5a7d0e8c4b2f4c1e9d3a6b7c8e9f0a1b"

/* Is the daemon logging to syslog/journald (not a terminal)? */
bool log_to_syslog(void);

/* One structured journald field, NAME=value (NAME: A-Z, 0-9, _; the value
 * one line). Both strings are borrowed for the call. */
struct log_field {
	const char *name;
	const char *value;
};

#define LOG_MAX_FIELDS 24

/* One verdict line: to journald (its native protocol over one non-blocking
 * datagram socket connected at log_init() and kept) with MESSAGE_ID,
 * PRIORITY, SYSLOG_IDENTIFIER and the n fields (at most LOG_MAX_FIELDS, more
 * are left out) so that "journalctl ZTDNS_REASON=never-resolved" finds it;
 * dropped and counted when journald's socket is full; to syslog when there is
 * no journald or it refuses the line; to stderr in the foreground. */
void log_verdict_fields(const char *line, const struct log_field *fields, unsigned n);

/* The stable journald MESSAGE_ID of query log lines (dns/querylog.h). */
#define LOG_MSGID_QUERY "3c1f6a9e2d8b4e7fa05c9b3d7e1f2a64"

/* log_verdict_fields() with another MESSAGE_ID (msgid: 32 hex digits). */
void log_record(const char *msgid, const char *line, const struct log_field *fields, unsigned n);

/* Lines that went to syslog because journald refused them. */
uint64_t log_journal_fallbacks(void);

/* Lines dropped because journald's socket was full (never waited for). */
uint64_t log_journal_dropped(void);

/* At most LOG_RATELIMIT_BURST messages per second per limiter; the number
 * suppressed is reported with the next message that passes. */
#define LOG_RATELIMIT_BURST 10

struct log_ratelimit {
	uint64_t window_ms;
	unsigned count;
	unsigned suppressed;
};

/* Rate-limited log_msg: a static struct log_ratelimit per call site. */
void log_limited(struct log_ratelimit *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_ratelimited(level, ...)                                                                \
	do {                                                                                       \
		static struct log_ratelimit rl_;                                                   \
		if (log_enabled(level))                                                            \
			log_limited(&rl_, level, __VA_ARGS__);                                     \
	} while (0)

#endif
