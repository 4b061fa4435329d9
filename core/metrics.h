/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus text exposition (format 0.0.4) on a local endpoint: a loopback
 * TCP port or a unix socket (metrics.listen). A minimal HTTP/1.0 responder:
 * GET /metrics answers the daemon's counters, anything else 404; every
 * connection is bounded in request size, time and number.
 */
#ifndef ZTDNS_METRICS_H
#define ZTDNS_METRICS_H

#include <stdint.h>
#include <stdio.h>

struct ev_loop;
struct daemon;
struct metrics;

#define METRICS_MAX_CLIENTS 8
#define METRICS_REQ_MAX	    4096
#define METRICS_TIMEOUT_S   5.0

/* Listen on spec ("unix:/path", "127.0.0.1:9153", "[::1]:9153"). d must
 * outlive the endpoint. Returns NULL with *err = -errno. */
struct metrics *metrics_new(struct ev_loop *loop, const char *spec, struct daemon *d, int *err);

/* NULL-safe; sets *m to NULL; removes a unix socket file. */
void metrics_free(struct metrics **m);

/* Times accept() ran out of descriptors and the endpoint paused. NULL-safe. */
uint64_t metrics_accept_paused(const struct metrics *m);

/* Write the exposition for d to f. */
void metrics_render(struct daemon *d, FILE *f);

#endif
