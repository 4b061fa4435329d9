/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host and sidecar: the sockets that wait for peers (TCP listeners, bound
 * UDP sockets) on addresses other than loopback whose port no
 * inbound.services entry lists. ZTDNS-IN drops new flows to them, which an
 * administrator may not expect (an SSH server, say): they are warned about
 * at start and by "ztdnsd --check".
 */
#ifndef ZTDNS_LISTENERS_H
#define ZTDNS_LISTENERS_H

struct conf;

#define LISTENERS_MAX_WARN 32 /* warnings per call; the rest are counted */

/* Called once per unlisted (protocol, port) with the message. */
typedef void (*listeners_warn_cb)(void *arg, const char *msg);

/* Read /proc/net/{tcp,tcp6,udp,udp6} of the current network namespace and
 * call warn for each unlisted port (at most LISTENERS_MAX_WARN times, then
 * once with how many more). Nothing in gateway mode. Returns the number of
 * unlisted ports, or -errno when no table could be read. */
int listeners_check(const struct conf *c, listeners_warn_cb warn, void *arg);

#endif
