/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/vplane.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <urcu.h>

#include <linux/netfilter.h> /* after the libc headers: NF_INET_* */

#include "core/allowset.h"
#include "core/crossing.h"
#include "core/log.h"
#include "core/util.h"

/* What a thread reads: the loop's snapshot and the same policy with
 * want_details set, for when someone reads the names. */
struct snap_box {
	struct vplane_snap s;
	struct verdict_policy detailed;
	struct crossing *crossing; /* gateway: the denied-SYN table (it locks itself) */
};

struct vthread {
	struct vplane *vp;
	struct nfqueue *q;
	struct vring *ring;
	pthread_t tid;
	bool started;
	unsigned pushed; /* records since the last wake-up (thread only) */
	/* Written by the thread only, read by the loop: relaxed atomics. */
	struct vplane_counters cnt;
	uint64_t heartbeat;
	int dead;
	/* The loop's view of the heartbeat (vplane_check). */
	uint64_t seen_beat, seen_ms;
	bool seen;
} __attribute__((aligned(64)));

struct vplane {
	struct ev_loop *loop; /* NULL: replay */
	ev_async async;
	vplane_record_cb cb;
	void *arg;
	struct snap_box *snap; /* RCU-protected */
	int stop;
	int watchers;
	uint64_t last_check_ms; /* vplane_check(): when the loop last looked */
	unsigned n;
	struct vthread *t[VPLANE_MAX_THREADS];
};

/* ThreadSanitizer does not see liburcu's grace periods (membarrier, asm
 * fences): tell it that a reader's use of a snapshot happens before the
 * free that follows synchronize_rcu(). No code in other builds. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VPLANE_TSAN 1
#endif
#endif
#ifdef VPLANE_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_RELEASE(p) __tsan_release(p)
#define TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define TSAN_RELEASE(p) ((void)(p))
#define TSAN_ACQUIRE(p) ((void)(p))
#endif

#define CNT_INC(t, f) __atomic_fetch_add(&(t)->cnt.f, 1, __ATOMIC_RELAXED)

const uint64_t vplane_qwait_le_ns[VPLANE_QWAIT_BUCKETS - 1] = {
    10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000, 100000000, 1000000000,
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The skb's timestamp is the receive time (realtime) for a packet that
 * came in, and for TCP's own packets their departure time, which the kernel
 * keeps in the monotonic clock: taken as either when it is near that clock,
 * else not used (the read time stands in). Writes this thread's counters
 * only (vDSO clock reads, no shared write). */
static void count_wait(struct vthread *t, const struct nfqueue_packet *qp, uint64_t read_mono_ns)
{
	uint64_t mono = clock_ns(CLOCK_MONOTONIC), wait = mono - read_mono_ns;
	enum vplane_clock c = VPLANE_CLOCK_READ;
	unsigned b = 0;

	if (qp->has_ts) {
		uint64_t real = clock_ns(CLOCK_REALTIME);

		if (qp->ts_ns <= real && real - qp->ts_ns < VPLANE_TS_SANE_NS) {
			c = VPLANE_CLOCK_KERNEL;
			wait = real - qp->ts_ns;
		} else if (qp->ts_ns <= mono && mono - qp->ts_ns < VPLANE_TS_SANE_NS) {
			c = VPLANE_CLOCK_KERNEL;
			wait = mono - qp->ts_ns;
		}
	}
	while (b < VPLANE_QWAIT_BUCKETS - 1 && wait > vplane_qwait_le_ns[b])
		b++;
	CNT_INC(t, qwait[c][b]);
	__atomic_fetch_add(&t->cnt.qwait_sum_ns[c], wait, __ATOMIC_RELAXED);
}

static bool is_lan(const struct vplane_snap *s, uint32_t ifindex)
{
	for (unsigned i = 0; ifindex && i < s->nlan && i < VPLANE_MAX_LAN; i++)
		if (s->lan_ifindex[i] == ifindex)
			return true;
	return false;
}

enum flow_dir { FLOW_OUT, FLOW_IN, FLOW_SYNACK };

/* Which way the flow goes, from the hook the rule that queued it sits in:
 * INPUT is a peer's flow to us; OUTPUT a flow of ours, or the SYN-ACKs
 * synack_rules() queues; FORWARD from a LAN interface is a client's flow,
 * toward one (ZTDNS-WAN) the far side's. The LAN interfaces are those the
 * loop resolved (core/daemon.c refreshes them every second): a re-created
 * interface is judged as the far side's until then, never let through. */
