/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/vring.h"

#include <stdlib.h>

/* head and tail on their own cache lines: the two threads write one each. */
struct vring {
	uint64_t head __attribute__((aligned(64))); /* next slot to write (producer) */
	uint64_t tail __attribute__((aligned(64))); /* next slot to read (consumer) */
	uint64_t dropped __attribute__((aligned(64)));
	unsigned mask;
	struct vring_rec *slots;
};

struct vring *vring_new(unsigned capacity)
{
	struct vring *r;
	unsigned cap = 1;

	if (capacity > VRING_MAX)
		capacity = VRING_MAX;
	while (cap < capacity)
		cap <<= 1;
	r = aligned_alloc(64, sizeof(*r));
	if (!r)
		return NULL;
	r->head = r->tail = r->dropped = 0;
	r->mask = cap - 1;
	r->slots = calloc(cap, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	return r;
}

void vring_free(struct vring **r)
{
	if (!r || !*r)
		return;
	free((*r)->slots);
	free(*r);
	*r = NULL;
}

struct vring_rec *vring_reserve(struct vring *r)
{
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

	if (head - tail > r->mask) {
		__atomic_fetch_add(&r->dropped, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	return &r->slots[head & r->mask];
}

void vring_commit(struct vring *r)
{
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);

	__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
}

const struct vring_rec *vring_peek(struct vring *r)
{
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);

	if (tail == head)
		return NULL;
	return &r->slots[tail & r->mask];
}

void vring_pop(struct vring *r)
{
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);

	__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
}

uint64_t vring_dropped(const struct vring *r)
{
	return __atomic_load_n(&r->dropped, __ATOMIC_RELAXED);
}

unsigned vring_capacity(const struct vring *r)
{
	return r->mask + 1;
}
