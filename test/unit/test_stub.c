/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The stub, replayed: plain DNS queries in from a UDP client on loopback,
 * the upstream's answers replayed from recordings of a real unbound
 * (replay_answers.h) through the replay transport (replay.h, no network
 * beyond loopback, no root). Checked: the answer the client gets, what the
 * allowset holds afterwards (scope, address, expiry, name, server), that
 * every insert happened before the first byte of the answer was sent
 * (invariant 2), and that bad answers (wrong ID, truncated at every length,
 * never-learn addresses, records off the CNAME chain, CNAME loops, upstream
 * failures) put nothing in the allowset and reach the client as SERVFAIL or
 * filtered (invariants 3 and 7). The same allow-before-answer check over a
 * TCP connection (RFC 7766 framing).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <ev.h>

#include "check.h"
#include "core/addr.h"
#include "core/allowset.h"
#include "dns/stub.h"
#include "dns/upstream.h"
#include "dns/wire.h"
#include "policy/conf.h"
#include "replay.h"
#include "replay_answers.h"

#define TTL_MIN	  10
#define TTL_MAX	  3600
#define TTL_GRACE 30

static struct ev_loop *loop;
static struct stub *stub;
static struct allowset *as;
static int cfd = -1;
static int hook_fd = -1; /* the client socket the learn hook looks at */

/* what the learn hook saw */
static struct {
	unsigned calls;
	unsigned before_answer; /* the client's socket had nothing to read yet */
	unsigned in_set;	/* the address was already a HIT in the allowset */
	unsigned scoped;	/* host mode: the scope must be NULL */
	struct addr last;
	uint64_t expires;
} hook;

static void on_learn(void *arg, const struct addr *scope, const struct addr *a, uint64_t expires_ms,
		     uint64_t now_ms)
{
	uint8_t b[1];

	(void)arg;
	hook.calls++;
	if (recv(hook_fd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK))
		hook.before_answer++;
	if (allowset_lookup(as, scope, a, now_ms, NULL, false) == ALLOWSET_HIT)
		hook.in_set++;
	if (scope)
		hook.scoped++;
	hook.last = *a;
	hook.expires = expires_ms;
}

struct reply {
	bool got;
	uint16_t id;
	unsigned rcode;
	unsigned naddr;
	struct addr addr[8];
	uint32_t ttl[8];
};

static void ask(const char *name, uint16_t qtype, uint16_t id)
{
	struct wire_name n;
	uint8_t b[512];
	size_t len = 0;

	CHECK(wire_name_from_str(name, &n) == WIRE_OK);
	CHECK(wire_build_query(id, &n, qtype, true, 1232, b, sizeof(b), &len) == WIRE_OK);
	CHECK(send(cfd, b, len, 0) == (ssize_t)len);
}

/* Run the loop until the upstream holds a query (bounded: 2 s). */
static struct replay_query *upstream_asked(void)
{
	for (int i = 0; i < 2000; i++) {
		struct replay_query *r;

		ev_run(loop, EVRUN_NOWAIT);
		r = replay_next();
		if (r)
			return r;
		usleep(1000);
	}
	return NULL;
}

static void parse_reply(const uint8_t *b, ssize_t n, struct reply *out)
{
	struct wire_rr rr[64];
	struct wire_msg m;

	memset(out, 0, sizeof(*out));
	if (n <= 0 || wire_msg_parse(b, (size_t)n, rr, 64, &m) != WIRE_OK)
		return;
	out->got = true;
	out->id = m.id;
	out->rcode = m.rcode;
	for (size_t i = 0; i < m.nrr && out->naddr < 8; i++) {
		const struct wire_rr *r = &m.rr[i];

		if (r->section != WIRE_SEC_ANSWER)
			continue;
		if (r->type == WIRE_TYPE_A && r->rdlen == 4)
			addr_from_v4(&out->addr[out->naddr], b + r->rdata_off);
		else if (r->type == WIRE_TYPE_AAAA && r->rdlen == 16)
			addr_from_v6(&out->addr[out->naddr], b + r->rdata_off);
		else
			continue;
		out->ttl[out->naddr++] = r->ttl;
	}
}

static void get_reply(struct reply *out)
{
	uint8_t b[4096];

	parse_reply(b, recv(cfd, b, sizeof(b), 0), out); /* SO_RCVTIMEO bounds it */
}

