/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/ctlargs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/addr.h"
#include "core/util.h"
#include "core/verdict.h"

struct cmd_rule {
	const char *name;
	unsigned opts;
	unsigned min_pos, max_pos;
	const char *pos_what; /* for the message */
};

static const struct cmd_rule rules[] = {
    {"status", 0, 0, 0, NULL},
    {"list", CTLARGS_NAME | CTLARGS_CLIENT, 0, 0, NULL},
    {"allow", CTLARGS_TTL, 1, 1, "an address"},
    {"revoke", 0, 1, 1, "an address"},
    {"explain", CTLARGS_PORT | CTLARGS_PROTO | CTLARGS_FROM, 1, 1, "an address"},
    {"flush", 0, 0, 0, NULL},
    {"reload", 0, 0, 0, NULL},
    {"break-glass", CTLARGS_REASON, 1, 1, "a duration (90, 90s, 15m, 1h) or \"close\""},
    {"audit-report", CTLARGS_AGGREGATE | CTLARGS_CLEAR | CTLARGS_CONFIG, 0, 1,
     "a file (with --config)"},
    {"watch",
     CTLARGS_VERDICT | CTLARGS_REASON | CTLARGS_ADDR | CTLARGS_PORT | CTLARGS_PROTO |
	 CTLARGS_COUNT | CTLARGS_TIMEOUT,
     0, 0, NULL},
    {"wait-ready", CTLARGS_TIMEOUT, 0, 0, NULL},
    {"cache", 0, 0, 1, "stats, list or flush"},
    {"export", 0, 0, 1, "a file or -"},
    {"import", 0, 1, 1, "a file or -"},
    {"top", CTLARGS_INTERVAL | CTLARGS_ONCE | CTLARGS_COUNT, 0, 0, NULL},
};

const char *const ctlargs_commands[] = {
    "status",	    "list",  "allow",	   "revoke", "explain", "flush",  "reload", "break-glass",
    "audit-report", "watch", "wait-ready", "cache",  "export",	"import", "top",    NULL};

static const char *const opt_names[] = {"--ttl",    "--name",	 "--port",     "--proto",
					"--from",   "--timeout", "--client",   "--verdict",
					"--reason", "--addr",	 "--count",    "--aggregate",
					"--clear",  "--config",	 "--interval", "--once"};

/* The verdicts a line carries (verdictlog_verdict_name()). */
static const char *const verdicts[] = {"accept", "drop", "reject"};

static bool in_list(const char *v, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, list[i]) == 0)
			return true;
	return false;
}

static bool is_reason(const char *v)
{
	for (unsigned r = 0; r < VERDICT_REASON_COUNT; r++)
		if (strcmp(v, verdict_reason_name(r)) == 0)
			return true;
	return false;
}

static bool is_addr(const char *v)
{
	struct addr a;

	return addr_parse(v, &a) == 0;
}

int ctlargs_check(const struct ctlargs *a, char *err, size_t errlen)
{
	static const char *const watch_protos[] = {"tcp", "udp", "icmp", "icmpv6"};
	static const char *const explain_protos[] = {"tcp", "udp", "icmp"};
	const struct cmd_rule *r = NULL;
	unsigned extra;

	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		if (strcmp(a->cmd, rules[i].name) == 0)
			r = &rules[i];
	if (!r) {
		snprintf(err, errlen, "unknown command \"%s\" (ztdnsctl --help)", a->cmd);
		return -EINVAL;
	}
	extra = a->opts & ~r->opts;
	if (extra) {
		unsigned b = 0;

		while (!(extra & (1u << b)))
			b++;
		snprintf(err, errlen, "%s does not take %s", r->name,
			 b < ARRAY_SIZE(opt_names) ? opt_names[b] : "that option");
		return -EINVAL;
	}
	if (a->npos < r->min_pos) {
		snprintf(err, errlen, "%s needs %s", r->name, r->pos_what);
		return -EINVAL;
	}
	if (a->npos > r->max_pos) {
		snprintf(err, errlen, "%s: unexpected argument", r->name);
		return -EINVAL;
	}
	if (r->pos_what && strcmp(r->pos_what, "an address") == 0 && a->pos0 && !is_addr(a->pos0)) {
		snprintf(err, errlen, "%s: \"%s\" is not an IPv4 or IPv6 address", r->name,
			 a->pos0);
		return -EINVAL;
	}
	if (strcmp(r->name, "cache") == 0 && a->npos && a->pos0 && strcmp(a->pos0, "stats") != 0 &&
	    strcmp(a->pos0, "list") != 0 && strcmp(a->pos0, "flush") != 0) {
		snprintf(err, errlen, "cache: \"%s\" is not stats, list or flush", a->pos0);
		return -EINVAL;
	}
	if (strcmp(r->name, "audit-report") == 0 && a->npos && !(a->opts & CTLARGS_CONFIG)) {
		snprintf(err, errlen, "audit-report: a file is written only with --config");
		return -EINVAL;
	}
	if (a->verdict && !in_list(a->verdict, verdicts, ARRAY_SIZE(verdicts))) {
		snprintf(err, errlen, "--verdict: \"%s\" is not accept, drop or reject",
			 a->verdict);
		return -EINVAL;
	}
	if (a->reason && strcmp(r->name, "watch") == 0 && !is_reason(a->reason)) {
		snprintf(err, errlen, "--reason: \"%s\" is not a verdict reason", a->reason);
		return -EINVAL;
	}
	if (a->proto && strcmp(r->name, "watch") == 0 &&
	    !in_list(a->proto, watch_protos, ARRAY_SIZE(watch_protos))) {
		snprintf(err, errlen, "--proto: \"%s\" is not tcp, udp, icmp or icmpv6", a->proto);
		return -EINVAL;
	}
	if (a->proto && strcmp(r->name, "explain") == 0 &&
	    !in_list(a->proto, explain_protos, ARRAY_SIZE(explain_protos))) {
		snprintf(err, errlen, "--proto: \"%s\" is not tcp, udp or icmp", a->proto);
		return -EINVAL;
	}
	if (a->addr && !is_addr(a->addr)) {
		snprintf(err, errlen, "--addr: \"%s\" is not an address", a->addr);
		return -EINVAL;
	}
	if (a->from && !is_addr(a->from)) {
		snprintf(err, errlen, "--from: \"%s\" is not an address", a->from);
		return -EINVAL;
	}
	if (a->client && strcmp(a->client, "self") != 0 && strcmp(a->client, "operator") != 0 &&
	    !is_addr(a->client)) {
		snprintf(err, errlen, "--client: \"%s\" is not an address, self or operator",
			 a->client);
		return -EINVAL;
	}
	return 0;
}
