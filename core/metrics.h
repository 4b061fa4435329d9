/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus text exposition (format 0.0.4, rendered by core/stats.c) on a
 * local endpoint: a loopback TCP port or a unix socket (metrics.listen),
 * served by libmicrohttpd driven from the daemon's libev loop (its epoll
 * descriptor watched, its timeout on a timer; no thread). GET and HEAD
 * /metrics; 405 for other methods there, 404 elsewhere. At most
 * METRICS_MAX_CLIENTS connections (more are refused and counted), each
 * closed after METRICS_TIMEOUT_S without activity, so idle clients cannot
 * starve a scraper for long.
 */
#ifndef ZTDNS_METRICS_H
#define ZTDNS_METRICS_H

#include <stdint.h>

struct ev_loop;
struct daemon;
struct metrics;

#define METRICS_MAX_CLIENTS 128
#define METRICS_REQ_MAX	    4096 /* request header bytes (MHD memory pool: 4x) */
#define METRICS_TIMEOUT_S   5

struct metrics_stats {
	uint64_t accepted;	/* connections handed to the HTTP server */
	uint64_t refused_full;	/* refused: METRICS_MAX_CLIENTS open */
	uint64_t accept_paused; /* accept() ran out of descriptors: paused */
	uint64_t scrapes;	/* /metrics answered */
};

/* Listen on spec ("unix:/path", "127.0.0.1:9153", "[::1]:9153"). d must
 * outlive the endpoint. Returns NULL with *err = -errno. */
struct metrics *metrics_new(struct ev_loop *loop, const char *spec, struct daemon *d, int *err);

/* NULL-safe; sets *m to NULL; closes every connection; removes a unix
 * socket file. */
void metrics_free(struct metrics **m);

/* Copy the endpoint's counters; zeros for a NULL m. */
void metrics_get_stats(const struct metrics *m, struct metrics_stats *st);

#endif
