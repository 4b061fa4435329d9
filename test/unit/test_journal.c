/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The warm-restart journal loader: a saved table read back entry for entry
 * (scope, address, source, expiry, names, server), and files that are
 * truncated, corrupt, expired, too long in a line, larger than the table,
 * unsafe (mode) or missing, each with the counter that says so.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/addr.h"
#include "core/allowset.h"
#include "core/journal.h"
#include "core/statefile.h"

static char dir[64], path[128];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

static struct addr A(const char *s) {
	struct addr a;

	memset(&a, 0, sizeof(a));
	CHECK_MSG(addr_parse(s, &a) == 0, "%s", s);
	return a;
}

static enum allowset_result
look(struct allowset *as, const struct addr *scope, const char *a, struct allowset_view *v)
{
	struct addr x = A(a);

	return allowset_lookup(as, scope, &x, allowset_now_ms(), v, false);
}

/* Load text into a fresh table of max entries; returns the rc. */
static int load(const char *text, size_t max, struct allowset **as, struct journal_stats *st)
{
	memset(st, 0, sizeof(*st));
	*as = allowset_new(max, 4);
	CHECK(*as != NULL);
	if (text)
		write_file(text);
	return journal_load(*as, path, st);
}

/* A line whose expiry is in ms from now (wall clock). */
static void line(char *buf, size_t len, const char *addr, long long in_ms)
{
	snprintf(buf, len,
		 "{\"v\":1,\"addr\":\"%s\",\"source\":\"learned\",\"expires_ms\":%lld,"
		 "\"names\":[\"x.example.test\"],\"server\":\"one\"}\n",
		 addr, (long long)statefile_real_ms() + in_ms);
}

static void test_round_trip(void)
{
	struct allowset *as = allowset_new(64, 4), *back;
	struct addr scope = A("198.51.100.7");
	struct allowset_view v;
	struct journal_stats st = {0};
	uint64_t now = allowset_now_ms();
	struct addr x;

	x = A("192.0.2.10");
	CHECK(allowset_add(as, NULL, &x, now + 60000, ALLOWSET_LEARNED, "www.example.test", "one",
			   now) == 0);
	CHECK(allowset_add(as, NULL, &x, now + 60000, ALLOWSET_LEARNED, "cdn.example.test", "one",
			   now) == 0);
	x = A("2001:db8::10");
	CHECK(allowset_add(as, NULL, &x, now + 120000, ALLOWSET_LEARNED, "www.example.test", "two",
			   now) == 0);
	x = A("192.0.2.20");
	CHECK(allowset_add(as, allowset_scope_self(), &x, now + 30000, ALLOWSET_LEARNED,
			   "self.example.test", "one", now) == 0);
	x = A("192.0.2.30");
	CHECK(allowset_add(as, &scope, &x, now + 90000, ALLOWSET_LEARNED, "lan.example.test", "one",
			   now) == 0);
	x = A("203.0.113.5");
	CHECK(allowset_add(as, NULL, &x, now + 45000, ALLOWSET_MANUAL, NULL, NULL, now) == 0);
	x = A("192.0.2.99"); /* expired: not saved */
	CHECK(allowset_add(as, NULL, &x, now - 1, ALLOWSET_LEARNED, "old.example.test", "one",
			   now - 10000) == 0);
	CHECK(journal_save(as, path, &st) == 0);
	CHECK_MSG(st.saves == 1 && st.saved == 5, "saved %llu", (unsigned long long)st.saved);
	allowset_free(&as);

	CHECK(load(NULL, 64, &back, &st) == 0);
	CHECK_MSG(
	    st.loaded == 5 && st.load_bad == 0 && st.load_expired == 0 && st.load_refused == 0,
	    "loaded %llu bad %llu", (unsigned long long)st.loaded, (unsigned long long)st.load_bad);
	now = allowset_now_ms();
	CHECK(look(back, NULL, "192.0.2.10", &v) == ALLOWSET_HIT);
	/* the expiry survives the wall-clock round trip (within the test's run) */
	CHECK(v.expires_ms > now + 58000 && v.expires_ms <= now + 60000);
	CHECK(strstr(v.names, "www.example.test") && strstr(v.names, "cdn.example.test"));
	CHECK_STREQ(v.server, "one");
	CHECK(v.source == ALLOWSET_LEARNED);
	CHECK(look(back, NULL, "2001:db8::10", &v) == ALLOWSET_HIT);
	CHECK(v.expires_ms > now + 118000 && v.expires_ms <= now + 120000);
	CHECK_STREQ(v.server, "two");
	CHECK(look(back, allowset_scope_self(), "192.0.2.20", &v) == ALLOWSET_HIT);
	CHECK(look(back, NULL, "192.0.2.20", NULL) != ALLOWSET_HIT); /* scope kept */
	CHECK(look(back, &scope, "192.0.2.30", &v) == ALLOWSET_HIT);
	CHECK_STREQ(v.names, "lan.example.test");
	CHECK(look(back, NULL, "192.0.2.30", NULL) != ALLOWSET_HIT);
	CHECK(look(back, NULL, "203.0.113.5", &v) == ALLOWSET_HIT);
	CHECK(v.source == ALLOWSET_MANUAL);
	CHECK(look(back, NULL, "192.0.2.99", NULL) == ALLOWSET_MISS);
	allowset_free(&back);
}

