/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/verdictlog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/sbuf.h"

struct verdictlog {
	FILE *f;
	bool own;
	bool json;
	unsigned long errors;
};

struct verdictlog *verdictlog_open(const char *path, bool json)
{
	struct verdictlog *vl = calloc(1, sizeof(*vl));

	if (!vl)
		return NULL;
	vl->json = json;
	if (path) {
		vl->f = fopen(path, "ae");
		if (!vl->f) {
			int e = errno;

			free(vl);
			errno = e;
			return NULL;
		}
		vl->own = true;
	} else {
		vl->f = stdout;
	}
	/* Fully buffered: flushed once per loop iteration. */
	setvbuf(vl->f, NULL, _IOFBF, 1 << 16);
	return vl;
}

void verdictlog_close(struct verdictlog **vlp)
{
	if (!vlp || !*vlp)
		return;
	fflush((*vlp)->f);
	if ((*vlp)->own)
		fclose((*vlp)->f);
	free(*vlp);
	*vlp = NULL;
}

void verdictlog_flush(struct verdictlog *vl)
{
	if (fflush(vl->f) != 0) {
		vl->errors++;
		clearerr(vl->f);
	}
}

const char *verdictlog_verdict_name(const struct verdict_result *r)
{
	return r->accept ? "accept" : r->reject ? "reject" : "drop";
}

unsigned long verdictlog_errors(const struct verdictlog *vl)
{
	return vl->errors;
}

/* Text form: a process's name may hold anything; spaces, quotes and
 * control bytes would split or forge fields, so they become '_'. */
static void sb_text_str(struct sbuf *sb, const char *s)
{
	for (; *s && !sb->full; s++) {
		unsigned char ch = (unsigned char)*s;

		sbuf_printf(sb, "%c",
			    ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '=' ? '_' : ch);
	}
}

