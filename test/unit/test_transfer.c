/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The allowance transfer format (core/transfer.c): time stamps, an entry
 * made from an allowset view, and every reason an imported entry is
 * refused. Then audit-report --config (audit_config()): the configuration
 * it writes parses again with the proposal as exceptions.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "core/audit.h"
#include "core/transfer.h"
#include "policy/conf.h"

#define NOW 1796000000000ull /* 2026-11-30T00:53:20Z, in ms */

static const struct transfer_limits lim = {
    .now_real_ms = NOW,
    .learned_max_ms = 86430000,
    .manual_max_ms = 604800000,
    .names_max = 3,
};

/* Parse the JSON text j as an entry; 0 or -EINVAL, and the reason. */
static int parse(const char *j, struct transfer_entry *e, char *err, size_t len)
{
	json_error_t jerr;
	json_t *o = json_loads(j, 0, &jerr);
	int rc;

	if (!o) {
		fprintf(stderr, "bad test JSON: %s: %s\n", j, jerr.text);
		return 1;
	}
	err[0] = '\0';
	rc = transfer_entry_parse(o, &lim, e, err, len);
	json_decref(o);
	return rc;
}

static void test_time(void)
{
	char buf[TRANSFER_TIME_LEN];
	uint64_t ms = 0;

	CHECK_STREQ(transfer_time_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
	CHECK_STREQ(transfer_time_format(1796000000999ull, buf, sizeof(buf)),
		    "2026-11-30T00:53:20Z");
	CHECK(transfer_time_parse("2026-11-30T00:53:20Z", &ms) == 0 && ms == 1796000000000ull);
	CHECK(transfer_time_parse("2026-11-30T00:53:20", &ms) < 0);	  /* no zone */
	CHECK(transfer_time_parse("2026-11-30T00:53:20+01:00", &ms) < 0); /* only Z */
	CHECK(transfer_time_parse("2026-11-30 00:53:20Z", &ms) < 0);
	CHECK(transfer_time_parse("2026-13-30T00:53:20Z", &ms) < 0);
	CHECK(transfer_time_parse("1796000000", &ms) < 0);
	CHECK(transfer_time_parse("", &ms) < 0);
	CHECK(transfer_time_parse(NULL, &ms) < 0);
}

static void test_view(void)
{
	struct allowset_view v = {.source = ALLOWSET_LEARNED, .expires_ms = 5000};
	json_t *o;
	char buf[256];
	struct transfer_entry e;
	char *text;

	addr_parse("198.51.100.7", &v.addr);
	snprintf(v.names, sizeof(v.names), "a.example, b.example");
	snprintf(v.server, sizeof(v.server), "pdns");
	CHECK(transfer_entry_json(&v, 5000, NOW) == NULL); /* expired: not exported */
	o = transfer_entry_json(&v, 2000, NOW);
	CHECK(o != NULL);
	CHECK(json_is_null(json_object_get(o, "scope")));
	CHECK_STREQ(json_string_value(json_object_get(o, "addr")), "198.51.100.7");
	CHECK(json_array_size(json_object_get(o, "names")) == 2);
	CHECK_STREQ(json_string_value(json_array_get(json_object_get(o, "names"), 1)), "b.example");
	CHECK_STREQ(json_string_value(json_object_get(o, "expires")),
		    transfer_time_format(NOW + 3000, buf, sizeof(buf)));
	CHECK_STREQ(json_string_value(json_object_get(o, "source")), "learned");
	/* What export writes, import reads back. */
	text = json_dumps(o, JSON_COMPACT);
	CHECK(text && parse(text, &e, buf, sizeof(buf)) == 0);
	CHECK(e.nnames == 2 && strcmp(e.names[0], "a.example") == 0);
	CHECK(e.expires_real_ms == (NOW + 3000) / 1000 * 1000);
	CHECK(e.scope.family == 0 && e.source == ALLOWSET_LEARNED);
	CHECK_STREQ(e.server, "pdns");
	free(text);
	json_decref(o);
	/* Scopes: a client's address, and the gateway's own. */
	addr_parse("192.0.2.10", &v.scope);
	o = transfer_entry_json(&v, 2000, NOW);
	CHECK_STREQ(json_string_value(json_object_get(o, "scope")), "192.0.2.10");
	json_decref(o);
	v.scope = *allowset_scope_self();
	v.source = ALLOWSET_MANUAL;
	v.names[0] = '\0';
	o = transfer_entry_json(&v, 2000, NOW);
	CHECK_STREQ(json_string_value(json_object_get(o, "scope")), "self");
	CHECK(json_array_size(json_object_get(o, "names")) == 0);
	CHECK_STREQ(json_string_value(json_object_get(o, "source")), "manual");
	json_decref(o);
}

/* Entries relative to NOW: E(fields) with a valid future expiry. */
#define EXP_OK	 "\"expires\":\"2026-11-30T01:53:20Z\"" /* NOW + 1 h */
#define EXP_PAST "\"expires\":\"2026-11-30T00:53:19Z\""
#define EXP_FAR	 "\"expires\":\"2026-12-01T00:54:00Z\"" /* NOW + 24 h 40 s */
#define EXP_WEEK "\"expires\":\"2026-12-06T00:53:20Z\"" /* NOW + 6 days */
#define LEARNED	 "\"source\":\"learned\""
#define MANUAL	 "\"source\":\"manual\""

static void test_parse(void)
{
	static const struct {
		const char *json;
		const char *msg; /* NULL: accepted; else part of the reason */
	} rows[] = {
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK ",\"names\":[\"a.example\"]}", NULL},
	    {"{\"addr\":\"2001:db8::7\",\"scope\":\"192.0.2.9\"," LEARNED "," EXP_OK
	     ",\"names\":[\"A.Example.\"],\"server\":\"pdns\"}",
	     NULL},
	    {"{\"addr\":\"198.51.100.7\",\"scope\":null," MANUAL "," EXP_WEEK ",\"names\":[]}",
	     NULL},
	    {"{\"addr\":\"198.51.100.7\",\"scope\":\"self\"," MANUAL "," EXP_OK "}", NULL},
	    {"[]", "must be an object"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK ",\"names\":[\"a.example\"],"
	     "\"link\":1}",
	     "unknown key \"link\""},
	    {"{" LEARNED "," EXP_OK ",\"names\":[\"a.example\"]}", "are required"},
	    {"{\"addr\":\"example.com\"," LEARNED "," EXP_OK ",\"names\":[\"a.example\"]}",
	     "not an IP address"},
	    {"{\"addr\":\"198.51.100.7\",\"source\":\"exception\"," EXP_OK "}",
	     "must be learned or manual"},
	    {"{\"addr\":\"198.51.100.7\",\"scope\":\"lan\"," LEARNED "," EXP_OK
	     ",\"names\":[\"a.example\"]}",
	     "\"scope\" must be"},
	    {"{\"addr\":\"198.51.100.7\",\"scope\":7," LEARNED "," EXP_OK
	     ",\"names\":[\"a.example\"]}",
	     "\"scope\" must be"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED ",\"expires\":\"tomorrow\","
	     "\"names\":[\"a.example\"]}",
	     "YYYY-MM-DDTHH:MM:SSZ"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_PAST ",\"names\":[\"a.example\"]}",
	     "expired at"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_FAR ",\"names\":[\"a.example\"]}",
	     "more than 86430 s from now"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_WEEK ",\"names\":[\"a.example\"]}",
	     "more than 86430 s"},
	    {"{\"addr\":\"198.51.100.7\"," MANUAL ",\"expires\":\"2026-12-07T00:53:21Z\"}",
	     "more than 604800 s"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK "}", "needs the names"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK ",\"names\":\"a.example\"}",
	     "must be an array"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK
	     ",\"names\":[\"a.example\",\"b.example\",\"c.example\",\"d.example\"]}",
	     "4 names, more than 3"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK ",\"names\":[\"a..example\"]}",
	     "not a DNS name"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK ",\"names\":[\"a\\nexample\"]}",
	     "printable"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK ",\"names\":[\"\"]}", "printable"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK ",\"names\":[7]}", "printable"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK ",\"names\":[\".\"]}",
	     "not a DNS name"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK
	     ",\"names\":[\"a.example\"],\"server\":\"a server name that is far too long\"}",
	     "\"server\" must be"},
	    {"{\"addr\":\"198.51.100.7\"," LEARNED "," EXP_OK
	     ",\"names\":[\"a.example\"],\"server\":\"x\\u001b[31m\"}",
	     "\"server\" must be"},
	};
	struct transfer_entry *e = malloc(sizeof(*e));

	for (size_t i = 0; e && i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[320];
		int rc = parse(rows[i].json, e, err, sizeof(err));

		if (!rows[i].msg) {
			CHECK_MSG(rc == 0, "row %zu refused: %s", i, err);
		} else {
			CHECK_MSG(rc < 0, "row %zu accepted", i);
			CHECK_MSG(strstr(err, rows[i].msg) != NULL, "row %zu: '%s' lacks '%s'", i,
				  err, rows[i].msg);
		}
	}
	/* Names are kept in the daemon's own form. */
	CHECK(e && parse(rows[1].json, e, (char[64]){0}, 64) == 0 &&
	      strcmp(e->names[0], "a.example") == 0 && e->scope.family == AF_INET);
	CHECK(e && parse(rows[3].json, e, (char[64]){0}, 64) == 0 && e->scope.family == AF_LOCAL &&
	      e->nnames == 0 && e->source == ALLOWSET_MANUAL);
	free(e);
}

