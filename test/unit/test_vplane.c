/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The middle tier for the verdict path: NFQNL_MSG_PACKET netlink messages,
 * laid out byte for byte as the kernel sends them (nfgenmsg, then
 * NFQA_PACKET_HDR, NFQA_IFINDEX_*, NFQA_PAYLOAD), are fed into a replay
 * plane (core/vplane.h: the verdict threads' code without the socket), and
 * the verdict messages it would send are parsed back and checked. Also: the
 * record ring and its drop counter, a policy swap, the stall detector, and
 * (for ThreadSanitizer) a verdict thread racing snapshot swaps and a ring
 * producer racing its consumer.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "check.h"
#include "core/allowset.h"
#include "core/vplane.h"
#include "core/vring.h"
#include "policy/exceptions.h"

#define QNUM 7

/* Non-zero: put_packet() adds NFQA_TIMESTAMP with this time (ns). */
static uint64_t put_ts_ns;

/* One NFQNL_MSG_PACKET message for an IPv4 TCP packet (flags) from src to
 * dst:dport, appended at buf+*off. hook: NF_INET_*. indev 0: none. */
static void put_packet(char *buf, size_t *off, uint32_t id, uint8_t hook, uint32_t indev,
		       const char *src, const char *dst, uint16_t dport, uint8_t flags,
		       size_t payload_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + *off);
	struct nfgenmsg *g;
	struct nfqnl_msg_packet_hdr ph = {
	    .packet_id = htonl(id), .hw_protocol = htons(0x0800), .hook = hook};
	uint8_t ip[40] = {0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, IPPROTO_TCP};

	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	g->version = NFNETLINK_V0;
	g->res_id = htons(QNUM);
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	ip[20] = 0xc3; /* sport 50000 */
	ip[21] = 0x50;
	ip[22] = (uint8_t)(dport >> 8);
	ip[23] = (uint8_t)dport;
	ip[32] = 0x50; /* data offset 5 */
	ip[33] = flags;
	mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof(ph), &ph);
	if (indev)
		mnl_attr_put_u32(nlh, NFQA_IFINDEX_INDEV, htonl(indev));
	mnl_attr_put(nlh, NFQA_PAYLOAD, payload_len < sizeof(ip) ? payload_len : sizeof(ip), ip);
	if (put_ts_ns) {
		struct nfqnl_msg_packet_timestamp ts = {
		    .sec = htobe64(put_ts_ns / 1000000000ull),
		    .usec = htobe64(put_ts_ns % 1000000000ull / 1000)};

		mnl_attr_put(nlh, NFQA_TIMESTAMP, sizeof(ts), &ts);
	}
	*off += nlh->nlmsg_len;
}

struct verdict_out {
	uint32_t id, verdict, mark;
};

/* Parse the verdict messages the plane would send. Returns how many; a
 * message that is not a verdict counts in *bad. */
static unsigned take_verdicts_bad(struct vplane *vp, struct verdict_out *out, unsigned max,
				  unsigned *bad)
{
	char buf[16384];
	size_t n = nfqueue_replay_take(vplane_queue(vp, 0), buf, sizeof(buf));
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int rest = (int)n;
	unsigned k = 0;

	while (mnl_nlmsg_ok(nlh, rest) && k < max) {
		const struct nlattr *a;

		memset(&out[k], 0, sizeof(out[k]));
		mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		{
			if (mnl_attr_get_type(a) == NFQA_VERDICT_HDR) {
				const struct nfqnl_msg_verdict_hdr *vh = mnl_attr_get_payload(a);

				out[k].id = ntohl(vh->id);
				out[k].verdict = ntohl(vh->verdict);
			} else if (mnl_attr_get_type(a) == NFQA_MARK) {
				out[k].mark = ntohl(mnl_attr_get_u32(a));
			}
		}
		*bad += nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT);
		k++;
		nlh = mnl_nlmsg_next(nlh, &rest);
	}
	return k;
}

