/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Capabilities the daemon passes on. ztdnsd runs iptables-restore as a child;
 * when it is not root but holds CAP_NET_ADMIN (a sidecar, a systemd unit
 * with AmbientCapabilities), the child only keeps that capability if it is
 * in the ambient set. This raises it there, and nothing else.
 */
#ifndef ZTDNS_PRIVS_H
#define ZTDNS_PRIVS_H

/* If CAP_NET_ADMIN is permitted, make it inheritable and ambient so that the
 * ruleset tools run as children keep it. Returns 0, -EPERM when the daemon
 * does not hold it at all, or -errno. Root needs nothing: returns 0. */
int privs_pass_net_admin(void);

/* Become user (started as root): keep only CAP_NET_ADMIN and
 * CAP_NET_BIND_SERVICE (libcap-ng), drop supplementary groups, clear the
 * bounding set, keep CAP_NET_ADMIN ambient for the ruleset tools, and set
 * no_new_privs. Returns 0 or -errno (ENOENT: no such user). */
int privs_drop(const char *user);

/* The syscall allowlist (libseccomp), installed once set-up is done; it is
 * inherited by the ruleset tools the daemon runs later, so it covers them.
 * log: unlisted calls are allowed and logged by the kernel (to find a
 * missing one); kill: the process dies, and the kernel drops new flows
 * (fail closed). Returns 0 or -errno. */
int privs_seccomp(int kill);

#endif
