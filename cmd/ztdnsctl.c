/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztdnsctl: talk to ztdnsd over its control socket. One JSON request per
 * line, one JSON response per line (core/commands.h).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/ctl.h"
#include "core/ctlargs.h"
#include "core/verdict.h"

#define DEFAULT_SOCKET "/run/ztdns/control.sock"
#define RESPONSE_MAX   (16u << 20)
#define IO_TIMEOUT_MS  5000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ztdnsctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
		"commands:\n"
		"  status                      counters and state\n"
		"  list [--name NAME] [--client ADDR|self|operator]\n"
		"                              learned and manual allowances\n"
		"  allow ADDR [--ttl SECONDS]  allow an address for a while (reason manual)\n"
		"  revoke ADDR                 remove an address's allowances (every scope)\n"
		"  explain ADDR [--port P] [--proto tcp|udp|icmp] [--from CLIENT]\n"
		"                              the verdict a new flow would get now, and why\n"
		"  flush                       remove every allowance\n"
		"  cache [stats|list|flush]    the answer cache: counters, live entries\n"
		"                              (at most 1000), or empty it\n"
		"  reload                      re-read the configuration; exit 1 if it is\n"
		"                              refused (the running one is kept)\n"
		"  break-glass DURATION --reason TEXT\n"
		"                              open the network for DURATION (90, 90s, 15m, 1h;\n"
		"                              at most 1h): every new flow is accepted and logged\n"
		"                              as break-glass, then it closes by itself\n"
		"  break-glass close           close it now\n"
		"  audit-report [--aggregate] [--clear]\n"
		"                              audit mode: what enforcing would deny, and a\n"
		"                              proposed \"exceptions\" block (--aggregate: to /24\n"
		"                              and /64) to review\n"
		"  audit-report --config [FILE] [--aggregate] [--clear]\n"
		"                              write the running configuration (every key) with\n"
		"                              the proposed exceptions added as group\n"
		"                              \"audit-report\", to FILE (0600) or stdout\n"
		"  export [FILE|-]             the unexpired allowances as JSON (absolute\n"
		"                              expiry), to FILE (0600) or stdout; at most 10000\n"
		"  import FILE|-               add the allowances of an export (root only):\n"
		"                              every entry checked like a learned one; all or\n"
		"                              nothing\n"
		"  top [--interval S] [--once] [--count N]\n"
		"                              live view of the busiest and most denied\n"
		"                              destinations, names and users since top started\n"
		"                              (q quits; --once or no terminal: one frame)\n"
		"  watch [--verdict accept|drop|reject] [--reason R] [--addr A] [--port P]\n"
		"        [--proto tcp|udp|icmp|icmpv6] [--count N] [--timeout S]\n"
		"                              live verdicts (coloured on a terminal)\n"
		"  wait-ready [--timeout S]    wait until the daemon enforces (and, with\n"
		"                              readiness.require_answer, a server answered;\n"
		"                              default 10 s)\n"
		"SOCKET defaults to $ZTDNS_CONTROL or " DEFAULT_SOCKET "\n"
		"ztdnsctl --version prints the version; --complete commands|reasons lists\n"
		"the commands or the verdict reasons (bash completion).\n");
}

/* `ztdnsctl cache`: the counters, then the entries (list) or what was
 * removed (flush). */
static void print_cache(json_t *resp)
{
	json_t *c = json_object_get(resp, "cache"), *arr = json_object_get(resp, "entries"), *v;
	const char *k;
	size_t i;

	json_object_foreach(c, k, v)
	{
		if (json_is_integer(v))
			printf("%-17s %lld\n", k, (long long)json_integer_value(v));
		else
			printf("%-17s %s\n", k, json_is_true(v) ? "yes" : "no");
	}
	if (json_object_get(resp, "removed"))
		printf("removed %lld cached answers\n",
		       (long long)json_integer_value(json_object_get(resp, "removed")));
	json_array_foreach(arr, i, v)
	{
		printf("%s type %lld identity %lld rcode %lld%s ttl %lld s hits %lld\n",
		       json_string_value(json_object_get(v, "name")),
		       (long long)json_integer_value(json_object_get(v, "type")),
		       (long long)json_integer_value(json_object_get(v, "identity")),
		       (long long)json_integer_value(json_object_get(v, "rcode")),
		       json_is_true(json_object_get(v, "negative")) ? " negative" : "",
		       (long long)json_integer_value(json_object_get(v, "ttl_left_s")),
		       (long long)json_integer_value(json_object_get(v, "hits")));
	}
}

