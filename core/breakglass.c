/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/breakglass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/statefile.h"

#define BREAKGLASS_FILE_MAX 4096

static bool reason_ok(const char *r)
{
	size_t n = r ? strlen(r) : 0;

	if (n == 0 || n >= BREAKGLASS_REASON_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)r[i] < 0x20 || r[i] == 0x7f)
			return false;
	return true;
}

int breakglass_open(struct breakglass *b, unsigned seconds, const char *reason, uid_t uid,
		    uint64_t now_ms, uint64_t now_real_ms)
{
	if (seconds < 1 || seconds > BREAKGLASS_MAX_S || !reason_ok(reason))
		return -EINVAL;
	b->until_ms = now_ms + (uint64_t)seconds * 1000u;
	b->until_real_ms = now_real_ms + (uint64_t)seconds * 1000u;
	b->opened_real_ms = now_real_ms;
	b->uid = uid;
	memcpy(b->reason, reason, strlen(reason) + 1);
	return 0;
}

void breakglass_close(struct breakglass *b)
{
	memset(b, 0, sizeof(*b));
}

bool breakglass_is_open(const struct breakglass *b, uint64_t now_ms)
{
	return b->until_ms > now_ms;
}

int breakglass_save(const struct breakglass *b, const char *path)
{
	json_t *o;
	char *text;
	int rc;

	if (!b->until_ms)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	o = json_pack("{s:i, s:I, s:I, s:I, s:s}", "v", 1, "until_ms", (json_int_t)b->until_real_ms,
		      "opened_ms", (json_int_t)b->opened_real_ms, "uid", (json_int_t)b->uid,
		      "reason", b->reason);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	rc = statefile_write(path, text, strlen(text));
	free(text);
	return rc;
}

int breakglass_load(struct breakglass *b, const char *path, uint64_t now_ms, uint64_t now_real_ms)
{
	char buf[BREAKGLASS_FILE_MAX];
	json_int_t until = 0, opened = 0, uid = 0, v = 0;
	const char *reason = NULL;
	json_error_t jerr;
	json_t *o = NULL;
	ssize_t n;
	int fd, rc = 0;

	breakglass_close(b);
	fd = statefile_open(path, "break-glass");
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return -errno;
	if ((size_t)n == sizeof(buf))
		return -EINVAL;
	o = json_loadb(buf, (size_t)n, 0, &jerr);
	if (!o ||
	    json_unpack(o, "{s:I, s:I, s:I, s:I, s:s}", "v", &v, "until_ms", &until, "opened_ms",
			&opened, "uid", &uid, "reason", &reason) < 0 ||
	    v != 1 || until < 0 || opened < 0 || uid < 0 || !reason_ok(reason)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)until > now_real_ms) {
		uint64_t left = (uint64_t)until - now_real_ms;

		/* A clock set back, or a hand-edited file, never buys more
		 * than one full period from now. */
		if (left > (uint64_t)BREAKGLASS_MAX_S * 1000u)
			left = (uint64_t)BREAKGLASS_MAX_S * 1000u;
		b->until_ms = now_ms + left;
		b->until_real_ms = now_real_ms + left;
		b->opened_real_ms = (uint64_t)opened;
		b->uid = (uid_t)uid;
		memcpy(b->reason, reason, strlen(reason) + 1);
	}
out:
	json_decref(o);
	return rc;
}
