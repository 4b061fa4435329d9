/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What ruleset_render() writes for the local DNS interception (nat
 * ZTDNS-LDNS): present by default in host and sidecar mode, aimed at the
 * stub's listener of each family, only for port 53, absent when turned off
 * and in gateway mode; the filter table (the lockdown) is the same either way.
 */
#include <stdlib.h>

#include <netinet/in.h>

#include "check.h"
#include "core/ruleset.h"
#include "policy/conf.h"

#define DOT_SRV "{'name':'a','protocol':'dot','address':'192.0.2.53','tls_name':'pdns.test'}"

static struct conf *load(const char *js)
{
	char buf[1024];
	static struct conf_errors errs;
	struct conf *c = NULL;
	size_t i;

	for (i = 0; js[i] && i < sizeof(buf) - 1; i++)
		buf[i] = js[i] == '\'' ? '"' : js[i];
	buf[i] = '\0';
	memset(&errs, 0, sizeof(errs));
	CHECK_MSG(conf_parse(buf, i, "t.json", &c, &errs) == 0 && c, "does not load: %s", buf);
	if (!c)
		conf_errors_print(&errs, stderr);
	return c;
}

/* The rendering of family for c: malloc'd, caller frees. */
static char *render(const struct conf *c, int family)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	ruleset_render(c, family, f);
	fclose(f);
	return s;
}

/* Everything from "*filter" to its COMMIT, without the lines that accept
 * what ZTDNS-LDNS sent to the stub. */
static char *filter_part(const char *r)
{
	const char *a = strstr(r, "*filter"), *b = a ? strstr(a, "COMMIT") : NULL;
	char *f = a && b ? strndup(a, (size_t)(b - a)) : strdup(""), *l;

	while (f && (l = strstr(f, "--ctstate DNAT"))) {
		char *start = l, *end = strchr(l, '\n');

		while (start > f && start[-1] != '\n')
			start--;
		memmove(start, end ? end + 1 : l + strlen(l), strlen(end ? end + 1 : "") + 1);
	}
	return f;
}

static void expect(const char *js, int family, const char *const *want, const char *const * not )
{
	struct conf *c = load(js);
	char *r;

	if (!c)
		return;
	r = render(c, family);
	for (size_t i = 0; r && want && want[i]; i++)
		CHECK_MSG(strstr(r, want[i]) != NULL, "missing '%s' in:\n%s", want[i], r);
	for (size_t i = 0; r && not &&not [i]; i++)
		CHECK_MSG(strstr(r, not [i]) == NULL, "unexpected '%s' in:\n%s", not [i], r);
	free(r);
	conf_free(&c);
}

/* A forward zone over plain DNS (insecure_plain_dns): its server is
 * reached on UDP and TCP only with the daemon's socket mark, which also
 * exempts those packets (and only those: that server, that port) from the
 * DNAT to the stub, ahead of it; unmarked ones are still redirected. */
static void test_plain_zone(void)
{
	static const char *const want[] = {
	    "-A ZTDNS-OUT -d 198.51.100.10/32 -p udp -m udp --dport 53 -m mark --mark 0x5a7d0053 "
	    "-j ACCEPT\n",
	    "-A ZTDNS-OUT -d 198.51.100.10/32 -p tcp -m tcp --dport 53 -m mark --mark 0x5a7d0053 "
	    "-j ACCEPT\n",
	    "-A ZTDNS-LDNS -d 198.51.100.10/32 -p udp -m udp --dport 53 -m mark --mark 0x5a7d0053 "
	    "-j RETURN\n",
	    "-A ZTDNS-LDNS -d 198.51.100.10/32 -p tcp -m tcp --dport 53 -m mark --mark 0x5a7d0053 "
	    "-j RETURN\n",
	    NULL};
	/* No unmarked accept of the server, no RETURN of another kind. */
	static const char *const not [] = {"-d 198.51.100.10/32 -p tcp -m tcp --dport 53 -j ACCEPT",
					   "-d 198.51.100.10/32 -p udp -m udp --dport 53 -j ACCEPT",
					   NULL};
	struct conf *c = load("{'mode':'host','servers':[" DOT_SRV "],'forward_zones':[{'zone':"
			      "'cluster.local','insecure_plain_dns':true,'servers':[{'protocol':"
			      "'dns','address':['198.51.100.10','2001:db8::10']}]}]}");
	char *r, *ret, *dnat;

	expect("{'mode':'host','servers':[" DOT_SRV "],'forward_zones':[{'zone':'cluster.local',"
	       "'insecure_plain_dns':true,'servers':[{'protocol':'dns','address':['198.51.100.10',"
	       "'2001:db8::10']}]}]}",
	       AF_INET, want, not );
	if (!c)
		return;
	r = render(c, AF_INET);
	ret = r ? strstr(r, "-j RETURN") : NULL;
	dnat = r ? strstr(r, "-j DNAT") : NULL;
	CHECK(ret && dnat && ret < dnat);
	free(r);
	r = render(c, AF_INET6);
	CHECK(r && strstr(r, "-A ZTDNS-LDNS -d 2001:db8::10/128 -p udp -m udp --dport 53 -m mark "
			     "--mark 0x5a7d0053 -j RETURN\n"));
	CHECK(r && !strstr(r, "198.51.100.10"));
	free(r);
	conf_free(&c);
}

