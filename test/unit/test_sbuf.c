/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/sbuf: appends that fit, the first that does not (the line is kept
 * as it was and marked full, later appends do nothing), every buffer size
 * from 0 to past the text, and JSON escaping of untrusted bytes.
 */
#include <string.h>

#include "check.h"
#include "core/sbuf.h"

int main(void)
{
	char buf[64];

	{
		struct sbuf sb = {.p = buf, .len = sizeof(buf)};

		sbuf_printf(&sb, "%s=%d", "a", 1);
		sbuf_printf(&sb, ",%s", "b");
		CHECK(!sb.full && sb.used == 5 && strcmp(buf, "a=1,b") == 0);
	}
	/* Every size: what fits whole is kept, the rest is refused whole. */
	for (size_t len = 1; len <= 12; len++) {
		struct sbuf sb = {.p = buf, .len = len};

		memset(buf, 'x', sizeof(buf));
		sbuf_printf(&sb, "abc");
		sbuf_printf(&sb, "defg");
		sbuf_printf(&sb, "h");
		if (len > 8)
			CHECK(!sb.full && strcmp(buf, "abcdefgh") == 0);
		else if (len > 7)
			CHECK(sb.full && strcmp(buf, "abcdefg") == 0);
		else if (len > 3)
			CHECK(sb.full && strcmp(buf, "abc") == 0);
		else
			CHECK(sb.full && buf[0] == '\0' && sb.used == 0);
		CHECK(sb.used == strlen(buf) && sb.used < len);
	}
	{ /* a zero-sized buffer is never written */
		struct sbuf sb = {.p = buf, .len = 0};

		buf[0] = 'x';
		sbuf_printf(&sb, "a");
		sbuf_json_str(&sb, "a");
		CHECK(buf[0] == 'x' && sb.used == 0);
	}
	{
		struct sbuf sb = {.p = buf, .len = sizeof(buf)};

		sbuf_json_str(&sb, "a\"b\\c\n\x01\x7f\xc3\xa9");
		CHECK(!sb.full);
		CHECK(strcmp(buf, "a\\\"b\\\\c\\u000a\\u0001\\u007f\\u00c3\\u00a9") == 0);
	}
	{ /* escaping stops at the first part that does not fit */
		struct sbuf sb = {.p = buf, .len = 8};

		sbuf_json_str(&sb, "ab\ncd");
		CHECK(sb.full && strcmp(buf, "ab") == 0);
	}
	CHECK_DONE();
}
