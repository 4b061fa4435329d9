/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DoH client: libcurl multi_socket on the libev loop (the shape of curl's
 * docs/examples/evhiperfifo.c): curl tells us which sockets to watch
 * (doh_sock_cb -> one ev_io each) and when to wake it (doh_multi_timer_cb ->
 * one ev_timer); every wake-up goes through doh_drive(), which lets curl do
 * its work, collects the finished transfers and only then, with no curl call
 * on the stack, runs the user callbacks.
 *
 * Re-entrancy: a user callback may call doh_client_query() (it only adds a
 * handle to the multi, which never completes synchronously) or
 * doh_client_free(). doh_client_free() cancels everything at once but, when
 * called from inside doh_drive() (c->depth > 0), leaves the memory to the
 * outermost doh_drive(), which frees it after the callback returned: an
 * object is never freed under its own callback (STYLE.md 7).
 */
#include "dns/doh.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/util.h"
#include "dns/tls.h"

#define DOH_MEDIA_TYPE	 "application/dns-message"
#define DOH_DNS_HDR_LEN	 12 /* RFC 1035 §4.1.1 */
#define DOH_BODY_INITIAL 1024
/* "sha256//" + 44 base64 characters + ";" per pin (CURLOPT_PINNEDPUBLICKEY) */
#define DOH_PIN_STRLEN 53
/* "host:port:" + up to CONF_MAX_SERVER_ADDRS "[v6]," (CURLOPT_RESOLVE) */
#define DOH_RESOLVE_LEN (256 + 8 + CONF_MAX_SERVER_ADDRS * (ADDR_STRLEN + 3))
#define DOH_STR_(x)	#x
#define DOH_STR(x)	DOH_STR_(x)
#define DOH_KEEPIDLE_S	30L
#define DOH_KEEPINTVL_S 10L

enum doh_req_state {
	DOH_REQ_IDLE,	/* on the idle list, no callback pending */
	DOH_REQ_ACTIVE, /* in the multi handle */
	DOH_REQ_DONE,	/* out of the multi, on the done list, callback pending */
};

/* One pooled easy handle and the query it carries. */
struct doh_req {
	struct doh_client *c;
	CURL *easy;
	struct doh_req *next; /* idle list or done list */
	enum doh_req_state state;
	int status;	     /* result, once DONE */
	upstream_done_cb cb; /* non-NULL while a callback is owed */
	void *arg;
	uint8_t *query; /* POSTFIELDS: curl borrows it for the transfer */
	size_t qcap;
	uint8_t *body; /* the answer, bounded by UPSTREAM_MAX_ANSWER */
	size_t blen, bcap;
	bool too_big;
	bool oom;
	char errbuf[CURL_ERROR_SIZE];
};

/* One socket curl asked us to watch. */
struct doh_sock {
	ev_io io;
	struct doh_client *c;
	struct doh_sock *prev, *next;
};

struct doh_client {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;
	char *name; /* for logs */
	char *url;
	char *ca_file; /* NULL: system store */
	char *cert, *key;
	char *pinned; /* CURLOPT_PINNEDPUBLICKEY value or NULL */
	struct curl_slist *headers;
	struct curl_slist *resolve;
	struct addr addrs[CONF_MAX_SERVER_ADDRS]; /* the only peers we connect to */
	unsigned naddrs;
	uint16_t port;
	struct doh_req *reqs[DOH_MAX_INFLIGHT]; /* every handle ever created */
	unsigned nreqs;
	struct doh_req *idle;
	struct doh_req *done_head, **done_tail; /* finished, callback not yet run */
	struct doh_sock *socks;
	struct upstream_transport_stats st;
	unsigned depth; /* doh_drive()/doh_client_free() frames on the stack */
	bool freeing;
};

static pthread_once_t doh_once = PTHREAD_ONCE_INIT;
static CURLcode doh_global_rc = CURLE_FAILED_INIT;

