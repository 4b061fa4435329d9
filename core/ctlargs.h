/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztdnsctl's command-line rules, one table: which options and how many
 * arguments each command takes, and the values a filter may have (taken
 * from the daemon's own lists). Checked before anything is sent, so a usage
 * error is EX_USAGE (64) from the client, whatever the daemon would say.
 */
#ifndef ZTDNS_CTLARGS_H
#define ZTDNS_CTLARGS_H

#include <stddef.h>

enum ctlargs_opt {
	CTLARGS_TTL = 1u << 0,
	CTLARGS_NAME = 1u << 1,
	CTLARGS_PORT = 1u << 2,
	CTLARGS_PROTO = 1u << 3,
	CTLARGS_FROM = 1u << 4,
	CTLARGS_TIMEOUT = 1u << 5,
	CTLARGS_CLIENT = 1u << 6,
	CTLARGS_VERDICT = 1u << 7,
	CTLARGS_REASON = 1u << 8,
	CTLARGS_ADDR = 1u << 9,
	CTLARGS_COUNT = 1u << 10,
	CTLARGS_AGGREGATE = 1u << 11,
	CTLARGS_CLEAR = 1u << 12,
	CTLARGS_CONFIG = 1u << 13,
	CTLARGS_INTERVAL = 1u << 14,
	CTLARGS_ONCE = 1u << 15,
};

/* What was given on the command line (NULL: not given). */
struct ctlargs {
	const char *cmd;
	unsigned opts; /* enum ctlargs_opt bits given */
	unsigned npos; /* arguments after the command */
	const char *pos0;
	const char *proto, *verdict, *reason, *addr, *from, *client;
};

/* The names of the commands, NULL-terminated (help, bash completion). */
extern const char *const ctlargs_commands[];

/* 0 when a is a valid use, else -EINVAL with a one-line reason in err
 * (naming the command and the bad option or value). */
int ctlargs_check(const struct ctlargs *a, char *err, size_t errlen);

#endif