static enum flow_dir flow_dir(const struct vplane_snap *s, const struct nfqueue_packet *qp,
			      const struct packet_info *pi, bool parsed)
{
	if (qp->hook == NF_INET_LOCAL_IN)
		return FLOW_IN;
	if (qp->hook == NF_INET_LOCAL_OUT)
		return parsed && pi->proto == IPPROTO_TCP && (pi->tcp_flags & 0x12) == 0x12
			   ? FLOW_SYNACK
			   : FLOW_OUT;
	if (qp->hook == NF_INET_FORWARD && s->gateway && !is_lan(s, qp->indev))
		return FLOW_IN;
	return FLOW_OUT;
}

static void push_record(struct vthread *t, const struct nfqueue_packet *qp,
			const struct packet_info *pi, enum packet_err pe, bool outward,
			const struct verdict_result *r, uint64_t now)
{
	struct vring_rec *rec = vring_reserve(t->ring);

	if (!rec) {
		CNT_INC(t, records_dropped);
		return;
	}
	rec->qp = *qp;
	rec->qp.len = UTIL_MIN(qp->len, sizeof(rec->payload));
	if (rec->qp.len)
		memcpy(rec->payload, qp->payload, rec->qp.len);
	rec->qp.payload = rec->payload;
	rec->pi = *pi;
	rec->pe = pe;
	rec->has_pi = pe == PACKET_OK || pi->dst.family;
	rec->outward = outward;
	rec->r = *r;
	rec->now_ms = now;
	vring_commit(t->ring);
	CNT_INC(t, records);
	t->pushed++;
}

static void on_packet(void *arg, struct nfqueue *q, const struct nfqueue_packet *qp)
{
	struct vthread *t = arg;
	const struct snap_box *b;
	const struct vplane_snap *s;
	const struct verdict_policy *pol;
	struct packet_info pi; /* packet_parse() zeroes it first */
	struct verdict_result r;
	struct verdict_link link;
	uint64_t read_ns = clock_ns(CLOCK_MONOTONIC);
	enum packet_err pe = packet_parse(qp->payload, qp->len, &pi);
	uint64_t now = allowset_now_ms();
	bool watch = __atomic_load_n(&t->vp->watchers, __ATOMIC_RELAXED);
	enum flow_dir dir;

	rcu_read_lock();
	/* rcu_dereference(), spelled so that ThreadSanitizer sees it. */
	b = __atomic_load_n(&t->vp->snap, __ATOMIC_ACQUIRE);
	if (!b) {
		/* No policy yet: fail closed. */
		rcu_read_unlock();
		nfqueue_verdict(q, qp->id, NFQUEUE_DROP);
		return;
	}
	s = &b->s;
	/* Names are looked up only for someone who reads them. */
	pol = s->log_all || watch ? &b->detailed : &s->policy;
	dir = flow_dir(s, qp, &pi, pe == PACKET_OK);
	if (dir == FLOW_IN) {
		verdict_decide_inbound(pol, pe == PACKET_OK ? &pi : NULL, now, &r);
	} else if (dir == FLOW_SYNACK) {
		verdict_decide_synack(pol, &pi, qp->has_uid, &r);
	} else {
		/* No input interface: the machine's own flow (OUTPUT). A
		 * forwarded one is judged with its link facts (gateway). */
		verdict_link_fill(&link, qp->indev, qp->hwaddr, qp->hwlen, qp->payload, qp->len,
				  pe == PACKET_OK ? &pi : NULL);
		verdict_decide_link(pol, pe == PACKET_OK ? &pi : NULL,
				    qp->indev == 0 ? allowset_scope_self() : NULL, &link, now, &r);
		/* A SYN we refuse may be crossed by the peer's (core/crossing.h). */
		if (b->crossing && !verdict_reason_accepts(r.reason) && pe == PACKET_OK &&
		    pi.proto == IPPROTO_TCP && (pi.tcp_flags & 0x12) == 0x02)
			crossing_record(b->crossing, &pi.src, pi.sport, &pi.dst, pi.dport, now);
	}
	/* A SYN-ACK is never sent back marked: the rule that queued it sits
	 * before the REJECT rules and would queue it again. */
	r.reject = !r.accept && s->reject && dir != FLOW_SYNACK;
	nfqueue_verdict(q, qp->id,
			r.accept   ? NFQUEUE_ACCEPT
			: r.reject ? NFQUEUE_REJECT
				   : NFQUEUE_DROP);

	CNT_INC(t, verdicts[r.reason]);
	if (pe != PACKET_OK && (unsigned)pe < ARRAY_SIZE(t->cnt.packet_errors))
		CNT_INC(t, packet_errors[pe]);
	count_wait(t, qp, read_ns);
	if (r.would_deny) {
		CNT_INC(t, would_deny);
		CNT_INC(t, would_deny_by[r.reason]);
	}
	if (r.break_glass)
		CNT_INC(t, break_glass_flows);
	if (r.accept)
		CNT_INC(t, accepted);
	else
		CNT_INC(t, denied);
	/* Audit needs every would-deny; the log, every verdict or the
	 * denials; watchers, every verdict. */
	if (s->log_all || watch || r.would_deny || (s->log_denials && (!r.accept || r.break_glass)))
		push_record(t, qp, &pi, pe, dir == FLOW_OUT, &r, now);
	TSAN_RELEASE((void *)b);
	rcu_read_unlock();
}

