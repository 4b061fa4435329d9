/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * connload: the load generator of the benchmark suite (test/bench/run.sh).
 *
 *   connload serve --port P [--nports N] [--threads T]
 *       TCP server on [::]:P..P+N-1 (dual stack), one epoll loop per thread
 *       (SO_REUSEPORT). Every connection is read until the client's EOF and
 *       then closed: the client always closes first, so a reset never races
 *       the client's own handshake under NFQUEUE. SIGUSR1 prints
 *       "SERVE accepted=A closed=C" (totals); SIGTERM/SIGINT print it and exit.
 *
 *   connload connect --dst ADDR [--naddr N] --port P [--nports M]
 *       [--clients K] [--count C] [--duration S] [--timeout-ms T]
 *       [--slow-ms W] [--cdf FILE]
 *       K threads share C connection slots (bounded also by S seconds). Slot j
 *       goes to ADDR + (j mod N), port P + (j / N) mod M. Each connection:
 *       socket, connect (timed: SYN out to SYN-ACK back), shutdown(SHUT_WR),
 *       read until the server's EOF, close.
 *
 *   connload lookup --dns ADDR [--dns-port 53] --name-fmt FMT [--first I]
 *       --port P [--clients K] [--count C] [--duration S] [--timeout-ms T]
 *       [--slow-ms W] [--cdf FILE]
 *       Allow-before-answer trials: slot j asks ADDR (UDP) for the A record of
 *       FMT with %u = I + j, then connects AT ONCE to the first address of the
 *       answer (timed), as above. A first SYN that was dropped shows as a
 *       connect slower than W ms (the first SYN retransmission is at 1 s).
 *
 * Both client modes print one machine-readable line on stdout:
 *   CONNLOAD mode=M clients=K attempts=A ok=O fail=F slow=S dns_fail=D
 *     elapsed_s=E cps=X min_us= p50_us= p90_us= p99_us= p999_us= max_us=
 *     mean_us= [resolve_p50_us= resolve_p99_us=]
 * (one line), the first few errors on stderr, and with --cdf the connect
 * latency quantiles (1000 lines "latency_us fraction") for plotting.
 * Exit: 0 every attempt succeeded, 2 some failed, 1 usage or set-up error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CL_MAX_CLIENTS	  256
#define CL_MAX_COUNT	  20000000u
#define CL_MAX_PORTS	  64
#define CL_MAX_THREADS	  16
#define CL_MAX_ERR_PRINTS 5
#define CL_CDF_POINTS	  1000

enum cl_mode { CL_SERVE, CL_CONNECT, CL_LOOKUP };

struct cl_opts {
	enum cl_mode mode;
	struct sockaddr_storage dst; /* base destination (connect) */
	struct sockaddr_storage dns; /* stub (lookup) */
	unsigned naddr, port, nports, clients, threads, dns_port, first;
	uint64_t count;
	double duration;
	unsigned timeout_ms, slow_ms;
	const char *name_fmt, *cdf;
	char name_pre[128], name_suf[128]; /* name_fmt split around its %u */
};

static struct cl_opts o = {
    .naddr = 1,
    .nports = 1,
    .clients = 1,
    .threads = 1,
    .dns_port = 53,
    .count = 10000,
    .duration = 10,
    .timeout_ms = 3000,
    .slow_ms = 500,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: connload serve --port P [--nports N] [--threads T]\n"
		"       connload connect --dst ADDR [--naddr N] --port P [--nports M]\n"
		"                [--clients K] [--count C] [--duration S] [--timeout-ms T]\n"
		"                [--slow-ms W] [--cdf FILE]\n"
		"       connload lookup --dns ADDR [--dns-port 53] --name-fmt FMT [--first I]\n"
		"                --port P [--clients K] [--count C] [--duration S]\n"
		"                [--timeout-ms T] [--slow-ms W] [--cdf FILE]\n");
	exit(1);
}

