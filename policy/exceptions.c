/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exception subnets as one binary trie per address family. A lookup walks at
 * most 32 or 128 nodes and remembers the last node that ends a prefix, so the
 * answer is the longest match whatever the order the prefixes were given in.
 * Nodes live in one array per family and children are indices, which keeps the
 * table a handful of allocations and lets the verdict threads read it without
 * any lock: it is never written after exceptions_new() returns.
 */
#include "policy/exceptions.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/conf.h"

/* A child index of 0 means "no child": the root is node 0 and is nobody's child. */
struct exceptions_node {
	uint32_t child[2];
	int32_t match; /* index into exceptions.prefixes, or -1 */
};

struct exceptions_trie {
	struct exceptions_node *nodes;
	size_t n, cap;
};

struct exceptions {
	struct prefix *prefixes; /* distinct prefixes, host bits cleared */
	uint8_t *group;		 /* per prefix: 0, or 1 + its index in names */
	char **names;		 /* distinct group names */
	size_t count, nnames;
	struct exceptions_trie v4, v6;
};

static int exceptions_bit(const uint8_t *b, unsigned i)
{
	return (b[i / 8] >> (7 - i % 8)) & 1;
}

static int exceptions_node_add(struct exceptions_trie *t, uint32_t *idx)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct exceptions_node *nodes;

		/* Indices are 32-bit; n prefixes need at most n * 128 + 1 nodes. */
		if (cap > UINT32_MAX)
			return -ENOMEM;
		nodes = realloc(t->nodes, cap * sizeof(*nodes));
		if (!nodes)
			return -ENOMEM;
		t->nodes = nodes;
		t->cap = cap;
	}
	t->nodes[t->n].child[0] = 0;
	t->nodes[t->n].child[1] = 0;
	t->nodes[t->n].match = -1;
	*idx = (uint32_t)t->n++;
	return 0;
}

/* Returns the node that ends prefix p, creating the path to it. */
static int exceptions_trie_insert(struct exceptions_trie *t, const struct prefix *p, uint32_t *end)
{
	uint32_t cur = 0;
	int ret = 0;

	if (t->n == 0) {
		ret = exceptions_node_add(t, &cur);
		if (ret < 0)
			goto out;
	}
	for (unsigned i = 0; i < p->len; i++) {
		int bit = exceptions_bit(p->addr.b, i);
		uint32_t next = t->nodes[cur].child[bit];

		if (!next) {
			ret = exceptions_node_add(t, &next);
			if (ret < 0)
				goto out;
			/* realloc may have moved the array: index it again */
			t->nodes[cur].child[bit] = next;
		}
		cur = next;
	}
	*end = cur;
out:
	return ret;
}

static bool exceptions_prefix_valid(const struct prefix *p)
{
	if (p->addr.family == AF_INET)
		return p->len <= 32;
	if (p->addr.family == AF_INET6)
		return p->len <= 128;
	return false;
}