static bool reply_has(const struct reply *r, const char *a)
{
	struct addr x;

	addr_parse(a, &x);
	for (unsigned i = 0; i < r->naddr; i++)
		if (addr_equal(&r->addr[i], &x))
			return true;
	return false;
}

static enum allowset_result lookup(const char *a, struct allowset_view *v)
{
	struct addr x;

	CHECK(addr_parse(a, &x) == 0);
	return allowset_lookup(as, NULL, &x, allowset_now_ms(), v, false);
}

/* One exchange: ask, replay rec (id_delta: a wrong ID), read the reply. */
static void exchange(const char *name, uint16_t qtype, uint16_t id, const uint8_t *rec, size_t len,
		     int id_delta, struct reply *out)
{
	struct replay_query *r;

	ask(name, qtype, id);
	r = upstream_asked();
	CHECK_MSG(r != NULL, "the stub did not ask the upstream for %s", name);
	if (!r) {
		memset(out, 0, sizeof(*out));
		return;
	}
	/* only the question leaves: a fresh ID, RD, our EDNS size */
	CHECK(r->len > 12 && (r->q[2] & 0x01) && r->q[11] == 1);
	replay_answer(r, rec, len, id_delta);
	get_reply(out);
}

static void check_expiry(const char *a, uint64_t t0, uint64_t t1, uint32_t ttl, const char *name)
{
	struct allowset_view v;

	CHECK_MSG(lookup(a, &v) == ALLOWSET_HIT, "%s not allowed", a);
	CHECK_MSG(v.expires_ms >= t0 + ((uint64_t)ttl + TTL_GRACE) * 1000u &&
		      v.expires_ms <= t1 + ((uint64_t)ttl + TTL_GRACE) * 1000u,
		  "%s expires at %llu, not %u s + grace after [%llu, %llu]", a,
		  (unsigned long long)v.expires_ms, ttl, (unsigned long long)t0,
		  (unsigned long long)t1);
	CHECK(v.source == ALLOWSET_LEARNED);
	CHECK_MSG(strstr(v.names, name) != NULL, "%s: names '%s' lack %s", a, v.names, name);
	CHECK_STREQ(v.server, "one");
}