static void doh_global_init(void)
{
	doh_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------------ checks */

/* Media type of a Content-Type value, parameters ignored (RFC 9110 §8.3.1). */
static bool doh_media_type_ok(const char *ct)
{
	size_t n = strlen(DOH_MEDIA_TYPE);

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, DOH_MEDIA_TYPE, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

int doh_response_check(long http_status, const char *content_type, const uint8_t *body, size_t len,
		       size_t max)
{
	/* RFC 8484 §4.2.1: only a 2xx carries a DNS message; we ask for no
	 * partial or empty forms, so anything but 200 is refused. */
	if (http_status != 200)
		return -EPROTO;
	if (!doh_media_type_ok(content_type))
		return -EPROTO;
	if (len > max)
		return -EMSGSIZE;
	if (!body || len < DOH_DNS_HDR_LEN)
		return -EPROTO;
	return 0;
}

/* Copy a peer-supplied string for a log line, without control characters. */
static const char *doh_sanitize(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	if (!s)
		return "(none)";
	for (; *s && i + 1 < len; s++, i++)
		buf[i] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[i] = '\0';
	return buf;
}

/* ------------------------------------------------------------------ libev side */

static void doh_drive(struct doh_client *c, curl_socket_t fd, int action);

static void doh_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct doh_sock *ds = container_of(w, struct doh_sock, io);
	int action = 0;

	(void)loop;
	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/* ds may be freed inside (CURL_POLL_REMOVE): read it first. */
	doh_drive(ds->c, w->fd, action);
}

static void doh_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	doh_drive(container_of(w, struct doh_client, timer), CURL_SOCKET_TIMEOUT, 0);
}

static void doh_sock_free(struct doh_client *c, struct doh_sock *ds)
{
	ev_io_stop(c->loop, &ds->io);
	if (ds->prev)
		ds->prev->next = ds->next;
	else
		c->socks = ds->next;
	if (ds->next)
		ds->next->prev = ds->prev;
	free(ds);
}

/* CURLMOPT_SOCKETFUNCTION: keep one ev_io per socket in step with curl. */
static int doh_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct doh_client *c = userp;
	struct doh_sock *ds = sockp;
	int kind = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ds)
			doh_sock_free(c, ds);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (!ds) {
		ds = calloc(1, sizeof(*ds));
		if (!ds) {
			log_ratelimited(LOG_ERR, "doh %s: out of memory for a socket watcher",
					c->name);
			return -1;
		}
		ds->c = c;
		ds->next = c->socks;
		if (c->socks)
			c->socks->prev = ds;
		c->socks = ds;
		ev_io_init(&ds->io, doh_io_cb, s, kind);
		curl_multi_assign(c->multi, s, ds);
	} else {
		ev_io_stop(c->loop, &ds->io);
		ev_io_set(&ds->io, s, kind);
	}
	ev_io_start(c->loop, &ds->io);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer; curl must not be called from here. */
static int doh_multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct doh_client *c = userp;

	(void)multi;
	ev_timer_stop(c->loop, &c->timer);
	if (timeout_ms >= 0) {
		/* Relative to now, not to the loop's cached time. /1000.0:
		 * evhiperfifo's integer division turns 999 ms into 0. */
		ev_now_update(c->loop);
		ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(c->loop, &c->timer);
	}
	return 0;
}

/* ------------------------------------------------------------------ curl side */

/* A connection whose sent bytes stay unacknowledged for DOH_USER_TIMEOUT_MS
 * is dead (the server's address dropped, a path gone): the kernel aborts it
 * (TCP_USER_TIMEOUT, RFC 5482), curl sees the error and the next queries
 * open a new one. Without it curl keeps multiplexing new queries onto the
 * dead HTTP/2 connection while TCP retransmits ever more slowly, and a
 * server that comes back is used only at the next retransmission, seconds
 * later. A slow server is not affected: its kernel still acknowledges. */
static void doh_sock_tune(int fd)
{
	unsigned int ms = DOH_USER_TIMEOUT_MS;

	if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) < 0)
		log_debug("doh: TCP_USER_TIMEOUT: %s", strerror(errno));
}

/* CURLOPT_OPENSOCKETFUNCTION: the last line of defence for "only the
 * configured server": whatever curl resolved or was told, it may only
 * connect to a bootstrap address on the server's port. */
