/*
 * The control commands, answered from the daemon's state:
 *   {"cmd":"status"}                         counters, readiness
 *   {"cmd":"list", "name":N?, "limit":K?}    allowset entries
 *   {"cmd":"allow", "addr":A, "ttl":S?}      operator allow (reason manual)
 *   {"cmd":"revoke", "addr":A}               remove an allowance
 *   {"cmd":"explain", "addr":A, "port":P?, "proto":"tcp"|"udp"|"icmp"?}
 * Every response has "ok"; errors carry "error".
 */
#ifndef ZTDNS_COMMANDS_H
#define ZTDNS_COMMANDS_H

#include <sys/types.h>

#include <jansson.h>

#define COMMANDS_LIST_MAX	    10000 /* entries in one list response */
#define COMMANDS_MANUAL_TTL_DEFAULT 3600
#define COMMANDS_MANUAL_TTL_MAX	    604800

/* control_handler for core/control.h; arg is the struct daemon. */
json_t *commands_handle(void *arg, json_t *req, uid_t peer_uid);

#endif
