/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztdnsd: the ztdns daemon. A thin main(): arguments, configuration check,
 * then core/daemon.c does the work.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <ev.h>

#include "core/daemon.h"
#include "core/fastpath.h"
#include "core/listeners.h"
#include "core/log.h"
#include "core/nfqueue.h"
#include "core/privs.h"
#include "core/ruleset.h"
#include "policy/conf.h"
#include "policy/confcheck.h"

#define DEFAULT_CONF "/etc/ztdns/ztdns.json"

static void check_unlisted(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "warning: %s\n", msg);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ztdnsd [-c FILE] [--check|-n] [--print-ruleset] [--remove-ruleset "
		"[--force]]\n"
		"              [--foreground|-f] [-v]\n"
		"  -c, --config FILE   configuration (default " DEFAULT_CONF ")\n"
		"  -n, --check         validate the configuration and exit (-v: print it)\n"
		"      --print-ruleset print the iptables-restore input and exit\n"
		"      --remove-ruleset\n"
		"                      remove the lockdown a stopped or failed daemon left\n"
		"                      (refused while a daemon holds the queue, unless --force)\n"
		"  -f, --foreground    log to stderr (default when stderr is a terminal)\n"
		"  -v, --verbose       more output\n");
}

/* The operator's way out of a lockdown that a stopped or failed daemon left
 * (invariant 8: rules leave only on purpose). c may be NULL when the
 * configuration cannot be read: then no queue can be checked, and only
 * --force removes. */
static int remove_ruleset(struct conf *c, bool force)
{
	int rc, busy = -1;

	/* To syslog: the removal is an operator action worth a record. */
	log_init("ztdnsd", LOG_INFO, true);
	if (c) {
		for (unsigned i = 0; i < c->queue_count; i++) {
			struct nfqueue_kernel_stats ks;

			if (nfqueue_kernel_stats((uint16_t)(c->queue_num + i), &ks) == 0 &&
			    ks.portid != 0)
				busy = (int)(c->queue_num + i);
		}
	}
	if (!force && (!c || busy >= 0)) {
		if (!c)
			fprintf(stderr, "ztdnsd: the configuration cannot be read, so the queues "
					"cannot be checked; use --force to remove anyway\n");
		else
			fprintf(stderr,
				"ztdnsd: NFQUEUE %d is held by a running daemon: stop it (a clean "
				"stop removes the ruleset) or use --force\n",
				busy);
		conf_free(&c);
		return EX_TEMPFAIL;
	}
	conf_free(&c);
	rc = ruleset_remove();
	if (rc < 0) {
		fprintf(stderr, "ztdnsd: cannot remove the ruleset: %s\n", strerror(-rc));
		return 1;
	}
	rc = fastpath_remove_sets();
	if (rc < 0)
		fprintf(stderr, "ztdnsd: the ruleset is removed, but not every fast-path set: %s\n",
			strerror(-rc));
	log_warnx("ruleset removed by the operator (uid %u): new flows are no longer blocked",
		  (unsigned)getuid());
	printf("ruleset removed: new flows are no longer blocked\n");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"check", no_argument, NULL, 'n'},
	    {"print-ruleset", no_argument, NULL, 'P'}, {"remove-ruleset", no_argument, NULL, 'R'},
	    {"force", no_argument, NULL, 'F'},	       {"foreground", no_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},       {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONF;
	bool check = false, print_rules = false, foreground = isatty(2), verbose = false;
	bool remove_rules = false, force = false;
	struct conf_errors *errs;
	struct conf *c = NULL;
	struct daemon d;
	enum conf_seccomp seccomp;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:nfvh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'P':
			print_rules = true;
			break;
		case 'R':
			remove_rules = true;
			break;
		case 'F':
			force = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("ztdnsd %s\n", ZTDNS_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (force && !remove_rules) {
		usage(stderr);
		return EX_USAGE;
	}
	errs = calloc(1, sizeof(*errs));
	if (!errs)
		return EX_OSERR;
	rc = conf_load(path, &c, errs);
	conf_errors_print(errs, stderr);
	free(errs);
	if (remove_rules)
		return remove_ruleset(rc < 0 ? NULL : c, force);
	if (rc < 0)
		return EX_CONFIG;
	if (check) {
		struct conf_errors *ferrs = calloc(1, sizeof(*ferrs));
		unsigned bad;

		if (!ferrs) {
			conf_free(&c);
			return EX_OSERR;
		}
		/* The files it names load as they will at start. */
		bad = confcheck_files(c, ferrs);
		conf_errors_print(ferrs, stderr);
		free(ferrs);
		if (bad) {
			fprintf(stderr, "configuration refused: %u file problem%s\n", bad,
				bad == 1 ? "" : "s");
			conf_free(&c);
			return EX_CONFIG;
		}
		/* In the namespace --check runs in, which is where the daemon
		 * would run when it is the same host. */
		listeners_check(c, check_unlisted, NULL);
		if (verbose)
			conf_dump(c, stdout);
		printf("configuration OK\n");
		conf_free(&c);
		return 0;
	}
	if (print_rules) {
		printf("# IPv4: iptables-restore --noflush\n");
		ruleset_render(c, AF_INET, stdout);
		printf("# IPv6: ip6tables-restore --noflush\n");
		ruleset_render(c, AF_INET6, stdout);
		conf_free(&c);
		return 0;
	}
	log_init("ztdnsd", verbose ? LOG_DEBUG : LOG_INFO, !foreground);
	/* A peer closing a TLS, TCP or control connection must be an error
	 * return, not the end of the firewall. */
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		/* The ruleset tools run as children and need CAP_NET_ADMIN too. */
		int prc = privs_pass_net_admin();

		if (prc == -EPERM)
			log_warnx("not root and no CAP_NET_ADMIN: the ruleset cannot be installed");
		else if (prc < 0)
			log_warnx("cannot pass CAP_NET_ADMIN to the ruleset tools: %s",
				  strerror(-prc));
	}
	if (c->user) {
		/* Before anything is opened: files and sockets belong to the
		 * user the daemon runs as, as under systemd's User=. */
		rc = geteuid() == 0 ? privs_drop(c->user) : -EPERM;
		if (rc < 0) {
			log_err("cannot become user \"%s\": %s%s", c->user, strerror(-rc),
				rc == -EPERM ? " (start as root to drop privileges)" : "");
			/* Still as started: a failed start leaves a lockdown. */
			if (ruleset_lockdown(c) < 0)
				log_err("could not install the lockdown ruleset: new flows are "
					"NOT blocked");
			conf_free(&c);
			return 1;
		}
		log_info("running as user %s with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only",
			 c->user);
	}
	seccomp = c->seccomp;
	rc = daemon_start(&d, EV_DEFAULT, c);
	if (rc < 0) {
		log_err("start-up failed: %s", strerror(-rc));
		daemon_stop(&d, false);
		return 1;
	}
	if (seccomp != CONF_SECCOMP_OFF) {
		/* Everything is initialised: from here on, only the allowlist. */
		rc = privs_seccomp(seccomp == CONF_SECCOMP_KILL);
		if (rc < 0) {
			log_err("cannot install the seccomp filter: %s", strerror(-rc));
			daemon_stop(&d, false);
			return 1;
		}
	}
	if (daemon_run(&d) < 0) {
		/* A verdict thread died or stalled: the rules stay. */
		daemon_stop(&d, false);
		return 1;
	}
	daemon_stop(&d, true);
	log_info("stopped");
	return 0;
}
