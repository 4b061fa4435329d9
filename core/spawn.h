/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running the netfilter tools (iptables, iptables-restore): no shell, a fixed
 * search path, input on stdin, bounded output collected.
 */
#ifndef ZTDNS_SPAWN_H
#define ZTDNS_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct spawn;

/* Resolve a tool name to an executable in /usr/sbin, /sbin, /usr/bin, /bin
 * (no $PATH). Writes the path into path (len bytes). */
bool spawn_find(const char *name, char *path, size_t len);

/* Run argv (argv[0] a full path); feed in (inlen bytes, may be NULL) to its
 * stdin; collect up to outmax bytes of its stdout into *out (malloc'd,
 * NUL-terminated; caller frees; out may be NULL). Its stderr goes to ours.
 * Returns the exit status, or -errno (also when argv[0] cannot be run:
 * posix_spawn reports the exec failure). */
int spawn_run(char *const argv[], const char *in, size_t inlen, char **out, size_t outmax);

/* Called once when a child started by spawn_start() has ended: status is
 * its exit status (128 when a signal ended it) or -errno; out is its stdout
 * (malloc'd, NUL-terminated, at most the outmax given; the callee owns it),
 * NULL when not asked for or unreadable. The struct spawn is gone by then. */
typedef void (*spawn_done)(void *arg, int status, char *out);

/* The same as spawn_run() without waiting: the child's stdin and stdout are
 * memory files (no pipe to keep fed), its end is watched by an ev_child on
 * loop (the loop must be libev's default one, which reaps children), and
 * done(arg, ...) is called from the loop. Returns 0, or -errno (done is then
 * never called). */
int spawn_start(struct ev_loop *loop, char *const argv[], const char *in, size_t inlen,
		size_t outmax, spawn_done done, void *arg);

#endif