static curl_socket_t doh_opensocket_cb(void *clientp, curlsocktype purpose,
				       struct curl_sockaddr *sa)
{
	struct doh_client *c = clientp;
	const char *raw = (const char *)sa + offsetof(struct curl_sockaddr, addr);
	struct addr a = {0};
	char buf[ADDR_STRLEN];
	uint16_t port = 0;
	curl_socket_t fd;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (sa->family == AF_INET && sa->addrlen >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;

		memcpy(&sin, raw, sizeof(sin));
		addr_from_v4(&a, &sin.sin_addr);
		port = ntohs(sin.sin_port);
	} else if (sa->family == AF_INET6 && sa->addrlen >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, raw, sizeof(sin6));
		addr_from_v6(&a, &sin6.sin6_addr);
		port = ntohs(sin6.sin6_port);
	}
	if (a.family && port == c->port) {
		for (unsigned i = 0; i < c->naddrs; i++) {
			if (!addr_equal(&a, &c->addrs[i]))
				continue;
			fd = socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
			if (fd >= 0)
				doh_sock_tune(fd);
			return fd < 0 ? CURL_SOCKET_BAD : fd;
		}
	}
	log_ratelimited(LOG_ERR,
			"doh %s: refused to connect to %s port %u: not a bootstrap address",
			c->name, a.family ? addr_format(&a, buf, sizeof(buf)) : "?", port);
	return CURL_SOCKET_BAD;
}

/* CURLOPT_WRITEFUNCTION: a bounded body; returning short aborts the transfer
 * with CURLE_WRITE_ERROR, mapped from the flags set here. */
static size_t doh_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct doh_req *req = userdata;
	size_t n = size * nmemb;

	if (n > UPSTREAM_MAX_ANSWER - req->blen) {
		req->too_big = true;
		return 0;
	}
	if (req->blen + n > req->bcap) {
		size_t cap = UTIL_MAX(req->bcap * 2, req->blen + n);
		uint8_t *p;

		cap = UTIL_MIN(cap, (size_t)UPSTREAM_MAX_ANSWER);
		p = realloc(req->body, cap);
		if (!p) {
			req->oom = true;
			return 0;
		}
		req->body = p;
		req->bcap = cap;
	}
	memcpy(req->body + req->blen, ptr, n);
	req->blen += n;
	return n;
}

static int doh_curl_errno(CURLcode rc, const struct doh_req *req, long os_errno)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION: /* also CURLE_SSL_CACERT */
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_ISSUER_ERROR:
		return -EACCES;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ENETUNREACH || os_errno == EHOSTUNREACH)
			return -ENETUNREACH;
		return -ECONNREFUSED;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_FILESIZE_EXCEEDED:
		return -EMSGSIZE;
	case CURLE_WRITE_ERROR:
		if (req->too_big)
			return -EMSGSIZE;
		return req->oom ? -ENOMEM : -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		/* CURLE_SSL_CERTPROBLEM (our client certificate) lands here as
		 * -EPROTO: doh_client_new() already loaded it, so at run time it
		 * is a protocol-level failure, not a configuration one. */
		return -EPROTO;
	}
}

/* The status of a finished transfer, logged when it is an error. */
static int doh_result(struct doh_client *c, struct doh_req *req, CURLcode result)
{
	long nconn = 0, code = 0, os_errno = 0;
	char *ct = NULL;
	char cbuf[64];
	int rc;

	if (curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
		c->st.connections += (uint64_t)nconn;
	if (result == CURLE_OK) {
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(req->easy, CURLINFO_CONTENT_TYPE, &ct);
		rc = doh_response_check(code, ct, req->body, req->blen, UPSTREAM_MAX_ANSWER);
		if (rc < 0)
			log_ratelimited(
			    LOG_WARNING,
			    "doh %s: answer refused: HTTP %ld, content type %s, %zu bytes", c->name,
			    code, doh_sanitize(ct, cbuf, sizeof(cbuf)), req->blen);
		return rc;
	}
	curl_easy_getinfo(req->easy, CURLINFO_OS_ERRNO, &os_errno);
	rc = doh_curl_errno(result, req, os_errno);
	log_ratelimited(LOG_WARNING, "doh %s: query failed (%s): %s", c->name, strerror(-rc),
			req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
	return rc;
}

/* Move every finished transfer out of curl, onto the done list. No user
 * code runs here, so curl's message list is never walked across a free. */
static void doh_collect(struct doh_client *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left))) {
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;
		struct doh_req *req = NULL;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		req = (struct doh_req *)(void *)priv;
		curl_multi_remove_handle(c->multi, easy);
		if (!req || req->state != DOH_REQ_ACTIVE)
			continue;
		req->status = doh_result(c, req, result);
		req->state = DOH_REQ_DONE;
		req->next = NULL;
		*c->done_tail = req;
		c->done_tail = &req->next;
	}
}