int ctl_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Send req, read one response line. Returns a new object or NULL with a
 * message on stderr (unless quiet). */
json_t *ctl_transact(const char *path, json_t *req, bool quiet)
{
	char *text = json_dumps(req, JSON_COMPACT), *buf = NULL;
	size_t len = 0, cap = 0;
	json_t *resp = NULL;
	json_error_t jerr;
	int fd = ctl_connect(path);

	if (fd < 0) {
		if (!quiet)
			fprintf(stderr, "ztdnsctl: cannot connect to %s: %s\n", path,
				strerror(errno));
		goto out;
	}
	if (!text || dprintf(fd, "%s\n", text) < 0) {
		if (!quiet)
			fprintf(stderr, "ztdnsctl: send: %s\n", strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0) {
			if (!quiet)
				fprintf(stderr, "ztdnsctl: no answer from the daemon\n");
			goto out;
		}
		if (len + 65536 > cap) {
			char *g;

			if (cap >= RESPONSE_MAX) {
				fprintf(stderr, "ztdnsctl: response too large\n");
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			g = realloc(buf, cap + 1);
			if (!g)
				goto out;
			buf = g;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n))
			break;
	}
	if (!buf || len == 0) {
		if (!quiet)
			fprintf(stderr, "ztdnsctl: the daemon closed the connection\n");
		goto out;
	}
	resp = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!resp && !quiet)
		fprintf(stderr, "ztdnsctl: bad response: %s\n", jerr.text);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(buf);
	return resp;
}