static void test_learn(void)
{
	struct stub_stats st;
	struct reply r;
	uint64_t t0, t1;

	/* A: both addresses, learned before the answer, expiry TTL + grace */
	memset(&hook, 0, sizeof(hook));
	t0 = allowset_now_ms();
	exchange("www.example.test", WIRE_TYPE_A, 0xbeef, rec_www_a, sizeof(rec_www_a), 0, &r);
	t1 = allowset_now_ms();
	CHECK(r.got && r.id == 0xbeef && r.rcode == WIRE_RCODE_NOERROR);
	CHECK(r.naddr == 2 && reply_has(&r, "192.0.2.10") && reply_has(&r, "192.0.2.11"));
	CHECK(r.ttl[0] == 300 && r.ttl[1] == 300);
	CHECK_MSG(hook.calls == 2 && hook.before_answer == 2 && hook.in_set == 2,
		  "learn hook: %u calls, %u before the answer, %u in the set", hook.calls,
		  hook.before_answer, hook.in_set);
	CHECK(hook.scoped == 0);
	check_expiry("192.0.2.10", t0, t1, 300, "www.example.test");
	check_expiry("192.0.2.11", t0, t1, 300, "www.example.test");

	/* AAAA */
	memset(&hook, 0, sizeof(hook));
	t0 = allowset_now_ms();
	exchange("www.example.test", WIRE_TYPE_AAAA, 2, rec_www_aaaa, sizeof(rec_www_aaaa), 0, &r);
	t1 = allowset_now_ms();
	CHECK(r.got && r.id == 2 && r.rcode == WIRE_RCODE_NOERROR && r.naddr == 1 &&
	      reply_has(&r, "2001:db8::10"));
	CHECK(hook.calls == 1 && hook.before_answer == 1 && hook.in_set == 1);
	check_expiry("2001:db8::10", t0, t1, 300, "www.example.test");

	/* CNAME chain: the target's address, under the asked name too */
	memset(&hook, 0, sizeof(hook));
	t0 = allowset_now_ms();
	exchange("alias.chain.test", WIRE_TYPE_A, 3, rec_alias_a, sizeof(rec_alias_a), 0, &r);
	t1 = allowset_now_ms();
	CHECK(r.got && r.rcode == WIRE_RCODE_NOERROR && r.naddr == 1 &&
	      reply_has(&r, "192.0.2.40"));
	CHECK(hook.calls == 1 && hook.before_answer == 1);
	/* the chain's smallest TTL (cdn: 60 s) */
	check_expiry("192.0.2.40", t0, t1, 60, "alias.chain.test");

	/* TTLs clamped: 1 s -> ttl.min; 999999 s -> ttl.max, in the answer too */
	t0 = allowset_now_ms();
	exchange("short.example.test", WIRE_TYPE_A, 4, rec_short_a, sizeof(rec_short_a), 0, &r);
	t1 = allowset_now_ms();
	CHECK(r.got && r.naddr == 1 && r.ttl[0] == 1);
	check_expiry("192.0.2.50", t0, t1, TTL_MIN, "short.example.test");
	t0 = allowset_now_ms();
	exchange("long.example.test", WIRE_TYPE_A, 5, rec_long_a, sizeof(rec_long_a), 0, &r);
	t1 = allowset_now_ms();
	CHECK(r.got && r.naddr == 1 && r.ttl[0] == TTL_MAX);
	check_expiry("192.0.2.51", t0, t1, TTL_MAX, "long.example.test");

	/* NXDOMAIN passes, learns nothing */
	memset(&hook, 0, sizeof(hook));
	exchange("nx.example.test", WIRE_TYPE_A, 6, rec_nx_a, sizeof(rec_nx_a), 0, &r);
	CHECK(r.got && r.id == 6 && r.rcode == WIRE_RCODE_NXDOMAIN && r.naddr == 0);
	CHECK(hook.calls == 0);

	stub_get_stats(stub, &st);
	CHECK_MSG(st.learned == 6, "learned %llu", (unsigned long long)st.learned);
	CHECK(st.rcodes[WIRE_RCODE_NOERROR] == 5 && st.rcodes[WIRE_RCODE_NXDOMAIN] == 1);
	CHECK(st.udp_queries == 6 && st.pending == 0);
}

