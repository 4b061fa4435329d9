/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/sbuf.h"

#include <stdarg.h>
#include <stdio.h>

void sbuf_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->full || sb->len == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->p + sb->used, sb->len - sb->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sb->len - sb->used) {
		sb->full = true;
		sb->p[sb->used] = '\0';
		return;
	}
	sb->used += (size_t)n;
}

void sbuf_json_str(struct sbuf *sb, const char *s)
{
	for (; *s && !sb->full; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			sbuf_printf(sb, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			sbuf_printf(sb, "\\u%04x", ch);
		else
			sbuf_printf(sb, "%c", ch);
	}
}