/* "192.0.2.1:80" or "[2001:db8::1]:80" (RFC 3986 brackets). */
static const char *host_port(const struct addr *a, uint16_t port, char *buf, size_t len)
{
	char s[ADDR_STRLEN];

	addr_format(a, s, sizeof(s));
	snprintf(buf, len, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", s, port);
	return buf;
}

static void wall_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char t[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", t, (int)(ts.tv_nsec / 1000000));
}

/* The sender's fields; cgroup, comm and unit come from processes, so
 * they are escaped (JSON) or quoted when they hold a space (text). */
static void sb_owner(struct sbuf *sb, bool json, const struct owner_info *w)
{
	if (!w || w->status == OWNER_UNSUPPORTED)
		return;
	if (w->status != OWNER_FOUND) {
		sbuf_printf(sb, json ? ",\"owner\":\"%s\"" : " owner=%s",
			    owner_status_name(w->status));
		return;
	}
	if (json) {
		sbuf_printf(sb, ",\"pid\":%u,\"comm\":\"", w->pid);
		sbuf_json_str(sb, w->comm);
		sbuf_printf(sb, "\",\"cgroup\":\"");
		sbuf_json_str(sb, w->cgroup);
		sbuf_printf(sb, "\"");
		if (w->unit[0]) {
			sbuf_printf(sb, ",\"unit\":\"");
			sbuf_json_str(sb, w->unit);
			sbuf_printf(sb, "\"");
		}
		if (w->container[0])
			sbuf_printf(sb, ",\"container\":\"%s\"", w->container);
		return;
	}
	sbuf_printf(sb, " pid=%u comm=", w->pid);
	sb_text_str(sb, w->comm);
	if (w->unit[0]) {
		sbuf_printf(sb, " unit=");
		sb_text_str(sb, w->unit);
	}
	if (w->container[0])
		sbuf_printf(sb, " container=%s", w->container);
}

size_t verdictlog_format(char *buf, size_t len, bool json, const struct nfqueue_packet *qp,
			 const struct packet_info *pkt, enum packet_err perr,
			 const struct verdict_result *r, const struct owner_info *who,
			 uint64_t now_ms)
{
	struct sbuf sb = {.p = buf, .len = len};
	char when[64], src[ADDR_STRLEN], dst[ADDR_STRLEN], pbuf[8], sub[PREFIX_STRLEN];
	char hs[ADDR_STRLEN + 8], hd[ADDR_STRLEN + 8];
	const char *verdict = verdictlog_verdict_name(r);
	const char *proto =
	    pkt && perr == PACKET_OK ? packet_proto_name(pkt->proto, pbuf, sizeof(pbuf)) : "-";
	bool has_entry = r->reason == VERDICT_LEARNED || r->reason == VERDICT_MANUAL ||
			 r->reason == VERDICT_EXPIRED;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	wall_time(when, sizeof(when));
	if (pkt) {
		addr_format(&pkt->src, src, sizeof(src));
		addr_format(&pkt->dst, dst, sizeof(dst));
	}
	if (json) {
		sbuf_printf(&sb, "{\"time\":\"%s\",\"verdict\":\"%s\",\"reason\":\"%s%s\"", when,
			    verdict,
			    r->break_glass  ? "break-glass:"
			    : r->would_deny ? "would-deny:"
					    : "",
			    verdict_reason_name(r->reason));
		if (pkt && perr == PACKET_OK)
			sbuf_printf(&sb,
				    ",\"proto\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\",\"sport\":%u,"
				    "\"dport\":%u",
				    proto, src, dst, pkt->sport, pkt->dport);
		else if (pkt) /* unparsable past the IP header: the addresses are known */
			sbuf_printf(&sb, ",\"src\":\"%s\",\"dst\":\"%s\",\"error\":\"%s\"", src,
				    dst, packet_strerror(perr));
		else
			sbuf_printf(&sb, ",\"error\":\"%s\"", packet_strerror(perr));
		if (pkt && perr == PACKET_OK && (pkt->proto == 1 || pkt->proto == 58))
			sbuf_printf(&sb, ",\"icmp_type\":%u,\"icmp_code\":%u", pkt->icmp_type,
				    pkt->icmp_code);
		if (qp && qp->has_uid)
			sbuf_printf(&sb, ",\"uid\":%u", qp->uid);
		if (qp && qp->has_gid)
			sbuf_printf(&sb, ",\"gid\":%u", qp->gid);
		sb_owner(&sb, true, who);
		if (has_entry && r->view.nnames) {
			sbuf_printf(&sb, ",\"names\":\"");
			sbuf_json_str(&sb, r->view.names);
			sbuf_printf(&sb, "\"");
		}
		if (has_entry && r->view.server[0]) {
			sbuf_printf(&sb, ",\"server\":\"");
			sbuf_json_str(&sb, r->view.server);
			sbuf_printf(&sb, "\"");
		}
		if ((r->reason == VERDICT_LEARNED || r->reason == VERDICT_MANUAL))
			sbuf_printf(&sb, ",\"expires_in_s\":%llu",
				    (unsigned long long)((r->view.expires_ms - now_ms) / 1000));
		if (r->reason == VERDICT_EXPIRED)
			sbuf_printf(&sb, ",\"expired_ago_s\":%llu",
				    (unsigned long long)(r->expired_ago_ms / 1000));
		if (r->reason == VERDICT_EXCEPTION) {
			sbuf_printf(&sb, ",\"subnet\":\"%s\"",
				    addr_prefix_format(&r->subnet, sub, sizeof(sub)));
			if (r->group[0]) {
				sbuf_printf(&sb, ",\"group\":\"");
				sbuf_json_str(&sb, r->group);
				sbuf_printf(&sb, "\"");
			}
		}
		sbuf_printf(&sb, "}");
	} else {
		sbuf_printf(&sb, "%s %-6s %s%-14s", when, verdict,
			    r->break_glass  ? "break-glass:"
			    : r->would_deny ? "would-deny:"
					    : "",
			    verdict_reason_name(r->reason));
		if (pkt && perr != PACKET_OK)
			sbuf_printf(&sb, " %s -> %s (%s)", src, dst, packet_strerror(perr));
		else if (pkt && pkt->src.family)
			sbuf_printf(&sb, " %s %s -> %s", proto,
				    host_port(&pkt->src, pkt->sport, hs, sizeof(hs)),
				    host_port(&pkt->dst, pkt->dport, hd, sizeof(hd)));
		else if (pkt) /* "explain" without --from */
			sbuf_printf(&sb, " %s -> %s", proto,
				    host_port(&pkt->dst, pkt->dport, hd, sizeof(hd)));
		else
			sbuf_printf(&sb, " (%s)", packet_strerror(perr));
		if (qp && qp->has_uid)
			sbuf_printf(&sb, " uid=%u", qp->uid);
		sb_owner(&sb, false, who);
		if (has_entry && r->view.nnames)
			sbuf_printf(&sb, " names=[%s]", r->view.names);
		if (r->reason == VERDICT_LEARNED || r->reason == VERDICT_MANUAL)
			sbuf_printf(&sb, " expires_in=%llus",
				    (unsigned long long)((r->view.expires_ms - now_ms) / 1000));
		if (r->reason == VERDICT_EXPIRED)
			sbuf_printf(&sb, " expired %llus ago",
				    (unsigned long long)(r->expired_ago_ms / 1000));
		if (r->reason == VERDICT_EXCEPTION)
			sbuf_printf(&sb, " subnet=%s%s%s",
				    addr_prefix_format(&r->subnet, sub, sizeof(sub)),
				    r->group[0] ? " group=" : "", r->group);
	}
	return sb.used;
}

void verdictlog_write(struct verdictlog *vl, const struct nfqueue_packet *qp,
		      const struct packet_info *pkt, enum packet_err perr,
		      const struct verdict_result *r, const struct owner_info *who, uint64_t now_ms)
{
	char line[1024];
	size_t n = verdictlog_format(line, sizeof(line), vl->json, qp, pkt, perr, r, who, now_ms);

	line[n] = '\n';
	if (fwrite(line, 1, n + 1, vl->f) != n + 1)
		vl->errors++;
}

void verdictlog_journal(const char *line, const struct nfqueue_packet *qp,
			const struct packet_info *pkt, enum packet_err perr,
			const struct verdict_result *r, const struct owner_info *who)
{
	char pid[12];
	char src[ADDR_STRLEN], dst[ADDR_STRLEN], pbuf[8], sport[8], dport[8], uid[12], gid[12];
	char sub[PREFIX_STRLEN];
	struct log_field f[LOG_MAX_FIELDS];
	bool has_entry = r->reason == VERDICT_LEARNED || r->reason == VERDICT_MANUAL ||
			 r->reason == VERDICT_EXPIRED;
	unsigned n = 0;

	f[n++] = (struct log_field){"ZTDNS_VERDICT", verdictlog_verdict_name(r)};
	f[n++] = (struct log_field){"ZTDNS_REASON", verdict_reason_name(r->reason)};
	if (r->would_deny)
		f[n++] = (struct log_field){"ZTDNS_WOULD_DENY", "1"};
	if (r->break_glass)
		f[n++] = (struct log_field){"ZTDNS_BREAK_GLASS", "1"};
	if (pkt) {
		f[n++] = (struct log_field){"ZTDNS_SRC", addr_format(&pkt->src, src, sizeof(src))};
		f[n++] = (struct log_field){"ZTDNS_DST", addr_format(&pkt->dst, dst, sizeof(dst))};
	}
	if (pkt && perr == PACKET_OK) {
		snprintf(sport, sizeof(sport), "%u", pkt->sport);
		snprintf(dport, sizeof(dport), "%u", pkt->dport);
		f[n++] = (struct log_field){"ZTDNS_PROTO",
					    packet_proto_name(pkt->proto, pbuf, sizeof(pbuf))};
		f[n++] = (struct log_field){"ZTDNS_SPORT", sport};
		f[n++] = (struct log_field){"ZTDNS_DPORT", dport};
	} else {
		f[n++] = (struct log_field){"ZTDNS_ERROR", packet_strerror(perr)};
	}
	if (qp && qp->has_uid) {
		snprintf(uid, sizeof(uid), "%u", qp->uid);
		f[n++] = (struct log_field){"ZTDNS_UID", uid};
	}
	if (qp && qp->has_gid) {
		snprintf(gid, sizeof(gid), "%u", qp->gid);
		f[n++] = (struct log_field){"ZTDNS_GID", gid};
	}
	if (has_entry && r->view.nnames)
		f[n++] = (struct log_field){"ZTDNS_NAMES", r->view.names};
	if (has_entry && r->view.server[0])
		f[n++] = (struct log_field){"ZTDNS_SERVER", r->view.server};
	if (r->reason == VERDICT_EXCEPTION)
		f[n++] = (struct log_field){"ZTDNS_SUBNET",
					    addr_prefix_format(&r->subnet, sub, sizeof(sub))};
	if (who && who->status == OWNER_FOUND) {
		snprintf(pid, sizeof(pid), "%u", who->pid);
		f[n++] = (struct log_field){"ZTDNS_PID", pid};
		f[n++] = (struct log_field){"ZTDNS_COMM", who->comm};
		if (who->cgroup[0])
			f[n++] = (struct log_field){"ZTDNS_CGROUP", who->cgroup};
		if (who->unit[0])
			f[n++] = (struct log_field){"ZTDNS_UNIT", who->unit};
		if (who->container[0])
			f[n++] = (struct log_field){"ZTDNS_CONTAINER", who->container};
	} else if (who && who->status != OWNER_UNSUPPORTED) {
		f[n++] = (struct log_field){"ZTDNS_OWNER", owner_status_name(who->status)};
	}
	log_verdict_fields(line, f, n);
}