static void test_bad(void)
{
	struct stub_stats before, st;
	struct reply r;
	uint8_t cut[sizeof(rec_www_a)];
	uint8_t forged[sizeof(rec_lo_a)];
	unsigned cuts = 0;

	/* a fresh allowset view: none of these may be learned */
	allowset_flush(as);
	stub_get_stats(stub, &before);

	/* wrong ID: SERVFAIL, nothing learned */
	memset(&hook, 0, sizeof(hook));
	exchange("www.example.test", WIRE_TYPE_A, 7, rec_www_a, sizeof(rec_www_a), 1, &r);
	CHECK(r.got && r.id == 7 && r.rcode == WIRE_RCODE_SERVFAIL && r.naddr == 0);
	CHECK(hook.calls == 0 && lookup("192.0.2.10", NULL) == ALLOWSET_MISS);
	stub_get_stats(stub, &st);
	CHECK(st.bad_answers == before.bad_answers + 1);

	/* truncated at every length: SERVFAIL each time, nothing learned */
	for (size_t len = 0; len < sizeof(rec_www_a); len++) {
		memcpy(cut, rec_www_a, len);
		exchange("www.example.test", WIRE_TYPE_A, (uint16_t)(100 + len), cut, len, 0, &r);
		if (r.got && r.rcode == WIRE_RCODE_SERVFAIL && r.naddr == 0 &&
		    r.id == (uint16_t)(100 + len))
			cuts++;
		else
			fprintf(stderr, "cut at %zu: got %d rcode %u naddr %u\n", len, r.got,
				r.rcode, r.naddr);
	}
	CHECK_MSG(cuts == sizeof(rec_www_a), "%u of %zu cuts refused", cuts, sizeof(rec_www_a));
	CHECK(hook.calls == 0 && lookup("192.0.2.10", NULL) == ALLOWSET_MISS &&
	      lookup("192.0.2.11", NULL) == ALLOWSET_MISS);

	/* never-learn: 127.0.0.1 removed from the answer, 192.0.2.30 kept */
	stub_get_stats(stub, &before);
	exchange("lo.example.test", WIRE_TYPE_A, 8, rec_lo_a, sizeof(rec_lo_a), 0, &r);
	CHECK(r.got && r.rcode == WIRE_RCODE_NOERROR && r.naddr == 1 &&
	      reply_has(&r, "192.0.2.30") && !reply_has(&r, "127.0.0.1"));
	CHECK(lookup("127.0.0.1", NULL) == ALLOWSET_MISS &&
	      lookup("192.0.2.30", NULL) == ALLOWSET_HIT);
	stub_get_stats(stub, &st);
	CHECK(st.learn_special == before.learn_special + 1);
	CHECK(st.removed_never_learn == before.removed_never_learn + 1);
	CHECK(st.answers_filtered == before.answers_filtered + 1);

	/* only a never-learn address (link-local): nothing left, SERVFAIL */
	exchange("ll.example.test", WIRE_TYPE_A, 9, rec_ll_a, sizeof(rec_ll_a), 0, &r);
	CHECK(r.got && r.rcode == WIRE_RCODE_SERVFAIL && r.naddr == 0);
	CHECK(lookup("169.254.1.1", NULL) == ALLOWSET_MISS);
	stub_get_stats(stub, &st);
	CHECK(st.answers_emptied == before.answers_emptied + 1);

	/* off the chain: the 192.0.2.30 record re-owned by "example.test"
	 * (its name pointer moved from the question, offset 12, to 15) */
	allowset_flush(as);
	memcpy(forged, rec_lo_a, sizeof(forged));
	for (size_t i = 12; i + 16 <= sizeof(forged); i++)
		if (forged[i] == 0xc0 && forged[i + 1] == 0x0c && forged[i + 12] == 192 &&
		    forged[i + 13] == 0 && forged[i + 14] == 2 && forged[i + 15] == 30) {
			forged[i + 1] = 15;
			cuts = 1000;
		}
	CHECK(cuts == 1000);
	stub_get_stats(stub, &before);
	exchange("lo.example.test", WIRE_TYPE_A, 10, forged, sizeof(forged), 0, &r);
	/* 127.0.0.1 never-learn, 192.0.2.30 unproven: nothing left */
	CHECK(r.got && r.rcode == WIRE_RCODE_SERVFAIL && r.naddr == 0);
	CHECK(lookup("192.0.2.30", NULL) == ALLOWSET_MISS);
	stub_get_stats(stub, &st);
	CHECK(st.removed_unproven == before.removed_unproven + 1);

	/* CNAME loop: SERVFAIL, counted as a chain error */
	exchange("loop1.chain.test", WIRE_TYPE_A, 11, rec_loop_a, sizeof(rec_loop_a), 0, &r);
	CHECK(r.got && r.rcode == WIRE_RCODE_SERVFAIL && r.naddr == 0);
	stub_get_stats(stub, &st);
	CHECK(st.chain_errors == before.chain_errors + 1);

	/* an answer for another question (the recording of www for alias) */
	exchange("alias.chain.test", WIRE_TYPE_A, 12, rec_www_a, sizeof(rec_www_a), 0, &r);
	CHECK(r.got && r.rcode == WIRE_RCODE_SERVFAIL);
	CHECK(lookup("192.0.2.10", NULL) == ALLOWSET_MISS);

	/* no server answered (timeout): SERVFAIL */
	stub_get_stats(stub, &before);
	ask("www.example.test", WIRE_TYPE_A, 13);
	{
		struct replay_query *q = upstream_asked();

		CHECK(q != NULL);
		if (q)
			replay_fail(q, -ETIMEDOUT);
	}
	get_reply(&r);
	CHECK(r.got && r.id == 13 && r.rcode == WIRE_RCODE_SERVFAIL);
	stub_get_stats(stub, &st);
	CHECK(st.upstream_errors == before.upstream_errors + 1);

	/* the upstream refuses at once (in-flight bound): SERVFAIL, no query */
	replay.refuse = -EBUSY;
	ask("www.example.test", WIRE_TYPE_A, 14);
	for (int i = 0; i < 50 && !replay_next(); i++) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	get_reply(&r);
	CHECK(r.got && r.id == 14 && r.rcode == WIRE_RCODE_SERVFAIL && replay_waiting() == 0);
	replay.refuse = 0;

	CHECK(lookup("192.0.2.10", NULL) == ALLOWSET_MISS);
	stub_get_stats(stub, &st);
	CHECK(st.learned == before.learned && st.pending == 0);
}

