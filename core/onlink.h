/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The IPv6 on-link prefixes of the main routing table, read by netlink:
 * where an NS or NA to a global address is neighbour discovery (a NUD probe
 * to a neighbour's own address, an answer to its solicitation) rather than
 * a packet for some router to carry on. core/ruleset renders them as
 * "-o IFACE -d PREFIX" accepts each time it renders the rules.
 */
#ifndef ZTDNS_ONLINK_H
#define ZTDNS_ONLINK_H

#include <net/if.h>
#include <stddef.h>

#include "core/addr.h"

#define ONLINK_MAX	 64   /* prefixes kept; more are counted in over_cap */
#define ONLINK_MIN_LEN	 16   /* a shorter "on-link" route is counted, not kept */
#define ONLINK_MAX_READS 4096 /* bound on the messages of one route dump */

struct onlink_prefix {
	struct prefix p;
	unsigned ifindex;
	char ifname[IF_NAMESIZE]; /* filled by onlink_read() */
};

struct onlink_list {
	struct onlink_prefix v[ONLINK_MAX];
	unsigned n;
	unsigned over_cap;  /* direct routes past ONLINK_MAX */
	unsigned too_short; /* direct routes shorter than /ONLINK_MIN_LEN */
	unsigned bad_name;  /* interfaces gone, or named so that a rule cannot say it */
};

/* Add the direct routes of one buffer of RTM_NEWROUTE messages (as a
 * NETLINK_ROUTE dump returns them; seq and portid 0: not checked) to *l:
 * IPv6, main table, unicast, no gateway or multipath, an output interface,
 * not fe80::/10, /ONLINK_MIN_LEN or longer, each (prefix, interface) once.
 * Returns 1 (more to come), 0 (NLMSG_DONE) or -1 with errno (a malformed
 * message or an NLMSG_ERROR). Pure: for the unit tests too. */
int onlink_parse(const void *buf, size_t len, unsigned seq, unsigned portid, struct onlink_list *l);

/* Dump the kernel's IPv6 routes into *l (zeroed first) and name their
 * interfaces, dropping loopback and those whose name is unusual (counted in
 * bad_name). Returns 0 or -errno; on error *l holds what was read before,
 * which only narrows what NDP may reach. Blocks at most about 2 s. */
int onlink_read(struct onlink_list *l);

#endif
