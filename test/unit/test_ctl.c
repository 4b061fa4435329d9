/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztdnsctl's argument rules (core/ctlargs.c), and explain's verdict leaving
 * the allowance's hit counter alone (verdict_policy.read_only). */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "core/allowset.h"
#include "core/ctlargs.h"
#include "core/verdict.h"
#include "core/verdictlog.h"

struct row {
	struct ctlargs a;
	bool ok;
	const char *msg; /* part of the error */
};

int main(void)
{
	static const struct row rows[] = {
	    {{.cmd = "status"}, true, NULL},
	    {{.cmd = "bogus"}, false, "unknown command \"bogus\""},
	    {{.cmd = "status", .opts = CTLARGS_TTL}, false, "status does not take --ttl"},
	    {{.cmd = "status", .npos = 1, .pos0 = "x"}, false, "unexpected argument"},
	    {{.cmd = "list", .opts = CTLARGS_CLIENT, .client = "self"}, true, NULL},
	    {{.cmd = "list", .opts = CTLARGS_CLIENT, .client = "operator"}, true, NULL},
	    {{.cmd = "list", .opts = CTLARGS_CLIENT, .client = "192.0.2.7"}, true, NULL},
	    {{.cmd = "list", .opts = CTLARGS_CLIENT, .client = "bob"}, false, "--client"},
	    {{.cmd = "allow"}, false, "allow needs an address"},
	    {{.cmd = "allow", .npos = 1, .pos0 = "2001:db8::1", .opts = CTLARGS_TTL}, true, NULL},
	    {{.cmd = "allow", .npos = 1, .pos0 = "example.com"}, false, "not an IPv4 or IPv6"},
	    {{.cmd = "allow", .npos = 2, .pos0 = "192.0.2.1"}, false, "unexpected argument"},
	    {{.cmd = "revoke", .npos = 1, .pos0 = "192.0.2.1", .opts = CTLARGS_TTL},
	     false,
	     "revoke does not take --ttl"},
	    {{.cmd = "explain",
	      .npos = 1,
	      .pos0 = "192.0.2.1",
	      .opts = CTLARGS_PROTO,
	      .proto = "icmp"},
	     true,
	     NULL},
	    {{.cmd = "explain",
	      .npos = 1,
	      .pos0 = "192.0.2.1",
	      .opts = CTLARGS_PROTO,
	      .proto = "icmpv6"},
	     false,
	     "--proto"},
	    {{.cmd = "explain",
	      .npos = 1,
	      .pos0 = "192.0.2.1",
	      .opts = CTLARGS_FROM,
	      .from = "nope"},
	     false,
	     "--from"},
	    {{.cmd = "explain", .npos = 1, .pos0 = "192.0.2.1", .opts = CTLARGS_COUNT},
	     false,
	     "explain does not take --count"},
	    {{.cmd = "watch", .opts = CTLARGS_VERDICT, .verdict = "accept"}, true, NULL},
	    {{.cmd = "watch", .opts = CTLARGS_VERDICT, .verdict = "drop"}, true, NULL},
	    {{.cmd = "watch", .opts = CTLARGS_VERDICT, .verdict = "reject"}, true, NULL},
	    {{.cmd = "watch", .opts = CTLARGS_VERDICT, .verdict = "deny"}, false, "--verdict"},
	    {{.cmd = "watch", .opts = CTLARGS_REASON, .reason = "never-resolved"}, true, NULL},
	    {{.cmd = "watch", .opts = CTLARGS_REASON, .reason = "bogus"}, false, "--reason"},
	    {{.cmd = "watch", .opts = CTLARGS_PROTO, .proto = "icmpv6"}, true, NULL},
	    {{.cmd = "watch", .opts = CTLARGS_PROTO, .proto = "sctp"}, false, "--proto"},
	    {{.cmd = "watch", .opts = CTLARGS_ADDR, .addr = "198.51.100.1"}, true, NULL},
	    {{.cmd = "watch", .opts = CTLARGS_ADDR, .addr = "x"}, false, "--addr"},
	    {{.cmd = "watch", .opts = CTLARGS_TTL}, false, "watch does not take --ttl"},
	    {{.cmd = "break-glass"}, false, "break-glass needs a duration"},
	    {{.cmd = "break-glass",
	      .npos = 1,
	      .pos0 = "15m",
	      .opts = CTLARGS_REASON,
	      .reason = "any text at all"},
	     true,
	     NULL},
	    {{.cmd = "audit-report", .opts = CTLARGS_AGGREGATE | CTLARGS_CLEAR}, true, NULL},
	    {{.cmd = "audit-report", .opts = CTLARGS_PORT}, false, "does not take --port"},
	    {{.cmd = "wait-ready", .opts = CTLARGS_TIMEOUT}, true, NULL},
	    {{.cmd = "reload", .opts = CTLARGS_TIMEOUT}, false, "reload does not take --timeout"},
	    {{.cmd = "flush", .npos = 1, .pos0 = "all"}, false, "unexpected argument"},
	    {{.cmd = "export"}, true, NULL},
	    {{.cmd = "export", .npos = 1, .pos0 = "-"}, true, NULL},
	    {{.cmd = "export", .npos = 2, .pos0 = "a"}, false, "unexpected argument"},
	    {{.cmd = "export", .opts = CTLARGS_TTL}, false, "export does not take --ttl"},
	    {{.cmd = "import"}, false, "import needs a file or -"},
	    {{.cmd = "import", .npos = 1, .pos0 = "x.json"}, true, NULL},
	    {{.cmd = "import", .npos = 2, .pos0 = "x.json"}, false, "unexpected argument"},
	    {{.cmd = "audit-report", .opts = CTLARGS_CONFIG}, true, NULL},
	    {{.cmd = "audit-report", .opts = CTLARGS_CONFIG, .npos = 1, .pos0 = "c.json"},
	     true,
	     NULL},
	    {{.cmd = "audit-report", .npos = 1, .pos0 = "c.json"}, false, "only with --config"},
	    {{.cmd = "top", .opts = CTLARGS_INTERVAL | CTLARGS_ONCE}, true, NULL},
	    {{.cmd = "top", .npos = 1, .pos0 = "x"}, false, "unexpected argument"},
	    {{.cmd = "top", .opts = CTLARGS_CONFIG}, false, "top does not take --config"},
	    {{.cmd = "list", .opts = CTLARGS_ONCE}, false, "list does not take --once"},
	};
	unsigned ncmd = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[256] = "";
		int rc = ctlargs_check(&rows[i].a, err, sizeof(err));

		CHECK_MSG((rc == 0) == rows[i].ok, "row %zu (%s): rc %d %s", i, rows[i].a.cmd, rc,
			  err);
		if (rows[i].msg)
			CHECK_MSG(strstr(err, rows[i].msg) != NULL, "row %zu: \"%s\" lacks \"%s\"",
				  i, err, rows[i].msg);
	}
	/* every listed command is known, with no option */
	for (const char *const *c = ctlargs_commands; *c; c++, ncmd++) {
		struct ctlargs a = {.cmd = *c, .npos = 1, .pos0 = "192.0.2.1"};
		char err[256] = "";

		if (strcmp(*c, "allow") && strcmp(*c, "revoke") && strcmp(*c, "explain") &&
		    strcmp(*c, "break-glass") && strcmp(*c, "import"))
			a.npos = 0;
		CHECK_MSG(ctlargs_check(&a, err, sizeof(err)) == 0, "%s: %s", *c, err);
	}
	CHECK(ncmd == 15);
	{
		struct ctlargs a = {.cmd = "cache", .npos = 1, .pos0 = "bogus"};
		char err[256] = "";

		CHECK(ctlargs_check(&a, err, sizeof(err)) < 0 &&
		      strstr(err, "not stats, list or flush"));
		a.pos0 = "flush";
		CHECK(ctlargs_check(&a, err, sizeof(err)) == 0);
	}

	/* explain: read_only leaves the hit counter as it was */
	{
		struct verdict_policy pol = {.enforce = true, .want_details = true};
		struct packet_info pi = {.proto = 6, .dport = 443};
		struct allowset_view v;
		struct verdict_result r;
		const uint64_t now = 100000;

		allowset_reader_register();
		pol.allowset = allowset_new(16, 4);
		addr_parse("198.51.100.10", &pi.dst);
		addr_parse("192.0.2.1", &pi.src);
		allowset_add(pol.allowset, NULL, &pi.dst, now + 60000, ALLOWSET_LEARNED,
			     "web.example", "s1", now);
		pol.read_only = true;
		verdict_decide(&pol, &pi, NULL, now, &r);
		CHECK(r.reason == VERDICT_LEARNED);
		allowset_lookup(pol.allowset, NULL, &pi.dst, now, &v, false);
		CHECK_MSG(v.hits == 0, "explain counted %llu hits", (unsigned long long)v.hits);
		pol.read_only = false;
		verdict_decide(&pol, &pi, NULL, now, &r);
		allowset_lookup(pol.allowset, NULL, &pi.dst, now, &v, false);
		CHECK_MSG(v.hits == 1, "a verdict counted %llu hits", (unsigned long long)v.hits);
		allowset_free(&pol.allowset);
	}
	/* text lines bracket IPv6 addresses before their port */
	{
		struct packet_info pi = {.proto = 6, .sport = 40000, .dport = 443};
		struct verdict_result r = {.reason = VERDICT_NEVER_RESOLVED};
		char line[512];

		addr_parse("2001:db8::1", &pi.src);
		addr_parse("2001:db8:5::9", &pi.dst);
		verdictlog_format(line, sizeof(line), false, NULL, &pi, PACKET_OK, &r, NULL, 1000);
		CHECK_MSG(strstr(line, " tcp [2001:db8::1]:40000 -> [2001:db8:5::9]:443"), "%s",
			  line);
		addr_parse("192.0.2.1", &pi.src);
		addr_parse("198.51.100.9", &pi.dst);
		verdictlog_format(line, sizeof(line), false, NULL, &pi, PACKET_OK, &r, NULL, 1000);
		CHECK_MSG(strstr(line, " tcp 192.0.2.1:40000 -> 198.51.100.9:443"), "%s", line);
		CHECK_MSG(strstr(line, " drop "), "%s", line);
		r.reject = true;
		verdictlog_format(line, sizeof(line), true, NULL, &pi, PACKET_OK, &r, NULL, 1000);
		CHECK_MSG(strstr(line, "\"verdict\":\"reject\""), "%s", line);
		r.accept = true;
		CHECK_STREQ(verdictlog_verdict_name(&r), "accept");
	}
	CHECK_DONE();
}