static void test_bad_files(void)
{
	/* expiry 2100-01-01: valid, far ahead */
	static const char *const corrupt[] = {
	    "not json\n",
	    "{\"v\":2,\"addr\":\"192.0.2.1\",\"source\":\"learned\",\"expires_ms\":4102444800000,"
	    "\"names\":[]}\n", /* unknown version */
	    "{\"v\":1,\"addr\":\"192.0.2.300\",\"source\":\"learned\",\"expires_ms\":4102444800000,"
	    "\"names\":[]}\n", /* bad address */
	    "{\"v\":1,\"addr\":\"192.0.2.1\",\"source\":\"guessed\",\"expires_ms\":4102444800000,"
	    "\"names\":[]}\n", /* bad source */
	    "{\"v\":1,\"addr\":\"192.0.2.1\",\"source\":\"learned\",\"expires_ms\":4102444800000,"
	    "\"names\":\"a\"}\n", /* names not an array */
	    "{\"v\":1,\"scope\":7,\"addr\":\"192.0.2.1\",\"source\":\"learned\","
	    "\"expires_ms\":4102444800000,\"names\":[]}\n", /* scope not a string */
	    "{\"v\":1,\"scope\":\"lan\",\"addr\":\"192.0.2.1\",\"source\":\"learned\","
	    "\"expires_ms\":4102444800000,\"names\":[]}\n", /* scope not an address */
	    "{\"v\":1,\"addr\":\"192.0.2.1\",\"addr\":\"192.0.2.2\",\"source\":\"learned\","
	    "\"expires_ms\":4102444800000,\"names\":[]}\n", /* duplicate key */
	    "{\"v\":1,\"addr\":\"192.0.2.1\",\"source\":\"learned\",\"names\":[]}\n", /* no expiry
										       */
	    "[1,2,3]\n",
	    "\n",
	};
	char good[512], text[8192], l[512];
	struct allowset *as;
	struct journal_stats st;
	size_t o;

	/* a missing file: nothing, no error */
	unlink(path);
	CHECK(load(NULL, 8, &as, &st) == 0 && st.loaded == 0 && st.load_bad == 0);
	allowset_free(&as);
	/* empty */
	CHECK(load("", 8, &as, &st) == 0 && st.loaded == 0 && st.load_bad == 0);
	allowset_free(&as);

	/* corrupt lines: each counted, the good line among them loaded */
	line(good, sizeof(good), "192.0.2.1", 60000);
	o = (size_t)snprintf(text, sizeof(text), "%s", good);
	for (size_t i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		snprintf(l, sizeof(l), "%s", corrupt[i]);
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s", l);
	}
	line(text + o, sizeof(text) - o, "192.0.2.2", 60000);
	CHECK(load(text, 8, &as, &st) == 0);
	CHECK_MSG(st.loaded == 2 && st.load_bad == sizeof(corrupt) / sizeof(corrupt[0]),
		  "loaded %llu, bad %llu", (unsigned long long)st.loaded,
		  (unsigned long long)st.load_bad);
	CHECK(look(as, NULL, "192.0.2.1", NULL) == ALLOWSET_HIT &&
	      look(as, NULL, "192.0.2.2", NULL) == ALLOWSET_HIT);
	allowset_free(&as);

	/* truncated: the file ends inside the second line, cut at every length */
	line(good, sizeof(good), "192.0.2.1", 60000);
	line(l, sizeof(l), "192.0.2.2", 60000);
	for (size_t cut = 1; cut < strlen(l) - 1; cut++) {
		o = (size_t)snprintf(text, sizeof(text), "%s%.*s", good, (int)cut, l);
		CHECK(load(text, 8, &as, &st) == 0);
		CHECK_MSG(st.loaded == 1 && st.load_bad == 1, "cut %zu: loaded %llu bad %llu", cut,
			  (unsigned long long)st.loaded, (unsigned long long)st.load_bad);
		CHECK(look(as, NULL, "192.0.2.2", NULL) == ALLOWSET_MISS);
		allowset_free(&as);
	}

	/* expired: counted, not loaded */
	line(good, sizeof(good), "192.0.2.1", -1000);
	line(l, sizeof(l), "192.0.2.2", 60000);
	snprintf(text, sizeof(text), "%s%s", good, l);
	CHECK(load(text, 8, &as, &st) == 0);
	CHECK(st.loaded == 1 && st.load_expired == 1 && st.load_bad == 0);
	CHECK(look(as, NULL, "192.0.2.1", NULL) == ALLOWSET_MISS);
	allowset_free(&as);

	/* a line longer than any the journal writes: skipped whole */
	{
		char *big = malloc(3 * JOURNAL_LINE_MAX);

		CHECK(big != NULL);
		if (big) {
			memset(big, 'x', 2 * JOURNAL_LINE_MAX);
			big[2 * JOURNAL_LINE_MAX] = '\n';
			line(big + 2 * JOURNAL_LINE_MAX + 1, JOURNAL_LINE_MAX, "192.0.2.3", 60000);
			CHECK(load(big, 8, &as, &st) == 0);
			CHECK(st.loaded == 1 && st.load_bad == 1);
			CHECK(look(as, NULL, "192.0.2.3", NULL) == ALLOWSET_HIT);
			allowset_free(&as);
			free(big);
		}
	}

	/* more entries than the table holds: the rest refused and counted */
	o = 0;
	for (int i = 0; i < 10; i++) {
		char a[32];

		snprintf(a, sizeof(a), "192.0.2.%d", 100 + i);
		line(text + o, sizeof(text) - o, a, 60000);
		o += strlen(text + o);
	}
	CHECK(load(text, 4, &as, &st) == 0);
	CHECK_MSG(st.loaded == 4 && st.load_refused == 6, "loaded %llu refused %llu",
		  (unsigned long long)st.loaded, (unsigned long long)st.load_refused);
	allowset_free(&as);

	/* unsafe mode: refused whole */
	line(good, sizeof(good), "192.0.2.1", 60000);
	write_file(good);
	chmod(path, 0644);
	memset(&st, 0, sizeof(st));
	as = allowset_new(8, 4);
	CHECK(journal_load(as, path, &st) == -EPERM && st.loaded == 0);
	CHECK(look(as, NULL, "192.0.2.1", NULL) == ALLOWSET_MISS);
	allowset_free(&as);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/zt-journal.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/journal", dir);
	allowset_reader_register();
	test_round_trip();
	test_bad_files();
	allowset_reader_unregister();
	unlink(path);
	rmdir(dir);
	CHECK_DONE();
}
