/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for dns/tls.c and the parts of dns/dot.c that need no server:
 * the SPKI pin against the value the openssl tool computes for a freshly
 * generated certificate, pin parsing, context set-up errors, argument
 * checks, the in-flight bound, cancellation on free (also from inside a
 * callback), and connection failures on loopback (refused, never answered).
 * The openssl command-line tool must be installed (test/setup.sh).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/pem.h>

#include "check.h"
#include "dns/dot.h"
#include "dns/tls.h"

static char tmpdir[] = "/tmp/test_dot.XXXXXX";

/* Run a shell command; 0 when it exited 0. */
static int sh(const char *cmd)
{
	int r = system(cmd);

	return r == 0 ? 0 : -1;
}

/* The first line of a command's output, without the newline. */
static int sh_line(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	int ret = -1;

	if (!p)
		return -1;
	if (fgets(out, (int)len, p)) {
		out[strcspn(out, "\n")] = '\0';
		ret = 0;
	}
	if (pclose(p) != 0)
		ret = -1;
	return ret;
}

static void test_pin(void)
{
	char cmd[1024], expect[128], path[256];
	char b64[CONF_PIN_B64LEN];
	uint8_t pin[32], back[32];
	X509 *x = NULL;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout %s/a.key -out %s/a.pem -days 1 -subj /CN=dot.test "
		 "-addext subjectAltName=DNS:dot.test >/dev/null 2>&1 && "
		 "openssl req -x509 -newkey rsa:2048 -nodes "
		 "-keyout %s/b.key -out %s/b.pem -days 1 -subj /CN=other.test >/dev/null 2>&1",
		 tmpdir, tmpdir, tmpdir, tmpdir);
	CHECK_MSG(sh(cmd) == 0, "openssl could not make test certificates");

	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in %s/a.pem -pubkey -noout | openssl pkey -pubin -outform der | "
		 "openssl dgst -sha256 -binary | openssl base64 -A",
		 tmpdir);
	CHECK(sh_line(cmd, expect, sizeof(expect)) == 0);

	snprintf(path, sizeof(path), "%s/a.pem", tmpdir);
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	CHECK(x != NULL);
	if (!x)
		return;
	CHECK(tls_spki_sha256(x, pin) == 0);
	CHECK_STREQ(conf_pin_format(pin, b64), expect);
	CHECK(conf_pin_parse(expect, back) == 0);
	CHECK(memcmp(pin, back, 32) == 0);
	X509_free(x);

	CHECK(tls_spki_sha256(NULL, pin) == -EINVAL);
	/* pins: exactly 44 characters with one '=' */
	CHECK(conf_pin_parse("", back) == -EINVAL);
	CHECK(conf_pin_parse(NULL, back) == -EINVAL);
	CHECK(conf_pin_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", back) == -EINVAL);
	CHECK(conf_pin_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", back) == -EINVAL);
	CHECK(conf_pin_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!A=", back) == -EINVAL);
	CHECK(conf_pin_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", back) == 0);
}

static void test_ctx(void)
{
	struct conf_server s;
	char err[256], ca[256], cert[256], key[256], bkey[256];
	SSL_CTX *ctx;

	memset(&s, 0, sizeof(s));
	snprintf(ca, sizeof(ca), "%s/a.pem", tmpdir);
	snprintf(cert, sizeof(cert), "%s/a.pem", tmpdir);
	snprintf(key, sizeof(key), "%s/a.key", tmpdir);
	snprintf(bkey, sizeof(bkey), "%s/b.key", tmpdir);

	s.ca_file = ca;
	ctx = tls_client_ctx_new(&s, NULL, NULL, err, sizeof(err));
	CHECK_MSG(ctx != NULL, "%s", err);
	SSL_CTX_free(ctx);

	ctx = tls_client_ctx_new(&s, cert, key, err, sizeof(err));
	CHECK_MSG(ctx != NULL, "%s", err);
	SSL_CTX_free(ctx);

	ctx = tls_client_ctx_new(&s, cert, bkey, err, sizeof(err));
	CHECK(ctx == NULL);
	CHECK_MSG(strstr(err, "does not match") != NULL, "%s", err);

	ctx = tls_client_ctx_new(&s, cert, NULL, err, sizeof(err));
	CHECK(ctx == NULL);
	CHECK_MSG(strstr(err, "both or neither") != NULL, "%s", err);

	s.ca_file = "/nonexistent/ca.pem";
	ctx = tls_client_ctx_new(&s, NULL, NULL, err, sizeof(err));
	CHECK(ctx == NULL);
	CHECK_MSG(strstr(err, "/nonexistent/ca.pem") != NULL, "%s", err);
}

/* ---------------------------------------------------------------- dot */

struct result {
	int calls;
	int status;
	struct dot_client **client; /* free it from the callback when set */
	int requery;		    /* dot_client_query() result from inside */
	int cancelled;		    /* callbacks with -ECANCELED */
};

static const uint8_t query[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
				0x00, 0x04, 't',  'e',	's',  't',  0x00, 0x00, 0x01, 0x00, 0x01};

static void done_cb(void *arg, int status, const uint8_t *answer, size_t len)
{
	struct result *r = arg;

	(void)answer;
	(void)len;
	r->calls++;
	r->status = status;
	r->cancelled += status == -ECANCELED;
	if (r->client && *r->client) {
		r->requery = dot_client_query(*r->client, query, sizeof(query), 1000, done_cb, r);
		dot_client_free(r->client);
	}
}

static void server_for(struct conf_server *s, uint16_t port)
{
	static const uint8_t lo[4] = {127, 0, 0, 1};

	memset(s, 0, sizeof(*s));
	s->proto = CONF_PROTO_DOT;
	s->name = "unit";
	s->tls_name = "dot.test";
	s->port = port;
	addr_from_v4(&s->addrs[0], lo);
	s->naddrs = 1;
}

/* A loopback TCP port: listening (backlog, never accepted) or closed. */
static int loopback_port(bool listening, uint16_t *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) < 0 || (listening && listen(fd, 8) < 0))
		return -1;
	*port = ntohs(sin.sin_port);
	if (!listening) {
		close(fd);
		fd = 0;
	}
	return fd;
}

static void test_dot_args(struct ev_loop *loop)
{
	static struct result res[DOT_MAX_INFLIGHT + 1];
	struct upstream_transport_stats st;
	struct conf_server s;
	struct dot_client *c;
	int err = 0, ok = 0, cancelled = 0;

	server_for(&s, 853);
	s.tls_name = NULL;
	CHECK(dot_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	server_for(&s, 853);
	s.naddrs = 0;
	CHECK(dot_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);
	server_for(&s, 853);
	s.ca_file = "/nonexistent/ca.pem";
	CHECK(dot_client_new(loop, &s, NULL, NULL, &err) == NULL && err == -EINVAL);

	server_for(&s, 853);
	c = dot_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL && err == 0);
	if (!c)
		return;
	CHECK(dot_client_query(c, query, 11, 1000, done_cb, &res[0]) == -EINVAL);
	CHECK(dot_client_query(c, query, sizeof(query), 0, done_cb, &res[0]) == -EINVAL);
	CHECK(dot_client_query(c, query, sizeof(query), 1000, NULL, &res[0]) == -EINVAL);

	/* The bound: queued without a connection (the loop never ran). */
	for (int i = 0; i < DOT_MAX_INFLIGHT; i++)
		ok += dot_client_query(c, query, sizeof(query), 1000, done_cb, &res[i]) == 0;
	CHECK(ok == DOT_MAX_INFLIGHT);
	CHECK(dot_client_query(c, query, sizeof(query), 1000, done_cb, &res[DOT_MAX_INFLIGHT]) ==
	      -EAGAIN);
	dot_client_get_stats(c, &st);
	CHECK(st.queries == DOT_MAX_INFLIGHT && st.inflight == DOT_MAX_INFLIGHT);
	CHECK(st.inflight_refused == 1);
	CHECK(res[0].calls == 0); /* never from inside dot_client_query() */

	/* Free cancels everything, synchronously, once each. */
	dot_client_free(&c);
	CHECK(c == NULL);
	for (int i = 0; i < DOT_MAX_INFLIGHT; i++)
		cancelled += res[i].calls == 1 && res[i].status == -ECANCELED;
	CHECK(cancelled == DOT_MAX_INFLIGHT);
	CHECK(res[DOT_MAX_INFLIGHT].calls == 0);
	dot_client_free(&c); /* NULL-safe */
	dot_client_free(NULL);
}

/* Connection refused: every query fails with -ECONNREFUSED, fast; the first
 * callback frees the client, the others then see -ECANCELED; a query made
 * from inside the callback, before the free, is cancelled too. */
static void test_dot_refused(struct ev_loop *loop)
{
	struct result a = {0}, b = {0};
	struct upstream_transport_stats st;
	struct conf_server s;
	struct dot_client *c;
	uint16_t port = 0;
	int err;

	CHECK(loopback_port(false, &port) == 0);
	server_for(&s, port);
	c = dot_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK(dot_client_query(c, query, sizeof(query), 2000, done_cb, &a) == 0);
	CHECK(dot_client_query(c, query, sizeof(query), 2000, done_cb, &a) == 0);
	ev_run(loop, 0);
	dot_client_get_stats(c, &st);
	CHECK(a.calls == 2 && a.status == -ECONNREFUSED);
	CHECK(st.conn_errors == 2 && st.inflight == 0);

	/* now with a callback that frees the client */
	b.client = &c;
	CHECK(dot_client_query(c, query, sizeof(query), 2000, done_cb, &b) == 0);
	CHECK(dot_client_query(c, query, sizeof(query), 2000, done_cb, &b) == 0);
	ev_run(loop, 0);
	CHECK(c == NULL);
	/* first -ECONNREFUSED (it re-queried, then freed), then -ECANCELED for
	 * the second and for the re-query; nothing after that */
	CHECK_MSG(b.calls == 3, "calls %d", b.calls);
	CHECK(b.cancelled == 2);
	CHECK(b.requery == 0);
}

/* A server that accepts (kernel backlog) and never speaks: -ETIMEDOUT. */
static void test_dot_timeout(struct ev_loop *loop)
{
	struct result a = {0};
	struct upstream_transport_stats st;
	struct conf_server s;
	struct dot_client *c;
	uint16_t port = 0;
	ev_tstamp t0;
	int lfd, err;

	lfd = loopback_port(true, &port);
	CHECK(lfd > 0);
	if (lfd <= 0)
		return;
	server_for(&s, port);
	c = dot_client_new(loop, &s, NULL, NULL, &err);
	CHECK(c != NULL);
	if (!c)
		return;
	ev_now_update(loop);
	t0 = ev_now(loop);
	CHECK(dot_client_query(c, query, sizeof(query), 300, done_cb, &a) == 0);
	while (a.calls == 0 && ev_now(loop) - t0 < 5)
		ev_run(loop, EVRUN_ONCE);
	CHECK(a.calls == 1 && a.status == -ETIMEDOUT);
	CHECK_MSG(ev_now(loop) - t0 < 1.0, "took %.3f s", ev_now(loop) - t0);
	dot_client_get_stats(c, &st);
	CHECK(st.timeouts == 1 && st.connections == 0);
	dot_client_free(&c);
	CHECK(a.calls == 1);
	close(lfd);
}

int main(void)
{
	struct ev_loop *loop;
	char cmd[256];

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_pin();
	test_ctx();
	loop = ev_loop_new(EVFLAG_AUTO);
	CHECK(loop != NULL);
	if (loop) {
		test_dot_args(loop);
		test_dot_refused(loop);
		test_dot_timeout(loop);
		ev_loop_destroy(loop);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (sh(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	CHECK_DONE();
}