static void *thread_main(void *arg)
{
	struct vthread *t = arg;
	allowset_reader_register();
	while (!__atomic_load_n(&t->vp->stop, __ATOMIC_RELAXED)) {
		/* Sleeps at most VPLANE_POLL_MS: the heartbeat's period. A
		 * pending ENOBUFS is counted by the read. */
		int rc = nfqueue_read_wait(t->q, VPLANE_POLL_MS);

		__atomic_fetch_add(&t->heartbeat, 1, __ATOMIC_RELAXED);
		if (rc < 0)
			break;
		if (t->pushed) {
			t->pushed = 0;
			ev_async_send(t->vp->loop, &t->vp->async);
		}
	}
	if (!__atomic_load_n(&t->vp->stop, __ATOMIC_RELAXED))
		__atomic_store_n(&t->dead, 1, __ATOMIC_RELAXED);
	allowset_reader_unregister();
	return NULL;
}

void vplane_drain(struct vplane *vp)
{
	for (unsigned i = 0; i < vp->n; i++) {
		struct vthread *t = vp->t[i];
		const struct vring_rec *rec;

		/* Bounded: at most what the ring holds now plus what arrives
		 * meanwhile, cut at one ring's worth so the loop moves on. */
		for (unsigned k = 0; k < vring_capacity(t->ring) && (rec = vring_peek(t->ring));
		     k++) {
			vp->cb(vp->arg, rec);
			vring_pop(t->ring);
		}
	}
}

static void on_async(struct ev_loop *loop, ev_async *w, int revents)
{
	struct vplane *vp = container_of(w, struct vplane, async);

	(void)loop;
	(void)revents;
	vplane_drain(vp);
	/* More than one ring's worth waited: come back at once. */
	for (unsigned i = 0; i < vp->n; i++)
		if (vring_peek(vp->t[i]->ring)) {
			ev_async_send(vp->loop, &vp->async);
			break;
		}
}

struct vplane *vplane_new(struct ev_loop *loop, uint16_t first, unsigned count, uint32_t maxlen,
			  unsigned ring, vplane_record_cb cb, void *arg, int *err)
{
	struct vplane *vp = calloc(1, sizeof(*vp));
	int rc = -ENOMEM;

	if (!vp)
		goto fail;
	vp->loop = loop;
	vp->cb = cb;
	vp->arg = arg;
	if (loop) {
		ev_async_init(&vp->async, on_async);
		ev_async_start(loop, &vp->async);
	}
	for (unsigned i = 0; i < count && i < VPLANE_MAX_THREADS; i++) {
		struct vthread *t = aligned_alloc(64, sizeof(*t));

		if (!t) {
			rc = -ENOMEM;
			goto fail;
		}
		memset(t, 0, sizeof(*t));
		t->vp = vp;
		vp->t[vp->n++] = t;
		t->ring = vring_new(ring);
		if (!t->ring) {
			rc = -ENOMEM;
			goto fail;
		}
		if (loop) {
			t->q = nfqueue_new(NULL, (uint16_t)(first + i), maxlen, on_packet, t, &rc);
		} else {
			t->q = nfqueue_new_replay((uint16_t)(first + i), on_packet, t);
			rc = -ENOMEM;
		}
		if (!t->q) {
			*err = rc;
			/* The caller logs the queue: rc is the queue's error. */
			goto fail_keep;
		}
	}
	return vp;
fail:
	*err = rc;
fail_keep:
	vplane_free(&vp);
	return NULL;
}