static unsigned take_verdicts(struct vplane *vp, struct verdict_out *out, unsigned max)
{
	unsigned bad = 0, k = take_verdicts_bad(vp, out, max, &bad);

	CHECK(bad == 0);
	return k;
}

struct recs {
	unsigned n, would_deny;
	enum verdict_reason last;
	uint32_t last_id;
	char last_payload0;
};

static void on_rec(void *arg, const struct vring_rec *rec)
{
	struct recs *r = arg;

	r->n++;
	r->would_deny += rec->r.would_deny;
	r->last = rec->r.reason;
	r->last_id = rec->qp.id;
	r->last_payload0 = (char)(rec->qp.len ? rec->qp.payload[0] : 0);
}

static struct vplane_snap base_snap(struct allowset *as, const struct exceptions *ex)
{
	struct vplane_snap s = {0};

	s.policy.enforce = true;
	s.policy.dhcp = true;
	s.policy.allowset = as;
	s.policy.exceptions = ex;
	return s;
}

/* --- a verdict thread racing snapshot swaps (TSan) --- */

struct race {
	struct vplane *vp;
	unsigned rounds, bad;
};

static void *race_thread(void *arg)
{
	struct race *rc = arg;
	char buf[4096];
	struct verdict_out v[8];

	allowset_reader_register();
	for (unsigned i = 0; i < rc->rounds; i++) {
		size_t off = 0;

		put_packet(buf, &off, i, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "203.0.113.5", 443,
			   0x02, 40);
		vplane_replay(rc->vp, 0, buf, off);
		/* Either policy (exception or not): one verdict, accept or drop. */
		unsigned bad = 0;

		if (take_verdicts_bad(rc->vp, v, 8, &bad) != 1 || bad || v[0].id != i ||
		    (v[0].verdict != NF_ACCEPT && v[0].verdict != NF_DROP))
			rc->bad++;
	}
	allowset_reader_unregister();
	return NULL;
}

struct ringrace {
	struct vring *r;
	unsigned produced;
};

static void *ring_producer(void *arg)
{
	struct ringrace *rr = arg;

	for (unsigned i = 0; i < rr->produced; i++) {
		struct vring_rec *rec = vring_reserve(rr->r);

		if (!rec)
			continue;
		rec->qp.id = i;
		rec->now_ms = i * 3ull;
		vring_commit(rr->r);
	}
	return NULL;
}

static uint64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t qwait_count(const struct vplane_counters *c, enum vplane_clock k, unsigned *bucket)
{
	uint64_t n = 0;

	for (unsigned b = 0; b < VPLANE_QWAIT_BUCKETS; b++) {
		n += c->qwait[k][b];
		if (c->qwait[k][b])
			*bucket = b;
	}
	return n;
}

/* Audit mode (published by the caller): would-deny by reason, and the
 * queue-wait histogram's clock: the kernel's timestamp (realtime or
 * monotonic, 2 ms ago: the 2.5 ms bucket), none (read), or one from
 * another clock (read, not a wait of decades). */
