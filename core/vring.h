/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The verdict record ring: one verdict thread writes, the loop reads. A
 * bounded single-producer single-consumer ring of fixed-size records, so
 * that a verdict's log line, watch event and audit entry leave the verdict
 * thread without allocating, locking or writing to a file there. A full ring
 * drops the record (never the verdict) and counts it.
 */
#ifndef ZTDNS_VRING_H
#define ZTDNS_VRING_H

#include <stdbool.h>
#include <stdint.h>

#include "core/nfqueue.h"
#include "core/packet.h"
#include "core/verdict.h"

#define VRING_DEFAULT 1024 /* records per verdict thread */
#define VRING_MAX     65536

/* One verdict, as the loop needs it to log, publish to watchers and audit. */
struct vring_rec {
	struct nfqueue_packet qp; /* qp.payload points at payload below */
	uint8_t payload[NFQUEUE_COPY_RANGE];
	struct packet_info pi;
	enum packet_err pe;
	bool has_pi;  /* pi's addresses were read (pe == PACKET_OK or an IP header) */
	bool outward; /* a flow of ours or a client's (else the far side started it) */
	struct verdict_result r;
	uint64_t now_ms;
};

struct vring;

/* capacity is rounded up to a power of two, at most VRING_MAX. Returns NULL
 * when out of memory. Free with vring_free(). */
struct vring *vring_new(unsigned capacity);

/* NULL-safe; sets *r to NULL. No thread may use the ring any more. */
void vring_free(struct vring **r);

/* Producer: a free slot to fill, or NULL when the ring is full (counted in
 * vring_dropped). The slot is the caller's until vring_commit(). */
struct vring_rec *vring_reserve(struct vring *r);

/* Producer: publish the slot vring_reserve() gave. */
void vring_commit(struct vring *r);

/* Consumer: the oldest record, or NULL when empty. Borrowed until
 * vring_pop(). */
const struct vring_rec *vring_peek(struct vring *r);

/* Consumer: release the record vring_peek() gave. */
void vring_pop(struct vring *r);

/* Records dropped because the ring was full. Any thread. */
uint64_t vring_dropped(const struct vring *r);

unsigned vring_capacity(const struct vring *r);

#endif