static void doh_count(struct doh_client *c, int status)
{
	switch (status) {
	case 0:
		c->st.answers++;
		break;
	case -ETIMEDOUT:
		c->st.timeouts++;
		break;
	case -EACCES:
		c->st.identity_errors++;
		break;
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ENETUNREACH:
		c->st.conn_errors++;
		break;
	case -ECANCELED:
	case -ENOMEM:
		break;
	default:
		c->st.protocol_errors++;
		break;
	}
}

static void doh_req_release(struct doh_client *c, struct doh_req *req)
{
	req->state = DOH_REQ_IDLE;
	req->cb = NULL;
	req->arg = NULL;
	req->next = c->idle;
	c->idle = req;
}

/* Run the callbacks of the done list. The answer lives in req->body, so the
 * handle goes back to the pool only after its callback returned. */
static void doh_deliver(struct doh_client *c)
{
	struct doh_req *req;

	while (!c->freeing && (req = c->done_head)) {
		upstream_done_cb cb = req->cb;
		void *arg = req->arg;
		int status = req->status;

		c->done_head = req->next;
		if (!c->done_head)
			c->done_tail = &c->done_head;
		req->cb = NULL;
		c->st.inflight--;
		doh_count(c, status);
		if (cb)
			cb(arg, status, status == 0 ? req->body : NULL,
			   status == 0 ? req->blen : 0);
		doh_req_release(c, req);
	}
}

static void doh_destroy(struct doh_client *c);

static void doh_drive(struct doh_client *c, curl_socket_t fd, int action)
{
	int running = 0;
	CURLMcode mc;

	c->depth++;
	mc = curl_multi_socket_action(c->multi, fd, action, &running);
	if (mc != CURLM_OK)
		log_ratelimited(LOG_WARNING, "doh %s: %s", c->name, curl_multi_strerror(mc));
	doh_collect(c);
	doh_deliver(c);
	/* curl calls the timer function only when its earliest deadline
	 * changes. A timer that fired a little early (libev's loop time lags
	 * the clock under load) leaves that deadline unexpired and unchanged,
	 * and nothing would wake us again: re-arm from curl's own view. */
	if (fd == CURL_SOCKET_TIMEOUT && !c->freeing && !ev_is_active(&c->timer)) {
		long next = -1;

		if (curl_multi_timeout(c->multi, &next) == CURLM_OK && next >= 0) {
			ev_timer_set(&c->timer, next > 0 ? (double)next / 1000.0 : 0.001, 0.);
			ev_timer_start(c->loop, &c->timer);
		}
	}
	c->depth--;
	if (c->depth == 0 && c->freeing)
		doh_destroy(c);
}

/* ------------------------------------------------------------------ handles */

/* Set an option or leave through out: with rc set (doh_req_new only). */
#define DOH_SETOPT(easy, opt, val)                                                                 \
	do {                                                                                       \
		rc = curl_easy_setopt(easy, opt, val);                                             \
		if (rc != CURLE_OK)                                                                \
			goto out;                                                                  \
	} while (0)

/* A new pooled handle with every option that does not change per query. */
static struct doh_req *doh_req_new(struct doh_client *c)
{
	struct doh_req *req = calloc(1, sizeof(*req));
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	CURL *e;

