/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztdnsctl top: a live view of the busiest and most denied destinations,
 * names and local users, from the daemon's watch stream (every verdict it
 * logs), counted here since top started. Each table is bounded; what does
 * not fit is counted as "untracked". On a terminal: ANSI, a frame every
 * interval, q quits; otherwise (or with --once) one plain frame.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/ctl.h"

#define CTLTOP_KEYS	 1024 /* rows kept per table; more are untracked */
#define CTLTOP_KEY_LEN	 96
#define CTLTOP_INFO_LEN	 48
#define CTLTOP_ROWS_MAX	 50 /* rows shown per table at most */
#define CTLTOP_WIDTH_MAX 240

struct top_row {
	char key[CTLTOP_KEY_LEN];
	char info[CTLTOP_INFO_LEN]; /* the latest name or denial reason */
	unsigned long long accepted, denied;
};

struct top_table {
	const char *title;
	struct top_row *rows;
	size_t n;
	unsigned long long untracked;
};

enum { TOP_DST, TOP_NAME, TOP_USER, TOP__N };

struct top {
	struct top_table t[TOP__N];
	unsigned long long accepted, denied, bad;
	double interval;
	unsigned width, height;
	bool tty;
};

static volatile sig_atomic_t top_stop;

static void on_top_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void count(struct top_table *t, const char *key, const char *info, bool accept)
{
	struct top_row *r = NULL;

	for (size_t i = 0; i < t->n && !r; i++)
		if (strcmp(t->rows[i].key, key) == 0)
			r = &t->rows[i];
	if (!r) {
		if (t->n >= CTLTOP_KEYS) {
			t->untracked++;
			return;
		}
		r = &t->rows[t->n++];
		snprintf(r->key, sizeof(r->key), "%s", key);
	}
	if (accept)
		r->accepted++;
	else
		r->denied++;
	if (info && *info)
		snprintf(r->info, sizeof(r->info), "%s", info);
}

static void user_key(json_t *ev, char *buf, size_t len)
{
	json_t *uid = json_object_get(ev, "uid");

	if (json_is_integer(uid)) {
		struct passwd *pw = getpwuid((uid_t)json_integer_value(uid));

		snprintf(buf, len, "uid %lld%s%s%s", (long long)json_integer_value(uid),
			 pw ? " (" : "", pw ? pw->pw_name : "", pw ? ")" : "");
	} else {
		const char *src = json_string_value(json_object_get(ev, "src"));

		snprintf(buf, len, "from %s", src ? src : "-");
	}
}

static int top_line(void *arg, const char *line, size_t len)
{
	struct top *tp = arg;
	json_error_t jerr;
	json_t *ev = json_loadb(line, len, 0, &jerr);
	const char *verdict, *dst, *names, *reason;
	char key[CTLTOP_KEY_LEN];
	bool accept;

	verdict = json_string_value(json_object_get(ev, "verdict"));
	if (!ev || !verdict) {
		tp->bad++; /* not a verdict line: skipped */
		json_decref(ev);
		return 0;
	}
	accept = strcmp(verdict, "accept") == 0;
	accept ? tp->accepted++ : tp->denied++;
	dst = json_string_value(json_object_get(ev, "dst"));
	names = json_string_value(json_object_get(ev, "names"));
	reason = json_string_value(json_object_get(ev, "reason"));
	snprintf(key, sizeof(key), "%s", dst ? dst : "-");
	count(&tp->t[TOP_DST], key, accept ? names : reason, accept);
	if (names && *names)
		count(&tp->t[TOP_NAME], names, accept ? "" : reason, accept);
	user_key(ev, key, sizeof(key));
	count(&tp->t[TOP_USER], key, accept ? "" : reason, accept);
	json_decref(ev);
	return 0;
}

static int by_total(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	unsigned long long tx = x->accepted + x->denied, ty = y->accepted + y->denied;

	return tx < ty ? 1 : tx > ty ? -1 : strcmp(x->key, y->key);
}

static int by_denied(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;

	return x->denied < y->denied ? 1 : x->denied > y->denied ? -1 : by_total(a, b);
}

