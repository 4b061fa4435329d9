/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running the netfilter tools (iptables-restore, ipset): no shell, a fixed
 * search path, input on stdin, bounded output collected.
 */
#ifndef ZTDNS_SPAWN_H
#define ZTDNS_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

/* Resolve a tool name to an executable in /usr/sbin, /sbin, /usr/bin, /bin
 * (no $PATH). Writes the path into path (len bytes). */
bool spawn_find(const char *name, char *path, size_t len);

/* Run argv (argv[0] a full path); feed in (inlen bytes, may be NULL) to its
 * stdin; collect up to outmax bytes of its stdout into *out (malloc'd,
 * NUL-terminated; caller frees; out may be NULL). Its stderr goes to ours.
 * Returns the exit status, or -errno. */
int spawn_run(char *const argv[], const char *in, size_t inlen, char **out, size_t outmax);

#endif