	if (!req)
		return NULL;
	req->c = c;
	req->easy = e = curl_easy_init();
	if (!e)
		goto out;
	DOH_SETOPT(e, CURLOPT_PRIVATE, (char *)(void *)req);
	DOH_SETOPT(e, CURLOPT_ERRORBUFFER, req->errbuf);
	DOH_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	DOH_SETOPT(e, CURLOPT_URL, c->url);
	/* Nothing but HTTPS to the configured host: no other scheme, no
	 * redirect, and no proxy whatever http_proxy/ALL_PROXY say. */
	DOH_SETOPT(e, CURLOPT_PROTOCOLS_STR, "https");
	DOH_SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	DOH_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	DOH_SETOPT(e, CURLOPT_PROXY, "");
	DOH_SETOPT(e, CURLOPT_NOPROXY, "*");
	/* The host name is pinned to the bootstrap addresses: no plain DNS. */
	DOH_SETOPT(e, CURLOPT_RESOLVE, c->resolve);
	DOH_SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, doh_opensocket_cb);
	DOH_SETOPT(e, CURLOPT_OPENSOCKETDATA, c);
	/* RFC 8484 §4.1: POST with the DNS media type both ways. */
	DOH_SETOPT(e, CURLOPT_POST, 1L);
	DOH_SETOPT(e, CURLOPT_HTTPHEADER, c->headers);
	DOH_SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* Wait for the first connection to say whether it multiplexes rather
	 * than opening one connection per concurrent query. */
	DOH_SETOPT(e, CURLOPT_PIPEWAIT, 1L);
	DOH_SETOPT(e, CURLOPT_TCP_NODELAY, 1L);
	DOH_SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	DOH_SETOPT(e, CURLOPT_TCP_KEEPIDLE, DOH_KEEPIDLE_S);
	DOH_SETOPT(e, CURLOPT_TCP_KEEPINTVL, DOH_KEEPINTVL_S);
	DOH_SETOPT(e, CURLOPT_WRITEFUNCTION, doh_write_cb);
	DOH_SETOPT(e, CURLOPT_WRITEDATA, req);
	DOH_SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)UPSTREAM_MAX_ANSWER);
	/* Identity: chain + name always, SPKI pins when configured. */
	/* The same TLS policy as DoT (dns/tls.h). */
	DOH_SETOPT(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	DOH_SETOPT(e, CURLOPT_SSL_CIPHER_LIST, TLS_CIPHERS_12);
	DOH_SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
	DOH_SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file) {
		DOH_SETOPT(e, CURLOPT_CAINFO, c->ca_file);
		/* Only the configured CA: not the system directory as well. */
		DOH_SETOPT(e, CURLOPT_CAPATH, (char *)NULL);
	}
	if (c->pinned)
		DOH_SETOPT(e, CURLOPT_PINNEDPUBLICKEY, c->pinned);
	if (c->cert) {
		DOH_SETOPT(e, CURLOPT_SSLCERT, c->cert);
		DOH_SETOPT(e, CURLOPT_SSLCERTTYPE, "PEM");
		DOH_SETOPT(e, CURLOPT_SSLKEY, c->key);
		DOH_SETOPT(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	rc = CURLE_OK;
out:
	if (rc != CURLE_OK) {
		log_err("doh %s: cannot set up a transfer: %s", c->name, curl_easy_strerror(rc));
		curl_easy_cleanup(req->easy);
		free(req);
		return NULL;
	}
	return req;
}

static void doh_req_free(struct doh_req *req)
{
	if (!req)
		return;
	curl_easy_cleanup(req->easy);
	free(req->query);
	free(req->body);
	free(req);
}

int doh_client_query(struct doh_client *c, const uint8_t *q, size_t len, uint32_t timeout_ms,
		     upstream_done_cb cb, void *arg)
{
	struct doh_req *req = NULL;
	CURLMcode mc;
	int rc = 0;

	if (!c || !q || len < DOH_DNS_HDR_LEN || len > UPSTREAM_MAX_ANSWER || !cb ||
	    timeout_ms == 0) {
		rc = -EINVAL;
		goto out;
	}
	if (c->freeing) {
		rc = -ECANCELED;
		goto out;
	}
	if (c->idle) {
		req = c->idle;
		c->idle = req->next;
	} else if (c->nreqs < DOH_MAX_INFLIGHT) {
		req = doh_req_new(c);
		if (!req) {
			rc = -ENOMEM;
			goto out;
		}
		c->reqs[c->nreqs++] = req;
	} else {
		c->st.inflight_refused++;
		log_ratelimited(LOG_WARNING, "doh %s: %d queries in flight, query refused", c->name,
				DOH_MAX_INFLIGHT);
		rc = -EAGAIN;
		goto out;
	}
	req->next = NULL;
	if (req->qcap < len) {
		uint8_t *p = realloc(req->query, len);

		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		req->query = p;
		req->qcap = len;
	}
	memcpy(req->query, q, len);
	req->blen = 0;
	req->too_big = false;
	req->oom = false;
	req->errbuf[0] = '\0';
	if (!req->body) {
		req->body = malloc(DOH_BODY_INITIAL);
		if (!req->body) {
			rc = -ENOMEM;
			goto out;
		}
		req->bcap = DOH_BODY_INITIAL;
	}
	if (curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE, (long)len) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->query) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) != CURLE_OK) {
		rc = -EIO;
		goto out;
	}
	req->cb = cb;
	req->arg = arg;
	req->state = DOH_REQ_ACTIVE;
	/* Only schedules the transfer (and our timer): never completes here,
	 * so the callback cannot run from inside this call. */
	mc = curl_multi_add_handle(c->multi, req->easy);
	if (mc != CURLM_OK) {
		log_ratelimited(LOG_WARNING, "doh %s: %s", c->name, curl_multi_strerror(mc));
		rc = mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
		goto out;
	}
	c->st.queries++;
	c->st.inflight++;