static long long get_int(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static void print_servers(json_t *servers, const char *identity)
{
	json_t *sv;
	size_t i;

	json_array_foreach(servers, i, sv)
	{
		long long n = get_int(sv, "answers_timed", NULL);

		printf("server %s (%s%s%s): %s, %lld queries, %lld answers, %lld timeouts, "
		       "%lld TLS identity errors",
		       json_string_value(json_object_get(sv, "name")),
		       json_string_value(json_object_get(sv, "protocol")),
		       identity ? ", clients " : "", identity ? identity : "",
		       json_is_true(json_object_get(sv, "healthy")) ? "healthy" : "in back-off",
		       get_int(sv, "transport", "queries"), get_int(sv, "transport", "answers"),
		       get_int(sv, "transport", "timeouts"),
		       get_int(sv, "transport", "identity_errors"));
		if (n)
			printf(", mean latency %.1f ms",
			       (double)get_int(sv, "latency_ms_sum", NULL) / (double)n);
		if (get_int(sv, "consecutive_failures", NULL))
			printf(", %lld failures in a row",
			       get_int(sv, "consecutive_failures", NULL));
		printf("\n");
	}
}

/* The stub and the servers behind it (status "dns"). */
static void print_dns(json_t *dns)
{
	json_t *id;
	size_t i;

	if (!json_is_object(dns)) {
		printf("stub:       not running\n");
		return;
	}
	printf("stub:       %lld UDP + %lld TCP queries, %lld pending, %lld addresses learned, "
	       "%lld SERVFAIL (no server answered), %lld refused at a bound\n",
	       get_int(dns, "udp_queries", NULL), get_int(dns, "tcp_queries", NULL),
	       get_int(dns, "pending", NULL), get_int(dns, "learned", NULL),
	       get_int(dns, "upstream_errors", NULL),
	       get_int(dns, "pending_full", NULL) + get_int(dns, "client_full", NULL) +
		   get_int(dns, "tcp_refused", NULL));
	print_servers(json_object_get(dns, "servers"), NULL);
	json_array_foreach(json_object_get(dns, "identities"), i, id) print_servers(
	    json_object_get(id, "servers"), json_string_value(json_object_get(id, "subnet")));
}

static void print_status(json_t *r)
{
	json_t *reasons = json_object_get(json_object_get(r, "verdicts"), "by_reason");
	json_t *queues = json_object_get(r, "queues"), *q, *v;
	const char *k;
	size_t i;

	printf("ready:      %s\n", json_is_true(json_object_get(r, "ready")) ? "yes" : "no");
	printf("mode:       %s (%s)\n", json_string_value(json_object_get(r, "mode")),
	       json_string_value(json_object_get(r, "enforce")));
	printf("uptime:     %lld s\n", get_int(r, "uptime_s", NULL));
	printf("verdicts:   %lld accepted, %lld denied, %lld would-deny\n",
	       get_int(r, "verdicts", "accepted"), get_int(r, "verdicts", "denied"),
	       get_int(r, "verdicts", "would_deny"));
	json_object_foreach(reasons, k, v) if (json_integer_value(v))
	    printf("  %-16s %lld\n", k, (long long)json_integer_value(v));
	printf("allowset:   %lld / %lld entries (%lld refused: full)\n",
	       get_int(r, "allowset", "entries"), get_int(r, "allowset", "capacity"),
	       get_int(r, "allowset", "full"));
	json_array_foreach(queues, i, q) printf(
	    "queue %lld:   %lld packets, %lld accepted, %lld dropped, %lld rejected, %lld enobufs, "
	    "kernel: %lld queue-full drops, %lld socket drops\n",
	    get_int(q, "num", NULL), get_int(q, "packets", NULL), get_int(q, "accepted", NULL),
	    get_int(q, "dropped", NULL), get_int(q, "rejected", NULL), get_int(q, "enobufs", NULL),
	    get_int(q, "kernel", "queue_dropped"), get_int(q, "kernel", "user_dropped"));
	print_dns(json_object_get(r, "dns"));
	printf("reloads:    %lld ok, %lld failed\n", get_int(r, "config", "reloads"),
	       get_int(r, "config", "reload_failures"));
	v = json_object_get(json_object_get(r, "config"), "last_reload_error");
	if (json_is_string(v) && json_string_length(v))
		printf("last reload error: %s\n", json_string_value(v));
	v = json_object_get(r, "break_glass");
	if (json_is_true(json_object_get(v, "open")))
		printf("BREAK-GLASS OPEN: %lld s left, opened by uid %lld: %s (%lld flows let "
		       "through)\n",
		       get_int(v, "remaining_s", NULL), get_int(v, "uid", NULL),
		       json_string_value(json_object_get(v, "reason")), get_int(v, "flows", NULL));
	else
		printf("break-glass: closed (opened %lld times, %lld flows let through)\n",
		       get_int(v, "opened_total", NULL), get_int(v, "flows", NULL));
}

static void print_list(json_t *r)
{
	json_t *e;
	size_t i;

	printf("%-40s %-8s %-10s %s\n", "ADDRESS", "SOURCE", "EXPIRES", "NAMES");
	json_array_foreach(json_object_get(r, "entries"), i, e)
	{
		char exp[32];

		if (json_object_get(e, "expires_in_s"))
			snprintf(exp, sizeof(exp), "%llds", get_int(e, "expires_in_s", NULL));
		else
			snprintf(exp, sizeof(exp), "-%llds", get_int(e, "expired_ago_s", NULL));
		printf("%-40s %-8s %-10s %s\n", json_string_value(json_object_get(e, "addr")),
		       json_string_value(json_object_get(e, "source")), exp,
		       json_string_value(json_object_get(e, "names")));
	}
	if (json_is_true(json_object_get(r, "truncated")))
		printf("(%lld entries in all; list truncated)\n", get_int(r, "total", NULL));
}

static void print_audit(json_t *r)
{
	json_t *e, *p = json_object_get(r, "proposed_exceptions"), *block;
	char *text;
	size_t i;

	if (json_is_true(json_object_get(r, "enforce")))
		printf("(the daemon is enforcing: only audit mode records would-deny events)\n");
	printf("%-40s %-6s %-7s %-8s %-16s %s\n", "DESTINATION", "PORT", "PROTO", "UID", "REASON",
	       "COUNT");
	json_array_foreach(json_object_get(r, "entries"), i, e)
	{
		char uid[24] = "-";

		if (json_is_integer(json_object_get(e, "uid")))
			snprintf(uid, sizeof(uid), "%lld", get_int(e, "uid", NULL));
		printf("%-40s %-6lld %-7s %-8s %-16s %lld\n",
		       json_string_value(json_object_get(e, "dst")), get_int(e, "port", NULL),
		       json_string_value(json_object_get(e, "proto")), uid,
		       json_string_value(json_object_get(e, "reason")), get_int(e, "count", NULL));
	}
	printf("\n%-16s %-40s %-8s %s\n", "COMMAND", "UNIT/CONTAINER", "UID", "COUNT");
	json_array_foreach(json_object_get(r, "senders"), i, e)
	{
		const char *comm = json_string_value(json_object_get(e, "comm"));
		const char *unit = json_string_value(json_object_get(e, "unit"));
		char uid[24] = "-";

		if (json_is_integer(json_object_get(e, "uid")))
			snprintf(uid, sizeof(uid), "%lld", get_int(e, "uid", NULL));
		printf("%-16s %-40s %-8s %lld\n", comm ? comm : "-", unit ? unit : "-", uid,
		       get_int(e, "count", NULL));
	}
	if (get_int(r, "dropped", NULL))
		printf("(%lld events not recorded: the table was full)\n",
		       get_int(r, "dropped", NULL));
	block = json_pack("{s:O}", "exceptions", p ? p : json_array());
	text = block ? json_dumps(block, JSON_INDENT(2)) : NULL;
	printf("\nproposed configuration block (review before use):\n%s\n", text ? text : "{}");
	free(text);
	json_decref(block);
}

static int wait_ready(const char *path, double timeout)
{
	struct timespec start, now, pause = {.tv_nsec = 100 * 1000 * 1000};
	json_t *req = json_pack("{s:s}", "cmd", "status");

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		json_t *r = ctl_transact(path, req, true);
		bool ready = r && json_is_true(json_object_get(r, "ready"));

		json_decref(r);
		if (ready) {
			json_decref(req);
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - start.tv_sec) +
			(double)(now.tv_nsec - start.tv_nsec) / 1e9 >=
		    timeout) {
			fprintf(stderr, "ztdnsctl: daemon not ready after %.0f s\n", timeout);
			json_decref(req);
			return EX_UNAVAILABLE;
		}
		nanosleep(&pause, NULL);
	}
}