static void check_counters(struct vplane *vp)
{
	struct vplane_counters c0, c;
	struct verdict_out v[4];
	char buf[4096];
	size_t off = 0;
	unsigned bk = 99, br = 99;

	vplane_sum(vp, &c0);
	CHECK(c0.would_deny_by[VERDICT_NEVER_RESOLVED] == 1);
	CHECK(c0.would_deny == 1);
	CHECK(qwait_count(&c0, VPLANE_CLOCK_READ, &br) >= 1 &&
	      qwait_count(&c0, VPLANE_CLOCK_KERNEL, &bk) == 0);
	put_ts_ns = now_ns(CLOCK_REALTIME) - 2000000;
	put_packet(buf, &off, 41, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.97", 443, 0x02,
		   40);
	put_ts_ns = now_ns(CLOCK_MONOTONIC) - 2000000;
	put_packet(buf, &off, 42, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.97", 443, 0x02,
		   40);
	put_ts_ns = 12345ull * 1000000000ull; /* 1970: neither clock */
	put_packet(buf, &off, 43, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.97", 443, 0x02,
		   40);
	put_ts_ns = 0;
	vplane_replay(vp, 0, buf, off);
	CHECK(take_verdicts(vp, v, 4) == 3);
	vplane_drain(vp);
	vplane_sum(vp, &c);
	CHECK(c.would_deny_by[VERDICT_NEVER_RESOLVED] == 4);
	CHECK(c.would_deny_by[VERDICT_EXPIRED] == 0);
	CHECK(qwait_count(&c, VPLANE_CLOCK_KERNEL, &bk) == 2);
	CHECK_MSG(bk == 7, "kernel-clock waits of 2 ms in bucket %u (le 2.5 ms is 7)", bk);
	CHECK(vplane_qwait_le_ns[7] == 2500000);
	CHECK(c.qwait_sum_ns[VPLANE_CLOCK_KERNEL] >= 4000000 &&
	      c.qwait_sum_ns[VPLANE_CLOCK_KERNEL] < 2 * VPLANE_TS_SANE_NS);
	CHECK(qwait_count(&c, VPLANE_CLOCK_READ, &br) ==
	      qwait_count(&c0, VPLANE_CLOCK_READ, &br) + 1);
	CHECK(c.qwait_sum_ns[VPLANE_CLOCK_READ] < VPLANE_TS_SANE_NS);
}

