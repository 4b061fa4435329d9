/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The warm-restart journal: the unexpired allowances, written atomically
 * (temporary file, fsync, rename) periodically and on stop, and read back at
 * start before the stub answers, so a restart does not break flows that
 * were allowed a moment ago. Expiry is stored as absolute (wall-clock) time.
 *
 * The file grants network access, so it is written 0600 and refused at load
 * when it is not owned by the daemon's user or is readable or writable by
 * anyone else.
 */
#ifndef ZTDNS_JOURNAL_H
#define ZTDNS_JOURNAL_H

#include <stdint.h>

struct allowset;

#define JOURNAL_LINE_MAX 2048

struct journal_stats {
	uint64_t saves, save_errors;
	uint64_t saved;	       /* entries in the last save */
	uint64_t loaded;       /* entries restored at start */
	uint64_t load_expired; /* entries already expired at load */
	uint64_t load_bad;     /* lines refused at load (malformed) */
	uint64_t load_refused; /* entries the allowset refused (full) */
};

/* Write every unexpired entry of as to path. Writer thread. Returns 0 or
 * -errno (nothing replaced on error). */
int journal_save(struct allowset *as, const char *path, struct journal_stats *st);

/* Add the unexpired entries of path to as. Writer thread. Returns 0 (a
 * missing file is 0), -EPERM for a file with unsafe ownership or mode, or
 * -errno. */
int journal_load(struct allowset *as, const char *path, struct journal_stats *st);

#endif
