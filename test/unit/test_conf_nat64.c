/* SPDX-License-Identifier: GPL-2.0-or-later */
/* policy/conf: the "nat64_prefixes" key (RFC 6052 §2.2 lengths, IPv6 only,
 * host bits zero, at most ADDR_NAT64_MAX), with the JSON path in errors,
 * and its round trip through conf_dump(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "policy/conf.h"

int main(void);

#define BASE                                                                                       \
	"{\"mode\":\"host\",\"servers\":[{\"protocol\":\"dot\",\"address\":\"192.0.2.53\","        \
	"\"tls_name\":\"pdns.test\"}]"

static struct conf_errors errs;

static int parse(const char *extra, struct conf **c)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s%s}", BASE, extra);
	memset(&errs, 0, sizeof(errs));
	return conf_parse(buf, strlen(buf), "t.json", c, &errs);
}

static bool err_has(const char *s)
{
	for (unsigned i = 0; i < errs.count; i++)
		if (strstr(errs.msg[i], s))
			return true;
	return false;
}

int main(void)
{
	static const char *const bad[][2] = {
	    {",\"nat64_prefixes\":\"2001:db8::/96\"", "nat64_prefixes: expected an array"},
	    {",\"nat64_prefixes\":[\"2001:db8::/80\"]",
	     "nat64_prefixes[0]: \"2001:db8::/80\": a NAT64"},
	    {",\"nat64_prefixes\":[\"2001:db8::1/96\"]",
	     "nat64_prefixes[0]: \"2001:db8::1/96\" is not"},
	    {",\"nat64_prefixes\":[\"192.0.2.0/24\"]",
	     "nat64_prefixes[0]: \"192.0.2.0/24\" is not"},
	    {",\"nat64_prefixes\":[\"ok\",7]", "nat64_prefixes[1]: expected a string"},
	    {",\"nat64_prefixes\":[\"1::/96\",\"2::/96\",\"3::/96\",\"4::/96\",\"5::/96\",\"6::/"
	     "96\","
	     "\"7::/96\",\"8::/96\",\"9::/96\"]",
	     "nat64_prefixes: has 9 elements, at most 8"},
	};
	struct conf *c = NULL;
	char *dump = NULL;
	size_t dlen = 0;
	FILE *f;

	CHECK(parse("", &c) == 0 && c && c->nnat64 == 0);
	conf_free(&c);
	CHECK(parse(",\"nat64_prefixes\":[\"2001:db8:64::/96\",\"2001:db8:100::/40\",\"2001:db9::/"
		    "32\"]",
		    &c) == 0);
	CHECK(c && c->nnat64 == 3 && c->nat64[0].len == 96 && c->nat64[1].len == 40 &&
	      c->nat64[2].len == 32);
	f = open_memstream(&dump, &dlen);
	if (c && f) {
		conf_dump(c, f);
		fclose(f);
		CHECK(strstr(dump, "\"2001:db8:64::/96\"") &&
		      strstr(dump, "\"2001:db8:100::/40\""));
	}
	free(dump);
	conf_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_MSG(parse(bad[i][0], &c) < 0 && !c, "accepted: %s", bad[i][0]);
		CHECK_MSG(err_has(bad[i][1]), "%s: no error with \"%s\" (first: %s)", bad[i][0],
			  bad[i][1], errs.count ? errs.msg[0] : "none");
		conf_free(&c);
	}
	CHECK_DONE();
}
