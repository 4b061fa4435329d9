/*
 * The control socket: a unix stream socket speaking JSON, one request object
 * per line, one response object per line. Only root and one configured uid
 * may connect (SO_PEERCRED is checked on accept); the socket file is 0600.
 * The commands themselves live with the caller (a handler callback): this
 * module only frames, bounds and authenticates.
 */
#ifndef ZTDNS_CONTROL_H
#define ZTDNS_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct ev_loop;
struct control;

#define CONTROL_MAX_CLIENTS 16
#define CONTROL_MAX_LINE    4096       /* longest request */
#define CONTROL_MAX_OUTPUT  (8u << 20) /* pending response bytes per client */

/* Handle one request (a JSON object; borrowed). Return a new response
 * object (the control module takes the reference). */
typedef json_t *(*control_handler)(void *arg, json_t *req, uid_t peer_uid);

struct control_stats {
	uint64_t accepted;
	uint64_t refused_creds; /* peer not root / not the allowed uid */
	uint64_t refused_full;	/* CONTROL_MAX_CLIENTS reached */
	uint64_t bad_requests;	/* not JSON, not an object, line too long */
	uint64_t requests;
};

/* Listen on path (an existing socket file there is replaced; its directory
 * is created 0755 if missing). Returns NULL with *err = -errno. */
struct control *control_new(struct ev_loop *loop, const char *path, uid_t allowed_uid,
			    control_handler h, void *arg, int *err);

/* Close every client, remove the socket file; NULL-safe; sets *c to NULL. */
void control_free(struct control **c);

void control_get_stats(const struct control *c, struct control_stats *st);

/* Build {"ok": false, "error": msg}. */
json_t *control_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