static volatile sig_atomic_t watch_stop;

static void on_watch_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

/* "192.0.2.1:80", "[2001:db8::1]:80" (RFC 3986 brackets), "-:80". */
static const char *host_port(json_t *addr, long long port, char *buf, size_t len)
{
	const char *a = json_string_value(addr);

	snprintf(buf, len, a && strchr(a, ':') ? "[%s]:%lld" : "%s:%lld", a ? a : "-", port);
	return buf;
}

static void print_event(const char *line, size_t len, bool json, bool color)
{
	json_error_t jerr;
	json_t *ev;
	const char *verdict, *reason;
	char hs[80], hd[80];
	bool accept;

	if (json) {
		printf("%.*s\n", (int)len, line);
		return;
	}
	ev = json_loadb(line, len, 0, &jerr);
	if (!ev)
		return;
	verdict = json_string_value(json_object_get(ev, "verdict"));
	reason = json_string_value(json_object_get(ev, "reason"));
	accept = verdict && strcmp(verdict, "accept") == 0;
	printf("%s %s%-6s%s %-16s %s %s -> %s", json_string_value(json_object_get(ev, "time")),
	       color ? (accept ? "\033[32m" : "\033[31m") : "", verdict ? verdict : "?",
	       color ? "\033[0m" : "", reason ? reason : "?",
	       json_string_value(json_object_get(ev, "proto")) ?: "-",
	       host_port(json_object_get(ev, "src"), get_int(ev, "sport", NULL), hs, sizeof(hs)),
	       host_port(json_object_get(ev, "dst"), get_int(ev, "dport", NULL), hd, sizeof(hd)));
	if (json_object_get(ev, "names"))
		printf(" names=[%s]", json_string_value(json_object_get(ev, "names")));
	if (json_object_get(ev, "subnet"))
		printf(" subnet=%s", json_string_value(json_object_get(ev, "subnet")));
	if (json_object_get(ev, "expired_ago_s"))
		printf(" expired %llds ago", get_int(ev, "expired_ago_s", NULL));
	if (json_object_get(ev, "uid"))
		printf(" uid=%lld", get_int(ev, "uid", NULL));
	/* The sender (the daemon keeps only printable ASCII in these). */
	if (json_object_get(ev, "pid"))
		printf(" pid=%lld comm=%s", get_int(ev, "pid", NULL),
		       json_string_value(json_object_get(ev, "comm")) ?: "?");
	if (json_object_get(ev, "unit"))
		printf(" unit=%s", json_string_value(json_object_get(ev, "unit")));
	if (json_object_get(ev, "container"))
		printf(" container=%s", json_string_value(json_object_get(ev, "container")));
	printf("\n");
	json_decref(ev);
}