/* One line, cut to the terminal's width (title: in reverse video). */
static void put_line(const struct top *tp, bool title, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put_line(const struct top *tp, bool title, const char *fmt, ...)
{
	char buf[CTLTOP_WIDTH_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (strlen(buf) > tp->width)
		buf[tp->width] = '\0';
	if (tp->tty)
		printf("%s%s\033[0m\033[K\n", title ? "\033[7m" : "", buf);
	else
		printf("%s\n", buf);
}

static void section(const struct top *tp, const char *title, struct top_table *t, bool denied,
		    unsigned rows)
{
	struct top_row *v = t->n ? malloc(t->n * sizeof(*v)) : NULL;
	unsigned shown = 0;

	put_line(tp, true, "%-40s %9s %9s  %s", title, "ACCEPTED", "DENIED",
		 denied ? "LAST REASON" : "LAST NAME / REASON");
	if (t->n && !v)
		return;
	if (t->n) {
		memcpy(v, t->rows, t->n * sizeof(*v));
		qsort(v, t->n, sizeof(*v), denied ? by_denied : by_total);
	}
	for (size_t i = 0; i < t->n && shown < rows; i++) {
		if (denied && !v[i].denied)
			break;
		put_line(tp, false, "%-40s %9llu %9llu  %s", v[i].key, v[i].accepted, v[i].denied,
			 v[i].info);
		shown++;
	}
	for (; shown < rows && tp->tty; shown++)
		put_line(tp, false, "%s", "");
	if (t->untracked)
		put_line(tp, false, "(%llu verdicts untracked: more than %d rows)", t->untracked,
			 CTLTOP_KEYS);
	free(v);
}

static void frame(struct top *tp)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	unsigned rows;

	if (tp->tty) {
		struct winsize ws;

		if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
			tp->height = ws.ws_row;
			tp->width = ws.ws_col < CTLTOP_WIDTH_MAX ? ws.ws_col : CTLTOP_WIDTH_MAX;
		}
		printf("\033[H");
	}
	/* Two header lines and four tables with a title each. */
	rows = tp->tty ? (tp->height > 11 ? (tp->height - 11) / 4 : 1) : 10;
	if (rows > CTLTOP_ROWS_MAX)
		rows = CTLTOP_ROWS_MAX;
	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
	put_line(tp, false, "ztdns top %s: %llu verdicts since start, %llu accepted, %llu denied",
		 when, tp->accepted + tp->denied, tp->accepted, tp->denied);
	put_line(tp, false, "every %.0f s%s", tp->interval, tp->tty ? ", q quits" : "");
	section(tp, "BUSIEST DESTINATIONS", &tp->t[TOP_DST], false, rows);
	section(tp, "MOST DENIED DESTINATIONS", &tp->t[TOP_DST], true, rows);
	section(tp, "NAMES", &tp->t[TOP_NAME], false, rows);
	section(tp, "LOCAL USERS / CLIENTS", &tp->t[TOP_USER], false, rows);
	if (tp->tty)
		printf("\033[J");
	fflush(stdout);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved) {
		tcsetattr(0, TCSANOW, &saved_tio);
		printf("\033[?25h\n");
		fflush(stdout);
		tio_saved = false;
	}
}

int ctl_top(const char *path, double interval, bool once, long frames)
{
	static const char req[] = "{\"cmd\":\"watch\"}\n";
	struct top tp = {.interval = interval, .width = 80, .height = 24};
	struct ctl_stream *st = malloc(sizeof(*st));
	long shown = 0;
	double next;
	int fd, rc = 0;

	for (int i = 0; i < TOP__N; i++)
		tp.t[i].rows = calloc(CTLTOP_KEYS, sizeof(struct top_row));
	if (!st || !tp.t[0].rows || !tp.t[1].rows || !tp.t[2].rows) {
		fprintf(stderr, "ztdnsctl: out of memory\n");
		rc = EX_OSERR;
		goto out;
	}
	fd = ctl_connect(path);
	if (fd < 0) {
		fprintf(stderr, "ztdnsctl: cannot connect to %s: %s\n", path, strerror(errno));
		rc = EX_UNAVAILABLE;
		goto out;
	}
	st->fd = fd;
	st->first = true;
	st->len = 0;
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		fprintf(stderr, "ztdnsctl: send: %s\n", strerror(errno));
		rc = EX_UNAVAILABLE;
		goto out_fd;
	}
	tp.tty = !once && isatty(0) && isatty(1);
	signal(SIGINT, on_top_signal);
	signal(SIGTERM, on_top_signal);
	if (tp.tty && tcgetattr(0, &saved_tio) == 0) {
		struct termios raw = saved_tio;

		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tio_saved = tcsetattr(0, TCSANOW, &raw) == 0;
		atexit(restore_tty);
		printf("\033[?25l\033[H\033[2J");
	}
	next = mono_s() + interval;
	while (!top_stop) {
		struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
		double left = next - mono_s();
		int n;

		if (left <= 0) {
			frame(&tp);
			shown++;
			if (!tp.tty || (frames && shown >= frames))
				break;
			next += interval;
			continue;
		}
		n = poll(pfd, tp.tty ? 2 : 1, (int)(left * 1000) + 1);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (tp.tty && (pfd[1].revents & POLLIN)) {
			char c;

			if (read(0, &c, 1) == 1 && (c == 'q' || c == 'Q'))
				break;
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		rc = ctl_stream_read(st, top_line, &tp);
		if (rc) {
			if (rc != EX_UNAVAILABLE)
				rc = 1;
			break;
		}
	}
out_fd:
	close(fd);
out:
	restore_tty();
	for (int i = 0; i < TOP__N; i++)
		free(tp.t[i].rows);
	free(st);
	return rc;
}
