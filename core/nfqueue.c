/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/nfqueue.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "core/log.h"
#include "core/util.h"

/* One verdict message is 32 bytes; 64 KiB carries 2,000 of them. */
#define VBUF_SIZE (64 * 1024)
#define VMSG_MAX  64
/* MNL_SOCKET_BUFFER_SIZE is a run-time value; these are fixed bounds. */
#define RBUF_SIZE (0xffff + 4096)
/* One recvmmsg() buffer: RBUF_SIZE rounded up so that every buffer, and so
 * every netlink header read into it, is 8-byte aligned (UBSan caught the
 * odd size). */
#define MBUF_SIZE ((RBUF_SIZE + 7) & ~(size_t)7)
#define CBUF_SIZE 8192

/* Counters have one writer (the thread that owns the queue) and are read
 * from the loop: relaxed atomics, no lock. */
#define STAT_INC(q, f)	  __atomic_fetch_add(&(q)->st.f, 1, __ATOMIC_RELAXED)
#define STAT_GET(q, f)	  __atomic_load_n(&(q)->st.f, __ATOMIC_RELAXED)
#define STAT_SET(q, f, v) __atomic_store_n(&(q)->st.f, (v), __ATOMIC_RELAXED)

struct nfqueue {
	struct mnl_socket *nl;
	uint32_t portid;
	uint16_t num;
	uint32_t seq;
	nfqueue_cb cb;
	void *arg;
	struct nfqueue_stats st;
	size_t vlen;
	unsigned vcount;
	char vbuf[VBUF_SIZE];
	char rbuf[RBUF_SIZE] __attribute__((aligned(8)));
	/* nfqueue_read_wait(): one recvmmsg() fills up to NFQUEUE_MMSG. */
	char mbuf[NFQUEUE_MMSG][MBUF_SIZE] __attribute__((aligned(8)));
	int timeo_ms; /* SO_RCVTIMEO set on the socket; 0: none yet */
	/* Replay (nfqueue_new_replay): no socket; flushed verdicts collect
	 * here for nfqueue_replay_take(). */
	bool replay;
	size_t outlen;
	char out[VBUF_SIZE];
};

static int handle_packet(struct nfqueue *q, const struct nlmsghdr *nlh)
{
	struct nlattr *attr[NFQA_MAX + 1] = {0};
	struct nfqueue_packet pkt = {0};
	struct nfqnl_msg_packet_hdr *ph;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR] ||
	    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(*ph)) {
		/* Without an id there is nothing to give a verdict to; the
		 * kernel keeps the packet queued (no bypass) until the queue
		 * is torn down. Count it: this would be a kernel bug. */
		STAT_INC(q, malformed);
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	pkt.id = ntohl(ph->packet_id);
	pkt.hw_protocol = ntohs(ph->hw_protocol);
	pkt.hook = ph->hook;
	pkt.queue_num = q->num;
	STAT_INC(q, packets);
	if (attr[NFQA_PAYLOAD]) {
		pkt.payload = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		pkt.len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	if (attr[NFQA_UID] && mnl_attr_get_payload_len(attr[NFQA_UID]) >= 4) {
		pkt.has_uid = true;
		pkt.uid = ntohl(mnl_attr_get_u32(attr[NFQA_UID]));
	}
	if (attr[NFQA_GID] && mnl_attr_get_payload_len(attr[NFQA_GID]) >= 4) {
		pkt.has_gid = true;
		pkt.gid = ntohl(mnl_attr_get_u32(attr[NFQA_GID]));
	}
	if (attr[NFQA_IFINDEX_INDEV] && mnl_attr_get_payload_len(attr[NFQA_IFINDEX_INDEV]) >= 4)
		pkt.indev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
	if (attr[NFQA_IFINDEX_OUTDEV] && mnl_attr_get_payload_len(attr[NFQA_IFINDEX_OUTDEV]) >= 4)
		pkt.outdev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_OUTDEV]));
	if (attr[NFQA_IFINDEX_PHYSINDEV] &&
	    mnl_attr_get_payload_len(attr[NFQA_IFINDEX_PHYSINDEV]) >= 4)
		pkt.physindev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_PHYSINDEV]));
	/* The kernel fills it from the frame's header for devices with one;
	 * a length beyond the attribute or the array is ignored (no address:
	 * the gateway verdict denies what needs one). */
	if (attr[NFQA_HWADDR] &&
	    mnl_attr_get_payload_len(attr[NFQA_HWADDR]) >= sizeof(struct nfqnl_msg_packet_hw)) {
		const struct nfqnl_msg_packet_hw *hw = mnl_attr_get_payload(attr[NFQA_HWADDR]);
		uint16_t hl = ntohs(hw->hw_addrlen);

		if (hl > 0 && hl <= sizeof(pkt.hwaddr) && hl <= sizeof(hw->hw_addr)) {
			memcpy(pkt.hwaddr, hw->hw_addr, hl);
			pkt.hwlen = (uint8_t)hl;
		}
	}
	/* The skb's timestamp when it has one (struct nfqnl_msg_packet_timestamp,
	 * big-endian seconds and microseconds): the queue-wait histogram's start. */
	if (attr[NFQA_TIMESTAMP] && mnl_attr_get_payload_len(attr[NFQA_TIMESTAMP]) >=
					sizeof(struct nfqnl_msg_packet_timestamp)) {
		/* Attributes are only 4-byte aligned: copy, never cast. */
		struct nfqnl_msg_packet_timestamp ts;
		uint64_t sec, usec;

		memcpy(&ts, mnl_attr_get_payload(attr[NFQA_TIMESTAMP]), sizeof(ts));
		sec = be64toh(ts.sec);
		usec = be64toh(ts.usec);

		if (usec < 1000000 && sec < UINT64_MAX / 1000000000ull) {
			pkt.has_ts = true;
			pkt.ts_ns = sec * 1000000000ull + usec * 1000ull;
		}
	}
	q->cb(q->arg, q, &pkt);
	return MNL_CB_OK;
}