static bool stream_ok(const char *line, size_t len)
{
	json_error_t jerr;
	json_t *r = json_loadb(line, len, 0, &jerr);
	bool ok = r && json_is_true(json_object_get(r, "ok"));

	if (!ok)
		fprintf(stderr, "ztdnsctl: %s\n",
			r ? json_string_value(json_object_get(r, "error")) : "bad response");
	json_decref(r);
	return ok;
}

int ctl_stream_read(struct ctl_stream *st, int (*fn)(void *arg, const char *line, size_t len),
		    void *arg)
{
	ssize_t n = read(st->fd, st->buf + st->len, sizeof(st->buf) - st->len);
	char *nl;

	if (n <= 0) {
		fprintf(stderr, "ztdnsctl: the daemon closed the connection\n");
		return EX_UNAVAILABLE;
	}
	st->len += (size_t)n;
	while ((nl = memchr(st->buf, '\n', st->len))) {
		size_t l = (size_t)(nl - st->buf);
		int rc = 0;

		if (st->first) {
			st->first = false;
			if (!stream_ok(st->buf, l))
				return 1;
		} else {
			rc = fn(arg, st->buf, l);
		}
		memmove(st->buf, nl + 1, st->len - l - 1);
		st->len -= l + 1;
		if (rc)
			return rc;
	}
	if (st->len == sizeof(st->buf)) {
		st->dropped++; /* a line longer than any event: drop it */
		st->len = 0;
	}
	return 0;
}

/* Subscribe and print verdicts until count lines, timeout seconds (0: no
 * limit) or a signal. */
struct watch_lines {
	long count, seen;
	bool json, color;
};

static int watch_line(void *arg, const char *line, size_t len)
{
	struct watch_lines *wl = arg;

	if (wl->count == 0 || wl->seen < wl->count) {
		print_event(line, len, wl->json, wl->color);
		wl->seen++;
	}
	return 0;
}