out:
	if (rc < 0 && req)
		doh_req_release(c, req);
	return rc;
}

/* ------------------------------------------------------------------ client */

/* The URL must be https://TLS_NAME[:PORT]/...: curl checks the certificate
 * against the URL host, so any other host would verify the wrong name. */
static int doh_check_url(struct doh_client *c, const struct conf_server *srv, char *host,
			 size_t hostlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL, *port = NULL;
	const char *why = NULL;
	unsigned long p = 0;
	char *end = NULL;
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, srv->url, 0) != CURLUE_OK) {
		why = "not a valid URL";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcasecmp(scheme, "https") != 0) {
		why = "scheme is not https";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || strlen(h) >= hostlen ||
	    strpbrk(h, ":,[]")) {
		why = "host is missing or not a name";
		goto out;
	}
	if (srv->tls_name && strcasecmp(h, srv->tls_name) != 0) {
		why = "URL host differs from tls_name (the certificate is checked against the URL "
		      "host)";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		why = "no port";
		goto out;
	}
	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno || *end || p == 0 || p > 65535 || (srv->port && p != srv->port)) {
		why = "URL port differs from the configured port";
		goto out;
	}
	c->port = (uint16_t)p;
	snprintf(host, hostlen, "%s", h);
	rc = 0;
out:
	if (why) {
		char buf[128];

		log_err("doh %s: url \"%s\": %s", c->name, doh_sanitize(srv->url, buf, sizeof(buf)),
			why);
	}
	curl_free(scheme);
	curl_free(h);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* curl_slist_append returns NULL on failure and keeps the old list: never
 * overwrite the only pointer to it. */
static int doh_slist_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *n = curl_slist_append(*l, s);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/* "host:port:addr,[v6addr]" for CURLOPT_RESOLVE, and the copy of the
 * addresses the open-socket check allows. */
