/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of dns/doh.c without a server: the response judge as a table,
 * the start-up refusals, argument checks, the in-flight bound, cancellation
 * (each callback once, -ECANCELED, re-entrant query and free), and two real
 * exchanges on loopback that need no TLS peer: a closed port
 * (-ECONNREFUSED) and a listener that never accepts (-ETIMEDOUT).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>

#include "check.h"
#include "core/log.h"
#include "dns/doh.h"

int main(void);

#define MT "application/dns-message"

static void test_response_check(void)
{
	static const uint8_t body[64];
	static const struct {
		long status;
		const char *ct;
		size_t len, max;
		int want;
	} t[] = {
	    {200, MT, 12, 65535, 0},
	    {200, MT, 64, 64, 0},
	    {200, "Application/DNS-Message", 30, 65535, 0},
	    {200, MT "; charset=binary", 30, 65535, 0},
	    {200, MT ";x", 30, 65535, 0},
	    {200, "  " MT "  ", 30, 65535, 0},
	    {200, "\t" MT "\t;q=1", 30, 65535, 0},
	    {200, MT, 11, 65535, -EPROTO},
	    {200, MT, 0, 65535, -EPROTO},
	    {200, MT, 65, 64, -EMSGSIZE},
	    {200, MT, 65536, 65535, -EMSGSIZE},
	    {201, MT, 30, 65535, -EPROTO},
	    {204, MT, 0, 65535, -EPROTO},
	    {301, MT, 30, 65535, -EPROTO},
	    {404, MT, 30, 65535, -EPROTO},
	    {500, MT, 30, 65535, -EPROTO},
	    {0, MT, 30, 65535, -EPROTO},
	    {-200, MT, 30, 65535, -EPROTO},
	    {200, NULL, 30, 65535, -EPROTO},
	    {200, "", 30, 65535, -EPROTO},
	    {200, "text/html", 30, 65535, -EPROTO},
	    {200, "application/dns-json", 30, 65535, -EPROTO},
	    {200, MT "x", 30, 65535, -EPROTO},
	    {200, MT "/x", 30, 65535, -EPROTO},
	    {200, "application/dns", 30, 65535, -EPROTO},
	    {200, "x" MT, 30, 65535, -EPROTO},
	    {200, "application /dns-message", 30, 65535, -EPROTO},
	    /* status is judged first, then the type, then the size */
	    {404, "text/html", 70000, 65535, -EPROTO},
	    {200, "text/html", 70000, 65535, -EPROTO},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = doh_response_check(t[i].status, t[i].ct, body, t[i].len, t[i].max);

		CHECK_MSG(rc == t[i].want, "row %zu: %ld \"%s\" %zu/%zu: got %d want %d", i,
			  t[i].status, t[i].ct ? t[i].ct : "(null)", t[i].len, t[i].max, rc,
			  t[i].want);
	}
	CHECK(doh_response_check(200, MT, NULL, 30, 65535) == -EPROTO);
}

static void server_init(struct conf_server *s, const char *url, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->name = "unit";
	s->proto = CONF_PROTO_DOH;
	s->url = (char *)url;
	s->port = port;
	s->naddrs = 1;
	addr_parse("127.0.0.1", &s->addrs[0]);
}

