/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who sent it: the local process behind a flow of the machine's own (host
 * and sidecar modes, OUTPUT), for the verdict log, watch and journald. Found
 * only when a line is written, on the loop, never on the verdict path:
 * sock_diag by the flow's addresses gives the socket's inode
 * (dns/peeruid.h), a scan of /proc/PID/fd finds the process holding
 * "socket:[inode]", and /proc/PID/comm and /proc/PID/cgroup name it.
 *
 * Bounded: a cache of OWNER_CACHE_MAX inodes kept OWNER_CACHE_TTL_MS, at
 * most OWNER_LOOKUPS_PER_S socket lookups and OWNER_SCANS_PER_S /proc scans
 * a second (past them only the uid is shown, and the miss is counted), each
 * scan reading at most OWNER_SCAN_MAX_FDS descriptors.
 *
 * Another user's /proc/PID/fd can only be read with CAP_SYS_PTRACE, which
 * the daemon never keeps (privileges.user drops to CAP_NET_ADMIN and
 * CAP_NET_BIND_SERVICE): such a sender is shown by its uid only, and the
 * lookup is counted as not permitted. Started as root without
 * privileges.user, every local process is found.
 */
#ifndef ZTDNS_OWNER_H
#define ZTDNS_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"

#define OWNER_CACHE_MAX	    256
#define OWNER_CACHE_TTL_MS  10000
#define OWNER_LOOKUPS_PER_S 1000
#define OWNER_SCANS_PER_S   20
#define OWNER_SCAN_MAX_FDS  200000
#define OWNER_COMM_MAX	    16 /* TASK_COMM_LEN */
#define OWNER_CGROUP_MAX    192
#define OWNER_UNIT_MAX	    96

enum owner_status {
	OWNER_FOUND,	     /* pid, comm and cgroup are set */
	OWNER_NO_SOCKET,     /* no such local socket (gone, or not a local flow) */
	OWNER_NOT_PERMITTED, /* not found, and a process of the socket's uid could not be read */
	OWNER_NOT_FOUND,     /* no process of this pid namespace holds the socket */
	OWNER_BUDGET,	     /* a per-second budget was spent: not looked up */
	OWNER_UNSUPPORTED,   /* not TCP or UDP */
};

struct owner_info {
	enum owner_status status;
	bool has_uid; /* the socket's uid (sock_diag) */
	uint32_t uid;
	uint32_t pid;
	char comm[OWNER_COMM_MAX];
	char cgroup[OWNER_CGROUP_MAX]; /* cgroup v2 path ("0::" line), "" if none */
	char unit[OWNER_UNIT_MAX];     /* systemd unit (.service, .scope), "" if none */
	char container[16];	       /* a container id's first 12 hex digits, "" if none */
};

struct owner_stats {
	uint64_t lookups;    /* owner_lookup() calls for TCP/UDP flows */
	uint64_t found;	     /* a process named */
	uint64_t cache_hits; /* found in the cache, no /proc scan */
	uint64_t scans;	     /* /proc scans */
	uint64_t no_socket;  /* sock_diag found no socket */
	uint64_t not_found;  /* scanned, no process holds it */
	uint64_t not_permitted;
	uint64_t budget;	/* a per-second budget was spent */
	uint64_t cache_evicted; /* live entries pushed out of the full cache */
};

struct owner;

/* proc: the procfs mount ("/proc"; copied). Opens the sock_diag socket
 * (dns/peeruid.h). Returns NULL with *err = -errno. */
struct owner *owner_new(const char *proc, int *err);

/* NULL-safe; sets *o to NULL. */
void owner_free(struct owner **o);

/* Who sent the flow pi (src: the local socket's end) at now_ms (monotonic).
 * Fills *out (always; status says how far it got). Loop thread only. */
void owner_lookup(struct owner *o, const struct packet_info *pi, uint64_t now_ms,
		  struct owner_info *out);

void owner_get_stats(const struct owner *o, struct owner_stats *st);

/* Parse /proc/PID/cgroup text (len bytes): the cgroup v2 path into cgroup,
 * the innermost systemd unit (a path component ending in .service or
 * .scope) into unit, a container id (a 64-hex-digit component or the one in
 * docker-ID.scope, cri-containerd-ID.scope, libpod-ID.scope, crio-ID.scope)
 * shortened to 12 digits into container. Fields not found are "". Pure:
 * the unit tests drive it. */
void owner_parse_cgroup(const char *text, size_t len, char *cgroup, size_t cglen, char *unit,
			size_t unitlen, char *container, size_t ctlen);

/* "found", "no-socket", "not-permitted", ... Static string. */
const char *owner_status_name(enum owner_status s);

#endif