/* Walk every netlink message in buf. Packets go to the callback; errors are
 * counted; an ACK or error for seq (if non-zero) is stored in *ack. */
static void process(struct nfqueue *q, const char *buf, size_t len, uint32_t seq, int *ack)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int rest = (int)len;

	while (mnl_nlmsg_ok(nlh, rest)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
				STAT_INC(q, malformed);
			} else if (seq && nlh->nlmsg_seq == seq) {
				*ack = e->error; /* 0 or -errno */
			} else if (e->error) {
				STAT_INC(q, nl_errors);
			}
		} else if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_QUEUE &&
			   NFNL_MSG_TYPE(nlh->nlmsg_type) == NFQNL_MSG_PACKET) {
			handle_packet(q, nlh);
		}
		nlh = mnl_nlmsg_next(nlh, &rest);
	}
}

/* Send every queued verdict now, in one sendmsg(). */
static void nfqueue_flush(struct nfqueue *q)
{
	if (q->vlen == 0)
		return;
	if (q->replay) {
		if (sizeof(q->out) - q->outlen >= q->vlen) {
			memcpy(q->out + q->outlen, q->vbuf, q->vlen);
			q->outlen += q->vlen;
		} else {
			STAT_INC(q, send_errors);
		}
	} else if (mnl_socket_sendto(q->nl, q->vbuf, q->vlen) < 0) {
		/* The packets stay queued and time out in the kernel: dropped,
		 * never accepted. */
		STAT_INC(q, send_errors);
	}
	STAT_INC(q, batches);
	if (q->vcount > STAT_GET(q, batch_max))
		STAT_SET(q, batch_max, q->vcount);
	q->vlen = 0;
	q->vcount = 0;
}

void nfqueue_verdict(struct nfqueue *q, uint32_t id, enum nfqueue_verdict v)
{
	struct nlmsghdr *nlh;

	if (VBUF_SIZE - q->vlen < VMSG_MAX)
		nfqueue_flush(q);
	nlh = nfq_nlmsg_put(q->vbuf + q->vlen, NFQNL_MSG_VERDICT, q->num);
	switch (v) {
	case NFQUEUE_ACCEPT:
		nfq_nlmsg_verdict_put(nlh, (int)id, NF_ACCEPT);
		STAT_INC(q, accepted);
		break;
	case NFQUEUE_REJECT:
		/* Back into the hook, marked: the REJECT rule takes it. */
		nfq_nlmsg_verdict_put(nlh, (int)id, NF_REPEAT);
		nfq_nlmsg_verdict_put_mark(nlh, NFQUEUE_REJECT_MARK);
		STAT_INC(q, rejected);
		break;
	default:
		nfq_nlmsg_verdict_put(nlh, (int)id, NF_DROP);
		STAT_INC(q, dropped);
		break;
	}
	q->vlen += nlh->nlmsg_len;
	q->vcount++;
}

