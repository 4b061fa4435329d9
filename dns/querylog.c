/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dns/querylog.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sbuf.h"
#include "core/util.h"

struct querylog {
	char *path; /* NULL: journald only */
	int fd;
	bool journal;
	size_t used;
	unsigned nqueued; /* lines in buf */
	struct querylog_stats st;
	char buf[QUERYLOG_BUF_MAX];
};

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

struct querylog *querylog_open(const char *path, bool journal)
{
	struct querylog *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->fd = -1;
	q->journal = journal;
	if (path) {
		q->path = strdup(path);
		if (!q->path || (q->fd = open_file(path)) < 0) {
			int e = q->path ? errno : ENOMEM;

			free(q->path);
			free(q);
			errno = e;
			return NULL;
		}
	}
	return q;
}

void querylog_close(struct querylog **qp)
{
	if (!qp || !*qp)
		return;
	querylog_flush(*qp);
	if ((*qp)->fd >= 0)
		close((*qp)->fd);
	free((*qp)->path);
	free(*qp);
	*qp = NULL;
}

int querylog_reopen(struct querylog *q)
{
	int fd;

	if (!q->path)
		return 0;
	querylog_flush(q);
	fd = open_file(q->path);
	if (fd < 0)
		return -errno;
	close(q->fd);
	q->fd = fd;
	return 0;
}

void querylog_flush(struct querylog *q)
{
	size_t off = 0;

	if (!q || q->fd < 0 || q->used == 0)
		return;
	while (off < q->used) {
		ssize_t n = write(q->fd, q->buf + off, q->used - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* What is left is lost (a full disk, an I/O error):
			 * counted, never retried forever. */
			q->st.errors += q->nqueued;
			log_ratelimited(LOG_WARNING, "query log %s: write: %s", q->path,
					n < 0 ? strerror(errno) : "nothing written");
			q->used = 0;
			q->nqueued = 0;
			return;
		}
		off += (size_t)n;
	}
	q->st.lines += q->nqueued;
	q->used = 0;
	q->nqueued = 0;
}

void querylog_get_stats(const struct querylog *q, struct querylog_stats *st)
{
	*st = q->st;
}

/* ---- formatting ---- */

static const char *type_name(uint16_t t, char *buf, size_t len)
{
	static const struct {
		uint16_t t;
		const char *n;
	} types[] = {{1, "A"},	     {2, "NS"},	    {5, "CNAME"},  {6, "SOA"},
		     {12, "PTR"},    {15, "MX"},    {16, "TXT"},   {28, "AAAA"},
		     {33, "SRV"},    {35, "NAPTR"}, {43, "DS"},	   {46, "RRSIG"},
		     {48, "DNSKEY"}, {64, "SVCB"},  {65, "HTTPS"}, {255, "ANY"}};

	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (types[i].t == t)
			return types[i].n;
	snprintf(buf, len, "TYPE%u", t); /* RFC 3597 §5 */
	return buf;
}

static const char *rcode_name(unsigned rc, char *buf, size_t len)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					    "NXRRSET", "NOTAUTH", "NOTZONE"};

	if (rc < ARRAY_SIZE(names))
		return names[rc];
	snprintf(buf, len, "RCODE%u", rc);
	return buf;
}

static void client_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	struct addr a;
	char s[ADDR_STRLEN];
	unsigned port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		addr_from_v4(&a, &sin->sin_addr);
		port = ntohs(sin->sin_port);
		snprintf(buf, len, "%s:%u", addr_format(&a, s, sizeof(s)), port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		addr_from_v6(&a, &sin6->sin6_addr);
		port = ntohs(sin6->sin6_port);
		snprintf(buf, len, "[%s]:%u", addr_format(&a, s, sizeof(s)), port);
	} else {
		snprintf(buf, len, "?");
	}
}