static void test_new_refusals(struct ev_loop *loop)
{
	struct conf_server s;
	struct doh_client *c;
	int err = 0;

	server_init(&s, "https://dns.test/dns-query", 443);
	c = doh_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL && err == 0);
	doh_client_free(&c);
	CHECK(c == NULL);
	doh_client_free(&c); /* NULL-safe */
	doh_client_free(NULL);

	s.tls_name = "DNS.TEST"; /* case-insensitive */
	c = doh_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL);
	doh_client_free(&c);

	s.tls_name = "other.test";
	c = doh_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c == NULL && err == -EINVAL);

	server_init(&s, "http://dns.test/dns-query", 443);
	CHECK(doh_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	server_init(&s, "ftp://dns.test/", 443);
	CHECK(doh_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	server_init(&s, "https://dns.test:8443/dns-query", 443);
	CHECK(doh_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	server_init(&s, "https://dns.test:8443/dns-query", 8443);
	c = doh_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL);
	doh_client_free(&c);
	server_init(&s, "https://[2001:db8::1]/dns-query", 443);
	CHECK(doh_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	server_init(&s, "not a url", 443);
	CHECK(doh_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);

	server_init(&s, "https://dns.test/dns-query", 443);
	s.naddrs = 0;
	CHECK(doh_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	s.naddrs = 1;
	s.proto = CONF_PROTO_DOT;
	CHECK(doh_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	s.proto = CONF_PROTO_DOH;
	CHECK(doh_client_new(loop, &s, "/nonexistent.pem", NULL, &err) == NULL && err == -EINVAL);
	CHECK(doh_client_new(loop, &s, "/nonexistent.pem", "/nonexistent.key", &err) == NULL &&
	      err == -EINVAL);
	s.ca_file = "/nonexistent/ca.pem";
	CHECK(doh_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	s.ca_file = NULL;
	s.npins = 2;
	memset(s.pins, 0xab, sizeof(s.pins));
	c = doh_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL);
	doh_client_free(&c);
	CHECK(doh_client_new(NULL, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	CHECK(doh_client_new(loop, NULL, NULL, NULL, NULL) == NULL);
}

/* A minimal query: header with QDCOUNT 1, "t." A IN. */
static const uint8_t query[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0,
				0,    0,    1,	  't',	0, 0, 1, 0, 1};

struct cbstate {
	unsigned calls[DOH_MAX_INFLIGHT + 1];
	int status[DOH_MAX_INFLIGHT + 1];
	unsigned total;
	bool in_query;
	bool from_inside;
	struct doh_client *raw;	 /* the client as a plain pointer, for re-entry */
	struct doh_client **own; /* the caller's handle, to free from a callback */
	int reentry_rc;
	bool free_on_first;
	struct ev_loop *loop;
	unsigned expect;
};

static struct cbstate cbs;

static void cb(void *arg, int status, const uint8_t *ans, size_t len)
{
	size_t i = (size_t)(uintptr_t)arg;

	if (cbs.in_query)
		cbs.from_inside = true;
	if (i <= DOH_MAX_INFLIGHT) {
		cbs.calls[i]++;
		cbs.status[i] = status;
	}
	CHECK(status == 0 || (ans == NULL && len == 0));
	cbs.total++;
	if (status == -ECANCELED && cbs.raw)
		cbs.reentry_rc = doh_client_query(cbs.raw, query, sizeof(query), 1000, cb, arg);
	if (cbs.free_on_first && cbs.own && *cbs.own) {
		cbs.raw = *cbs.own;
		doh_client_free(cbs.own);
	}
	if (cbs.total >= cbs.expect)
		ev_break(cbs.loop, EVBREAK_ALL);
}

static int send_query(struct doh_client *c, size_t i, uint32_t timeout_ms)
{
	int rc;

	cbs.in_query = true;
	rc = doh_client_query(c, query, sizeof(query), timeout_ms, cb, (void *)(uintptr_t)i);
	cbs.in_query = false;
	return rc;
}

static void test_args_and_bound(struct ev_loop *loop)
{
	struct upstream_transport_stats st;
	struct conf_server s;
	struct doh_client *c;
	unsigned ok = 0, once = 0;
	int err;

	server_init(&s, "https://dns.test:9/dns-query", 9);
	c = doh_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL);
	if (!c)
		return;
	memset(&cbs, 0, sizeof(cbs));
	cbs.loop = loop;
	CHECK(doh_client_query(c, query, 11, 1000, cb, NULL) == -EINVAL);
	CHECK(doh_client_query(c, query, sizeof(query), 0, cb, NULL) == -EINVAL);
	CHECK(doh_client_query(c, query, sizeof(query), 1000, NULL, NULL) == -EINVAL);
	CHECK(doh_client_query(c, NULL, sizeof(query), 1000, cb, NULL) == -EINVAL);
	CHECK(doh_client_query(NULL, query, sizeof(query), 1000, cb, NULL) == -EINVAL);
	CHECK(doh_client_query(c, query, 65536, 1000, cb, NULL) == -EINVAL);

	for (size_t i = 0; i < DOH_MAX_INFLIGHT; i++)
		ok += send_query(c, i, 5000) == 0;
	CHECK(ok == DOH_MAX_INFLIGHT);
	CHECK(send_query(c, DOH_MAX_INFLIGHT, 5000) == -EAGAIN);
	CHECK(cbs.total == 0); /* never from inside doh_client_query() */
	doh_client_get_stats(c, &st);
	CHECK(st.queries == DOH_MAX_INFLIGHT && st.inflight == DOH_MAX_INFLIGHT);
	CHECK(st.inflight_refused == 1);

	/* free cancels all, each once; a query from a cancel callback is refused */
	cbs.raw = c;
	cbs.reentry_rc = 0;
	doh_client_free(&c);
	CHECK(c == NULL);
	CHECK(cbs.total == DOH_MAX_INFLIGHT);
	for (size_t i = 0; i < DOH_MAX_INFLIGHT; i++)
		once += cbs.calls[i] == 1 && cbs.status[i] == -ECANCELED;
	CHECK(once == DOH_MAX_INFLIGHT);
	CHECK(cbs.calls[DOH_MAX_INFLIGHT] == 0);
	CHECK(cbs.reentry_rc == -ECANCELED);
	CHECK(!cbs.from_inside);
	doh_client_get_stats(NULL, &st);
	CHECK(st.queries == 0);
}

/* A loopback TCP port: listening (never accepting) or closed. */
static int loopback_port(bool listening, int *fd_out)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) < 0 || (listening && listen(fd, 8) < 0)) {
		close(fd);
		return -1;
	}
	if (listening)
		*fd_out = fd;
	else
		close(fd);
	return ntohs(sin.sin_port);
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until cbs.expect callbacks came, at most secs seconds. */
static void run_loop(struct ev_loop *loop, double secs)
{
	ev_timer wd;

	ev_timer_init(&wd, watchdog_cb, secs, 0.);
	ev_timer_start(loop, &wd);
	if (cbs.total < cbs.expect)
		ev_run(loop, 0);
	ev_timer_stop(loop, &wd);
}

static void test_loopback(struct ev_loop *loop)
{
	struct upstream_transport_stats st;
	struct conf_server s;
	struct doh_client *c;
	char url[64];
	int port, lfd = -1, err;
	ev_tstamp t0;

	/* closed port: -ECONNREFUSED, quickly */
	port = loopback_port(false, NULL);
	CHECK(port > 0);
	snprintf(url, sizeof(url), "https://dns.test:%d/dns-query", port);
	server_init(&s, url, (uint16_t)port);
	c = doh_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL);
	memset(&cbs, 0, sizeof(cbs));
	cbs.loop = loop;
	cbs.expect = 1;
	CHECK(send_query(c, 0, 2000) == 0);
	ev_now_update(loop);
	t0 = ev_now(loop);
	run_loop(loop, 5);
	ev_now_update(loop);
	CHECK(cbs.calls[0] == 1);
	CHECK_MSG(cbs.status[0] == -ECONNREFUSED, "status %d", cbs.status[0]);
	CHECK(ev_now(loop) - t0 < 1.5);
	doh_client_get_stats(c, &st);
	CHECK(st.conn_errors == 1 && st.inflight == 0 && st.answers == 0);

	/* free from the first callback: the other two get -ECANCELED */
	memset(&cbs, 0, sizeof(cbs));
	cbs.loop = loop;
	cbs.expect = 3;
	cbs.own = &c;
	cbs.free_on_first = true;
	CHECK(send_query(c, 0, 2000) == 0 && send_query(c, 1, 2000) == 0 &&
	      send_query(c, 2, 2000) == 0);
	run_loop(loop, 5);
	CHECK(c == NULL);
	CHECK(cbs.total == 3);
	CHECK(cbs.calls[0] == 1 && cbs.calls[1] == 1 && cbs.calls[2] == 1);
	{
		unsigned refused = 0, canceled = 0;

		for (int i = 0; i < 3; i++) {
			refused += cbs.status[i] == -ECONNREFUSED;
			canceled += cbs.status[i] == -ECANCELED;
		}
		/* the first callback frees: everything after it is cancelled */
		CHECK(refused == 1 && canceled == 2);
		CHECK(cbs.reentry_rc == -ECANCELED);
	}
	doh_client_free(&c);

	/* a listener that never accepts: -ETIMEDOUT after the timeout */
	port = loopback_port(true, &lfd);
	CHECK(port > 0);
	snprintf(url, sizeof(url), "https://dns.test:%d/dns-query", port);
	server_init(&s, url, (uint16_t)port);
	c = doh_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL);
	memset(&cbs, 0, sizeof(cbs));
	cbs.loop = loop;
	cbs.expect = 1;
	ev_now_update(loop);
	t0 = ev_now(loop);
	CHECK(send_query(c, 0, 300) == 0);
	run_loop(loop, 5);
	ev_now_update(loop);
	CHECK_MSG(cbs.status[0] == -ETIMEDOUT, "status %d", cbs.status[0]);
	CHECK_MSG(ev_now(loop) - t0 >= 0.28 && ev_now(loop) - t0 < 1.5, "took %.3f s",
		  ev_now(loop) - t0);
	doh_client_get_stats(c, &st);
	CHECK(st.timeouts == 1);
	doh_client_free(&c);
	if (lfd >= 0)
		close(lfd);
}

int main(void)
{
	struct ev_loop *loop = ev_default_loop(0);

	log_init("test_doh", LOG_ERR, false);
	test_response_check();
	test_new_refusals(loop);
	test_args_and_bound(loop);
	test_loopback(loop);
	ev_loop_destroy(loop);
	curl_global_cleanup();
	CHECK_DONE();
}