int vplane_start(struct vplane *vp)
{
	sigset_t all, old;
	int rc = 0;

	if (!vp->loop || !vp->snap)
		return vp->loop ? -EINVAL : 0;
	/* The loop thread takes every signal: the threads block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < vp->n; i++) {
		struct vthread *t = vp->t[i];

		char name[16];

		rc = -pthread_create(&t->tid, NULL, thread_main, t);
		if (rc < 0)
			break;
		t->started = true;
		/* "ztverdict7": ps -T and /proc/PID/task/N/comm show which queue. */
		snprintf(name, sizeof(name), "ztverdict%u", (unsigned)nfqueue_num(t->q));
		pthread_setname_np(t->tid, name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

void vplane_free(struct vplane **vpp)
{
	struct vplane *vp;

	if (!vpp || !*vpp)
		return;
	vp = *vpp;
	__atomic_store_n(&vp->stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < vp->n; i++)
		if (vp->t[i]->started)
			pthread_join(vp->t[i]->tid, NULL);
	if (vp->cb)
		vplane_drain(vp);
	for (unsigned i = 0; i < vp->n; i++) {
		nfqueue_free(&vp->t[i]->q);
		vring_free(&vp->t[i]->ring);
		free(vp->t[i]);
	}
	if (vp->loop)
		ev_async_stop(vp->loop, &vp->async);
	free(vp->snap); /* no reader is left */
	free(vp);
	*vpp = NULL;
}

int vplane_publish(struct vplane *vp, const struct vplane_snap *s)
{
	struct snap_box *b = malloc(sizeof(*b)), *old;

	if (!b)
		return -ENOMEM;
	b->s = *s;
	b->s.policy.want_details = false;
	b->detailed = b->s.policy;
	b->detailed.want_details = true;
	/* The verdict records into the table the policy reads: the daemon
	 * owns it, mutable; the policy only holds it const. */
	b->crossing = (struct crossing *)s->policy.crossing;
	old = vp->snap;
	/* rcu_assign_pointer(), spelled so that ThreadSanitizer sees it. */
	__atomic_store_n(&vp->snap, b, __ATOMIC_RELEASE);
	if (old) {
		synchronize_rcu();
		TSAN_ACQUIRE(old);
		free(old);
	}
	return 0;
}

void vplane_set_watchers(struct vplane *vp, bool on)
{
	__atomic_store_n(&vp->watchers, on ? 1 : 0, __ATOMIC_RELAXED);
}

void vplane_sum(const struct vplane *vp, struct vplane_counters *c)
{
	uint64_t *dst = (uint64_t *)c;

	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < vp->n; i++) {
		const uint64_t *src = (const uint64_t *)&vp->t[i]->cnt;

		/* Every field is a uint64_t. */
		for (size_t k = 0; k < sizeof(*c) / sizeof(uint64_t); k++)
			dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
	}
}

int vplane_check(struct vplane *vp, uint64_t now_ms, unsigned *queue)
{
	/* The loop itself was late (a long reload, the process stopped and
	 * continued): the threads may not have run since it woke. Start the
	 * count again rather than blame them. */
	bool fresh = vp->last_check_ms && now_ms - vp->last_check_ms > VPLANE_STALL_MS / 2;

	vp->last_check_ms = now_ms;
	for (unsigned i = 0; i < vp->n; i++) {
		struct vthread *t = vp->t[i];
		uint64_t beat = __atomic_load_n(&t->heartbeat, __ATOMIC_RELAXED);

		*queue = nfqueue_num(t->q);
		if (__atomic_load_n(&t->dead, __ATOMIC_RELAXED))
			return -EPIPE;
		if (!t->seen || beat != t->seen_beat || fresh) {
			t->seen = true;
			t->seen_beat = beat;
			t->seen_ms = now_ms;
		} else if (now_ms - t->seen_ms >= VPLANE_STALL_MS) {
			return -ETIMEDOUT;
		}
	}
	return 0;
}

unsigned vplane_count(const struct vplane *vp)
{
	return vp->n;
}

struct nfqueue *vplane_queue(const struct vplane *vp, unsigned i)
{
	return i < vp->n ? vp->t[i]->q : NULL;
}

void vplane_replay(struct vplane *vp, unsigned i, const void *buf, size_t len)
{
	if (i < vp->n)
		nfqueue_replay_feed(vp->t[i]->q, buf, len);
}
