/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ruleset_render(), a table of configurations (host, sidecar, gateway; both
 * families; queue balance; deny_action reject) against golden rule lines
 * that must appear in order, strings that must not appear, and what every
 * rendering must hold: no --queue-bypass and no fail-open anywhere, each
 * table section closed by COMMIT, our chains ending in an unconditional
 * DROP with every NFQUEUE and ACCEPT rule before it, no unconditional
 * ACCEPT. Lines that depend on this machine's interfaces (IPv6 on-link
 * neighbour discovery) are not golden.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "core/ruleset.h"
#include "policy/conf.h"

#define SERVERS_HOST                                                                               \
	"\"servers\":[{\"name\":\"one\",\"protocol\":\"dot\",\"address\":\"192.0.2.53\","          \
	"\"tls_name\":\"pdns.test\"},{\"name\":\"two\",\"protocol\":\"doh\","                      \
	"\"url\":\"https://pdns.test/"                                                             \
	"dns-query\",\"bootstrap\":[\"192.0.2.54\",\"2001:db8::54\"]}]"

struct rcase {
	const char *name;
	const char *conf;
	int family;
	const char *in_order[24]; /* whole lines, in this order (others may come between) */
	const char *absent[8];	  /* substrings */
};

static const struct rcase cases[] = {
    {"host v4",
     "{\"mode\":\"host\"," SERVERS_HOST "}",
     AF_INET,
     {"*filter",
      ":ZTDNS-OUT - [0:0]",
      ":ZTDNS-IN - [0:0]",
      "-A ZTDNS-OUT ! -o lo -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -m conntrack --ctstate "
      "ESTABLISHED --ctdir REPLY -j NFQUEUE --queue-num 0",
      "-A ZTDNS-OUT -o lo -j ACCEPT",
      "-A ZTDNS-OUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
      "-A ZTDNS-OUT -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j ACCEPT",
      "-A ZTDNS-OUT -d 192.0.2.53/32 -p tcp -m tcp --dport 853 -j ACCEPT",
      "-A ZTDNS-OUT -d 192.0.2.54/32 -p tcp -m tcp --dport 443 -j ACCEPT",
      "-A ZTDNS-OUT -m conntrack --ctstate INVALID -j DROP",
      "-A ZTDNS-OUT -m conntrack --ctstate NEW -j NFQUEUE --queue-num 0",
      "-A ZTDNS-OUT -j DROP",
      "-I OUTPUT 1 -j ZTDNS-OUT",
      "-A ZTDNS-IN -i lo -j ACCEPT",
      "-A ZTDNS-IN -p udp -m udp --sport 67 --dport 68 -j ACCEPT",
      "-A ZTDNS-IN -m conntrack --ctstate NEW -j NFQUEUE --queue-num 0",
      "-A ZTDNS-IN -j DROP",
      "-I INPUT 1 -j ZTDNS-IN",
      "COMMIT",
      "*nat",
      "-I OUTPUT 1 -j ZTDNS-LDNS",
      "-A ZTDNS-LDNS -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53"},
     {"2001:db8", "REJECT", "ZTDNS-FWD", "--queue-balance", "PREROUTING"}},
    {"host v6",
     "{\"mode\":\"host\"," SERVERS_HOST "}",
     AF_INET6,
     {"*filter", ":ZTDNS-OUT - [0:0]", "-A ZTDNS-OUT -o lo -j ACCEPT",
      "-A ZTDNS-OUT -d ff02::1:2/128 -p udp -m udp --sport 546 --dport 547 -j ACCEPT",
      "-A ZTDNS-OUT -d fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 135/0 -m hl --hl-eq 255 -m "
      "length --length 64:96 -j ACCEPT",
      "-A ZTDNS-OUT -d 2001:db8::54/128 -p tcp -m tcp --dport 443 -j ACCEPT",
      "-A ZTDNS-OUT -m conntrack --ctstate NEW -j NFQUEUE --queue-num 0", "-A ZTDNS-OUT -j DROP",
      "-I OUTPUT 1 -j ZTDNS-OUT",
      "-A ZTDNS-IN -s fe80::/10 -p udp -m udp --sport 547 --dport 546 -j ACCEPT",
      "-A ZTDNS-IN -j DROP", "-I INPUT 1 -j ZTDNS-IN", "COMMIT"},
     {"192.0.2.", "255.255.255.255", "REJECT"}},
    {"sidecar, DoT on 8853, queue 7",
     "{\"mode\":\"sidecar\",\"servers\":[{\"name\":\"one\",\"protocol\":\"dot\",\"address\":"
     "\"192.0.2.53\",\"port\":8853,\"tls_name\":\"pdns.test\"}],\"queue\":{\"num\":7}}",
     AF_INET,
     {"*filter", "-A ZTDNS-OUT -o lo -j ACCEPT",
      "-A ZTDNS-OUT -d 192.0.2.53/32 -p tcp -m tcp --dport 8853 -j ACCEPT",
      "-A ZTDNS-OUT -m conntrack --ctstate NEW -j NFQUEUE --queue-num 7", "-A ZTDNS-OUT -j DROP",
      "-I OUTPUT 1 -j ZTDNS-OUT", "-A ZTDNS-IN -m conntrack --ctstate NEW -j NFQUEUE --queue-num 7",
      "-A ZTDNS-IN -j DROP", "COMMIT"},
     {"--sport 68", "--dport 853 ", "--queue-num 0", "ZTDNS-FWD"}},
    {"gateway v4, two queues, reject",
     "{\"mode\":\"gateway\",\"servers\":[{\"name\":\"one\",\"protocol\":\"dot\",\"address\":"
     "\"192.0.2.53\",\"tls_name\":\"pdns.test\"}],\"listen\":[\"127.0.0.1:53\"],"
     "\"gateway\":{\"lan\":[{\"interface\":\"ztlan0\",\"subnets\":[\"198.18.0.0/24\"]}]},"
     "\"queue\":{\"num\":5,\"count\":2},\"ruleset\":{\"deny_action\":\"reject\"}}",
     AF_INET,
     {"*filter", ":ZTDNS-OUT - [0:0]", ":ZTDNS-FWD - [0:0]", ":ZTDNS-SPOOF - [0:0]",
      ":ZTDNS-WAN - [0:0]", "-A ZTDNS-OUT -d 192.0.2.53/32 -p tcp -m tcp --dport 853 -j ACCEPT",
      "-A ZTDNS-OUT -m mark --mark 0x5a7d0001 -p tcp -j REJECT --reject-with tcp-reset",
      "-A ZTDNS-OUT -m mark --mark 0x5a7d0001 -j REJECT --reject-with icmp-admin-prohibited",
      "-A ZTDNS-OUT -m conntrack --ctstate NEW -j NFQUEUE --queue-balance 5:6",
      "-A ZTDNS-OUT -j DROP", "-A ZTDNS-FWD -m conntrack --ctstate ESTABLISHED -j ACCEPT",
      "-A ZTDNS-FWD -m mark --mark 0x5a7d0001 -p tcp -j REJECT --reject-with tcp-reset",
      "-A ZTDNS-FWD -m conntrack --ctstate NEW,RELATED -j NFQUEUE --queue-balance 5:6",
      "-A ZTDNS-FWD -j DROP",
      /* inserted at 1 in this order: the client subnet's jump ends up first */
      "-I FORWARD 1 -i ztlan0 -j ZTDNS-SPOOF",
      "-I FORWARD 1 -i ztlan0 -s 198.18.0.0/24 -j ZTDNS-FWD", "-A ZTDNS-SPOOF -j DROP",
      "-A ZTDNS-WAN -i ztlan0 -j RETURN",
      "-A ZTDNS-WAN -m conntrack --ctstate NEW -j NFQUEUE --queue-balance 5:6",
      "-A ZTDNS-WAN -j DROP", "-I FORWARD 1 -o ztlan0 -j ZTDNS-WAN", "COMMIT"},
     {"--queue-num", "ZTDNS-IN"}},
    {"gateway v6, two queues, reject",
     "{\"mode\":\"gateway\",\"servers\":[{\"name\":\"one\",\"protocol\":\"dot\",\"address\":"
     "\"192.0.2.53\",\"tls_name\":\"pdns.test\"}],\"listen\":[\"127.0.0.1:53\"],"
     "\"gateway\":{\"lan\":[{\"interface\":\"ztlan0\",\"subnets\":[\"198.18.0.0/24\"]}]},"
     "\"queue\":{\"num\":5,\"count\":2},\"ruleset\":{\"deny_action\":\"reject\"}}",
     AF_INET6,
     {"*filter", "-A ZTDNS-OUT -m mark --mark 0x5a7d0001 -p tcp -j REJECT --reject-with tcp-reset",
      "-A ZTDNS-OUT -m conntrack --ctstate NEW -j NFQUEUE --queue-balance 5:6",
      "-A ZTDNS-OUT -j DROP", "-A ZTDNS-FWD -j DROP",
      /* no IPv6 client subnet: nothing from the LAN is forwarded */
      "-I FORWARD 1 -i ztlan0 -j ZTDNS-SPOOF", "-A ZTDNS-SPOOF -j DROP", "-A ZTDNS-WAN -j DROP",
      "COMMIT", "*nat", ":ZTDNS-DNS - [0:0]",
      "-A ZTDNS-DNS -p udp -m udp --dport 53 -j REDIRECT --to-ports 53",
      "-A ZTDNS-DNS -p tcp -m tcp --dport 53 -j REDIRECT --to-ports 53",
      "-I PREROUTING 1 -i ztlan0 -j ZTDNS-DNS", "COMMIT"},
     {"-j ZTDNS-FWD", "192.0.2.", "--queue-num"}},
};

