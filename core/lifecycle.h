/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's lifecycle decision at stop (issue 10 §1, DESIGN.md fail
 * closed): what happens to the ruleset when the daemon goes away. The rules
 * come out only on a clean stop (SIGTERM, SIGINT, SIGQUIT, systemctl stop)
 * of a daemon that reached READY with its rules installed, and not when the
 * configuration keeps them (ruleset.keep_on_stop). Every other exit (a
 * failed start, a fatal error, a stop before READY) leaves the lockdown in
 * place, and installs it if this run never did. Kept apart from the daemon
 * so that the whole table has a unit test.
 */
#ifndef ZTDNS_LIFECYCLE_H
#define ZTDNS_LIFECYCLE_H

#include <stdbool.h>

enum lifecycle_stop {
	LIFECYCLE_REMOVE = 1,	      /* remove our rules: the host is open again */
	LIFECYCLE_KEEP = 2,	      /* clean stop, ruleset.keep_on_stop: rules stay */
	LIFECYCLE_LOCKDOWN_STAYS = 3, /* rules were installed: leave them */
	LIFECYCLE_LOCKDOWN_NEW = 4,   /* never installed: install the lockdown now */
};

enum lifecycle_stop lifecycle_on_stop(bool clean, bool ready, bool rules_installed,
				      bool keep_on_stop);

/* "remove", "keep", "lockdown-stays", "lockdown-new". */
const char *lifecycle_stop_name(enum lifecycle_stop s);
#endif
