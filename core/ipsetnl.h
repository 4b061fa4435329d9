/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Talking to the kernel's ipset subsystem over netlink (NFNL_SUBSYS_IPSET)
 * without the ipset tool: one message per operation, many messages per
 * sendmsg, every message acknowledged and its result handed back.
 *
 * Every message is sent without NLM_F_EXCL, so the kernel applies the
 * tool's "-exist" rules: adding what is there refreshes it, deleting what
 * is not there succeeds, creating a set that exists with the same
 * parameters succeeds.
 */
#ifndef ZTDNS_IPSETNL_H
#define ZTDNS_IPSETNL_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct ipsetnl;

#define IPSETNL_MSG_MAX	 256  /* bytes: more than the largest message built */
#define IPSETNL_BATCH	 256  /* messages per sendmsg */
#define IPSETNL_WAIT_MS	 1000 /* longest wait for the acknowledgements of a batch */
#define IPSETNL_NAME_MAX 31   /* IPSET_MAXNAMELEN - 1 */

/* Kernel results: -errno, or ipset's own codes from IPSETNL_ERRNO_MAX on. */
#define IPSETNL_ERRNO_MAX 4096 /* IPSET_ERR_PRIVATE */
#define IPSETNL_ERR_BUSY  4100 /* IPSET_ERR_BUSY: a rule refers to the set */

enum ipsetnl_cmd {
	IPSETNL_CREATE,
	IPSETNL_DESTROY,
	IPSETNL_FLUSH,
	IPSETNL_ADD,
	IPSETNL_DEL,
};

/* One operation. set and type point to strings that outlive the call. */
struct ipsetnl_op {
	uint8_t cmd;	   /* enum ipsetnl_cmd */
	uint8_t family;	   /* create: AF_INET or AF_INET6 */
	const char *set;   /* every command */
	const char *type;  /* create: "hash:ip" or "hash:net,net" */
	struct addr a;	   /* add, del: the element (the destination) */
	struct addr scope; /* add, del in a hash:net,net set: the client, a /32 or /128
			      (family 0 for a hash:ip set) */
	uint32_t timeout;  /* add: seconds (0: the set's default); create: the default */
	uint32_t maxelem;  /* create */
};

/* Build op as one netlink request with sequence number seq into buf (len
 * bytes). Returns the message's length, or 0 when op is invalid (unknown
 * command, name too long, families that do not match) or does not fit. */
size_t ipsetnl_build(void *buf, size_t len, uint32_t seq, const struct ipsetnl_op *op);

/* Walk a buffer of netlink replies (len bytes, as received) addressed to
 * portid; for every acknowledgement call fn(arg, seq, err) with err 0 or
 * the kernel's negative error. Returns the number of acknowledgements, or
 * -EPROTO when the buffer is malformed (what came before was reported). */
int ipsetnl_parse_acks(const void *buf, size_t len, uint32_t portid,
		       void (*fn)(void *arg, uint32_t seq, int err), void *arg);

/* A short description of a kernel error (-errno or -IPSET_ERR_*). Static. */
const char *ipsetnl_strerror(int err);

/* Open a netlink socket to the ipset subsystem. Returns NULL with *err. */
struct ipsetnl *ipsetnl_open(int *err);

/* NULL-safe; sets *n NULL. */
void ipsetnl_close(struct ipsetnl **n);

/* Run ops[0..count) in order, IPSETNL_BATCH per sendmsg, and read every
 * acknowledgement. res[i] (count entries, caller's) receives 0 or the
 * kernel's negative error for ops[i]; an operation that could not be built
 * gets -EINVAL, one whose acknowledgement never came -ETIMEDOUT or the
 * socket's error. Returns 0 when every acknowledgement was read, or -errno
 * when the exchange itself failed (the socket should then be reopened). */
int ipsetnl_run(struct ipsetnl *n, const struct ipsetnl_op *ops, size_t count, int *res);

#endif