static char *render(const char *text, int family)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(conf_parse(text, strlen(text), "t.json", &c, &errs) == 0);
	conf_errors_print(&errs, stderr);
	if (!c)
		return NULL;
	f = open_memstream(&out, &len);
	CHECK(f && ruleset_render(c, family, f) == 0);
	if (f)
		fclose(f);
	conf_free(&c);
	return out;
}

/* The line starting at p, copied into buf (no newline). */
static const char *next_line(const char *p, char *buf, size_t cap)
{
	size_t n = strcspn(p, "\n");

	snprintf(buf, cap, "%.*s", (int)n, p);
	return p[n] ? p + n + 1 : p + n;
}

/* Every chain of ours in text: its last rule is "-A CHAIN -j DROP", nothing
 * of that chain follows it, and no rule of ours accepts everything. */
static void check_common(const char *name, const char *text)
{
	static const char *const chains[] = {"ZTDNS-OUT", "ZTDNS-IN", "ZTDNS-FWD", "ZTDNS-WAN",
					     "ZTDNS-SPOOF"};
	char line[1024];
	unsigned tables = 0, commits = 0;

	CHECK_MSG(!strstr(text, "queue-bypass"), "%s: --queue-bypass", name);
	CHECK_MSG(!strstr(text, "fail-open") && !strstr(text, "FAIL_OPEN"), "%s: fail-open", name);
	for (const char *p = text; *p;) {
		p = next_line(p, line, sizeof(line));
		tables += line[0] == '*';
		commits += strcmp(line, "COMMIT") == 0;
		CHECK_MSG(tables == commits || tables == commits + 1, "%s: COMMIT without a table",
			  name);
	}
	CHECK_MSG(tables > 0 && tables == commits, "%s: %u tables, %u COMMITs", name, tables,
		  commits);
	for (size_t k = 0; k < sizeof(chains) / sizeof(chains[0]); k++) {
		char decl[64], rule[64], drop[64], accept_all[64];
		bool declared, dropped = false;

		snprintf(decl, sizeof(decl), ":%s - [0:0]", chains[k]);
		snprintf(rule, sizeof(rule), "-A %s ", chains[k]);
		snprintf(drop, sizeof(drop), "-A %s -j DROP", chains[k]);
		snprintf(accept_all, sizeof(accept_all), "-A %s -j ACCEPT", chains[k]);
		declared = strstr(text, decl) != NULL;
		for (const char *p = text; *p;) {
			p = next_line(p, line, sizeof(line));
			CHECK_MSG(strcmp(line, accept_all) != 0, "%s: %s", name, line);
			if (strncmp(line, rule, strlen(rule)) != 0)
				continue;
			CHECK_MSG(declared, "%s: %s used, not declared", name, chains[k]);
			CHECK_MSG(!dropped, "%s: %s after the chain's DROP", name, line);
			if (strcmp(line, drop) == 0)
				dropped = true;
		}
		CHECK_MSG(!declared || dropped, "%s: %s does not end in DROP", name, chains[k]);
	}
}

int main(void)
{
	char line[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *rc = &cases[i];
		char *text = render(rc->conf, rc->family);
		const char *p;
		unsigned k = 0;

		CHECK_MSG(text != NULL, "%s: no rendering", rc->name);
		if (!text)
			continue;
		/* golden lines, in order */
		for (p = text; *p && rc->in_order[k];) {
			p = next_line(p, line, sizeof(line));
			if (strcmp(line, rc->in_order[k]) == 0)
				k++;
		}
		CHECK_MSG(!rc->in_order[k], "%s: missing or out of order: %s", rc->name,
			  rc->in_order[k] ? rc->in_order[k] : "");
		for (unsigned j = 0; j < 8 && rc->absent[j]; j++)
			CHECK_MSG(!strstr(text, rc->absent[j]), "%s: has %s", rc->name,
				  rc->absent[j]);
		check_common(rc->name, text);
		if (k < 24 && rc->in_order[k])
			fprintf(stderr, "--- %s rendered:\n%s", rc->name, text);
		free(text);
	}
	CHECK_DONE();
}
