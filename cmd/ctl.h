/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztdnsctl's parts: the connection to the daemon (ztdnsctl.c) and the
 * commands that need more than one request (ctlxfer.c: export, import;
 * ctltop.c: top). Client side only.
 */
#ifndef ZTDNS_CMD_CTL_H
#define ZTDNS_CMD_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Connect to the control socket at path. Returns a descriptor or -1 with
 * errno set. */
int ctl_connect(const char *path);

/* Send req, read one response line. Returns a new object or NULL with a
 * message on stderr (unless quiet). */
json_t *ctl_transact(const char *path, json_t *req, bool quiet);

#define CTL_STREAM_LINE_MAX 65536

/* A watch subscription being read: fd is connected, the request sent. */
struct ctl_stream {
	int fd;
	bool first; /* true until the answer to the subscription is read */
	size_t len;
	unsigned long long dropped; /* lines longer than the buffer */
	char buf[CTL_STREAM_LINE_MAX];
};

/* Read what the daemon sent on st and call fn for each complete event line
 * (the first line, the subscription's answer, is checked: its error goes to
 * stderr). Call when st->fd is readable. Returns 0, EX_UNAVAILABLE when the
 * daemon closed the connection, 1 when it refused the subscription, or
 * fn's non-zero value. */
int ctl_stream_read(struct ctl_stream *st, int (*fn)(void *arg, const char *line, size_t len),
		    void *arg);

/* ztdnsctl export [FILE|-]: file NULL or "-" is stdout. Returns an exit code. */
int ctl_export(const char *path, const char *file);

/* ztdnsctl import FILE|-. Returns an exit code. */
int ctl_import(const char *path, const char *file);

/* ztdnsctl audit-report --config [FILE]: the canonical configuration with
 * the proposed exceptions. Returns an exit code. */
int ctl_audit_config(const char *path, json_t *req, const char *file);

/* ztdnsctl top: interval seconds between frames; once: one frame after
 * the first interval (also without a terminal); frames: stop after that
 * many (0: until q). Returns an exit code. */
int ctl_top(const char *path, double interval, bool once, long frames);

#endif
