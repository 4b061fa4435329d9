/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounded string builder for log lines: appends into a caller's buffer
 * and, once something does not fit, stops and marks the line full (the
 * caller counts or drops it). Never allocates; used on the loop only.
 */
#ifndef ZTDNS_SBUF_H
#define ZTDNS_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *p;     /* the buffer (len bytes), always NUL-terminated */
	size_t len;  /* its size */
	size_t used; /* bytes written, without the NUL */
	bool full;   /* something did not fit: nothing more is added */
};

/* Append printf-style; on overflow keep what fitted before and set full. */
void sbuf_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append s as the contents of a JSON string: '"' and '\' escaped, control
 * bytes and every byte outside printable ASCII as \u00XX (names come from
 * DNS answers and process names from /proc: untrusted). */
void sbuf_json_str(struct sbuf *sb, const char *s);

#endif
