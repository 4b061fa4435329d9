/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control commands, answered from the daemon's state:
 *   {"cmd":"status"}                         counters, readiness
 *   {"cmd":"list", "name":N?, "limit":K?}    allowset entries
 *   {"cmd":"allow", "addr":A, "ttl":S?}      operator allow (reason manual)
 *   {"cmd":"revoke", "addr":A}               remove an allowance
 *   {"cmd":"explain", "addr":A, "port":P?, "proto":"tcp"|"udp"|"icmp"?, "from":C?}
 *   {"cmd":"flush"}                          remove every allowance
 *   {"cmd":"watch", "verdict":V?, "reason":R?, "addr":A?, "port":P?,
 *    "proto":X?}                             then one verdict per line, live
 * Every response has "ok"; errors carry "error".
 */
#ifndef ZTDNS_COMMANDS_H
#define ZTDNS_COMMANDS_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#define COMMANDS_LIST_MAX	    10000 /* entries in one list response */
#define COMMANDS_MANUAL_TTL_DEFAULT 3600
#define COMMANDS_MANUAL_TTL_MAX	    604800

struct control_client;
struct nfqueue_packet;
struct packet_info;
struct verdict_result;

/* control_handler for core/control.h; arg is the struct daemon. */
json_t *commands_handle(void *arg, json_t *req, uid_t peer_uid, struct control_client *cl);

/* A verdict as "watch" subscribers see it. */
struct commands_event {
	const struct packet_info *pkt; /* NULL: unparsable */
	const struct verdict_result *r;
};

/* control_match for watch filters; event is a struct commands_event. */
bool commands_watch_match(json_t *filter, const void *event);

#endif