static void test_doc(void)
{
	static const struct {
		const char *json, *msg;
	} rows[] = {
	    {"{\"format\":\"ztdns-allowances\",\"version\":1,\"entries\":[]}", NULL},
	    {"[]", "must be a JSON object"},
	    {"{\"format\":\"other\",\"version\":1,\"entries\":[]}", "\"format\""},
	    {"{\"version\":1,\"entries\":[]}", "\"format\""},
	    {"{\"format\":\"ztdns-allowances\",\"version\":2,\"entries\":[]}", "\"version\""},
	    {"{\"format\":\"ztdns-allowances\",\"version\":\"1\",\"entries\":[]}", "\"version\""},
	    {"{\"format\":\"ztdns-allowances\",\"version\":1,\"entries\":{}}", "\"entries\""},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *d = json_loads(rows[i].json, 0, NULL);
		char err[256] = "";
		int rc = transfer_doc_check(d, err, sizeof(err));

		if (!rows[i].msg)
			CHECK_MSG(rc == 0, "doc %zu: %s", i, err);
		else
			CHECK_MSG(rc < 0 && strstr(err, rows[i].msg), "doc %zu: '%s'", i, err);
		json_decref(d);
	}
}

#define DOH                                                                                        \
	"{\"protocol\":\"doh\",\"url\":\"https://dns.example.test/dns-query\","                    \
	"\"bootstrap\":[\"192.0.2.53\"]}"