static unsigned long long parse_num(const char *opt, const char *s, unsigned long long lo,
				    unsigned long long hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi || s[0] == '-') {
		fprintf(stderr, "connload: %s: bad value '%s' (%llu..%llu)\n", opt, s, lo, hi);
		exit(1);
	}
	return v;
}

static void parse_addr(const char *opt, const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return;
	}
	fprintf(stderr, "connload: %s: not an IP address: '%s'\n", opt, s);
	exit(1);
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void sa_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* base + k, carried over the last 32 bits of the address. */
static void sa_add(struct sockaddr_storage *out, const struct sockaddr_storage *base, uint32_t k)
{
	uint32_t v;

	*out = *base;
	if (base->ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)out;

		v = ntohl(s4->sin_addr.s_addr) + k;
		s4->sin_addr.s_addr = htonl(v);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

		memcpy(&v, &s6->sin6_addr.s6_addr[12], 4);
		v = htonl(ntohl(v) + k);
		memcpy(&s6->sin6_addr.s6_addr[12], &v, 4);
	}
}

static void sa_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a = ss->ss_family == AF_INET
			    ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
			    : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* ------------------------------------------------------------------ server */

static atomic_uint_fast64_t srv_accepted, srv_closed;
static volatile sig_atomic_t srv_report, srv_stop;

static void srv_sig(int sig)
{
	if (sig == SIGUSR1)
		srv_report = 1;
	else
		srv_stop = 1;
}

struct srv_thread {
	pthread_t th;
	unsigned idx;
	int ep;
	int lfd[CL_MAX_PORTS];
};

static int srv_listen(unsigned port)
{
	struct sockaddr_in6 s6;
	int fd, one = 1, zero = 0;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_addr = in6addr_any;
	s6.sin6_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&s6, sizeof(s6)) < 0 || listen(fd, 4096) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static void *srv_loop(void *arg)
{
	struct srv_thread *t = arg;
	struct epoll_event ev[256];
	char buf[4096];

	while (!srv_stop) {
		int n = epoll_wait(t->ep, ev, 256, 100);

		if (t->idx == 0 && (srv_report || srv_stop)) {
			srv_report = 0;
			printf("SERVE accepted=%" PRIuFAST64 " closed=%" PRIuFAST64 "\n",
			       atomic_load(&srv_accepted), atomic_load(&srv_closed));
			fflush(stdout);
		}
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			bool listener = false;

			for (unsigned p = 0; p < o.nports; p++)
				if (fd == t->lfd[p])
					listener = true;
			if (listener) {
				/* Bounded: at most 256 accepts per wake-up. */
				for (int k = 0; k < 256; k++) {
					int c =
					    accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP};

					if (c < 0)
						break;
					atomic_fetch_add(&srv_accepted, 1);
					ce.data.fd = c;
					if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c, &ce) < 0) {
						close(c);
						atomic_fetch_add(&srv_closed, 1);
					}
				}
				continue;
			}
			for (int k = 0; k < 64; k++) {
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0)
					continue;
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				/* EOF (or error): the client is done; close our side. */
				epoll_ctl(t->ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
				atomic_fetch_add(&srv_closed, 1);
				break;
			}
		}
	}
	return NULL;
}

static int run_serve(void)
{
	struct srv_thread th[CL_MAX_THREADS];
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = srv_sig;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (unsigned i = 0; i < o.threads; i++) {
		th[i].idx = i;
		th[i].ep = epoll_create1(EPOLL_CLOEXEC);
		if (th[i].ep < 0) {
			perror("connload: epoll_create1");
			return 1;
		}
		for (unsigned p = 0; p < o.nports; p++) {
			struct epoll_event le = {.events = EPOLLIN};

			th[i].lfd[p] = srv_listen(o.port + p);
			if (th[i].lfd[p] < 0) {
				fprintf(stderr, "connload: listen on port %u: %s\n", o.port + p,
					strerror(-th[i].lfd[p]));
				return 1;
			}
			le.data.fd = th[i].lfd[p];
			epoll_ctl(th[i].ep, EPOLL_CTL_ADD, th[i].lfd[p], &le);
		}
	}
	printf("SERVE listening ports=%u..%u threads=%u\n", o.port, o.port + o.nports - 1,
	       o.threads);
	fflush(stdout);
	for (unsigned i = 1; i < o.threads; i++)
		pthread_create(&th[i].th, NULL, srv_loop, &th[i]);
	srv_loop(&th[0]);
	for (unsigned i = 1; i < o.threads; i++)
		pthread_join(th[i].th, NULL);
	return 0;
}

