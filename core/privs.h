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

#endif
