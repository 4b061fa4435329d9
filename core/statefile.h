/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Files the daemon keeps between runs (the warm-restart journal, the
 * break-glass deadline). They grant network access, so they are written
 * atomically with mode 0600 and read back only when they are regular files
 * owned by the daemon's user that nobody else can read or write.
 */
#ifndef ZTDNS_STATEFILE_H
#define ZTDNS_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

/* Replace path with len bytes of data: a temporary file beside it (mode
 * 0600), fsync, rename. Returns 0 or -errno; on error path is unchanged. */
int statefile_write(const char *path, const char *data, size_t len);

/* Open path for reading when it is safe to trust (see above). Returns a
 * descriptor the caller closes, -ENOENT when there is no file, -EPERM for
 * unsafe ownership, type or mode (logged), or -errno. */
int statefile_open(const char *path, const char *what);

/* Wall-clock milliseconds (CLOCK_REALTIME): what state files store. */
uint64_t statefile_real_ms(void);

#endif