static struct conf *parse_conf(const char *text)
{
	static struct conf_errors errs;
	struct conf *c = NULL;

	memset(&errs, 0, sizeof(errs));
	if (conf_parse(text, strlen(text), "t.json", &c, &errs) < 0)
		conf_errors_print(&errs, stderr);
	return c;
}

static void test_audit_config(void)
{
	struct conf *c = parse_conf("{\"mode\":\"host\",\"servers\":[" DOH "],"
				    "\"exceptions\":[\"203.0.113.0/24\"]}");
	json_t *prop = json_pack("[s, s, s, s]", "198.51.100.7/32", "203.0.113.0/24",
				 "2001:db8:5::/64", "bogus");
	struct audit_config_counts n;
	json_t *out, *exc, *g;
	struct conf *c2;
	char *text;

	CHECK(c != NULL);
	if (!c)
		return;
	out = audit_config(c, prop, &n);
	CHECK(out != NULL);
	CHECK(n.added == 2 && n.present == 1 && n.omitted == 0);
	exc = json_object_get(out, "exceptions");
	CHECK(json_array_size(exc) == 2);
	CHECK_STREQ(json_string_value(json_array_get(exc, 0)), "203.0.113.0/24");
	g = json_array_get(exc, 1);
	CHECK_STREQ(json_string_value(json_object_get(g, "name")), "audit-report");
	CHECK(json_array_size(json_object_get(g, "subnets")) == 2);
	/* Every key of the canonical dump is there. */
	CHECK(json_object_get(out, "limits") && json_object_get(out, "ttl") &&
	      json_object_get(out, "servers"));
	/* And it is a configuration the daemon takes, with those exceptions. */
	text = json_dumps(out, JSON_INDENT(2));
	c2 = text ? parse_conf(text) : NULL;
	CHECK(c2 != NULL);
	CHECK(c2 && c2->nexceptions == 3);
	CHECK(c2 && c2->nexception_groups == 1);
	free(text);
	/* Asked again of the new configuration: nothing added twice. */
	if (c2) {
		json_t *again = audit_config(c2, prop, &n);

		CHECK(again && n.added == 0 && n.present == 3);
		CHECK(json_array_size(json_object_get(again, "exceptions")) == 2);
		json_decref(again);
	}
	conf_free(&c2);
	json_decref(out);
	json_decref(prop);
	conf_free(&c);
}

int main(void)
{
	test_time();
	test_view();
	test_parse();
	test_doc();
	test_audit_config();
	CHECK_DONE();
}
