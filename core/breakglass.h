/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Break-glass: an operator opens the network for a bounded time (at most
 * BREAKGLASS_MAX_S), with a reason, when the lockdown itself is in the way
 * of fixing something. While it is open, a flow the verdict would deny is
 * accepted and logged as "break-glass:<reason it would have been denied
 * for>"; nothing else changes (the ruleset stays, the daemon keeps
 * learning). It closes by itself at the deadline. With a state file the
 * deadline survives a daemon restart (it is wall-clock time, and a restart
 * never extends it); while no daemon runs, nothing is open (fail closed).
 */
#ifndef ZTDNS_BREAKGLASS_H
#define ZTDNS_BREAKGLASS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BREAKGLASS_MAX_S      3600
#define BREAKGLASS_REASON_MAX 256

struct breakglass {
	uint64_t until_ms;	/* monotonic (allowset_now_ms); 0: closed */
	uint64_t until_real_ms; /* the same deadline in wall-clock time */
	uint64_t opened_real_ms;
	uid_t uid; /* who opened it */
	char reason[BREAKGLASS_REASON_MAX];
};

/* Open (or re-open with a new deadline) for seconds (1..BREAKGLASS_MAX_S)
 * from now. reason: non-empty printable text, copied. Returns 0 or
 * -EINVAL (nothing changed). */
int breakglass_open(struct breakglass *b, unsigned seconds, const char *reason, uid_t uid,
		    uint64_t now_ms, uint64_t now_real_ms);

void breakglass_close(struct breakglass *b);

/* Is it open at now_ms (monotonic)? */
bool breakglass_is_open(const struct breakglass *b, uint64_t now_ms);

/* Write b to path (closed: the file is removed). Returns 0 or -errno. */
int breakglass_save(const struct breakglass *b, const char *path);

/* Read path into b (closed when there is no file, when it has expired, and
 * on any error). A deadline further than BREAKGLASS_MAX_S ahead is cut to
 * that. Returns 0, -EPERM (unsafe file: see core/statefile.h), -EINVAL
 * (malformed), or -errno. */
int breakglass_load(struct breakglass *b, const char *path, uint64_t now_ms, uint64_t now_real_ms);

#endif