/* ------------------------------------------------------------------ clients */

static uint32_t *lat_ns;    /* [count]: connect latency of slot j, ns */
static uint32_t *res_ns;    /* [count]: lookup latency of slot j (lookup mode) */
static uint8_t *slot_state; /* [count]: 0 unused, 1 ok, 2 failed */
static atomic_uint_fast64_t next_slot;
static atomic_uint_fast64_t n_fail, n_slow, n_dnsfail;
static atomic_uint err_prints;
static uint64_t deadline_ns;

static void report_err(uint64_t j, const char *what, const struct sockaddr_storage *to, int err)
{
	char a[INET6_ADDRSTRLEN];

	if (atomic_fetch_add(&err_prints, 1) >= CL_MAX_ERR_PRINTS)
		return;
	if (to)
		sa_str(to, a, sizeof(a));
	fprintf(stderr, "connload: slot %" PRIu64 ": %s %s: %s\n", j, what, to ? a : "",
		err ? strerror(err) : "failed");
}

static void set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = o.timeout_ms / 1000,
			     .tv_usec = (o.timeout_ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* One connection: connect (timed), half-close, wait for the server's EOF.
 * Returns 0 or an errno value; *ns receives the connect latency. */
static int one_conn(const struct sockaddr_storage *to, uint64_t *ns)
{
	char buf[64];
	uint64_t t0;
	int fd, err = 0;
	ssize_t r;

	fd = socket(to->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	set_timeouts(fd);
	t0 = now_ns();
	if (connect(fd, (const struct sockaddr *)to, sa_len(to)) < 0) {
		err = errno == EINPROGRESS ? ETIMEDOUT : errno;
		*ns = now_ns() - t0;
		goto out;
	}
	*ns = now_ns() - t0;
	if (shutdown(fd, SHUT_WR) < 0) {
		err = errno;
		goto out;
	}
	r = read(fd, buf, sizeof(buf));
	if (r < 0)
		err = errno == EAGAIN ? ETIMEDOUT : errno;
	else if (r > 0)
		err = EPROTO; /* the server never writes */
out:
	close(fd);
	return err;
}

/* ---- a minimal DNS client for lookup mode (RFC 1035 section 4.1) */

static size_t dns_build(uint8_t *m, size_t cap, uint16_t id, const char *name)
{
	size_t off = 12;
	const char *p = name;

	if (cap < 12 + 256 + 4)
		return 0;
	memset(m, 0, 12);
	m[0] = (uint8_t)(id >> 8);
	m[1] = (uint8_t)id;
	m[2] = 0x01; /* RD */
	m[5] = 1;    /* QDCOUNT */
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (l == 0 || l > 63 || off + 1 + l > 12 + 255)
			return 0;
		m[off++] = (uint8_t)l;
		memcpy(m + off, p, l);
		off += l;
		p += l;
		if (*p == '.')
			p++;
	}
	m[off++] = 0;
	m[off++] = 0;
	m[off++] = 1; /* A */
	m[off++] = 0;
	m[off++] = 1; /* IN */
	return off;
}

static int dns_skip_name(const uint8_t *m, size_t len, size_t *off)
{
	for (int guard = 0; guard < 128; guard++) {
		uint8_t l;

		if (*off >= len)
			return -1;
		l = m[*off];
		if (l == 0) {
			*off += 1;
			return 0;
		}
		if ((l & 0xC0) == 0xC0) {
			*off += 2;
			return *off <= len ? 0 : -1;
		}
		if (l & 0xC0)
			return -1;
		*off += 1u + l;
	}
	return -1;
}

/* The first A record of the answer section into *out (port unset). */
static int dns_first_a(const uint8_t *m, size_t len, uint16_t id, struct sockaddr_storage *out)
{
	size_t off = 12;
	unsigned qd, an;

	if (len < 12 || m[0] != (uint8_t)(id >> 8) || m[1] != (uint8_t)id || !(m[2] & 0x80) ||
	    (m[3] & 0x0F) != 0)
		return -1;
	qd = (unsigned)m[4] << 8 | m[5];
	an = (unsigned)m[6] << 8 | m[7];
	for (unsigned i = 0; i < qd; i++) {
		if (dns_skip_name(m, len, &off) < 0)
			return -1;
		off += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		unsigned type, rdlen;

		if (dns_skip_name(m, len, &off) < 0 || off + 10 > len)
			return -1;
		type = (unsigned)m[off] << 8 | m[off + 1];
		rdlen = (unsigned)m[off + 8] << 8 | m[off + 9];
		off += 10;
		if (off + rdlen > len)
			return -1;
		if (type == 1 && rdlen == 4) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)out;

			memset(out, 0, sizeof(*out));
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, m + off, 4);
			return 0;
		}
		off += rdlen;
	}
	return -1;
}