int main(void)
{
	static const char *const v4[] = {
	    "-A ZTDNS-OUT -d 127.0.0.1/32 -p udp -m udp --dport 53 -m conntrack --ctstate DNAT "
	    "--ctorigdstport 53 -j ACCEPT\n",
	    "-A ZTDNS-OUT -d 127.0.0.1/32 -p tcp -m tcp --dport 53 -m conntrack --ctstate DNAT "
	    "--ctorigdstport 53 -j ACCEPT\n",
	    "*nat\n:ZTDNS-LDNS - [0:0]\n-I OUTPUT 1 -j ZTDNS-LDNS\n",
	    "-A ZTDNS-LDNS -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53\n",
	    "-A ZTDNS-LDNS -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.1:53\n",
	    NULL};
	static const char *const v6[] = {
	    "-A ZTDNS-OUT -d ::1/128 -p udp -m udp --dport 53 -m conntrack --ctstate DNAT "
	    "--ctorigdstport 53 -j ACCEPT\n",
	    "-A ZTDNS-LDNS -p udp -m udp --dport 53 -j DNAT --to-destination [::1]:53\n",
	    "-A ZTDNS-LDNS -p tcp -m tcp --dport 53 -j DNAT --to-destination [::1]:53\n", NULL};
	static const char *const none[] = {"ZTDNS-LDNS", "*nat", NULL};
	static const char *const port[] = {
	    "-A ZTDNS-LDNS -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.53:5300\n",
	    NULL};
	static const char *const any[] = {
	    "-A ZTDNS-LDNS -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:5301\n",
	    NULL};
	static const char *const nolisten6[] = {"-I OUTPUT 1 -j ZTDNS-LDNS\n", NULL};
	static const char *const nodnat[] = {"DNAT", "REDIRECT", NULL}; /* nor its accept */
	struct conf *on, *off;
	char *a, *b, *fa, *fb;

	expect("{'mode':'host','servers':[" DOT_SRV "]}", AF_INET, v4, NULL);
	expect("{'mode':'host','servers':[" DOT_SRV "]}", AF_INET6, v6, NULL);
	expect("{'mode':'sidecar','servers':[" DOT_SRV "]}", AF_INET, v4, NULL);
	expect("{'mode':'host','servers':[" DOT_SRV "],'intercept_dns':false}", AF_INET, NULL,
	       none);
	expect("{'mode':'gateway','servers':[" DOT_SRV
	       "],'gateway':{'lan_interfaces':['lan0']},'listen':['192.0.2.1:53']}",
	       AF_INET, NULL, (const char *const[]){"ZTDNS-LDNS", NULL});
	/* A loopback listener is preferred to another address, a wildcard one
	 * is reached at 127.0.0.1, a family without a listener gets an empty
	 * chain (its port-53 traffic then meets the filter like any flow). */
	expect("{'mode':'host','servers':[" DOT_SRV
	       "],'listen':['192.0.2.1:53','127.0.0.53:5300','[::1]:53']}",
	       AF_INET, port, NULL);
	expect("{'mode':'host','servers':[" DOT_SRV
	       "],'listen_any':true,'listen':['0.0.0.0:5301','[::1]:53']}",
	       AF_INET, any, NULL);
	expect("{'mode':'host','servers':[" DOT_SRV "],'listen':['127.0.0.1:53']}", AF_INET6,
	       nolisten6, nodnat);
	/* The filter table (what the lockdown installs) is the same either way
	 * but for the accepts of what was DNATed. */
	on = load("{'mode':'host','servers':[" DOT_SRV "]}");
	off = load("{'mode':'host','servers':[" DOT_SRV "],'intercept_dns':false}");
	if (on && off) {
		a = render(on, AF_INET);
		b = render(off, AF_INET);
		fa = filter_part(a);
		fb = filter_part(b);
		CHECK_MSG(strcmp(fa, fb) == 0, "filter tables differ:\n%s\n---\n%s", fa, fb);
		CHECK(strstr(a, "--ctstate DNAT") != NULL && strstr(b, "--ctstate DNAT") == NULL);
		free(a);
		free(b);
		free(fa);
		free(fb);
	}
	conf_free(&on);
	conf_free(&off);
	test_plain_zone();
	CHECK_DONE();
}
