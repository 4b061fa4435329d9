/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One NFQUEUE, read by the verdict thread that owns it (core/vplane.c):
 * bind (libmnl-based nfq_nlmsg_* API, every configuration message
 * acknowledged and checked), read packets, hand each to a callback, and send
 * the verdicts batched: many verdict messages in one sendmsg(), flushed after
 * each read. The queue never logs from its thread: it counts, and its owner
 * reports the counters from the loop.
 *
 * Settings (DESIGN.md): copy only the first NFQUEUE_COPY_RANGE bytes,
 * NFQA_CFG_F_GSO and NFQA_CFG_F_UID_GID, never fail-open, queue length from
 * the config (>= 4096), a large socket buffer, ENOBUFS reported and counted.
 */
#ifndef ZTDNS_NFQUEUE_H
#define ZTDNS_NFQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct nfqueue;

#define NFQUEUE_COPY_RANGE  128
#define NFQUEUE_RCVBUF	    (8 * 1024 * 1024)
#define NFQUEUE_READ_BUDGET 256 /* packets read per wake-up before yielding */
#define NFQUEUE_MMSG	    8	/* datagrams per recvmmsg() in nfqueue_read_wait() */

struct nfqueue_packet {
	uint32_t id;
	uint16_t queue_num;
	uint16_t hw_protocol;	/* ETH_P_IP / ETH_P_IPV6, host order; 0 if absent */
	uint8_t hook;		/* NF_INET_LOCAL_IN, _FORWARD, _LOCAL_OUT, ... */
	const uint8_t *payload; /* borrowed: valid during the callback only */
	size_t len;		/* bytes in payload (<= NFQUEUE_COPY_RANGE) */
	bool has_uid, has_gid;
	uint32_t uid, gid;
	uint32_t indev, outdev; /* ifindex, 0 if absent */
	uint32_t physindev;	/* bridge port the frame came in on, 0 if absent */
	uint8_t hwlen;		/* bytes in hwaddr; 0: no NFQA_HWADDR (not received
				 * on an Ethernet-like device, or our own packet) */
	uint8_t hwaddr[8];	/* the frame's source link-layer address */
	bool has_ts;		/* NFQA_TIMESTAMP was present */
	uint64_t ts_ns;		/* its value in ns (the skb's clock: see vplane.c) */
};

/* Called for every queued packet; it must call nfqueue_verdict() for
 * pkt->id before it returns (fail closed: a packet without a verdict stays
 * queued until the kernel drops it). */
typedef void (*nfqueue_cb)(void *arg, struct nfqueue *q, const struct nfqueue_packet *pkt);

struct nfqueue_stats {
	uint64_t packets; /* received from the kernel */
	uint64_t accepted;
	uint64_t dropped;
	uint64_t rejected;    /* dropped with a reset / ICMP error (deny_action reject) */
	uint64_t enobufs;     /* socket overruns reported by the kernel */
	uint64_t malformed;   /* netlink messages we could not parse (packet dropped if id known) */
	uint64_t send_errors; /* verdict sendmsg failures */
	uint64_t nl_errors;   /* NLMSG_ERROR received for verdicts */
	uint64_t batches;     /* sendmsg calls carrying verdicts */
	uint64_t batch_max;   /* most verdicts in one sendmsg */
};

/* The kernel's own counters for a queue, from
 * /proc/net/netfilter/nfnetlink_queue. */
struct nfqueue_kernel_stats {
	bool found;
	uint32_t portid;
	uint32_t queue_total; /* waiting for a verdict now */
	uint32_t copy_mode;
	uint32_t copy_range;
	uint32_t queue_dropped; /* dropped: queue full (fail closed) */
	uint32_t user_dropped;	/* dropped: netlink socket full */
};

/* Bind queue queue_num with the given maximum length. The thread that owns
 * the queue calls nfqueue_read_wait() in a loop. loop must be
 * NULL (there is no on-loop read path; -EINVAL otherwise). Returns NULL and
 * sets *err to -errno (EBUSY: another process owns the queue; EPERM: no
 * CAP_NET_ADMIN). */
struct nfqueue *nfqueue_new(struct ev_loop *loop, uint16_t queue_num, uint32_t maxlen,
			    nfqueue_cb cb, void *arg, int *err);

/* Unbind and free; NULL-safe; sets *q to NULL. Packets still queued are
 * dropped by the kernel when the queue goes away (fail closed). */
void nfqueue_free(struct nfqueue **q);

/* The mark a rejected packet is sent back into the hook with (NF_REPEAT):
 * the ruleset's REJECT rules match it before the NFQUEUE rule, so the
 * application gets a TCP reset or an ICMP administratively-prohibited at
 * once instead of waiting for a timeout. */
#define NFQUEUE_REJECT_MARK 0x5a7d0001u

enum nfqueue_verdict { NFQUEUE_ACCEPT, NFQUEUE_DROP, NFQUEUE_REJECT };

/* Queue a verdict; it is sent with the next flush (at the latest at the end
 * of the nfqueue_read_wait() that handed the packet over). */
void nfqueue_verdict(struct nfqueue *q, uint32_t id, enum nfqueue_verdict v);

/* For the queue's verdict thread: wait at most timeout_ms for the first
 * packet (SO_RCVTIMEO, set once), then take what is waiting (up to
 * NFQUEUE_MMSG datagrams per recvmmsg(), NFQUEUE_READ_BUDGET in all), hand
 * each packet to the callback, and send the verdicts in one sendmsg().
 * Returns 0 (also when nothing came), or -errno for a socket error other
 * than EAGAIN, EINTR and ENOBUFS (counted). A replay queue only sleeps. */
int nfqueue_read_wait(struct nfqueue *q, int timeout_ms);

/* A queue without a socket, for replay tests: nfqueue_replay_feed() parses
 * recorded netlink messages (buf, len bytes: NFQNL_MSG_PACKET messages as
 * the kernel sends them) into the callback, and the verdict messages the
 * callback gave collect until nfqueue_replay_take() copies out (and removes)
 * up to cap bytes of them. Free with nfqueue_free(). */
struct nfqueue *nfqueue_new_replay(uint16_t queue_num, nfqueue_cb cb, void *arg);
void nfqueue_replay_feed(struct nfqueue *q, const void *buf, size_t len);
size_t nfqueue_replay_take(struct nfqueue *q, void *buf, size_t cap);

/* Any thread: each counter is read atomically. */
void nfqueue_get_stats(const struct nfqueue *q, struct nfqueue_stats *st);
uint16_t nfqueue_num(const struct nfqueue *q);

/* Read the kernel's counters for queue_num. Returns 0 or -errno. */
int nfqueue_kernel_stats(uint16_t queue_num, struct nfqueue_kernel_stats *ks);

#endif