size_t querylog_format(char *buf, size_t len, const struct querylog_entry *e)
{
	struct sbuf b = {.p = buf, .len = len};
	char tb[64], cl[ADDR_STRLEN + 16], nb[16], rb[16], a[ADDR_STRLEN];
	time_t secs = (time_t)(e->time_ms / 1000);
	struct tm tm;
	size_t more = e->more;
	bool first;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	gmtime_r(&secs, &tm);
	strftime(tb, sizeof(tb), "%Y-%m-%dT%H:%M:%S", &tm);
	client_format(e->client, cl, sizeof(cl));
	sbuf_printf(&b, "{\"time\":\"%s.%03uZ\",\"client\":\"%s\"", tb,
		    (unsigned)(e->time_ms % 1000), cl);
	if (e->has_uid)
		sbuf_printf(&b, ",\"uid\":%u", e->uid);
	sbuf_printf(&b, ",\"name\":\"");
	sbuf_json_str(&b, e->name);
	sbuf_printf(&b, "\",\"type\":\"%s\",\"rcode\":\"%s\"", type_name(e->qtype, nb, sizeof(nb)),
		    rcode_name(e->rcode, rb, sizeof(rb)));
	/* Room is kept for the fields after the lists: an answer with many
	 * addresses loses the last ones, counted in "more". */
	for (int removed = 0; removed < 2; removed++) {
		sbuf_printf(&b, removed ? ",\"removed\":[" : ",\"learned\":[");
		first = true;
		for (size_t i = 0; i < e->naddrs; i++) {
			const struct querylog_addr *x = &e->addrs[i];

			if (!x->why != !removed)
				continue;
			if (b.len - b.used < 256) {
				more++;
				continue;
			}
			addr_format(&x->addr, a, sizeof(a));
			if (removed)
				sbuf_printf(&b, "%s{\"addr\":\"%s\",\"why\":\"%s\"}",
					    first ? "" : ",", a, x->why);
			else
				sbuf_printf(&b, "%s\"%s\"", first ? "" : ",", a);
			first = false;
		}
		sbuf_printf(&b, "]");
	}
	if (more)
		sbuf_printf(&b, ",\"more\":%zu", more);
	sbuf_printf(&b, ",\"server\":");
	if (e->server) {
		sbuf_printf(&b, "\"");
		sbuf_json_str(&b, e->server);
		sbuf_printf(&b, "\"");
	} else {
		sbuf_printf(&b, "null");
	}
	sbuf_printf(&b, ",\"cache\":%s,\"latency_us\":%llu}", e->cache_hit ? "true" : "false",
		    (unsigned long long)e->latency_us);
	return b.used;
}

static void journal_add(const struct querylog_entry *e, const char *line)
{
	char cl[ADDR_STRLEN + 16], nb[16], rb[16], uid[16];
	struct log_field f[7];
	unsigned n = 0;

	client_format(e->client, cl, sizeof(cl));
	f[n++] = (struct log_field){"ZTDNS_QNAME", e->name};
	f[n++] = (struct log_field){"ZTDNS_QTYPE", type_name(e->qtype, nb, sizeof(nb))};
	f[n++] = (struct log_field){"ZTDNS_RCODE", rcode_name(e->rcode, rb, sizeof(rb))};
	f[n++] = (struct log_field){"ZTDNS_CLIENT", cl};
	if (e->has_uid) {
		snprintf(uid, sizeof(uid), "%u", e->uid);
		f[n++] = (struct log_field){"ZTDNS_UID", uid};
	}
	if (e->server)
		f[n++] = (struct log_field){"ZTDNS_SERVER", e->server};
	log_record(LOG_MSGID_QUERY, line, f, n);
}

void querylog_add(struct querylog *q, const struct querylog_entry *e)
{
	char line[QUERYLOG_LINE_MAX];
	size_t n;

	if (!q)
		return;
	n = querylog_format(line, sizeof(line) - 1, e);
	if (q->journal) {
		journal_add(e, line);
		if (q->fd < 0)
			q->st.lines++;
	}
	if (q->fd < 0)
		return;
	if (q->used + n + 1 > sizeof(q->buf)) {
		q->st.dropped++;
		return;
	}
	memcpy(q->buf + q->used, line, n);
	q->buf[q->used + n] = '\n';
	q->used += n + 1;
	q->nqueued++;
}