/* The same over TCP (RFC 7766: two-byte length prefix): learned before the
 * first byte of the answer is written to the connection. */
static void test_tcp(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 2};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint8_t q[512], b[4096];
	struct replay_query *r = NULL;
	struct wire_name n;
	struct reply rep;
	size_t qlen = 0, got = 0;

	CHECK(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	wire_name_from_str("www.example.test", &n);
	CHECK(wire_build_query(0x7cb1, &n, WIRE_TYPE_A, true, 0, q + 2, sizeof(q) - 2, &qlen) ==
	      WIRE_OK);
	q[0] = (uint8_t)(qlen >> 8);
	q[1] = (uint8_t)qlen;
	CHECK(send(fd, q, qlen + 2, 0) == (ssize_t)(qlen + 2));
	allowset_flush(as);
	memset(&hook, 0, sizeof(hook));
	hook_fd = fd;
	for (int i = 0; i < 2000 && !(r = replay_next()); i++) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	CHECK(r != NULL);
	if (r)
		replay_answer(r, rec_www_a, sizeof(rec_www_a), 0);
	/* the answer may wait in the connection's buffer for the loop */
	for (int i = 0; i < 2000 && got < 2; i++) {
		ssize_t k = recv(fd, b + got, sizeof(b) - got, MSG_DONTWAIT);

		if (k > 0)
			got += (size_t)k;
		else
			ev_run(loop, EVRUN_NOWAIT);
	}
	while (got >= 2 && got < 2u + (size_t)(b[0] << 8 | b[1]) && got < sizeof(b)) {
		ssize_t k = recv(fd, b + got, sizeof(b) - got, 0);

		if (k <= 0)
			break;
		got += (size_t)k;
	}
	CHECK(got >= 2 && got == 2u + (size_t)(b[0] << 8 | b[1]));
	parse_reply(b + 2, got >= 2 ? (ssize_t)got - 2 : 0, &rep);
	CHECK(rep.got && rep.id == 0x7cb1 && rep.rcode == WIRE_RCODE_NOERROR && rep.naddr == 2);
	CHECK_MSG(hook.calls == 2 && hook.before_answer == 2 && hook.in_set == 2,
		  "tcp learn hook: %u calls, %u before the answer, %u in the set", hook.calls,
		  hook.before_answer, hook.in_set);
	CHECK(lookup("192.0.2.10", NULL) == ALLOWSET_HIT &&
	      lookup("192.0.2.11", NULL) == ALLOWSET_HIT);
	hook_fd = cfd;
	close(fd);
}

int main(void)
{
	struct conf *c = NULL;
	struct upstream *up = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 2};
	int port = 0;

	loop = ev_default_loop(0);
	allowset_reader_register();
	as = allowset_new(1024, 4);
	CHECK(as != NULL);
	{
		char extra[128];

		snprintf(extra, sizeof(extra), "\"ttl\":{\"min\":%d,\"max\":%d,\"grace\":%d}",
			 TTL_MIN, TTL_MAX, TTL_GRACE);
		stub = replay_stub_open(loop, as, extra, &c, &up, &port);
	}
	CHECK(stub != NULL);
	if (!stub)
		CHECK_DONE();
	stub_set_learn_hook(stub, on_learn, NULL);

	cfd = socket(AF_INET, SOCK_DGRAM, 0);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(cfd >= 0 && connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	hook_fd = cfd;

	test_learn();
	test_bad();
	test_tcp(port);

	/* a query in flight when the upstream goes: completed with
	 * -ECANCELED (SERVFAIL or nothing), never left behind */
	ask("www.example.test", WIRE_TYPE_A, 15);
	CHECK(upstream_asked() != NULL);
	upstream_free(&up);
	CHECK(replay_waiting() == 0 && replay.canceled == 1);
	stub_free(&stub);
	close(cfd);
	conf_free(&c);
	allowset_free(&as);
	allowset_reader_unregister();
	CHECK_DONE();
}