int nfqueue_read_wait(struct nfqueue *q, int timeout_ms)
{
	struct mmsghdr mm[NFQUEUE_MMSG];
	struct iovec iov[NFQUEUE_MMSG];
	int fd, flags = MSG_WAITFORONE, rc = 0;

	if (q->replay) {
		poll(NULL, 0, timeout_ms);
		return 0;
	}
	fd = mnl_socket_get_fd(q->nl);
	if (q->timeo_ms != timeout_ms) {
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
				     .tv_usec = (timeout_ms % 1000) * 1000};

		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
			return -errno;
		q->timeo_ms = timeout_ms;
	}
	for (unsigned i = 0; i < NFQUEUE_READ_BUDGET;) {
		int n;

		for (unsigned k = 0; k < NFQUEUE_MMSG; k++) {
			iov[k] = (struct iovec){.iov_base = q->mbuf[k], .iov_len = MBUF_SIZE};
			mm[k] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[k], .msg_iovlen = 1}};
		}
		/* The first receive waits (at most timeout_ms), the rest do
		 * not: one system call instead of poll() and a recv() each. */
		n = recvmmsg(fd, mm, NFQUEUE_MMSG, flags, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			if (errno == ENOBUFS) {
				/* Packets the kernel could not deliver were
				 * dropped (no fail-open). */
				STAT_INC(q, enobufs);
				i++;
				continue;
			}
			rc = -errno;
			break;
		}
		for (int k = 0; k < n; k++)
			process(q, q->mbuf[k], mm[k].msg_len, 0, NULL);
		i += (unsigned)n;
		/* Fewer than asked for: the socket is empty, skip the EAGAIN. */
		if (n < NFQUEUE_MMSG)
			break;
		flags = MSG_DONTWAIT;
	}
	nfqueue_flush(q);
	return rc;
}

/* Send one configuration message and wait (bounded) for its ACK. Packets
 * that arrive meanwhile are handled normally. */
static int config_send(struct nfqueue *q, struct nlmsghdr *nlh)
{
	int ack = 1;
	struct timespec start, now;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++q->seq;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (ack == 1) {
		ssize_t n = recv(mnl_socket_get_fd(q->nl), q->rbuf, sizeof(q->rbuf), 0);

		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			return -errno;
		}
		process(q, q->rbuf, (size_t)n, nlh->nlmsg_seq, &ack);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ack == 1 && now.tv_sec - start.tv_sec > 5)
			return -ETIMEDOUT;
	}
	nfqueue_flush(q);
	return ack;
}