static int doh_build_resolve(struct doh_client *c, const struct conf_server *srv, const char *host)
{
	char buf[DOH_RESOLVE_LEN], a[ADDR_STRLEN];
	size_t off;
	int n;

	n = snprintf(buf, sizeof(buf), "%s:%u:", host, c->port);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	off = (size_t)n;
	for (unsigned i = 0; i < srv->naddrs; i++) {
		const struct addr *ad = &srv->addrs[i];

		if (ad->family != AF_INET && ad->family != AF_INET6) {
			log_err("doh %s: bootstrap address %u has no family", c->name, i);
			return -EINVAL;
		}
		addr_format(ad, a, sizeof(a));
		n = snprintf(buf + off, sizeof(buf) - off,
			     ad->family == AF_INET6 ? "%s[%s]" : "%s%s", i ? "," : "", a);
		if (n < 0 || (size_t)n >= sizeof(buf) - off)
			return -EINVAL;
		off += (size_t)n;
		c->addrs[i] = *ad;
	}
	c->naddrs = srv->naddrs;
	return doh_slist_add(&c->resolve, buf);
}

static int doh_build_pins(struct doh_client *c, const struct conf_server *srv)
{
	size_t cap = (size_t)srv->npins * DOH_PIN_STRLEN + 1, off = 0;
	char b64[CONF_PIN_B64LEN];

	if (!srv->npins)
		return 0;
	c->pinned = malloc(cap);
	if (!c->pinned)
		return -ENOMEM;
	for (unsigned i = 0; i < srv->npins; i++) {
		int n = snprintf(c->pinned + off, cap - off, "%ssha256//%s", i ? ";" : "",
				 conf_pin_format(srv->pins[i], b64));

		if (n < 0 || (size_t)n >= cap - off)
			return -EINVAL;
		off += (size_t)n;
	}
	return 0;
}

/* Load the client certificate and key once now, so that a bad path or a
 * mismatched pair stops start-up instead of failing every query. */
static int doh_check_client_cert(struct doh_client *c)
{
	SSL_CTX *ctx;
	const char *why = NULL;
	int rc = -EINVAL;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -ENOMEM;
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1)
		why = "cannot load client certificate";
	else if (SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1)
		why = "cannot load client key";
	else if (SSL_CTX_check_private_key(ctx) != 1)
		why = "client key does not match the certificate";
	else
		rc = 0;
	if (why)
		log_err("doh %s: %s (%s, %s): %s", c->name, why, c->cert, c->key,
			ERR_reason_error_string(ERR_peek_last_error())
			    ? ERR_reason_error_string(ERR_peek_last_error())
			    : "unknown error");
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return rc;
}

static char *doh_strdup(const char *s, int *rc)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*rc = -ENOMEM;
	return d;
}

static int doh_setup_multi(struct doh_client *c)
{
	c->multi = curl_multi_init();
	if (!c->multi)
		return -ENOMEM;
	if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, doh_sock_cb) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, doh_multi_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)DOH_MAX_CONNECTIONS) !=
		CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			      (long)DOH_MAX_CONNECTIONS) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)DOH_MAX_CONNECTIONS) !=
		CURLM_OK)
		return -EIO;
	return 0;
}