/* Ask the stub for NAME; 0 and *out on success, -1 on any failure. */
static int dns_lookup(int fd, const char *name, struct sockaddr_storage *out)
{
	uint8_t q[300], a[1500];
	uint16_t id = (uint16_t)(now_ns() ^ (uintptr_t)name);
	size_t ql = dns_build(q, sizeof(q), id, name);
	ssize_t r;

	if (!ql || send(fd, q, ql, 0) != (ssize_t)ql)
		return -1;
	for (int k = 0; k < 4; k++) { /* skip stale answers of an earlier timeout */
		r = recv(fd, a, sizeof(a), 0);
		if (r < 0)
			return -1;
		if (dns_first_a(a, (size_t)r, id, out) == 0)
			return 0;
		if (r >= 2 && a[0] == (uint8_t)(id >> 8) && a[1] == (uint8_t)id)
			return -1; /* our answer, but no usable A record */
	}
	return -1;
}

static void *client_loop(void *arg)
{
	int dfd = -1;

	(void)arg;
	if (o.mode == CL_LOOKUP) {
		struct sockaddr_storage d = o.dns;

		sa_set_port(&d, o.dns_port);
		dfd = socket(d.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (dfd < 0 || connect(dfd, (struct sockaddr *)&d, sa_len(&d)) < 0) {
			report_err(0, "dns socket", &d, errno);
			atomic_fetch_add(&n_dnsfail, 1);
			return NULL;
		}
		set_timeouts(dfd);
	}
	for (;;) {
		uint64_t j = atomic_fetch_add(&next_slot, 1), ns = 0;
		struct sockaddr_storage to;
		int err;

		if (j >= o.count || now_ns() >= deadline_ns)
			break;
		if (o.mode == CL_CONNECT) {
			sa_add(&to, &o.dst, (uint32_t)(j % o.naddr));
			sa_set_port(&to, o.port + (unsigned)((j / o.naddr) % o.nports));
		} else {
			char name[256];
			uint64_t t0 = now_ns();

			snprintf(name, sizeof(name), "%s%u%s", o.name_pre, (unsigned)(o.first + j),
				 o.name_suf);
			if (dns_lookup(dfd, name, &to) < 0) {
				report_err(j, "lookup of", NULL, 0);
				fprintf(stderr, "connload:   (name %s)\n", name);
				atomic_fetch_add(&n_dnsfail, 1);
				slot_state[j] = 2;
				continue;
			}
			res_ns[j] =
			    (uint32_t)(now_ns() - t0 > UINT32_MAX ? UINT32_MAX : now_ns() - t0);
			sa_set_port(&to, o.port);
		}
		err = one_conn(&to, &ns);
		lat_ns[j] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
		if (ns >= (uint64_t)o.slow_ms * 1000000u)
			atomic_fetch_add(&n_slow, 1);
		if (err) {
			report_err(j, "connect to", &to, err);
			atomic_fetch_add(&n_fail, 1);
			slot_state[j] = 2;
		} else {
			slot_state[j] = 1;
		}
	}
	if (dfd >= 0)
		close(dfd);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double q_us(const uint32_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return -1;
	i = (size_t)(q * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i] / 1000.0;
}

static int run_clients(void)
{
	pthread_t th[CL_MAX_CLIENTS];
	uint64_t t0, used, ok = 0, n_ok = 0, n_res = 0;
	uint32_t *v, *rv;
	double el, sum = 0;

	lat_ns = calloc(o.count, sizeof(*lat_ns));
	res_ns = calloc(o.count, sizeof(*res_ns));
	slot_state = calloc(o.count, 1);
	v = calloc(o.count, sizeof(*v));
	rv = calloc(o.count, sizeof(*rv));
	if (!lat_ns || !res_ns || !slot_state || !v || !rv) {
		fprintf(stderr, "connload: out of memory for %" PRIu64 " slots\n", o.count);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	t0 = now_ns();
	deadline_ns = t0 + (uint64_t)(o.duration * 1e9);
	for (unsigned i = 0; i < o.clients; i++)
		if (pthread_create(&th[i], NULL, client_loop, NULL) != 0) {
			fprintf(stderr, "connload: pthread_create failed\n");
			return 1;
		}
	for (unsigned i = 0; i < o.clients; i++)
		pthread_join(th[i], NULL);
	el = (double)(now_ns() - t0) / 1e9;
	used = atomic_load(&next_slot);
	if (used > o.count)
		used = o.count;
	for (uint64_t j = 0; j < used; j++) {
		if (slot_state[j] == 0)
			continue; /* taken after the deadline: never attempted */
		if (slot_state[j] == 1) {
			v[n_ok++] = lat_ns[j];
			sum += lat_ns[j];
			ok++;
		}
		if (o.mode == CL_LOOKUP && res_ns[j])
			rv[n_res++] = res_ns[j];
	}
	qsort(v, n_ok, sizeof(*v), cmp_u32);
	qsort(rv, n_res, sizeof(*rv), cmp_u32);
	{
		uint64_t fail = atomic_load(&n_fail), dnsf = atomic_load(&n_dnsfail);
		uint64_t attempts = ok + fail + dnsf;

		printf("CONNLOAD mode=%s clients=%u attempts=%" PRIu64 " ok=%" PRIu64
		       " fail=%" PRIu64 " slow=%" PRIuFAST64 " dns_fail=%" PRIu64
		       " elapsed_s=%.3f cps=%.0f min_us=%.1f p50_us=%.1f p90_us=%.1f"
		       " p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f",
		       o.mode == CL_CONNECT ? "connect" : "lookup", o.clients, attempts, ok, fail,
		       atomic_load(&n_slow), dnsf, el, el > 0 ? (double)ok / el : 0,
		       n_ok ? v[0] / 1000.0 : -1, q_us(v, n_ok, 0.5), q_us(v, n_ok, 0.9),
		       q_us(v, n_ok, 0.99), q_us(v, n_ok, 0.999), n_ok ? v[n_ok - 1] / 1000.0 : -1,
		       n_ok ? sum / (double)n_ok / 1000.0 : -1);
		if (o.mode == CL_LOOKUP)
			printf(" resolve_p50_us=%.1f resolve_p99_us=%.1f", q_us(rv, n_res, 0.5),
			       q_us(rv, n_res, 0.99));
		printf("\n");
		if (o.cdf && n_ok) {
			FILE *f = fopen(o.cdf, "w");

			if (!f) {
				perror(o.cdf);
				return 1;
			}
			for (unsigned i = 0; i <= CL_CDF_POINTS; i++) {
				double q = (double)i / CL_CDF_POINTS;

				fprintf(f, "%.2f %.4f\n", q_us(v, n_ok, q), q);
			}
			fclose(f);
		}
		return (fail || dnsf) ? 2 : 0;
	}
}

int main(int argc, char **argv)
{
	bool have_dst = false, have_dns = false, have_port = false;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "serve"))
		o.mode = CL_SERVE;
	else if (!strcmp(argv[1], "connect"))
		o.mode = CL_CONNECT;
	else if (!strcmp(argv[1], "lookup"))
		o.mode = CL_LOOKUP;
	else
		usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--dst")) {
			parse_addr(a, v, &o.dst);
			have_dst = true;
		} else if (!strcmp(a, "--dns")) {
			parse_addr(a, v, &o.dns);
			have_dns = true;
		} else if (!strcmp(a, "--naddr")) {
			o.naddr = (unsigned)parse_num(a, v, 1, 1u << 24);
		} else if (!strcmp(a, "--port")) {
			o.port = (unsigned)parse_num(a, v, 1, 65535);
			have_port = true;
		} else if (!strcmp(a, "--nports")) {
			o.nports = (unsigned)parse_num(a, v, 1, CL_MAX_PORTS);
		} else if (!strcmp(a, "--clients")) {
			o.clients = (unsigned)parse_num(a, v, 1, CL_MAX_CLIENTS);
		} else if (!strcmp(a, "--threads")) {
			o.threads = (unsigned)parse_num(a, v, 1, CL_MAX_THREADS);
		} else if (!strcmp(a, "--count")) {
			o.count = parse_num(a, v, 1, CL_MAX_COUNT);
		} else if (!strcmp(a, "--duration")) {
			o.duration = (double)parse_num(a, v, 1, 3600);
		} else if (!strcmp(a, "--timeout-ms")) {
			o.timeout_ms = (unsigned)parse_num(a, v, 1, 60000);
		} else if (!strcmp(a, "--slow-ms")) {
			o.slow_ms = (unsigned)parse_num(a, v, 1, 60000);
		} else if (!strcmp(a, "--dns-port")) {
			o.dns_port = (unsigned)parse_num(a, v, 1, 65535);
		} else if (!strcmp(a, "--first")) {
			o.first = (unsigned)parse_num(a, v, 0, UINT_MAX / 2);
		} else if (!strcmp(a, "--name-fmt")) {
			/* Exactly one %u, nothing else that printf would read. */
			const char *p = strchr(v, '%');

			if (!p || p[1] != 'u' || strchr(p + 1, '%')) {
				fprintf(stderr, "connload: --name-fmt needs exactly one %%u\n");
				return 1;
			}
			if ((size_t)(p - v) >= sizeof(o.name_pre) ||
			    strlen(p + 2) >= sizeof(o.name_suf)) {
				fprintf(stderr, "connload: --name-fmt too long\n");
				return 1;
			}
			memcpy(o.name_pre, v, (size_t)(p - v));
			snprintf(o.name_suf, sizeof(o.name_suf), "%s", p + 2);
			o.name_fmt = v;
		} else if (!strcmp(a, "--cdf")) {
			o.cdf = v;
		} else {
			usage();
		}
	}
	if (!have_port || o.port + o.nports - 1 > 65535)
		usage();
	if (o.mode == CL_SERVE)
		return run_serve();
	if ((o.mode == CL_CONNECT && !have_dst) ||
	    (o.mode == CL_LOOKUP && (!have_dns || !o.name_fmt)))
		usage();
	return run_clients();
}
