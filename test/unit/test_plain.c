/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/plain.c against a loopback server of the test's own on the same loop:
 * the ID on the wire is random and the caller's comes back, answers with a
 * wrong ID, without QR, with another question or from another port are
 * ignored and counted, TC=1 is asked again over TCP, timeouts, the in-flight
 * bound, cancel on free.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "check.h"
#include "core/addr.h"
#include "dns/plain.h"

enum mode { M_ANSWER, M_SILENT, M_BADID_THEN_GOOD, M_NOQR, M_OTHERQ, M_OTHERPORT, M_TC };

static struct ev_loop *loop;
static int usock = -1, tsock = -1, other = -1;
static enum mode mode;
static uint16_t port, wire_id, last_id;
static unsigned udp_seen, tcp_seen;

/* A query: ID 0x1234, RD, one question www.cluster.local A IN. */
static const uint8_t query[] = {0x12, 0x34, 1,	 0,   0,   1,	0,   0,	  0,   0,   0,	 0,
				3,    'w',  'w', 'w', 7,   'c', 'l', 'u', 's', 't', 'e', 'r',
				5,    'l',  'o', 'c', 'a', 'l', 0,   0,	  1,   0,   1};

/* The answer to m (len bytes) with one A record 192.0.2.7, into out. */
static size_t make_answer(const uint8_t *m, size_t len, uint8_t *out, bool tc)
{
	static const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7};

	memcpy(out, m, len);
	out[2] = (uint8_t)(0x81 | (tc ? 0x02 : 0));
	out[3] = 0x80;
	out[7] = tc ? 0 : 1;
	if (tc)
		return len;
	memcpy(out + len, rr, sizeof(rr));
	return len + sizeof(rr);
}

static void on_udp(struct ev_loop *l, ev_io *w, int revents)
{
	uint8_t b[512], a[600];
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	ssize_t n = recvfrom(usock, b, sizeof(b), 0, (struct sockaddr *)&peer, &pl);
	size_t alen;

	(void)l;
	(void)w;
	(void)revents;
	if (n < 12)
		return;
	udp_seen++;
	last_id = wire_id;
	wire_id = (uint16_t)(b[0] << 8 | b[1]);
	alen = make_answer(b, (size_t)n, a, mode == M_TC);
	switch (mode) {
	case M_SILENT:
		return;
	case M_BADID_THEN_GOOD:
		a[1] ^= 1;
		sendto(usock, a, alen, 0, (struct sockaddr *)&peer, pl);
		a[1] ^= 1;
		break;
	case M_NOQR:
		a[2] &= 0x7f;
		break;
	case M_OTHERQ:
		a[14] = 'x'; /* www -> wxw */
		break;
	case M_OTHERPORT:
		/* The right answer, from another port: the kernel does not
		 * deliver it to a connected socket. */
		sendto(other, a, alen, 0, (struct sockaddr *)&peer, pl);
		return;
	default:
		break;
	}
	/* Case may differ (0x20 randomisation in some servers). */
	if (mode == M_ANSWER)
		a[13] = 'W';
	sendto(usock, a, alen, 0, (struct sockaddr *)&peer, pl);
}

static void on_tcp(struct ev_loop *l, ev_io *w, int revents)
{
	uint8_t b[514], a[600];
	int fd = accept(tsock, NULL, NULL);
	ssize_t n, got = 0;
	size_t alen;

	(void)l;
	(void)w;
	(void)revents;
	if (fd < 0)
		return;
	/* Blocking is fine: the client wrote the whole query already. */
	while (got < 2 + (ssize_t)sizeof(query) &&
	       (n = read(fd, b + got, sizeof(b) - (size_t)got)) > 0)
		got += n;
	tcp_seen++;
	if (got >= 14) {
		alen = make_answer(b + 2, (size_t)got - 2, a + 2, false);
		a[0] = (uint8_t)(alen >> 8);
		a[1] = (uint8_t)alen;
		(void)!write(fd, a, alen + 2);
	}
	close(fd);
}

struct result {
	int status, calls;
	size_t len;
	uint8_t m[600];
};

static void done(void *arg, int status, const uint8_t *answer, size_t len)
{
	struct result *r = arg;

	r->status = status;
	r->calls++;
	r->len = len;
	if (status == 0 && len <= sizeof(r->m))
		memcpy(r->m, answer, len);
}