int main(void)
{
	struct recs recs = {0};
	struct prefix exp;
	struct exceptions *ex, *noex;
	struct allowset *as;
	struct addr a;
	struct vplane *vp;
	struct vplane_snap s;
	struct vplane_counters c;
	struct nfqueue_stats st;
	struct verdict_out v[64];
	static char buf[65536];
	size_t off = 0;
	unsigned q = 0;
	int err = 0;

	allowset_reader_register();
	as = allowset_new(64, 4);
	addr_prefix_parse("203.0.113.0/24", &exp);
	ex = exceptions_new(&exp, 1);
	noex = exceptions_new(NULL, 0);
	addr_parse("198.51.100.10", &a);
	allowset_add(as, NULL, &a, allowset_now_ms() + 600000, ALLOWSET_LEARNED, "web.example",
		     "s1", allowset_now_ms());

	vp = vplane_new(NULL, QNUM, 1, 4096, 4, on_rec, &recs, &err);
	CHECK(vp != NULL);
	CHECK(vplane_count(vp) == 1);

	/* No snapshot yet: fail closed. */
	put_packet(buf, &off, 1, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.10", 443, 0x02, 40);
	vplane_replay(vp, 0, buf, off);
	CHECK(take_verdicts(vp, v, 64) == 1 && v[0].id == 1 && v[0].verdict == NF_DROP);

	/* A batch of five packets in one receive: five verdicts, one send. */
	s = base_snap(as, ex);
	CHECK(vplane_publish(vp, &s) == 0);
	off = 0;
	put_packet(buf, &off, 10, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.10", 443, 0x02,
		   40); /* learned */
	put_packet(buf, &off, 11, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.99", 443, 0x02,
		   40); /* never resolved */
	put_packet(buf, &off, 12, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "203.0.113.5", 22, 0x02,
		   40); /* exception */
	put_packet(buf, &off, 13, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.10", 443, 0x02,
		   3); /* unparsable: 3 bytes */
	put_packet(buf, &off, 14, NF_INET_LOCAL_IN, 0, "198.51.100.77", "192.0.2.1", 22, 0x02,
		   40); /* a peer nothing proved, to us */
	nfqueue_get_stats(vplane_queue(vp, 0), &st);
	{
		uint64_t batches = st.batches;

		vplane_replay(vp, 0, buf, off);
		nfqueue_get_stats(vplane_queue(vp, 0), &st);
		CHECK(st.batches == batches + 1);
		CHECK(st.batch_max == 5);
	}
	CHECK(take_verdicts(vp, v, 64) == 5);
	CHECK(v[0].id == 10 && v[0].verdict == NF_ACCEPT);
	CHECK(v[1].id == 11 && v[1].verdict == NF_DROP);
	CHECK(v[2].id == 12 && v[2].verdict == NF_ACCEPT);
	CHECK(v[3].id == 13 && v[3].verdict == NF_DROP);
	CHECK(v[4].id == 14 && v[4].verdict == NF_DROP);
	vplane_sum(vp, &c);
	CHECK(c.verdicts[VERDICT_LEARNED] == 1);
	CHECK(c.verdicts[VERDICT_NEVER_RESOLVED] ==
	      1); /* the snapshot-less drop is not a verdict */
	CHECK(c.verdicts[VERDICT_EXCEPTION] == 1);
	CHECK(c.verdicts[VERDICT_UNPARSABLE] == 1);
	CHECK(c.verdicts[VERDICT_INBOUND_UNLISTED] == 1);
	CHECK(c.packet_errors[PACKET_ERR_TRUNCATED] + c.packet_errors[PACKET_ERR_HEADER] == 1);
	CHECK(c.accepted == 2 && c.denied == 3);
	/* Nobody reads records: none were made (nothing logged on the path). */
	vplane_drain(vp);
	CHECK(recs.n == 0 && c.records == 0);

	/* deny_action reject: back into the hook, marked. */
	s.reject = true;
	CHECK(vplane_publish(vp, &s) == 0);
	off = 0;
	put_packet(buf, &off, 20, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.99", 80, 0x02, 40);
	vplane_replay(vp, 0, buf, off);
	CHECK(take_verdicts(vp, v, 64) == 1 && v[0].verdict == NF_REPEAT &&
	      v[0].mark == NFQUEUE_REJECT_MARK);

	/* The policy swap: without the exception the same packet is dropped. */
	s = base_snap(as, noex);
	CHECK(vplane_publish(vp, &s) == 0);
	off = 0;
	put_packet(buf, &off, 30, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "203.0.113.5", 22, 0x02, 40);
	vplane_replay(vp, 0, buf, off);
	CHECK(take_verdicts(vp, v, 64) == 1 && v[0].id == 30 && v[0].verdict == NF_DROP);

	/* Audit mode: accepted, a would-deny record for the audit (ring). */
	s.policy.enforce = false;
	CHECK(vplane_publish(vp, &s) == 0);
	off = 0;
	put_packet(buf, &off, 40, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.98", 443, 0x02,
		   40);
	vplane_replay(vp, 0, buf, off);
	CHECK(take_verdicts(vp, v, 64) == 1 && v[0].verdict == NF_ACCEPT);
	vplane_drain(vp);
	CHECK(recs.n == 1 && recs.would_deny == 1 && recs.last_id == 40);
	CHECK(recs.last_payload0 == 0x45); /* the payload was copied into the record */
	check_counters(vp);

	/* Every verdict logged, ring of 4: ten verdicts, four records, six
	 * drops counted, and still ten verdicts. */
	s.policy.enforce = true;
	s.log_all = true;
	CHECK(vplane_publish(vp, &s) == 0);
	off = 0;
	for (unsigned i = 0; i < 10; i++)
		put_packet(buf, &off, 100 + i, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.10",
			   443, 0x02, 40);
	vplane_replay(vp, 0, buf, off);
	CHECK(take_verdicts(vp, v, 64) == 10);
	for (unsigned i = 0; i < 10; i++)
		CHECK(v[i].id == 100 + i && v[i].verdict == NF_ACCEPT);
	recs.n = 0;
	vplane_drain(vp);
	CHECK(recs.n == 4);
	vplane_sum(vp, &c);
	CHECK(c.records_dropped == 6);
	CHECK(recs.last == VERDICT_LEARNED);

	/* A message without NFQA_PACKET_HDR: counted, no verdict (there is no
	 * id to give one to). Every truncation of a valid message: no crash,
	 * at most one verdict, never an accept of a packet we did not read. */
	{
		char m[256];
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(m);
		size_t full = 0;
		unsigned accepts = 0, total = 0;

		nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
		mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
		mnl_attr_put_u32(nlh, NFQA_MARK, 1);
		nfqueue_get_stats(vplane_queue(vp, 0), &st);
		{
			uint64_t before = st.malformed;

			vplane_replay(vp, 0, m, nlh->nlmsg_len);
			nfqueue_get_stats(vplane_queue(vp, 0), &st);
			CHECK(st.malformed == before + 1);
		}
		CHECK(take_verdicts(vp, v, 64) == 0);
		put_packet(m, &full, 200, NF_INET_LOCAL_OUT, 0, "192.0.2.1", "198.51.100.99", 443,
			   0x02, 40);
		for (size_t len = 0; len < full; len++) {
			vplane_replay(vp, 0, m, len);
			unsigned k = take_verdicts(vp, v, 64);

			total += k;
			for (unsigned i = 0; i < k; i++)
				accepts += v[i].verdict == NF_ACCEPT;
		}
		CHECK(accepts == 0);
		CHECK(total == 0); /* a cut message is not a message (mnl_nlmsg_ok) */
	}

	/* Stall detection: a replay plane's heartbeat never moves. */
	CHECK(vplane_check(vp, 1000, &q) == 0);
	/* A loop that wakes late (stopped, busy) does not blame the threads. */
	CHECK(vplane_check(vp, 1000 + 2 * VPLANE_STALL_MS, &q) == 0);
	for (uint64_t t = 1000 + 2 * VPLANE_STALL_MS; t < 1000 + 3 * VPLANE_STALL_MS; t += 500)
		CHECK(vplane_check(vp, t, &q) == 0);
	CHECK(vplane_check(vp, 1000 + 3 * VPLANE_STALL_MS, &q) == -ETIMEDOUT && q == QNUM);

	/* A verdict thread racing snapshot swaps: every verdict is one of the
	 * two policies', none is lost (TSan checks the rest). */
	s.log_all = false;
	{
		struct race rc = {.vp = vp, .rounds = 3000};
		pthread_t t;

		CHECK(pthread_create(&t, NULL, race_thread, &rc) == 0);
		for (unsigned i = 0; i < 200; i++) {
			s = base_snap(as, i % 2 ? ex : noex);
			vplane_publish(vp, &s);
			vplane_drain(vp);
		}
		pthread_join(t, NULL);
		CHECK(rc.bad == 0);
	}
	vplane_free(&vp);
	CHECK(vp == NULL);

	/* The ring: producer and consumer threads, order kept, every record
	 * either delivered or counted as dropped. */
	{
		struct ringrace rr = {.r = vring_new(64), .produced = 200000};
		pthread_t t;
		unsigned got = 0, last = 0, disorder = 0;

		CHECK(vring_capacity(rr.r) == 64);
		CHECK(pthread_create(&t, NULL, ring_producer, &rr) == 0);
		for (;;) {
			const struct vring_rec *rec = vring_peek(rr.r);

			if (!rec) {
				if (got + vring_dropped(rr.r) == rr.produced)
					break;
				continue;
			}
			if (got && (rec->qp.id <= last || rec->now_ms != rec->qp.id * 3ull))
				disorder++;
			last = rec->qp.id;
			got++;
			vring_pop(rr.r);
		}
		pthread_join(t, NULL);
		CHECK(disorder == 0);
		CHECK(got + vring_dropped(rr.r) == rr.produced);
		CHECK(got > 0);
		vring_free(&rr.r);
	}
	{
		struct vring *r = vring_new(3);

		CHECK(vring_capacity(r) == 4);
		for (unsigned i = 0; i < 4; i++) {
			CHECK(vring_reserve(r) != NULL);
			vring_commit(r);
		}
		CHECK(vring_reserve(r) == NULL && vring_dropped(r) == 1);
		vring_pop(r);
		CHECK(vring_reserve(r) != NULL);
		vring_free(&r);
		vring_free(&r);
	}

	exceptions_free(&ex);
	exceptions_free(&noex);
	allowset_free(&as);
	allowset_reader_unregister();
	CHECK_DONE();
}
