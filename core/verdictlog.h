/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The verdict log: one line per verdict, JSON (one object per line) or a
 * readable text form. Lines are buffered and written out once per loop
 * iteration (verdictlog_flush), never on their own on the verdict path.
 */
#ifndef ZTDNS_VERDICTLOG_H
#define ZTDNS_VERDICTLOG_H

#include <stdbool.h>
#include <stdio.h>

#include "core/nfqueue.h"
#include "core/owner.h"
#include "core/packet.h"
#include "core/verdict.h"

struct verdictlog;

/* Open path for appending (NULL: stdout). json: JSON lines, else text.
 * Returns NULL with errno set. */
struct verdictlog *verdictlog_open(const char *path, bool json);

/* NULL-safe; flushes; sets *vl to NULL. */
void verdictlog_close(struct verdictlog **vl);

/* Format one verdict. pkt may be NULL (nothing parsed; perr says why), or
 * set with perr != PACKET_OK (only its addresses are used). qp gives
 * uid/gid. who (may be NULL: not looked up) the local sender
 * (core/owner.h): pid, comm, cgroup, unit and container when found, its
 * status otherwise. now_ms is the monotonic time the verdict used. */
void verdictlog_write(struct verdictlog *vl, const struct nfqueue_packet *qp,
		      const struct packet_info *pkt, enum packet_err perr,
		      const struct verdict_result *r, const struct owner_info *who,
		      uint64_t now_ms);

/* Format into buf (NUL-terminated, no newline); shared with "explain".
 * Returns the length (truncated output is cut at a field boundary). */
size_t verdictlog_format(char *buf, size_t len, bool json, const struct nfqueue_packet *qp,
			 const struct packet_info *pkt, enum packet_err perr,
			 const struct verdict_result *r, const struct owner_info *who,
			 uint64_t now_ms);

/* The journald sink: line (from verdictlog_format) with the verdict's
 * fields ZTDNS_VERDICT, ZTDNS_REASON, ZTDNS_PROTO, ZTDNS_SRC, ZTDNS_DST,
 * ZTDNS_SPORT, ZTDNS_DPORT, ZTDNS_UID, ZTDNS_GID, ZTDNS_NAMES, ZTDNS_SERVER,
 * ZTDNS_SUBNET, ZTDNS_ERROR, ZTDNS_WOULD_DENY, ZTDNS_BREAK_GLASS, ZTDNS_PID,
 * ZTDNS_COMM, ZTDNS_CGROUP, ZTDNS_UNIT, ZTDNS_CONTAINER, ZTDNS_OWNER (the
 * lookup's status when no process was found) (those that apply), through
 * log_verdict_fields(). Arguments as verdictlog_format(). */
void verdictlog_journal(const char *line, const struct nfqueue_packet *qp,
			const struct packet_info *pkt, enum packet_err perr,
			const struct verdict_result *r, const struct owner_info *who);

/* "accept", "drop" or "reject" (r->reject): the verdict as logs, watch and
 * explain name it. Static string. */
const char *verdictlog_verdict_name(const struct verdict_result *r);

void verdictlog_flush(struct verdictlog *vl);

/* Lines dropped because the output failed. */
unsigned long verdictlog_errors(const struct verdictlog *vl);

#endif
