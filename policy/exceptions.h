/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Static exception subnets: longest-prefix match over IPv4 and IPv6.
 * Built once from the config, then read-only; a reload builds a new one and
 * swaps it in, so lookups never see a half-built table.
 */
#ifndef ZTDNS_EXCEPTIONS_H
#define ZTDNS_EXCEPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct exceptions;

/* Build from n prefixes (copied). Returns NULL with errno = ENOMEM. */
struct exceptions *exceptions_new(const struct prefix *prefixes, size_t n);

/* The same, each prefix with the name of its group (groups[i], copied; NULL
 * for none; groups itself may be NULL). Of duplicates the first stands,
 * with its group. At most EXCEPTIONS_MAX_GROUPS distinct names (EINVAL). */
#define EXCEPTIONS_MAX_GROUPS 255
struct exceptions *exceptions_new_grouped(const struct prefix *prefixes, const char *const *groups,
					  size_t n);

/* The configuration's exceptions with their groups (named groups and
 * exceptions_files). */
struct conf;
struct exceptions *exceptions_from_conf(const struct conf *c);

/* The group of match (a pointer exceptions_match() returned from ex), or
 * NULL. Owned by the table. */
const char *exceptions_group(const struct exceptions *ex, const struct prefix *match);

/* Longest prefix containing a, or NULL. The pointer is owned by the table and
 * lives as long as it. Safe to call from many threads at once. */
const struct prefix *exceptions_match(const struct exceptions *ex, const struct addr *a);

size_t exceptions_count(const struct exceptions *ex);

/* How much of one address family (AF_INET or AF_INET6) the n prefixes cover
 * together, each address counted once however many prefixes hold it: for
 * IPv4 in addresses, for IPv6 in /64s (a longer prefix counts as a whole
 * /64, which errs toward a larger figure). Saturates at UINT64_MAX. Prefixes
 * of the other family and invalid ones are ignored; host bits need not be
 * clear. Sorts a scratch copy (O(n log n)); if it cannot be allocated the
 * answer is UINT64_MAX, which a caller with a bound refuses. */
uint64_t exceptions_coverage(const struct prefix *prefixes, size_t n, int family);

/* NULL-safe; sets *ex to NULL. */
void exceptions_free(struct exceptions **ex);

#endif