/* Clear the bits past the prefix length so equal prefixes are equal bytes. */
static void exceptions_prefix_normalise(struct prefix *p)
{
	for (unsigned i = p->len; i < 128; i++)
		p->addr.b[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	memset(p->addr.pad, 0, sizeof(p->addr.pad));
}

/* 1 + the index of name in ex->names, added if new; 0 on error. */
static unsigned exceptions_name(struct exceptions *ex, const char *name, int *err)
{
	for (size_t i = 0; i < ex->nnames; i++)
		if (strcmp(ex->names[i], name) == 0)
			return (unsigned)i + 1;
	if (ex->nnames == EXCEPTIONS_MAX_GROUPS) {
		*err = EINVAL;
		return 0;
	}
	ex->names[ex->nnames] = strdup(name);
	if (!ex->names[ex->nnames]) {
		*err = ENOMEM;
		return 0;
	}
	return (unsigned)++ex->nnames;
}

struct exceptions *exceptions_new(const struct prefix *prefixes, size_t n)
{
	return exceptions_new_grouped(prefixes, NULL, n);
}

struct exceptions *exceptions_new_grouped(const struct prefix *prefixes, const char *const *groups,
					  size_t n)
{
	struct exceptions *ex = calloc(1, sizeof(*ex));
	int err = ENOMEM;

	if (!ex)
		goto out;
	if (n) {
		ex->prefixes = calloc(n, sizeof(*ex->prefixes));
		ex->group = calloc(n, sizeof(*ex->group));
		if (!ex->prefixes || !ex->group)
			goto out;
	}
	if (groups) {
		ex->names = calloc(EXCEPTIONS_MAX_GROUPS, sizeof(*ex->names));
		if (!ex->names)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct prefix p = prefixes[i];
		struct exceptions_trie *t;
		uint32_t end;

		if (!exceptions_prefix_valid(&p)) {
			err = EINVAL;
			goto out;
		}
		exceptions_prefix_normalise(&p);
		t = p.addr.family == AF_INET ? &ex->v4 : &ex->v6;
		if (exceptions_trie_insert(t, &p, &end) < 0)
			goto out;
		if (t->nodes[end].match >= 0)
			continue; /* duplicate: the first one stands */
		if (groups && groups[i]) {
			unsigned g = exceptions_name(ex, groups[i], &err);

			if (!g)
				goto out;
			ex->group[ex->count] = (uint8_t)g;
		}
		ex->prefixes[ex->count] = p;
		t->nodes[end].match = (int32_t)ex->count++;
	}
	return ex;
out:
	exceptions_free(&ex);
	errno = err;
	return NULL;
}

const struct prefix *exceptions_match(const struct exceptions *ex, const struct addr *a)
{
	const struct exceptions_trie *t;
	unsigned bits;
	uint32_t cur = 0;
	int32_t best;

	if (!ex || !a)
		return NULL;
	if (a->family == AF_INET) {
		t = &ex->v4;
		bits = 32;
	} else if (a->family == AF_INET6) {
		t = &ex->v6;
		bits = 128;
	} else {
		return NULL;
	}
	if (t->n == 0)
		return NULL;
	best = t->nodes[0].match;
	for (unsigned i = 0; i < bits; i++) {
		cur = t->nodes[cur].child[exceptions_bit(a->b, i)];
		if (!cur)
			break;
		if (t->nodes[cur].match >= 0)
			best = t->nodes[cur].match;
	}
	return best >= 0 ? &ex->prefixes[best] : NULL;
}

struct exceptions *exceptions_from_conf(const struct conf *c)
{
	const char *groups[CONF_MAX_EXCEPTIONS];

	for (unsigned i = 0; i < c->nexceptions; i++)
		groups[i] = conf_exception_group(c, i);
	return exceptions_new_grouped(c->exceptions, groups, c->nexceptions);
}

const char *exceptions_group(const struct exceptions *ex, const struct prefix *match)
{
	size_t i;

	if (!ex || !match || match < ex->prefixes || match >= ex->prefixes + ex->count)
		return NULL;
	i = (size_t)(match - ex->prefixes);
	return ex->group[i] ? ex->names[ex->group[i] - 1] : NULL;
}

size_t exceptions_count(const struct exceptions *ex)
{
	return ex ? ex->count : 0;
}

/* By first address, then shortest first: a prefix comes before every
 * prefix it contains. */
static int exceptions_cmp(const void *a, const void *b)
{
	const struct prefix *x = a, *y = b;
	int c = memcmp(x->addr.b, y->addr.b, 16);

	return c ? c : (int)x->len - (int)y->len;
}

uint64_t exceptions_coverage(const struct prefix *prefixes, size_t n, int family)
{
	unsigned bits = family == AF_INET ? 32 : 64; /* IPv6 in /64 units */
	const struct prefix *outer = NULL;
	struct prefix *v = NULL;
	uint64_t total = 0;
	size_t m = 0;

	if ((family != AF_INET && family != AF_INET6) || n == 0)
		goto out;
	v = malloc(n * sizeof(*v));
	if (!v) {
		total = UINT64_MAX; /* cannot tell: say "too large" */
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (prefixes[i].addr.family != family || !exceptions_prefix_valid(&prefixes[i]))
			continue;
		v[m] = prefixes[i];
		exceptions_prefix_normalise(&v[m++]);
	}
	/* Two prefixes are either disjoint or nested: in this order the union
	 * is the sum over those the last counted one does not contain. */
	qsort(v, m, sizeof(*v), exceptions_cmp);
	for (size_t i = 0; i < m; i++) {
		uint64_t size;

		if (outer && addr_prefix_contains(outer, &v[i].addr))
			continue;
		outer = &v[i];
		if (v[i].len >= bits)
			size = 1;
		else if (bits - v[i].len >= 64)
			size = UINT64_MAX; /* ::/0: the whole family */
		else
			size = (uint64_t)1 << (bits - v[i].len);
		if (total > UINT64_MAX - size) {
			total = UINT64_MAX;
			goto out;
		}
		total += size;
	}
out:
	free(v);
	return total;
}

void exceptions_free(struct exceptions **ex)
{
	if (!ex || !*ex)
		return;
	free((*ex)->v4.nodes);
	free((*ex)->v6.nodes);
	free((*ex)->prefixes);
	free((*ex)->group);
	for (size_t i = 0; i < (*ex)->nnames; i++)
		free((*ex)->names[i]);
	free((*ex)->names);
	free(*ex);
	*ex = NULL;
}
