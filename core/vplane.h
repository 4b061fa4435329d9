/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The enforcement plane: one verdict thread per NFQUEUE (queue.count, the
 * ruleset's --queue-balance). Each thread owns its queue's netlink socket,
 * reads the lock-free allowset (a registered RCU reader) and an immutable
 * policy snapshot that the loop swaps by pointer (RCU), keeps its own
 * counters (summed on read), and hands each record the loop must log,
 * publish to watchers or audit through its own bounded ring (core/vring.h),
 * waking the loop with one ev_async. Nothing on a verdict thread allocates,
 * logs, opens a socket or takes a lock per packet (the gateway's crossing
 * table excepted, core/crossing.h).
 *
 * Fail closed: a thread whose queue socket fails stops and is reported dead;
 * one whose heartbeat stops advancing is reported stalled; vplane_check()
 * tells the loop, which stops feeding the watchdog and exits leaving the
 * rules (core/daemon.c).
 */
#ifndef ZTDNS_VPLANE_H
#define ZTDNS_VPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/nfqueue.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "core/vring.h"

struct ev_loop;
struct vplane;

#define VPLANE_MAX_THREADS 16
#define VPLANE_MAX_LAN	   8
#define VPLANE_POLL_MS	   100	/* a thread's longest sleep: its heartbeat period */
#define VPLANE_STALL_MS	   3000 /* heartbeat not advanced this long: stalled */

/* Everything a verdict reads besides the allowset. The loop fills one and
 * vplane_publish() copies it; the tables it points to (exceptions,
 * services, crossing) must stay valid until the next vplane_publish()
 * returns. */
struct vplane_snap {
	struct verdict_policy policy; /* want_details is set by the plane */
	bool gateway;		      /* mode gateway: FORWARD from a non-LAN link is inbound */
	bool reject;		      /* deny_action reject */
	bool log_all;		      /* every verdict is logged (verdict log, log_verdicts) */
	bool log_denials;	      /* otherwise, denials are logged (info level) */
	uint32_t lan_ifindex[VPLANE_MAX_LAN]; /* gateway: the LAN interfaces (0: absent) */
	unsigned nlan;
};

/* Queue wait, from the packet's kernel timestamp (VPLANE_CLOCK_KERNEL:
 * NFQA_TIMESTAMP present and within VPLANE_TS_SANE_NS of the realtime or the
 * monotonic clock) or else from when its thread read it
 * (VPLANE_CLOCK_READ), to its verdict. Bucket upper bounds in ns, the last
 * one +Inf. */
#define VPLANE_QWAIT_BUCKETS 12
#define VPLANE_TS_SANE_NS    60000000000ull /* a timestamp further off is another clock */
enum vplane_clock { VPLANE_CLOCK_KERNEL, VPLANE_CLOCK_READ, VPLANE_CLOCKS };
extern const uint64_t vplane_qwait_le_ns[VPLANE_QWAIT_BUCKETS - 1];

/* Per-thread counters, summed by vplane_sum(). Every field is a uint64_t. */
struct vplane_counters {
	uint64_t verdicts[VERDICT_REASON_COUNT];
	uint64_t accepted;
	uint64_t denied;
	uint64_t would_deny;
	uint64_t would_deny_by[VERDICT_REASON_COUNT]; /* audit mode, by the denial's reason */
	uint64_t qwait[VPLANE_CLOCKS][VPLANE_QWAIT_BUCKETS]; /* not cumulative */
	uint64_t qwait_sum_ns[VPLANE_CLOCKS];
	uint64_t packet_errors[PACKET_ERR_PROTO + 1];
	uint64_t break_glass_flows;
	uint64_t records;	  /* records handed to the loop */
	uint64_t records_dropped; /* the ring was full: record lost, verdict given */
};

/* Called on the loop for every record, in each thread's order. */
typedef void (*vplane_record_cb)(void *arg, const struct vring_rec *rec);

/* Bind count queues from first (each maxlen long) for threads that do not
 * run yet; records are delivered to cb on loop (ev_async). loop NULL: a
 * replay plane, without sockets or threads (vplane_replay()), whose records
 * are delivered by vplane_drain(). ring: records per thread. Returns NULL
 * and sets *err to -errno (EBUSY: another process owns a queue). */
struct vplane *vplane_new(struct ev_loop *loop, uint16_t first, unsigned count, uint32_t maxlen,
			  unsigned ring, vplane_record_cb cb, void *arg, int *err);

/* Start the threads. A snapshot must have been published. Returns 0 or
 * -errno (the plane is then to be freed). */
int vplane_start(struct vplane *vp);

/* Stop and join the threads, unbind the queues (packets still queued are
 * dropped by the kernel), deliver what the rings hold. NULL-safe; sets *vp
 * to NULL. */
void vplane_free(struct vplane **vp);

/* Loop: copy s and make it the one every verdict from now on reads. When it
 * returns, no thread reads the previous snapshot (synchronize_rcu), so the
 * tables only the previous one pointed to may be freed. Returns 0 or
 * -ENOMEM (the previous snapshot stays). */
int vplane_publish(struct vplane *vp, const struct vplane_snap *s);

/* Loop: someone watches verdicts (control "watch"): records for all. */
void vplane_set_watchers(struct vplane *vp, bool on);

/* Loop: deliver every waiting record to the callback. */
void vplane_drain(struct vplane *vp);

/* Any thread: the sum of every thread's counters into *c (overwritten). */
void vplane_sum(const struct vplane *vp, struct vplane_counters *c);

/* Loop: are all threads alive and advancing? now_ms is allowset_now_ms().
 * Returns 0, or -EPIPE (a thread died) or -ETIMEDOUT (a heartbeat stood
 * still VPLANE_STALL_MS, over calls at most VPLANE_STALL_MS / 2 apart: a
 * loop that was late itself starts the count again), with the thread's
 * queue in *queue. A replay plane never advances: called often enough, it
 * is reported stalled once VPLANE_STALL_MS have passed. */
int vplane_check(struct vplane *vp, uint64_t now_ms, unsigned *queue);

unsigned vplane_count(const struct vplane *vp);
struct nfqueue *vplane_queue(const struct vplane *vp, unsigned i);

/* Replay plane: feed recorded netlink messages to queue i on the calling
 * thread (a registered allowset reader), as its verdict thread would. The
 * verdicts are read with nfqueue_replay_take(vplane_queue(vp, i), ...). */
void vplane_replay(struct vplane *vp, unsigned i, const void *buf, size_t len);

#endif