struct nfqueue *nfqueue_new(struct ev_loop *loop, uint16_t queue_num, uint32_t maxlen,
			    nfqueue_cb cb, void *arg, int *err)
{
	struct nfqueue *q = calloc(1, sizeof(*q));
	char buf[CBUF_SIZE] = {0}; /* libmnl does not zero attribute padding */
	struct nlmsghdr *nlh;
	int rc, size = NFQUEUE_RCVBUF;
	struct timeval tv = {.tv_sec = 2};

	if (loop) {
		rc = -EINVAL; /* the queue is read by its own thread, never on a loop */
		goto fail;
	}
	if (!q) {
		rc = -ENOMEM;
		goto fail;
	}
	q->num = queue_num;
	q->cb = cb;
	q->arg = arg;
	q->seq = (uint32_t)time(NULL);
	q->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!q->nl) {
		rc = -errno;
		goto fail;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto fail;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	/* A bigger buffer absorbs bursts; FORCE needs CAP_NET_ADMIN, which we
	 * have, and ignores rmem_max. */
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) <
		0 &&
	    setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
		log_warn("nfqueue %u: cannot raise the socket buffer", queue_num);
	/* ACK waits during set-up are bounded. */
	setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue_num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	rc = config_send(q, nlh);
	if (rc < 0)
		goto fail;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue_num);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, NFQUEUE_COPY_RANGE);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
	/* GSO: no segmentation for us, we only read headers. UID_GID: for the
	 * verdict log. Never NFQA_CFG_F_FAIL_OPEN: a full queue drops. */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_UID_GID));
	mnl_attr_put_u32(
	    nlh, NFQA_CFG_MASK,
	    htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_UID_GID | NFQA_CFG_F_FAIL_OPEN)); /* never set */
	rc = config_send(q, nlh);
	if (rc == -EOPNOTSUPP || rc == -EINVAL) {
		/* Old kernels without UID_GID: retry with GSO alone. */
		nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue_num);
		nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, NFQUEUE_COPY_RANGE);
		nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
		mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
		/* FAIL_OPEN in the mask with its flag clear: never fail open. */
		mnl_attr_put_u32(nlh, NFQA_CFG_MASK,
				 htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN)); /* never set */
		rc = config_send(q, nlh);
		if (rc == 0)
			log_warnx("nfqueue %u: kernel has no UID/GID attributes", queue_num);
	}
	if (rc < 0)
		goto fail;

	return q;
fail:
	if (q && q->nl)
		mnl_socket_close(q->nl);
	free(q);
	*err = rc;
	return NULL;
}

void nfqueue_free(struct nfqueue **qp)
{
	struct nfqueue *q;
	char buf[CBUF_SIZE] = {0}; /* libmnl does not zero attribute padding */
	struct nlmsghdr *nlh;

	if (!qp || !*qp)
		return;
	q = *qp;
	nfqueue_flush(q);
	if (q->replay) {
		free(q);
		*qp = NULL;
		return;
	}
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
	if (config_send(q, nlh) < 0)
		log_warnx("nfqueue %u: unbind not acknowledged", q->num);
	mnl_socket_close(q->nl);
	free(q);
	*qp = NULL;
}

void nfqueue_get_stats(const struct nfqueue *q, struct nfqueue_stats *st)
{
	st->packets = STAT_GET(q, packets);
	st->accepted = STAT_GET(q, accepted);
	st->dropped = STAT_GET(q, dropped);
	st->rejected = STAT_GET(q, rejected);
	st->enobufs = STAT_GET(q, enobufs);
	st->malformed = STAT_GET(q, malformed);
	st->send_errors = STAT_GET(q, send_errors);
	st->nl_errors = STAT_GET(q, nl_errors);
	st->batches = STAT_GET(q, batches);
	st->batch_max = STAT_GET(q, batch_max);
}

struct nfqueue *nfqueue_new_replay(uint16_t queue_num, nfqueue_cb cb, void *arg)
{
	struct nfqueue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->num = queue_num;
	q->cb = cb;
	q->arg = arg;
	q->replay = true;
	return q;
}

void nfqueue_replay_feed(struct nfqueue *q, const void *buf, size_t len)
{
	process(q, buf, len, 0, NULL);
	nfqueue_flush(q);
}

size_t nfqueue_replay_take(struct nfqueue *q, void *buf, size_t cap)
{
	size_t n = UTIL_MIN(cap, q->outlen);

	memcpy(buf, q->out, n);
	memmove(q->out, q->out + n, q->outlen - n);
	q->outlen -= n;
	return n;
}

uint16_t nfqueue_num(const struct nfqueue *q)
{
	return q->num;
}

int nfqueue_kernel_stats(uint16_t queue_num, struct nfqueue_kernel_stats *ks)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "r");
	char line[256];

	memset(ks, 0, sizeof(*ks));
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned num, portid, total, mode, range, qdrop, udrop;

		if (sscanf(line, "%u %u %u %u %u %u %u", &num, &portid, &total, &mode, &range,
			   &qdrop, &udrop) != 7 ||
		    num != queue_num)
			continue;
		ks->found = true;
		ks->portid = portid;
		ks->queue_total = total;
		ks->copy_mode = mode;
		ks->copy_range = range;
		ks->queue_dropped = qdrop;
		ks->user_dropped = udrop;
		break;
	}
	fclose(f);
	return ks->found ? 0 : -ENOENT;
}
