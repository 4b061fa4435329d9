/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The query log's lines (querylog_format): every field, JSON escaping of
 * names from the wire, learned and removed addresses, a line cut before
 * its bound with the rest counted; the file sink: lines written once per
 * flush, the buffer bound (dropped, counted), reopen by name (logrotate).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "dns/querylog.h"

static struct sockaddr_storage v4(const char *a, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, a, &sin->sin_addr);
	return ss;
}

static unsigned count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned n = 0;
	int ch;

	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

int main(void)
{
	struct sockaddr_storage cl = v4("127.0.0.1", 40001);
	struct sockaddr_storage cl6 = {0};
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&cl6;
	struct querylog_addr qa[3];
	struct querylog_entry e = {
	    .client = &cl,
	    .has_uid = true,
	    .uid = 1000,
	    .name = "web.test",
	    .qtype = 1,
	    .rcode = 0,
	    .addrs = qa,
	    .naddrs = 3,
	    .server = "pdns",
	    .latency_us = 1234,
	    .time_ms = 1764689400123ull, /* 2025-12-02T15:30:00.123Z */
	};
	char line[QUERYLOG_LINE_MAX], path[] = "/tmp/ztqlog-XXXXXX", moved[64];
	struct querylog_stats st;
	struct querylog *q;
	json_error_t jerr;
	json_t *j;
	int fd;

	addr_parse("198.51.100.10", &qa[0].addr);
	qa[0].why = NULL;
	addr_parse("2001:db8::10", &qa[1].addr);
	qa[1].why = NULL;
	addr_parse("169.254.169.254", &qa[2].addr);
	qa[2].why = "never-learn";
	querylog_format(line, sizeof(line), &e);
	CHECK_STREQ(line, "{\"time\":\"2025-12-02T15:30:00.123Z\",\"client\":\"127.0.0.1:40001\","
			  "\"uid\":1000,\"name\":\"web.test\",\"type\":\"A\",\"rcode\":\"NOERROR\","
			  "\"learned\":[\"198.51.100.10\",\"2001:db8::10\"],\"removed\":[{\"addr\":"
			  "\"169.254.169.254\",\"why\":\"never-learn\"}],\"server\":\"pdns\","
			  "\"cache\":false,\"latency_us\":1234}");

	/* No uid, a local error (no server), a cache hit, an odd type and
	 * RCODE, a name with bytes JSON must escape, IPv6 client. */
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(53000);
	inet_pton(AF_INET6, "::1", &s6->sin6_addr);
	e.client = &cl6;
	e.has_uid = false;
	e.name = "a\"b\\c\x01.test";
	e.qtype = 4242;
	e.rcode = 14;
	e.naddrs = 0;
	e.server = NULL;
	e.cache_hit = true;
	querylog_format(line, sizeof(line), &e);
	j = json_loads(line, 0, &jerr);
	CHECK_MSG(j != NULL, "not JSON: %s (%s)", line, jerr.text);
	if (j) {
		CHECK_STREQ(json_string_value(json_object_get(j, "name")), "a\"b\\c\x01.test");
		CHECK_STREQ(json_string_value(json_object_get(j, "client")), "[::1]:53000");
		CHECK_STREQ(json_string_value(json_object_get(j, "type")), "TYPE4242");
		CHECK_STREQ(json_string_value(json_object_get(j, "rcode")), "RCODE14");
		CHECK(json_object_get(j, "uid") == NULL);
		CHECK(json_is_null(json_object_get(j, "server")));
		CHECK(json_is_true(json_object_get(j, "cache")));
		json_decref(j);
	}

	/* Many addresses: the line stays under its bound, still JSON, and
	 * says how many were left out. */
	{
		static struct querylog_addr many[400];
		json_t *more;
		size_t n;

		for (unsigned i = 0; i < 400; i++) {
			char a[64];

			snprintf(a, sizeof(a), "2001:db8:ffff:ffff:ffff:ffff:%x:%x", i, i);
			addr_parse(a, &many[i].addr);
			many[i].why = i % 2 ? "over-cap" : NULL;
		}
		e.addrs = many;
		e.naddrs = 400;
		e.more = 7;
		n = querylog_format(line, sizeof(line), &e);
		CHECK(n < sizeof(line));
		j = json_loads(line, 0, &jerr);
		CHECK_MSG(j != NULL, "long line not JSON: %s", jerr.text);
		more = j ? json_object_get(j, "more") : NULL;
		CHECK(more && json_integer_value(more) > 7);
		if (j)
			CHECK(json_array_size(json_object_get(j, "learned")) +
				  json_array_size(json_object_get(j, "removed")) +
				  (size_t)json_integer_value(more) ==
			      407);
		json_decref(j);
		e.addrs = qa;
		e.naddrs = 3;
		e.more = 0;
	}

	/* The file: nothing until the flush, then one line per entry. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	q = querylog_open(path, false);
	CHECK(q != NULL);
	if (!q)
		CHECK_DONE();
	for (int i = 0; i < 3; i++)
		querylog_add(q, &e);
	CHECK(count_lines(path) == 0);
	querylog_flush(q);
	CHECK(count_lines(path) == 3);
	querylog_get_stats(q, &st);
	CHECK(st.lines == 3 && st.dropped == 0 && st.errors == 0);

	/* The bound: lines past QUERYLOG_BUF_MAX before a flush are dropped. */
	querylog_format(line, sizeof(line), &e);
	{
		unsigned fit = QUERYLOG_BUF_MAX / (unsigned)(strlen(line) + 1);

		for (unsigned i = 0; i < fit + 50; i++)
			querylog_add(q, &e);
		querylog_flush(q);
		querylog_get_stats(q, &st);
		CHECK_MSG(st.dropped == 50, "dropped %llu", (unsigned long long)st.dropped);
		CHECK(st.lines == 3 + fit);
		CHECK(count_lines(path) == 3 + fit);
	}

	/* logrotate: moved away, reopened by name, new lines in a new file. */
	snprintf(moved, sizeof(moved), "%s.1", path);
	CHECK(rename(path, moved) == 0);
	querylog_add(q, &e);
	CHECK(querylog_reopen(q) == 0); /* flushes to the old file first */
	querylog_add(q, &e);
	querylog_add(q, &e);
	querylog_flush(q);
	CHECK(count_lines(path) == 2);
	querylog_close(&q);
	CHECK(q == NULL);
	querylog_close(&q); /* NULL-safe */
	unlink(path);
	unlink(moved);
	CHECK(querylog_open("/nonexistent-dir/q.log", false) == NULL);
	/* journald only (standard error here, not under systemd): no file,
	 * each line counted as it is sent. */
	q = querylog_open(NULL, true);
	CHECK(q != NULL);
	if (q) {
		querylog_add(q, &e);
		querylog_flush(q);
		querylog_get_stats(q, &st);
		CHECK(st.lines == 1 && st.dropped == 0);
		CHECK(querylog_reopen(q) == 0);
	}
	querylog_close(&q);
	CHECK_DONE();
}