static void stop_timer(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

/* Run the loop until r has its callback (or 3 s). */
static void run_until(struct result *r)
{
	ev_timer t;

	ev_timer_init(&t, stop_timer, 0.01, 0.01);
	ev_timer_start(loop, &t);
	for (int i = 0; i < 300 && !r->calls; i++)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
}

static struct plain_client *client(void)
{
	struct conf_server s;
	struct plain_client *c;
	int err = 0;

	memset(&s, 0, sizeof(s));
	s.proto = CONF_PROTO_DNS;
	s.port = port;
	s.naddrs = 1;
	addr_parse("127.0.0.1", &s.addrs[0]);
	c = plain_client_new(loop, &s, 0, &err);
	CHECK(c && err == 0);
	return c;
}

static void test_modes(void)
{
	struct upstream_transport_stats st;
	struct plain_client *c = client();
	struct result r;

	/* A good answer: the caller's ID again, the wire ID random. */
	mode = M_ANSWER;
	memset(&r, 0, sizeof(r));
	CHECK(plain_client_query(c, query, sizeof(query), 1000, done, &r) == 0);
	CHECK(r.calls == 0); /* never from inside query() */
	run_until(&r);
	CHECK(r.calls == 1 && r.status == 0 && r.len == sizeof(query) + 16);
	CHECK(r.m[0] == 0x12 && r.m[1] == 0x34 && r.m[7] == 1);
	memset(&r, 0, sizeof(r));
	CHECK(plain_client_query(c, query, sizeof(query), 1000, done, &r) == 0);
	run_until(&r);
	CHECK(r.status == 0);
	CHECK(wire_id != last_id || wire_id != 0x1234); /* two random IDs */

	/* A wrong ID first: ignored, counted; the right one is taken. */
	mode = M_BADID_THEN_GOOD;
	memset(&r, 0, sizeof(r));
	CHECK(plain_client_query(c, query, sizeof(query), 1000, done, &r) == 0);
	run_until(&r);
	CHECK(r.calls == 1 && r.status == 0);
	plain_client_get_stats(c, &st);
	CHECK(st.protocol_errors == 1 && st.answers == 3);

	/* No QR bit, another question, another source port: never taken. */
	for (enum mode m = M_NOQR; m <= M_OTHERPORT; m++) {
		mode = m;
		memset(&r, 0, sizeof(r));
		CHECK(plain_client_query(c, query, sizeof(query), 200, done, &r) == 0);
		run_until(&r);
		CHECK_MSG(r.calls == 1 && r.status == -ETIMEDOUT, "mode %d: status %d", m,
			  r.status);
	}
	plain_client_get_stats(c, &st);
	CHECK(st.protocol_errors == 3 && st.timeouts == 3);

	/* Silence: a timeout. */
	mode = M_SILENT;
	memset(&r, 0, sizeof(r));
	CHECK(plain_client_query(c, query, sizeof(query), 100, done, &r) == 0);
	run_until(&r);
	CHECK(r.calls == 1 && r.status == -ETIMEDOUT);

	/* TC=1: the same question over TCP, the whole answer from there. */
	mode = M_TC;
	tcp_seen = 0;
	memset(&r, 0, sizeof(r));
	CHECK(plain_client_query(c, query, sizeof(query), 1000, done, &r) == 0);
	run_until(&r);
	CHECK(r.calls == 1 && r.status == 0 && tcp_seen == 1);
	CHECK(r.len == sizeof(query) + 16 && r.m[0] == 0x12 && r.m[1] == 0x34 && !(r.m[2] & 2));
	plain_client_get_stats(c, &st);
	CHECK(st.connections == 1 && st.inflight == 0);
	plain_client_free(&c);
	CHECK(c == NULL);
}

static void test_bounds(void)
{
	static struct result rs[PLAIN_MAX_INFLIGHT];
	struct upstream_transport_stats st;
	struct plain_client *c = client();
	struct result r;
	uint8_t two[sizeof(query) + 18];
	int ok = 0;

	mode = M_SILENT;
	memset(rs, 0, sizeof(rs));
	for (unsigned i = 0; i < PLAIN_MAX_INFLIGHT; i++)
		ok += plain_client_query(c, query, sizeof(query), 5000, done, &rs[i]) == 0;
	CHECK(ok == PLAIN_MAX_INFLIGHT);
	CHECK(plain_client_query(c, query, sizeof(query), 5000, done, &r) == -EAGAIN);
	plain_client_get_stats(c, &st);
	CHECK(st.inflight == PLAIN_MAX_INFLIGHT && st.inflight_refused == 1);
	/* Bad queries: refused, no callback. */
	CHECK(plain_client_query(c, query, 11, 5000, done, &r) == -EINVAL);
	CHECK(plain_client_query(c, query, sizeof(query), 0, done, &r) == -EINVAL);
	memcpy(two, query, sizeof(query));
	two[5] = 2; /* two questions */
	CHECK(plain_client_query(c, two, sizeof(query), 5000, done, &r) == -EINVAL);
	/* Free: every query called back once, with -ECANCELED. */
	plain_client_free(&c);
	ok = 0;
	for (unsigned i = 0; i < PLAIN_MAX_INFLIGHT; i++)
		ok += rs[i].calls == 1 && rs[i].status == -ECANCELED;
	CHECK(ok == PLAIN_MAX_INFLIGHT);
}

static void test_new(void)
{
	struct conf_server s;
	int err = 0;

	memset(&s, 0, sizeof(s));
	s.proto = CONF_PROTO_DOT;
	s.port = 53;
	s.naddrs = 1;
	addr_parse("127.0.0.1", &s.addrs[0]);
	CHECK(plain_client_new(loop, &s, 0, &err) == NULL && err == -EINVAL);
	s.proto = CONF_PROTO_DNS;
	s.naddrs = 0;
	CHECK(plain_client_new(loop, &s, 0, &err) == NULL && err == -EINVAL);
}

int main(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	ev_io uio, tio;
	int one = 1;

	loop = ev_default_loop(0);
	usock = socket(AF_INET, SOCK_DGRAM, 0);
	other = socket(AF_INET, SOCK_DGRAM, 0);
	tsock = socket(AF_INET, SOCK_STREAM, 0);
	if (usock < 0 || tsock < 0 || other < 0 ||
	    bind(usock, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(usock, (struct sockaddr *)&sin, &sl) < 0) {
		perror("socket");
		return 1;
	}
	setsockopt(tsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* TCP on the same port number as UDP, as a DNS server listens. */
	if (bind(tsock, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(tsock, 8) < 0) {
		perror("tcp");
		return 1;
	}
	port = ntohs(sin.sin_port);
	ev_io_init(&uio, on_udp, usock, EV_READ);
	ev_io_init(&tio, on_tcp, tsock, EV_READ);
	ev_io_start(loop, &uio);
	ev_io_start(loop, &tio);
	test_new();
	test_modes();
	test_bounds();
	close(usock);
	close(tsock);
	close(other);
	CHECK_DONE();
}
