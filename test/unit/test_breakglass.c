/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Break-glass and its state file: the bounds of an opening, the verdict it
 * changes, and what survives a restart (and what must not: an expired,
 * tampered, unsafe or malformed file opens nothing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/breakglass.h"
#include "core/statefile.h"
#include "core/verdict.h"

static char dir[64];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

static void test_open_bounds(void)
{
	struct breakglass b = {0};
	char long_reason[BREAKGLASS_REASON_MAX + 1];

	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	CHECK(breakglass_open(&b, 0, "r", 0, 1000, 5000) == -EINVAL);
	CHECK(breakglass_open(&b, BREAKGLASS_MAX_S + 1, "r", 0, 1000, 5000) == -EINVAL);
	CHECK(breakglass_open(&b, 10, "", 0, 1000, 5000) == -EINVAL);
	CHECK(breakglass_open(&b, 10, NULL, 0, 1000, 5000) == -EINVAL);
	CHECK(breakglass_open(&b, 10, "two\nlines", 0, 1000, 5000) == -EINVAL);
	CHECK(breakglass_open(&b, 10, long_reason, 0, 1000, 5000) == -EINVAL);
	CHECK(!breakglass_is_open(&b, 1000));
	CHECK(breakglass_open(&b, BREAKGLASS_MAX_S, "incident 42", 7, 1000, 5000) == 0);
	CHECK(breakglass_is_open(&b, 1000 + BREAKGLASS_MAX_S * 1000ull - 1));
	CHECK(!breakglass_is_open(&b, 1000 + BREAKGLASS_MAX_S * 1000ull));
	CHECK(b.until_real_ms == 5000 + BREAKGLASS_MAX_S * 1000ull && b.uid == 7);
	CHECK_STREQ(b.reason, "incident 42");
	breakglass_close(&b);
	CHECK(!breakglass_is_open(&b, 1000));
}

static void test_verdict(void)
{
	struct verdict_policy p = {.enforce = true};
	struct packet_info pkt = {.proto = 6, .dport = 443};
	struct verdict_result r;

	pkt.dst.family = AF_INET;
	memcpy(pkt.dst.b, "\xc6\x33\x64\x07", 4);
	p.allowset = allowset_new(16, 4);
	CHECK(p.allowset != NULL);
	if (!p.allowset)
		return;
	allowset_reader_register();
	verdict_decide(&p, &pkt, NULL, 1000, &r);
	CHECK(!r.accept && !r.break_glass && r.reason == VERDICT_NEVER_RESOLVED);
	p.open_until_ms = 2000;
	verdict_decide(&p, &pkt, NULL, 1999, &r);
	CHECK(r.accept && r.break_glass && !r.would_deny && r.reason == VERDICT_NEVER_RESOLVED);
	verdict_decide(&p, NULL, NULL, 1999, &r);
	CHECK(r.accept && r.break_glass && r.reason == VERDICT_UNPARSABLE);
	verdict_decide(&p, &pkt, NULL, 2000, &r);
	CHECK(!r.accept && !r.break_glass);
	allowset_reader_unregister();
	allowset_free(&p.allowset);
}

static void test_save_load(void)
{
	char path[128];
	struct breakglass b = {0}, l;
	struct stat sb;

	snprintf(path, sizeof(path), "%s/bg.json", dir);
	/* No file: closed, not an error. */
	CHECK(breakglass_load(&l, path, 100, 10000) == 0 && !breakglass_is_open(&l, 100));
	CHECK(breakglass_open(&b, 600, "vendor \"update\" \\ window", 0, 100, 100000000) == 0);
	CHECK(breakglass_save(&b, path) == 0);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	/* A restart 100 s later (another monotonic clock): 500 s are left. */
	CHECK(breakglass_load(&l, path, 50, 100100000) == 0);
	CHECK(breakglass_is_open(&l, 50 + 499999) && !breakglass_is_open(&l, 50 + 500000));
	CHECK_STREQ(l.reason, "vendor \"update\" \\ window");
	/* Past the deadline: closed. */
	CHECK(breakglass_load(&l, path, 50, 100600000) == 0 && !breakglass_is_open(&l, 50));
	/* A clock set back by a day never buys more than one period. */
	CHECK(breakglass_load(&l, path, 0, 100000000 - 86400000) == 0);
	CHECK(l.until_ms == BREAKGLASS_MAX_S * 1000ull);
	/* Closing removes the file. */
	breakglass_close(&b);
	CHECK(breakglass_save(&b, path) == 0 && access(path, F_OK) != 0);
	CHECK(breakglass_save(&b, path) == 0); /* already gone */
}

static void test_bad_files(void)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "[]",
	    "{\"v\":1}",
	    "{\"v\":2,\"until_ms\":999999,\"opened_ms\":1,\"uid\":0,\"reason\":\"x\"}",
	    "{\"v\":1,\"until_ms\":-5,\"opened_ms\":1,\"uid\":0,\"reason\":\"x\"}",
	    "{\"v\":1,\"until_ms\":999999,\"opened_ms\":1,\"uid\":0,\"reason\":\"\"}",
	    "{\"v\":1,\"until_ms\":999999,\"opened_ms\":1,\"uid\":0,\"reason\":\"a\\nb\"}",
	    "{\"v\":1,\"until_ms\":\"999999\",\"opened_ms\":1,\"uid\":0,\"reason\":\"x\"}",
	};
	char path[128];
	struct breakglass l;

	snprintf(path, sizeof(path), "%s/bad.json", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], 0600);
		CHECK_MSG(breakglass_load(&l, path, 0, 1000) == -EINVAL, "case %zu", i);
		CHECK(!breakglass_is_open(&l, 0));
	}
	/* A good file that others may write opens nothing. */
	write_file(path, "{\"v\":1,\"until_ms\":999999,\"opened_ms\":1,\"uid\":0,\"reason\":\"x\"}",
		   0622);
	CHECK(breakglass_load(&l, path, 0, 1000) == -EPERM && !breakglass_is_open(&l, 0));
	write_file(path, "{\"v\":1,\"until_ms\":999999,\"opened_ms\":1,\"uid\":0,\"reason\":\"x\"}",
		   0600);
	CHECK(breakglass_load(&l, path, 0, 1000) == 0 && breakglass_is_open(&l, 0));
	/* Not a regular file. */
	snprintf(path, sizeof(path), "%s/sub", dir);
	CHECK(mkdir(path, 0700) == 0);
	CHECK(breakglass_load(&l, path, 0, 1000) < 0 && !breakglass_is_open(&l, 0));
	rmdir(path);
	snprintf(path, sizeof(path), "%s/bad.json", dir);
	unlink(path);
}

static void test_statefile(void)
{
	char path[128], buf[160];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/s", dir);
	CHECK(statefile_open(path, "test") == -ENOENT);
	CHECK(statefile_write(path, "abc", 3) == 0);
	fd = statefile_open(path, "test");
	CHECK(fd >= 0);
	n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	CHECK(n == 3 && memcmp(buf, "abc", 3) == 0);
	if (fd >= 0)
		close(fd);
	/* A replaced file: never a mix of old and new. */
	CHECK(statefile_write(path, "defgh", 5) == 0);
	fd = statefile_open(path, "test");
	n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	CHECK(n == 5 && memcmp(buf, "defgh", 5) == 0);
	if (fd >= 0)
		close(fd);
	snprintf(buf, sizeof(buf), "%s/s.tmp", dir);
	CHECK(access(buf, F_OK) != 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/no/such/dir", dir);
	CHECK(statefile_write(path, "x", 1) == -ENOENT);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ztbg-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	test_open_bounds();
	test_verdict();
	test_save_load();
	test_bad_files();
	test_statefile();
	rmdir(dir);
	CHECK_DONE();
}
