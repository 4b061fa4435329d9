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

/* The first line of a stream (watch): true if it says "ok", else false with
 * the daemon's error on stderr. */
bool ctl_stream_ok(const char *line, size_t len);

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
