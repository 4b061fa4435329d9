/* Small helpers shared by every module: no state, no functions. */
#ifndef ZTDNS_UTIL_H
#define ZTDNS_UTIL_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Recover the object that embeds a member (libev watchers, hash nodes). */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define UTIL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define UTIL_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
