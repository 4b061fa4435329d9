/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The query log (query_log): one JSON line per query the stub answered,
 * to a file and/or journald. Lines are formatted into a bounded buffer and
 * written out once per loop iteration (querylog_flush); a line that does
 * not fit is dropped and counted, never waited for.
 */
#ifndef ZTDNS_QUERYLOG_H
#define ZTDNS_QUERYLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"

#define QUERYLOG_BUF_MAX  (256 * 1024) /* formatted lines waiting for the next flush */
#define QUERYLOG_LINE_MAX 4096	       /* longer lines lose addresses ("more": N) */

struct querylog;

/* An address the answer proved: learned (why NULL), or removed from it
 * and why ("never-learn", "over-cap", "allowset-full"). */
struct querylog_addr {
	struct addr addr;
	const char *why;
};

/* One answered query; every pointer is borrowed for the call. */
struct querylog_entry {
	const struct sockaddr_storage *client;
	bool has_uid; /* a local socket whose uid was found */
	uint32_t uid;
	const char *name; /* the question, presentation form */
	uint16_t qtype;
	unsigned rcode;
	const struct querylog_addr *addrs;
	size_t naddrs;
	size_t more;	    /* addresses left out of addrs */
	const char *server; /* NULL: none answered (a local error) */
	bool cache_hit;
	uint64_t latency_us;
	uint64_t time_ms; /* wall clock (CLOCK_REALTIME), ms */
};

struct querylog_stats {
	uint64_t lines;	  /* written or handed to journald */
	uint64_t dropped; /* the buffer was full */
	uint64_t errors;  /* lines lost to a failed write */
};

/* Open path for appending (NULL: no file) and/or journal (each line to
 * journald with MESSAGE_ID LOG_MSGID_QUERY). Returns NULL with errno set. */
struct querylog *querylog_open(const char *path, bool journal);

/* Flushes, closes; NULL-safe; sets *q to NULL. */
void querylog_close(struct querylog **q);

/* Open the file again by its name (logrotate, SIGUSR1): 0, or -errno with
 * the old file kept. */
int querylog_reopen(struct querylog *q);

/* Format e and queue it (file) or send it (journald). */
void querylog_add(struct querylog *q, const struct querylog_entry *e);

/* Write what is queued. */
void querylog_flush(struct querylog *q);

void querylog_get_stats(const struct querylog *q, struct querylog_stats *st);

/* Format e into buf (NUL-terminated, no newline). Returns the length. */
size_t querylog_format(char *buf, size_t len, const struct querylog_entry *e);

#endif