struct doh_client *doh_client_new(struct ev_loop *loop, const struct conf_server *srv,
				  const char *client_cert, const char *client_key, int *err)
{
	struct doh_client *c = NULL;
	const char *why = NULL;
	char host[256];
	int rc = 0;

	if (!loop || !srv)
		why = "no loop or no server";
	else if (srv->proto != CONF_PROTO_DOH || !srv->url)
		why = "not a DoH server (no url)";
	else if (srv->naddrs == 0 || srv->naddrs > CONF_MAX_SERVER_ADDRS)
		why = "needs 1 to " DOH_STR(CONF_MAX_SERVER_ADDRS) " bootstrap addresses";
	else if (srv->npins > CONF_MAX_PINS)
		why = "too many pins";
	else if (!client_cert != !client_key)
		why = "client certificate and key go together";
	if (why) {
		log_err("doh %s: %s", srv && srv->name ? srv->name : "?", why);
		rc = -EINVAL;
		goto out;
	}
	pthread_once(&doh_once, doh_global_init);
	if (doh_global_rc != CURLE_OK) {
		log_err("doh: curl_global_init: %s", curl_easy_strerror(doh_global_rc));
		rc = -EIO;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = -ENOMEM;
		goto out;
	}
	c->loop = loop;
	c->done_tail = &c->done_head;
	ev_timer_init(&c->timer, doh_timer_cb, 0., 0.);
	c->name = doh_strdup(srv->name ? srv->name : "doh", &rc);
	c->url = doh_strdup(srv->url, &rc);
	c->ca_file = doh_strdup(srv->ca_file, &rc);
	c->cert = doh_strdup(client_cert, &rc);
	c->key = doh_strdup(client_key, &rc);
	if (rc < 0)
		goto out;
	rc = doh_check_url(c, srv, host, sizeof(host));
	if (rc < 0)
		goto out;
	if (c->ca_file && access(c->ca_file, R_OK) != 0) {
		log_err("doh %s: ca_file %s: %s", c->name, c->ca_file, strerror(errno));
		rc = -EINVAL;
		goto out;
	}
	if (c->cert) {
		rc = doh_check_client_cert(c);
		if (rc < 0)
			goto out;
	}
	rc = doh_build_resolve(c, srv, host);
	if (rc < 0)
		goto out;
	rc = doh_build_pins(c, srv);
	if (rc < 0)
		goto out;
	/* "Expect:" drops the 100-continue round trip of an HTTP/1.1 fallback. */
	rc = doh_slist_add(&c->headers, "Content-Type: " DOH_MEDIA_TYPE);
	if (rc == 0)
		rc = doh_slist_add(&c->headers, "Accept: " DOH_MEDIA_TYPE);
	if (rc == 0)
		rc = doh_slist_add(&c->headers, "Expect:");
	if (rc == 0)
		rc = doh_setup_multi(c);
out:
	if (rc < 0) {
		if (c)
			doh_destroy(c);
		c = NULL;
	}
	if (err)
		*err = rc;
	return c;
}

/* Every pending callback once with -ECANCELED; no handle left in the multi. */
static void doh_cancel_all(struct doh_client *c)
{
	for (unsigned i = 0; i < c->nreqs; i++) {
		struct doh_req *req = c->reqs[i];
		upstream_done_cb cb = req->cb;
		void *arg = req->arg;

		if (req->state == DOH_REQ_ACTIVE) {
			long nconn = 0;

			/* a connection is credited to the transfer that opened it */
			if (curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &nconn) ==
				CURLE_OK &&
			    nconn > 0)
				c->st.connections += (uint64_t)nconn;
			curl_multi_remove_handle(c->multi, req->easy);
		}
		req->state = DOH_REQ_IDLE;
		req->cb = NULL;
		if (cb) {
			c->st.inflight--;
			cb(arg, -ECANCELED, NULL, 0);
		}
	}
	c->done_head = NULL;
	c->done_tail = &c->done_head;
}

static void doh_destroy(struct doh_client *c)
{
	ev_timer_stop(c->loop, &c->timer);
	for (unsigned i = 0; i < c->nreqs; i++) {
		if (c->multi && c->reqs[i]->state == DOH_REQ_ACTIVE)
			curl_multi_remove_handle(c->multi, c->reqs[i]->easy);
	}
	/* Closes the connections; curl may still call doh_sock_cb here. */
	if (c->multi)
		curl_multi_cleanup(c->multi);
	for (unsigned i = 0; i < c->nreqs; i++)
		doh_req_free(c->reqs[i]);
	while (c->socks)
		doh_sock_free(c, c->socks);
	ev_timer_stop(c->loop, &c->timer);
	curl_slist_free_all(c->headers);
	curl_slist_free_all(c->resolve);
	free(c->pinned);
	free(c->name);
	free(c->url);
	free(c->ca_file);
	free(c->cert);
	free(c->key);
	free(c);
}

void doh_client_free(struct doh_client **pc)
{
	struct doh_client *c;

	if (!pc || !*pc)
		return;
	c = *pc;
	*pc = NULL;
	if (c->freeing)
		return; /* already on its way out, from a callback of that free */
	c->freeing = true;
	c->depth++;
	doh_cancel_all(c);
	c->depth--;
	/* Inside doh_drive() the outermost frame frees it when it unwinds. */
	if (c->depth == 0)
		doh_destroy(c);
}

void doh_client_get_stats(const struct doh_client *c, struct upstream_transport_stats *st)
{
	if (!st)
		return;
	if (!c) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = c->st;
}