static int watch(const char *path, json_t *req, long count, long timeout, bool json)
{
	char *text = json_dumps(req, JSON_COMPACT);
	struct watch_lines wl = {.count = count, .json = json, .color = !json && isatty(1)};
	static struct ctl_stream st;
	struct timespec start, now;
	int fd = ctl_connect(path), rc = 0;

	if (fd < 0) {
		fprintf(stderr, "ztdnsctl: cannot connect to %s: %s\n", path, strerror(errno));
		free(text);
		return EX_UNAVAILABLE;
	}
	signal(SIGINT, on_watch_signal);
	signal(SIGTERM, on_watch_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!text || dprintf(fd, "%s\n", text) < 0) {
		rc = EX_UNAVAILABLE;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	st = (struct ctl_stream){.fd = fd, .first = true};
	while (!watch_stop && (count == 0 || wl.seen < count)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout && now.tv_sec - start.tv_sec >= timeout)
			break;
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		rc = ctl_stream_read(&st, watch_line, &wl);
		if (rc)
			break;
	}
out:
	close(fd);
	free(text);
	return rc;
}

/* "90", "90s", "15m", "1h": seconds into *out (1..3600). */
static bool parse_duration(const char *s, long *out)
{
	char num[16];
	size_t n = strlen(s);
	long mult = 1, v;
	char *end;

	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, s, n + 1);
	if (num[n - 1] == 's' || num[n - 1] == 'm' || num[n - 1] == 'h') {
		mult = num[n - 1] == 's' ? 1 : num[n - 1] == 'm' ? 60 : 3600;
		num[--n] = '\0';
	}
	if (n == 0 || num[0] < '0' || num[0] > '9')
		return false;
	errno = 0;
	v = strtol(num, &end, 10);
	if (errno || *end || v < 1 || v > 3600 / mult)
		return false;
	*out = v * mult;
	return true;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},	{"json", no_argument, NULL, 'j'},
	    {"ttl", required_argument, NULL, 't'},	{"name", required_argument, NULL, 'N'},
	    {"port", required_argument, NULL, 'p'},	{"proto", required_argument, NULL, 'P'},
	    {"from", required_argument, NULL, 'F'},	{"timeout", required_argument, NULL, 'T'},
	    {"client", required_argument, NULL, 'C'},	{"verdict", required_argument, NULL, 'V'},
	    {"reason", required_argument, NULL, 'R'},	{"addr", required_argument, NULL, 'A'},
	    {"count", required_argument, NULL, 'n'},	{"aggregate", no_argument, NULL, 'G'},
	    {"clear", no_argument, NULL, 'X'},		{"config", no_argument, NULL, 'K'},
	    {"interval", required_argument, NULL, 'I'}, {"once", no_argument, NULL, 'O'},
	    {"version", no_argument, NULL, 'v'},	{"help", no_argument, NULL, 'h'},
	    {"complete", required_argument, NULL, 'L'}, {NULL, 0, NULL, 0},
	};
	const char *path = getenv("ZTDNS_CONTROL"), *name = NULL, *proto = NULL, *from = NULL;
	const char *client = NULL, *verdict = NULL, *reason = NULL, *waddr = NULL;
	long count = 0;
	bool timeout_set = false, aggregate = false, clear = false, config = false, once = false;
	long interval = 2;
	bool json = false;
	long ttl = 0, port = -1, timeout = 10;
	const char *cmd, *audit_file = NULL;
	struct ctlargs ca = {0};
	char why[256];
	json_t *req, *resp;
	int opt, rc;

	if (!path)
		path = DEFAULT_SOCKET;
	while ((opt = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			ca.opts |= CTLARGS_TTL;
			if (!parse_long(optarg, 1, 604800, &ttl)) {
				fprintf(stderr, "ztdnsctl: --ttl: \"%s\" is not 1..604800\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'N':
			ca.opts |= CTLARGS_NAME;
			name = optarg;
			break;
		case 'p':
			ca.opts |= CTLARGS_PORT;
			if (!parse_long(optarg, 0, 65535, &port)) {
				fprintf(stderr, "ztdnsctl: --port: \"%s\" is not 0..65535\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'P':
			ca.opts |= CTLARGS_PROTO;
			proto = optarg;
			break;
		case 'F':
			ca.opts |= CTLARGS_FROM;
			from = optarg;
			break;
		case 'T':
			ca.opts |= CTLARGS_TIMEOUT;
			if (!parse_long(optarg, 0, 86400, &timeout)) {
				fprintf(stderr, "ztdnsctl: --timeout: \"%s\" is not 0..86400\n",
					optarg);
				return EX_USAGE;
			}
			timeout_set = true;
			break;
		case 'C':
			ca.opts |= CTLARGS_CLIENT;
			client = optarg;
			break;
		case 'G':
			ca.opts |= CTLARGS_AGGREGATE;
			aggregate = true;
			break;
		case 'X':
			ca.opts |= CTLARGS_CLEAR;
			clear = true;
			break;
		case 'K':
			ca.opts |= CTLARGS_CONFIG;
			config = true;
			break;
		case 'O':
			ca.opts |= CTLARGS_ONCE;
			once = true;
			break;
		case 'I':
			ca.opts |= CTLARGS_INTERVAL;
			if (!parse_long(optarg, 1, 3600, &interval)) {
				fprintf(stderr, "ztdnsctl: --interval: \"%s\" is not 1..3600\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'V':
			ca.opts |= CTLARGS_VERDICT;
			verdict = optarg;
			break;
		case 'R':
			ca.opts |= CTLARGS_REASON;
			reason = optarg;
			break;
		case 'A':
			ca.opts |= CTLARGS_ADDR;
			waddr = optarg;
			break;
		case 'n':
			ca.opts |= CTLARGS_COUNT;
			if (!parse_long(optarg, 1, 1000000000L, &count)) {
				fprintf(stderr,
					"ztdnsctl: --count: \"%s\" is not a positive number\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'v':
			printf("ztdnsctl %s\n", ZTDNS_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'L': /* for the bash completion: the lists from the code */
			if (strcmp(optarg, "commands") == 0) {
				for (const char *const *c = ctlargs_commands; *c; c++)
					printf("%s\n", *c);
			} else if (strcmp(optarg, "reasons") == 0) {
				for (unsigned r = 0; r < VERDICT_REASON_COUNT; r++)
					printf("%s\n", verdict_reason_name(r));
			} else {
				fprintf(stderr, "ztdnsctl: --complete commands|reasons\n");
				return EX_USAGE;
			}
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[optind++];
	ca.cmd = cmd;
	ca.npos = (unsigned)(argc - optind);
	ca.pos0 = optind < argc ? argv[optind] : NULL;
	ca.proto = proto;
	ca.verdict = verdict;
	ca.reason = reason;
	ca.addr = waddr;
	ca.from = from;
	ca.client = client;
	if (ctlargs_check(&ca, why, sizeof(why)) < 0) {
		fprintf(stderr, "ztdnsctl: %s\n", why);
		return EX_USAGE;
	}
	if (strcmp(cmd, "wait-ready") == 0)
		return wait_ready(path, (double)timeout);
	if (strcmp(cmd, "export") == 0)
		return ctl_export(path, optind < argc ? argv[optind] : NULL);
	if (strcmp(cmd, "import") == 0)
		return ctl_import(path, argv[optind]);
	if (strcmp(cmd, "top") == 0)
		return ctl_top(path, (double)interval, once, count);
	req = json_pack("{s:s}", "cmd", cmd);
	if (strcmp(cmd, "break-glass") == 0) {
		long secs;

		if (optind < argc && strcmp(argv[optind], "close") == 0) {
			optind++;
			json_object_set_new(req, "close", json_true());
		} else if (optind < argc && parse_duration(argv[optind], &secs)) {
			optind++;
			if (!reason) {
				fprintf(stderr, "ztdnsctl: break-glass needs --reason TEXT (it is "
						"logged)\n");
				json_decref(req);
				return EX_USAGE;
			}
			json_object_set_new(req, "seconds", json_integer(secs));
		} else {
			fprintf(stderr, "ztdnsctl: break-glass needs a duration from 1 s to 1 h "
					"(90, 90s, 15m, 1h) or \"close\"\n");
			json_decref(req);
			return EX_USAGE;
		}
	}
	if (strcmp(cmd, "audit-report") == 0 && optind < argc)
		audit_file = argv[optind++];
	if (strcmp(cmd, "cache") == 0 && optind < argc)
		json_object_set_new(req, "action", json_string(argv[optind++]));
	if (strcmp(cmd, "allow") == 0 || strcmp(cmd, "revoke") == 0 ||
	    strcmp(cmd, "explain") == 0) {
		if (optind >= argc) {
			fprintf(stderr, "ztdnsctl: %s needs an address\n", cmd);
			json_decref(req);
			return EX_USAGE;
		}
		json_object_set_new(req, "addr", json_string(argv[optind++]));
	}
	if (optind != argc) {
		fprintf(stderr, "ztdnsctl: unexpected argument \"%s\"\n", argv[optind]);
		json_decref(req);
		return EX_USAGE;
	}
	if (ttl)
		json_object_set_new(req, "ttl", json_integer(ttl));
	if (name)
		json_object_set_new(req, "name", json_string(name));
	if (port >= 0)
		json_object_set_new(req, "port", json_integer(port));
	if (proto)
		json_object_set_new(req, "proto", json_string(proto));
	if (from)
		json_object_set_new(req, "from", json_string(from));
	if (client)
		json_object_set_new(req, "client", json_string(client));
	if (aggregate) {
		json_object_set_new(req, "v4_prefix", json_integer(24));
		json_object_set_new(req, "v6_prefix", json_integer(64));
	}
	if (clear)
		json_object_set_new(req, "clear", json_true());
	if (verdict)
		json_object_set_new(req, "verdict", json_string(verdict));
	if (reason)
		json_object_set_new(req, "reason", json_string(reason));
	if (waddr)
		json_object_set_new(req, "addr", json_string(waddr));
	if (strcmp(cmd, "audit-report") == 0 && config) {
		rc = ctl_audit_config(path, req, audit_file);
		json_decref(req);
		return rc;
	}
	if (strcmp(cmd, "watch") == 0) {
		rc = watch(path, req, count, timeout_set ? timeout : 0, json);
		json_decref(req);
		return rc;
	}
	resp = ctl_transact(path, req, false);
	json_decref(req);
	if (!resp)
		return EX_UNAVAILABLE;
	rc = json_is_true(json_object_get(resp, "ok")) ? 0 : 1;
	if (json) {
		json_dumpf(resp, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (rc) {
		fprintf(stderr, "ztdnsctl: %s\n",
			json_string_value(json_object_get(resp, "error")));
	} else if (strcmp(cmd, "status") == 0) {
		print_status(resp);
	} else if (strcmp(cmd, "list") == 0) {
		print_list(resp);
	} else if (strcmp(cmd, "audit-report") == 0) {
		print_audit(resp);
	} else if (strcmp(cmd, "flush") == 0) {
		printf("removed %lld allowances\n", get_int(resp, "removed", NULL));
	} else if (strcmp(cmd, "cache") == 0) {
		print_cache(resp);
	} else if (strcmp(cmd, "explain") == 0) {
		printf("%s\n", json_string_value(json_object_get(resp, "text")));
	} else if (strcmp(cmd, "reload") == 0) {
		printf("configuration reloaded from %s\n",
		       json_string_value(json_object_get(resp, "config")));
	} else if (strcmp(cmd, "break-glass") == 0) {
		json_t *b = json_object_get(resp, "break_glass");

		if (json_is_true(json_object_get(b, "open")))
			printf("break-glass OPEN for %lld s: new flows are accepted\n",
			       get_int(b, "remaining_s", NULL));
		else
			printf("break-glass closed: enforcing\n");
	} else {
		printf("ok\n");
	}
	json_decref(resp);
	return rc;
}
