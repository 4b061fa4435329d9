/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control commands that move allowances between daemons
 * (core/transfer.h is the format):
 *   {"cmd":"export"}   -> {"ok", "format", "version", "exported_at",
 *                          "entries":[...], "total", "truncated"}
 *   {"cmd":"import", "version":1, "entries":[...], "dry_run":bool?}
 *                      -> {"ok", "accepted", "imported", "refused":[{"index",
 *                          "error"}...], "room"}
 * A control request is at most CONTROL_MAX_LINE bytes, so ztdnsctl sends a
 * document in batches: first every batch as a dry run (nothing changes),
 * and only when no entry was refused, every batch for real. The daemon
 * checks every entry both times; the client's two passes only make the
 * import all or nothing. Import needs uid 0.
 */
#ifndef ZTDNS_XFERCMD_H
#define ZTDNS_XFERCMD_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define XFERCMD_EXPORT_MAX 10000 /* entries in one export (truncated past it) */
#define XFERCMD_BATCH_MAX  64	 /* entries in one import request */

struct daemon;

struct xfercmd_stats {
	uint64_t imported; /* entries added or renewed by an import */
	uint64_t refused;  /* entries an import (dry run or not) refused */
};

/* The handlers; d is the daemon, the result a new reference. */
json_t *xfercmd_export(struct daemon *d, json_t *req);
json_t *xfercmd_import(struct daemon *d, json_t *req, uid_t uid);

#endif
