/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: a unix stream socket speaking JSON, one request object
 * per line, one response object per line. Only root and one configured uid
 * may connect (SO_PEERCRED is checked on accept); the socket file is 0600.
 * The commands themselves live with the caller (a handler callback): this
 * module only frames, bounds and authenticates.
 */
#ifndef ZTDNS_CONTROL_H
#define ZTDNS_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct ev_loop;
struct control;
struct control_client;

#define CONTROL_MAX_CLIENTS  16
#define CONTROL_MAX_LINE     4096	/* longest request */
#define CONTROL_MAX_OUTPUT   (8u << 20) /* pending response bytes per client */
#define CONTROL_WATCH_OUTPUT (1u << 20) /* pending event bytes per subscriber */

/* Handle one request (a JSON object; borrowed) from client cl. Return a new
 * response object (the control module takes the reference). */
typedef json_t *(*control_handler)(void *arg, json_t *req, uid_t peer_uid,
				   struct control_client *cl);

/* Does an event match a subscriber's filter? (filter borrowed) */
typedef bool (*control_match)(json_t *filter, const void *event);

struct control_stats {
	uint64_t accepted;
	uint64_t refused_creds; /* peer not root / not the allowed uid */
	uint64_t refused_full;	/* CONTROL_MAX_CLIENTS reached */
	uint64_t bad_requests;	/* not JSON, not an object, line too long */
	uint64_t requests;
	uint64_t events;	 /* event lines queued to subscribers */
	uint64_t events_dropped; /* not queued: a subscriber's buffer was full */
	uint64_t accept_paused;	 /* accept() out of descriptors: listener paused */
};

/* Listen on path (an existing socket file there is replaced; its directory
 * is created 0755 if missing). Returns NULL with *err = -errno. */
struct control *control_new(struct ev_loop *loop, const char *path, uid_t allowed_uid,
			    control_handler h, void *arg, int *err);

/* Close every client, remove the socket file; NULL-safe; sets *c to NULL. */
void control_free(struct control **c);

void control_get_stats(const struct control *c, struct control_stats *st);

/* From a handler: turn cl into a subscriber of events matching filter (a
 * reference is taken; NULL matches everything). It keeps its connection and
 * receives each published line until it disconnects. */
void control_subscribe(struct control_client *cl, json_t *filter);

/* Is anyone subscribed? (cheap; check before formatting an event) */
bool control_has_subscribers(const struct control *c);

/* Queue line (one JSON object, no newline) to every subscriber whose filter
 * match() accepts event. A subscriber that does not keep up loses lines
 * (counted), never blocks the daemon. */
void control_publish(struct control *c, control_match match, const void *event, const char *line,
		     size_t len);

/* From a handler: the answer to this request comes later, through
 * control_reply() with the token returned; the handler then returns NULL
 * (or, having changed its mind, an answer: the deferral is then void).
 * Requests after it on the same connection wait for that answer. */
uint64_t control_defer(struct control_client *cl);

/* The deferred answer for token (resp: the reference is taken). A token
 * whose client has gone is ignored. Never from within the handler call
 * that deferred. */
void control_reply(struct control *c, uint64_t token, json_t *resp);

/* Build {"ok": false, "error": msg}. */
json_t *control_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
