/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who owns a local socket: the uid of the process that opened the socket a
 * query came from, found with sock_diag (NETLINK_SOCK_DIAG, an exact
 * inet_diag_req_v2 lookup on the 4-tuple). The stub uses it to give every
 * local user its own quotas in host mode, where all local applications
 * share the client address 127.0.0.1. SO_PEERCRED does not exist for UDP
 * and TCP sockets; sock_diag does, and needs no privilege.
 *
 * Runs on the control plane only (one netlink round trip, a few µs); never
 * on the verdict path.
 */
#ifndef ZTDNS_PEERUID_H
#define ZTDNS_PEERUID_H

#include <stdint.h>
#include <sys/socket.h>

struct peeruid;

/* Open the sock_diag socket (before privileges are dropped). Returns NULL
 * with *err = -errno. */
struct peeruid *peeruid_new(int *err);

/* NULL-safe; sets *p to NULL. */
void peeruid_free(struct peeruid **p);

/* The uid owning the peer's socket of a UDP datagram or TCP connection
 * that came from peer to local (both AF_INET or both AF_INET6; local may be
 * the listener's address). tcp: the protocol. Returns 0 with *uid set, or
 * -ENOENT (no such socket any more, or not a local one), -EPROTO (a bad
 * reply), -EAFNOSUPPORT, or another -errno from the netlink socket. */
int peeruid_lookup(struct peeruid *p, int tcp, const struct sockaddr_storage *local,
		   const struct sockaddr_storage *peer, uint32_t *uid);

/* The same lookup, also giving the socket's inode (the "socket:[N]" that
 * /proc/PID/fd links name; core/owner.h finds the process with it). */
int peeruid_lookup_sock(struct peeruid *p, int tcp, const struct sockaddr_storage *local,
			const struct sockaddr_storage *peer, uint32_t *uid, uint64_t *inode);

/* The uid of a query that the nat table sent to the stub (intercept_dns,
 * core/ruleset.c): the application's socket is connected to another
 * address's port 53, so the exact lookup above does not find it. Found
 * instead by a dump of the sockets whose own end is the peer's port
 * (filtered in the kernel), keeping those whose own address is exactly
 * the peer's address (a remote client's address is no local socket's) and
 * whose remote port is 53. All matches must share one uid (SO_REUSEPORT
 * sockets do). Returns as peeruid_lookup(); -ENOENT when none or when
 * their uids differ. */
int peeruid_lookup_redirected(struct peeruid *p, int tcp, const struct sockaddr_storage *peer,
			      uint32_t *uid);

#endif
