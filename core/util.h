/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers shared by every module: no state, no functions. */
#ifndef ZTDNS_UTIL_H
#define ZTDNS_UTIL_H

#include <errno.h>
#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Recover the object that embeds a member (libev watchers, hash nodes). */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define UTIL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define UTIL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* accept4() failed with errno e for want of descriptors (EMFILE, ENFILE) or
 * memory: the connection stays in the backlog, the listener stays readable,
 * and a level-triggered watcher would fire again at once (a busy loop).
 * Listeners stop their watcher for UTIL_ACCEPT_PAUSE_S instead, and count
 * it. Other errors (EAGAIN, ECONNABORTED...) concern one connection only. */
#define UTIL_ACCEPT_MUST_PAUSE(e)                                                                  \
	((e) == EMFILE || (e) == ENFILE || (e) == ENOBUFS || (e) == ENOMEM)
#define UTIL_ACCEPT_PAUSE_S 0.5

#endif
