/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dns/stub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "core/allowset.h"
#include "core/log.h"
#include "core/neigh.h"
#include "core/util.h"
#include "dns/cache.h"
#include "dns/peeruid.h"
#include "dns/querylog.h"
#include "dns/upstream.h"
#include "dns/wire.h"
#include "policy/conf.h"

/* Header + the longest question: what is kept of a client's query. */
#define QBUF_MAX (WIRE_HDR_LEN + WIRE_MAX_NAME + 4)

struct stub_tcp;

/* An address an answer proved, and whether it went into the allowset. */
enum stub_why { STUB_LEARNED = 0, STUB_OVER_CAP, STUB_FULL, STUB_NEVER_LEARN };
struct stub_fate {
	struct addr addr;
	enum stub_why why;
};

struct stub_listener {
	struct stub *s;
	ev_io io;
	ev_timer pause; /* accept stopped after EMFILE/ENFILE */
	int fd;
	bool tcp;
	uint32_t drops;		       /* UDP: the kernel's SO_RXQ_OVFL count last seen */
	struct sockaddr_storage local; /* the bound address, for sock_diag */
};

/* Owner keys: who a query, a TCP connection and the addresses an answer
 * teaches count against (limits.pending_per_client, tcp_per_client,
 * learned_per_client). A LAN client (gateway mode) is its address. A local
 * socket is its uid: every local application shares 127.0.0.1, so the
 * address would make them one client. A local socket whose uid cannot be
 * found (it closed before the lookup, sock_diag failed) counts against one
 * shared "unknown" owner with the same quotas: failing the lookup never
 * gives more room. The key is a struct addr of family AF_LOCAL, which no
 * client address has; b[4] tells uid and unknown apart (the gateway's own
 * scope, allowset_scope_self(), is never an owner). */
#define OWNER_UID     1
#define OWNER_UNKNOWN 2

struct stub_pending {
	struct stub *s;
	bool in_use;
	unsigned next_free;
	/* who asked */
	struct addr client;
	bool self;	   /* the gateway itself (loopback): allowset_scope_self() */
	uint32_t ifindex;  /* gateway: the LAN interface it came from */
	uint64_t link;	   /* gateway: allowset_link() of the client, 0 for self */
	struct addr owner; /* who it counts against (dns/peeruid.h) */
	uint64_t t0_us;	   /* when it arrived (CLOCK_MONOTONIC), for the query log */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	int udp_fd;	      /* -1 for TCP */
	struct stub_tcp *tcp; /* NULL for UDP */
	/* what was asked */
	uint16_t up_id;
	struct wire_name qname;
	uint16_t qtype, qclass;
	bool edns;
	uint16_t udp_limit;
	size_t qlen;
	uint8_t qbuf[QBUF_MAX]; /* the client's header and question, as sent */
};

struct stub_owner {
	struct addr owner;
	unsigned n; /* queries pending; 0: an empty slot */
};

struct stub_tcp {
	struct stub *s;
	int fd;
	ev_io rio, wio;
	ev_timer idle;
	struct addr peer;
	struct addr owner;
	unsigned pending;
	bool closed;
	size_t inlen;
	uint8_t in[2 + WIRE_MAX_MSG];
	uint8_t *out;
	size_t outlen, outoff;
	struct stub_tcp *prev, *next;
};

struct stub {
	struct ev_loop *loop;
	const struct conf *c;
	struct upstream *up;
	struct allowset *as;
	struct stub_listener *listeners;
	unsigned nlisteners;
	struct stub_pending *pool;
	unsigned pool_size, free_head, npending;
	struct stub_owner *owners; /* pending queries per owner */
	size_t owners_mask;
	unsigned nowners;
	struct stub_tcp *conns;
	unsigned nconns;
	struct stub_route routes[STUB_MAX_ROUTES];
	unsigned nroutes;
	/* gateway: c->lan_ifaces[i]'s index (0: missing), and the neighbour
	 * table a client's address is resolved in */
	uint32_t lan_ifindex[CONF_MAX_LAN_IFACES];
	uint32_t lo_ifindex;
	struct neigh *neigh;
	struct stub_stats st;
	/* scratch for one answer at a time (single-threaded) */
	struct wire_rr *rr;
	size_t rr_max;
	struct wire_found *found;
	size_t found_max;
	/* what this answer did with each address it proved (invariant 7) */
	struct stub_fate *fate;
	size_t nfate;
	uint8_t filt[WIRE_MAX_MSG];
	uint8_t out[WIRE_MAX_MSG + 2];
	uint8_t cbuf[CACHE_ENTRY_MAX]; /* an answer re-encoded for the cache */
	/* the never-learn table's local facts: interface subnets, NAT64 */
	struct addr_local local;
	uint64_t local_ms;
	bool local_ok;
	bool closing;
	stub_learn_cb learn_cb;
	void *learn_arg;
	struct peeruid *pu;    /* NULL: every local socket is "unknown" */
	struct cache *cache;   /* NULL: cache.enabled false */
	struct querylog *qlog; /* NULL: query_log off */
};

static void tcp_close(struct stub_tcp *t);
static void tcp_send(struct stub_tcp *t, const uint8_t *msg, size_t len);

static void count_rcode(struct stub *s, unsigned rcode)
{
	if (rcode < ARRAY_SIZE(s->st.rcodes))
		s->st.rcodes[rcode]++;
	else
		s->st.rcode_other++;
}

/* ---- replies ---- */

static void reply_udp(struct stub *s, int fd, const struct sockaddr_storage *peer,
		      socklen_t peerlen, const uint8_t *msg, size_t len)
{
	if (sendto(fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)peer, peerlen) < 0)
		log_ratelimited(LOG_WARNING, "stub: sendto: %s", strerror(errno));
	(void)s;
}

/* An error answer to the query in q (qlen bytes). */
static void reply_error(struct stub *s, const uint8_t *q, size_t qlen, unsigned rcode, bool edns,
			int udp_fd, const struct sockaddr_storage *peer, socklen_t peerlen,
			struct stub_tcp *tcp)
{
	uint8_t buf[QBUF_MAX + 64];
	size_t len;

	if (wire_build_error(q, qlen, rcode, edns ? STUB_UPSTREAM_EDNS : 0, buf, sizeof(buf),
			     &len) != WIRE_OK)
		return;
	count_rcode(s, rcode);
	if (tcp)
		tcp_send(tcp, buf, len);
	else
		reply_udp(s, udp_fd, peer, peerlen, buf, len);
}

/* ---- pending queries per owner ---- */

/* Pending queries per owner, for limits.pending_per_client and the fair
 * share of upstream slots: an open-addressed table (linear probing,
 * backward-shift deletion) of at least twice the pool, so it never fills
 * and a lookup stays short. A slot with n == 0 is empty. */
static size_t owner_hash(const struct addr *o)
{
	uint64_t h = 1469598103934665603ull;

	h = (h ^ o->family) * 1099511628211ull;
	for (unsigned i = 0; i < sizeof(o->b); i++)
		h = (h ^ o->b[i]) * 1099511628211ull;
	return (size_t)(h ^ h >> 29);
}

static size_t owner_find(const struct stub *s, const struct addr *o)
{
	size_t i = owner_hash(o) & s->owners_mask;

	while (s->owners[i].n && !addr_equal(&s->owners[i].owner, o))
		i = (i + 1) & s->owners_mask;
	return i;
}

static unsigned pending_of(const struct stub *s, const struct addr *owner)
{
	return s->owners[owner_find(s, owner)].n;
}

static void owner_hold(struct stub *s, const struct addr *o)
{
	struct stub_owner *e = &s->owners[owner_find(s, o)];

	if (!e->n) {
		e->owner = *o;
		s->nowners++;
	}
	e->n++;
}

static void owner_release(struct stub *s, const struct addr *o)
{
	size_t i = owner_find(s, o), j = i;

	if (!s->owners[i].n)
		return; /* not held: nothing to give back */
	if (--s->owners[i].n)
		return;
	s->nowners--;
	/* Backward shift: move up every later entry of the run that may sit
	 * in the hole, so that no lookup stops early at it. */
	for (;;) {
		size_t k;

		j = (j + 1) & s->owners_mask;
		if (!s->owners[j].n)
			break;
		k = owner_hash(&s->owners[j].owner) & s->owners_mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		s->owners[i] = s->owners[j];
		s->owners[j].n = 0;
		i = j;
	}
}

/* Upstream slots shared fairly (issue 10 §5): while at least half of the
 * slots (the smaller of the servers' in-flight bound and the pending pool)
 * are taken, one owner may hold at most slots / (owners + 1) of them, one
 * share always kept for whoever asks next; never less than STUB_FAIR_MIN.
 * A new asker (mine == 0) is one more owner. */
static bool fair_share_ok(const struct stub *s, const struct upstream *up, unsigned mine)
{
	unsigned slots = UTIL_MIN(s->pool_size, upstream_slots(up));
	unsigned owners = s->nowners + (mine == 0);

	if (s->npending < slots / 2)
		return true;
	return mine < UTIL_MAX(slots / (owners + 1), STUB_FAIR_MIN);
}

/* ---- pending pool ---- */

static struct stub_pending *pending_get(struct stub *s)
{
	struct stub_pending *p;

	if (s->free_head == s->pool_size)
		return NULL;
	p = &s->pool[s->free_head];
	s->free_head = p->next_free;
	p->in_use = true;
	memset(&p->owner, 0, sizeof(p->owner));
	s->npending++;
	return p;
}

static void pending_put(struct stub *s, struct stub_pending *p)
{
	struct stub_tcp *t = p->tcp;

	owner_release(s, &p->owner);
	p->in_use = false;
	p->tcp = NULL;
	p->next_free = s->free_head;
	s->free_head = (unsigned)(p - s->pool);
	s->npending--;
	if (t) {
		t->pending--;
		if (t->closed && t->pending == 0)
			tcp_close(t);
	}
}

/* ---- owners ---- */

static bool is_loopback(const struct addr *a)
{
	static const uint8_t v6lo[16] = {[15] = 1};

	return (a->family == AF_INET && a->b[0] == 127) ||
	       (a->family == AF_INET6 && memcmp(a->b, v6lo, 16) == 0);
}

static void owner_uid(struct addr *o, uint32_t uid)
{
	memset(o, 0, sizeof(*o));
	o->family = AF_LOCAL;
	memcpy(o->b, &uid, sizeof(uid));
	o->b[4] = OWNER_UID;
}

/* Who the query or connection from peer (client is its address) to local
 * counts against. In gateway mode a LAN client is its address; anything
 * else is a local socket, known by its uid. */
static void owner_of(struct stub *s, bool tcp, const struct sockaddr_storage *local,
		     const struct sockaddr_storage *peer, const struct addr *client,
		     struct addr *owner)
{
	struct sockaddr_storage here = *local;
	uint32_t uid;
	int rc = -ENOSYS;

	if (s->c->mode == CONF_MODE_GATEWAY && !is_loopback(client)) {
		*owner = *client;
		return;
	}
	/* A listener on the unspecified address: the datagram went to the
	 * address it came from (loopback), on the listener's port. */
	if (here.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&here)->sin_addr.s_addr == htonl(INADDR_ANY))
		((struct sockaddr_in *)&here)->sin_addr =
		    ((const struct sockaddr_in *)peer)->sin_addr;
	else if (here.ss_family == AF_INET6 &&
		 IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&here)->sin6_addr))
		((struct sockaddr_in6 *)&here)->sin6_addr =
		    ((const struct sockaddr_in6 *)peer)->sin6_addr;
	if (s->pu)
		rc = peeruid_lookup(s->pu, tcp, &here, peer, &uid);
	/* Not found: it may have been sent to another address's port 53 and
	 * redirected here (intercept_dns). */
	if (rc == -ENOENT && s->pu && s->c->intercept_dns)
		rc = peeruid_lookup_redirected(s->pu, tcp, peer, &uid);
	if (rc == 0) {
		owner_uid(owner, uid);
		return;
	}
	memset(owner, 0, sizeof(*owner));
	owner->family = AF_LOCAL;
	owner->b[4] = OWNER_UNKNOWN;
	s->st.owner_unknown++;
	log_ratelimited(LOG_INFO,
			"stub: the uid of a local %s socket is unknown (%s): "
			"it shares the quotas of every such socket",
			tcp ? "TCP" : "UDP", strerror(-rc));
}

static const char *owner_format(const struct addr *o, char *buf, size_t len)
{
	uint32_t uid;

	if (o->family != AF_LOCAL)
		return addr_format(o, buf, len);
	if (o->b[4] != OWNER_UID) {
		snprintf(buf, len, "unknown local socket");
		return buf;
	}
	memcpy(&uid, o->b, sizeof(uid));
	snprintf(buf, len, "uid %u", uid);
	return buf;
}

/* ---- the answer path: learn, then answer ---- */

static uint32_t clamp_ttl(const struct conf *c, uint32_t ttl)
{
	if (ttl < c->ttl.min)
		return c->ttl.min;
	if (ttl > c->ttl.max)
		return c->ttl.max;
	return ttl;
}

/* In gateway mode, a lookup from the machine itself (loopback) opens flows
 * for the machine itself, and one from a LAN client for that client. */
static const struct addr *scope_of(const struct stub_pending *p)
{
	return p->self ? allowset_scope_self() : &p->client;
}

static bool in_lan_subnets(const struct conf *c, unsigned li, const struct addr *a)
{
	for (unsigned j = 0; j < c->lan_nsubnets[li]; j++)
		if (addr_prefix_contains(&c->lan_subnets[li][j], a))
			return true;
	return false;
}

/* Gateway: who is asking, in terms the client cannot choose freely on its
 * link (DESIGN.md invariant 10): the LAN interface the query came in on
 * (ifindex, from IP_PKTINFO; 0 for TCP, where the completed handshake
 * proves the address routes to the interface whose subnets hold it), a
 * source inside that interface's client subnets, and the MAC address the
 * kernel's neighbour table has for the source there. Sets p->self,
 * p->ifindex and p->link. Returns 0, or the rcode to refuse with (counted):
 * a query that does not pass creates no scope. */
static int gateway_scope(struct stub *s, struct stub_pending *p, uint32_t ifindex)
{
	const struct conf *c = s->c;
	uint8_t mac[6];
	char a[ADDR_STRLEN];
	int li = -1, rc = -ENOENT;

	p->self = false;
	p->ifindex = 0;
	p->link = 0;
	if (c->mode != CONF_MODE_GATEWAY)
		return 0;
	/* Only the machine itself sends from loopback or over lo. */
	if (is_loopback(&p->client) || (ifindex && ifindex == s->lo_ifindex)) {
		p->self = true;
		return 0;
	}
	for (unsigned i = 0; i < c->nlan_ifaces; i++) {
		if (!s->lan_ifindex[i])
			continue;
		if (ifindex ? s->lan_ifindex[i] == ifindex
			    : (c->lan_nsubnets[i] ? in_lan_subnets(c, i, &p->client)
						  : c->nlan_ifaces == 1)) {
			li = (int)i;
			break;
		}
	}
	if (li < 0 || (c->lan_nsubnets[li] && !in_lan_subnets(c, (unsigned)li, &p->client))) {
		s->st.scope_refused++;
		log_ratelimited(LOG_WARNING,
				"stub: query from %s refused: not in the client subnets of the LAN "
				"interface it came from",
				addr_format(&p->client, a, sizeof(a)));
		return WIRE_RCODE_REFUSED;
	}
	if (s->neigh)
		rc = neigh_lookup(s->neigh, s->lan_ifindex[li], &p->client, mac);
	if (rc < 0) {
		/* A forged, unused source has no neighbour entry; a real client
		 * that fell out of the table gets one from this very answer
		 * (the kernel resolves it to send), so its retry passes. */
		s->st.scope_no_neigh++;
		log_ratelimited(LOG_WARNING,
				"stub: query from %s refused: no usable neighbour entry on %s (%s)",
				addr_format(&p->client, a, sizeof(a)), c->lan_ifaces[li],
				strerror(-rc));
		return WIRE_RCODE_SERVFAIL;
	}
	p->ifindex = s->lan_ifindex[li];
	p->link = allowset_link(p->ifindex, mac);
	return 0;
}

/* The interface indexes the gateway checks queries against, as they are
 * now (a re-created interface needs a reload). */
static void resolve_ifaces(struct stub *s)
{
	const struct conf *c = s->c;
	int err = 0;

	memset(s->lan_ifindex, 0, sizeof(s->lan_ifindex));
	s->lo_ifindex = if_nametoindex("lo");
	if (c->mode != CONF_MODE_GATEWAY)
		return;
	for (unsigned i = 0; i < c->nlan_ifaces && i < CONF_MAX_LAN_IFACES; i++)
		s->lan_ifindex[i] = if_nametoindex(c->lan_ifaces[i]);
	if (!s->neigh) {
		s->neigh = neigh_new(&err);
		if (!s->neigh)
			log_warnx("stub: cannot read the neighbour table (%s): LAN queries are "
				  "refused",
				  strerror(-err));
	}
}

static void local_refresh(struct stub *s, uint64_t now)
{
	int rc = addr_local_refresh(&s->local);

	s->local_ms = now;
	s->local_ok = true;
	if (rc < 0)
		log_ratelimited(LOG_WARNING,
				"stub: cannot list the interface addresses (%s): directed "
				"broadcasts are not recognised until the next try",
				strerror(-rc));
	s->st.local_prefixes_dropped += s->local.v4_dropped;
	s->local.nnat64 = UTIL_MIN(s->c->nnat64, (unsigned)ADDR_NAT64_MAX);
	memcpy(s->local.nat64, s->c->nat64, s->local.nnat64 * sizeof(s->local.nat64[0]));
}

enum addr_class stub_classify(struct stub *s, const struct addr *a, bool *embedded)
{
	uint64_t now = allowset_now_ms();

	/* A netlink dump at most every few seconds, on the control plane:
	 * never per packet. */
	if (!s->local_ok || now - s->local_ms >= STUB_LOCAL_REFRESH_S * 1000u)
		local_refresh(s, now);
	return addr_never_learn(a, &s->local, embedded);
}

static void note_fate(struct stub *s, const struct addr *a, enum stub_why why)
{
	if (s->nfate < s->found_max) {
		s->fate[s->nfate].addr = *a;
		s->fate[s->nfate].why = why;
		s->nfate++;
	}
}

/* Put what the answer proves in the allowset, and note in s->fate what
 * became of each address (the answer filter keeps only the learned ones).
 * Returns false if the answer must not be passed on (the chain is broken). */
static bool learn(struct stub *s, struct stub_pending *p, const struct wire_msg *m,
		  const char *server)
{
	const struct conf *c = s->c;
	const bool scoped = c->mode == CONF_MODE_GATEWAY && !c->shared_allowances;
	const struct addr *scope = scoped ? scope_of(p) : NULL;
	struct wire_chain chain;
	char name[WIRE_NAME_STRLEN];
	uint64_t now = allowset_now_ms();
	size_t max = UTIL_MIN((size_t)c->limits.addrs_per_name, s->found_max), tried = 0, over = 0;
	enum wire_err e;

	/* Extract more than the bound, so that what is past it is known (and
	 * removed from the answer with its reason) rather than only counted. */
	e = wire_chain_extract(m, UTIL_MIN(c->limits.cname_depth, WIRE_CHAIN_LIMIT), s->found,
			       s->found_max, &chain);
	if (e != WIRE_OK) {
		s->st.chain_errors++;
		log_ratelimited(LOG_WARNING, "stub: answer for %s refused: %s",
				wire_name_format(&p->qname, name, sizeof(name)), wire_strerror(e));
		return false;
	}
	if (chain.nfound == 0 && chain.dropped == 0)
		return true;
	wire_name_format(&p->qname, name, sizeof(name));
	for (size_t i = 0; i < chain.nfound; i++) {
		const struct wire_found *f = &chain.found[i];
		uint32_t ttl = clamp_ttl(c, UTIL_MIN(f->ttl, chain.min_ttl));
		uint64_t expires = now + ((uint64_t)ttl + c->ttl.grace) * 1000u;
		enum addr_class cls = stub_classify(s, &f->addr, NULL);
		char a[ADDR_STRLEN];
		int rc;

		if (cls != ADDR_CLASS_OK) {
			s->st.learn_special++;
			s->st.never_learn[cls]++;
			note_fate(s, &f->addr, STUB_NEVER_LEARN);
			allowset_note_refused(s->as, scope, &f->addr, ALLOWSET_REFUSED_NEVER_LEARN,
					      cls, name, now);
			log_ratelimited(LOG_WARNING,
					"stub: %s answered with %s (%s), which never opens a flow: "
					"removed from the answer",
					name, addr_format(&f->addr, a, sizeof(a)),
					addr_class_name(cls));
			continue;
		}
		if (tried >= max) {
			over++;
			note_fate(s, &f->addr, STUB_OVER_CAP);
			allowset_note_refused(s->as, scope, &f->addr, ALLOWSET_REFUSED_PER_NAME, 0,
					      name, now);
			continue;
		}
		tried++;
		/* Bound to the client's link: a packet with this source from
		 * another MAC address does not get it (verdict wrong-link); and
		 * counted against who asked (limits.learned_per_client). */
		rc = allowset_add_owned(s->as, scope, scoped ? p->link : 0, &f->addr, expires,
					ALLOWSET_LEARNED, name, server, now, &p->owner,
					c->limits.learned_per_client);
		if (rc == 0) {
			s->st.learned++;
			note_fate(s, &f->addr, STUB_LEARNED);
			if (s->learn_cb)
				s->learn_cb(s->learn_arg, scope, &f->addr, expires, now);
		} else if (rc == -EDQUOT) {
			char o[ADDR_STRLEN];

			/* Not learned, exactly like a full table: the other
			 * clients keep their share of it. */
			s->st.learn_quota++;
			note_fate(s, &f->addr, STUB_FULL);
			log_ratelimited(LOG_WARNING,
					"stub: cannot allow %s for %s: %s has %u allowances "
					"(limits.learned_per_client): removed from the answer",
					addr_format(&f->addr, a, sizeof(a)), name,
					owner_format(&p->owner, o, sizeof(o)),
					c->limits.learned_per_client);
		} else {
			s->st.learn_refused++;
			note_fate(s, &f->addr, STUB_FULL);
			log_ratelimited(
			    LOG_WARNING,
			    "stub: cannot allow %s for %s (%s): removed from the answer",
			    addr_format(&f->addr, a, sizeof(a)), name, strerror(-rc));
		}
	}
	over += chain.dropped;
	if (over) {
		s->st.addrs_dropped += over;
		log_ratelimited(LOG_WARNING,
				"stub: %s: %zu addresses over limits.addrs_per_name (%u), removed "
				"from the answer",
				name, over, c->limits.addrs_per_name);
	}
	return true;
}

struct keep_ctx {
	struct stub *s;
	bool count; /* the filtering pass (not the check): count what goes */
};

/* The answer filter's rule: an address reaches the client only if this
 * answer put it in the allowset (invariant 7). */
static bool keep_learned(void *arg, const struct addr *a)
{
	struct keep_ctx *k = arg;
	struct stub *s = k->s;
	enum stub_why why = STUB_LEARNED;
	bool proven = false;

	for (size_t i = 0; i < s->nfate; i++) {
		if (!addr_equal(&s->fate[i].addr, a))
			continue;
		if (s->fate[i].why == STUB_LEARNED)
			return true;
		why = s->fate[i].why;
		proven = true;
		break;
	}
	if (!k->count)
		return false;
	if (!proven)
		s->st.removed_unproven++;
	else if (why == STUB_OVER_CAP)
		s->st.removed_over_cap++;
	else if (why == STUB_FULL)
		s->st.removed_full++;
	else
		s->st.removed_never_learn++;
	return false;
}

/* Rewrite a copy of the upstream answer for the client: its ID, its
 * question's case, TTLs capped at ttl.max (so the client never caches past
 * the allowance), and no OPT record for a client that sent none (RFC 6891
 * §7). Works on s->out; returns the new length. */
static size_t rewrite_answer(struct stub *s, struct stub_pending *p, const struct wire_msg *m)
{
	uint8_t *o = s->out;
	size_t len = m->len;
	uint32_t cap = s->c->ttl.max;

	memcpy(o, m->buf, len);
	o[0] = p->qbuf[0];
	o[1] = p->qbuf[1];
	/* The question name sits uncompressed at offset 12 in both, and is
	 * the same name, so it has the same length. */
	memcpy(o + WIRE_HDR_LEN, p->qbuf + WIRE_HDR_LEN, p->qname.len);
	for (size_t i = 0; i < m->nrr; i++) {
		const struct wire_rr *rr = &m->rr[i];
		uint8_t *t = o + rr->rdata_off - 6; /* TTL precedes RDLENGTH */

		if (rr->type == WIRE_TYPE_OPT || rr->ttl <= cap)
			continue;
		t[0] = (uint8_t)(cap >> 24);
		t[1] = (uint8_t)(cap >> 16);
		t[2] = (uint8_t)(cap >> 8);
		t[3] = (uint8_t)cap;
	}
	if (!p->edns && m->edns) {
		for (size_t i = 0; i < m->nrr; i++) {
			const struct wire_rr *rr = &m->rr[i];
			size_t start = rr->name_off, end = (size_t)rr->rdata_off + rr->rdlen;
			uint16_t ar;

			if (rr->type != WIRE_TYPE_OPT)
				continue;
			memmove(o + start, o + end, len - end);
			len -= end - start;
			ar = (uint16_t)((o[10] << 8 | o[11]) - 1);
			o[10] = (uint8_t)(ar >> 8);
			o[11] = (uint8_t)ar;
			break;
		}
	}
	return len;
}

/* Send m, the answer for p as it may reach the client (learned and
 * filtered), rewritten for the client (rewrite_answer) and cut to its UDP
 * size; SERVFAIL if it cannot be. */
static void send_answer(struct stub *s, struct stub_pending *p, const struct wire_msg *m)
{
	size_t outlen = rewrite_answer(s, p, m);
	bool tc = false;

	if (!p->tcp) {
		if (wire_fit_udp(s->out, &outlen, p->udp_limit, p->edns ? STUB_UPSTREAM_EDNS : 0,
				 &tc) != WIRE_OK) {
			reply_error(s, p->qbuf, p->qlen, WIRE_RCODE_SERVFAIL, p->edns, p->udp_fd,
				    &p->peer, p->peerlen, p->tcp);
			return;
		}
		if (tc)
			s->st.truncated++;
		count_rcode(s, m->rcode & 0xf);
		reply_udp(s, p->udp_fd, &p->peer, p->peerlen, s->out, outlen);
	} else {
		count_rcode(s, m->rcode & 0xf);
		tcp_send(p->tcp, s->out, outlen);
	}
}

/* ---- the query log (dns/querylog.h) ---- */

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#define STUB_QLOG_ADDRS 128 /* addresses per line; the rest are counted */

/* One line for p, answered with rcode (s->fate: what this answer proved). */
static void qlog_answered(struct stub *s, const struct stub_pending *p, unsigned rcode,
			  const char *server, bool cache_hit)
{
	static const char *const why[] = {
	    [STUB_LEARNED] = NULL,
	    [STUB_OVER_CAP] = "over-cap",
	    [STUB_FULL] = "allowset-full",
	    [STUB_NEVER_LEARN] = "never-learn",
	};
	struct querylog_addr qa[STUB_QLOG_ADDRS];
	char name[WIRE_NAME_STRLEN];
	struct querylog_entry e = {
	    .client = &p->peer,
	    .qtype = p->qtype,
	    .rcode = rcode,
	    .addrs = qa,
	    .server = server,
	    .cache_hit = cache_hit,
	};
	struct timespec now;

	if (!s->qlog)
		return;
	if (p->owner.family == AF_LOCAL && p->owner.b[4] == OWNER_UID) {
		e.has_uid = true;
		memcpy(&e.uid, p->owner.b, sizeof(e.uid));
	}
	wire_name_format(&p->qname, name, sizeof(name));
	e.name = name;
	for (size_t i = 0; i < s->nfate; i++) {
		if (e.naddrs == STUB_QLOG_ADDRS) {
			e.more++;
			continue;
		}
		qa[e.naddrs].addr = s->fate[i].addr;
		qa[e.naddrs].why = why[s->fate[i].why];
		e.naddrs++;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	e.time_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
	e.latency_us = mono_us() - p->t0_us;
	querylog_add(s->qlog, &e);
}

/* A pending query answered with an error of ours (nothing proved). */
static void qlog_error(struct stub *s, const struct stub_pending *p, unsigned rcode,
		       const char *server)
{
	s->nfate = 0;
	qlog_answered(s, p, rcode, server, false);
}

void stub_set_querylog(struct stub *s, struct querylog *q)
{
	s->qlog = q;
}

/* ---- the answer cache (dns/cache.h) ---- */

static struct upstream *upstream_for(const struct stub *s, const struct stub_pending *p);

/* The cache key of p's question: the identity is the route (client
 * identity) its upstream belongs to, 0 for the default upstream, so that
 * one identity's policy answer never reaches another. */
static void cache_key_of(const struct stub *s, const struct stub_pending *p, struct cache_key *k)
{
	const struct upstream *via = upstream_for(s, p);

	memset(k, 0, sizeof(*k));
	k->qname = p->qname;
	k->qtype = p->qtype;
	k->qclass = p->qclass;
	for (unsigned i = 0; i < s->nroutes && via != s->up; i++)
		if (s->routes[i].up == via) {
			k->identity = i + 1;
			break;
		}
}

static bool keep_all(void *arg, const struct addr *a)
{
	(void)arg;
	(void)a;
	return true;
}

/* Keep m (learned and filtered for p, already sent: m->rr is reused here)
 * unless the filter cut it for p's own reasons: an address refused for a
 * full table or p's owner's quota may be learned for the next client,
 * which must not get less. The copy kept is re-encoded (wire_filter_answer
 * keeping everything): its compression pointers lead only to names, so the
 * TTLs the cache rewrites in place change nothing else (a server's pointer
 * into a TTL field would otherwise turn into another name). */
static void cache_store(struct stub *s, struct stub_pending *p, const struct wire_msg *m,
			const char *server)
{
	struct wire_filter_result fr;
	struct cache_key k;
	struct wire_msg c;
	size_t len;

	if (!s->cache)
		return;
	for (size_t i = 0; i < s->nfate; i++)
		if (s->fate[i].why == STUB_FULL)
			return;
	if (wire_filter_answer(m, keep_all, NULL, s->cbuf, sizeof(s->cbuf), &len, &fr) != WIRE_OK ||
	    wire_msg_parse(s->cbuf, len, s->rr, s->rr_max, &c) != WIRE_OK)
		return; /* over CACHE_ENTRY_MAX, or not re-encodable: not kept */
	cache_key_of(s, p, &k);
	cache_insert(s->cache, &k, &c, server, allowset_now_ms());
}

/* Answer p from the cache. Invariant 2 holds for a hit as for a miss: the
 * cached answer goes through learn() (same scope, link, owner quota and
 * never-learn table, TTLs as they are now), and is sent only if every
 * address in it is now allowed (invariant 7); otherwise the entry is
 * dropped (renew_refused) and the query goes upstream. Returns true when
 * p was answered. */
static bool cache_answer(struct stub *s, struct stub_pending *p)
{
	struct cache_key k;
	struct wire_msg m;
	const char *server = NULL;
	size_t len;

	if (!s->cache)
		return false;
	cache_key_of(s, p, &k);
	if (cache_lookup(s->cache, &k, allowset_now_ms(), s->filt, sizeof(s->filt), &len, &server) <
	    0)
		return false;
	s->nfate = 0;
	if (wire_msg_parse(s->filt, len, s->rr, s->rr_max, &m) != WIRE_OK ||
	    (m.rcode == WIRE_RCODE_NOERROR && !learn(s, p, &m, server)) ||
	    wire_filter_needed(&m, keep_learned, &(struct keep_ctx){.s = s})) {
		cache_refuse(s->cache, &k);
		return false;
	}
	send_answer(s, p, &m);
	qlog_answered(s, p, m.rcode & 0xf, server, true);
	return true;
}

/* A new cache for c (NULL when disabled or it cannot be made: every query
 * then goes upstream, logged). */
static struct cache *cache_for(const struct conf *c)
{
	const struct cache_limits lim = {.max_entries = c->cache.max_entries,
					 .max_bytes = c->cache.max_bytes,
					 .negative_max = c->cache.negative_max,
					 .max_ttl = c->ttl.max};
	struct cache *k;
	uint64_t seed = 0;

	if (!c->cache.enabled)
		return NULL;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)rand();
	k = cache_new(&lim, seed);
	if (!k)
		log_warn("stub: no answer cache (%s)", strerror(errno));
	return k;
}

static void on_upstream(void *arg, int status, const uint8_t *answer, size_t len,
			const char *server)
{
	struct stub_pending *p = arg;
	struct stub *s = p->s;
	struct wire_msg m;
	unsigned rcode = WIRE_RCODE_SERVFAIL;
	enum wire_err e;

	s->nfate = 0;
	if (s->closing || (p->tcp && p->tcp->closed))
		goto done;
	if (status < 0) {
		s->st.upstream_errors++;
		goto fail;
	}
	e = wire_msg_parse(answer, len, s->rr, s->rr_max, &m);
	if (e == WIRE_OK)
		e = wire_answer_matches(&m, p->up_id, &p->qname, p->qtype, p->qclass);
	if (e != WIRE_OK) {
		s->st.bad_answers++;
		log_ratelimited(LOG_WARNING, "stub: bad answer from %s: %s", server,
				wire_strerror(e));
		goto fail;
	}
	/* Invariant 2: the allowset first, the answer after. */
	if (m.rcode == WIRE_RCODE_NOERROR && !learn(s, p, &m, server))
		goto fail;
	/* Invariant 7: the answer carries no address the allowset lacks. */
	if (wire_filter_needed(&m, keep_learned, &(struct keep_ctx){.s = s})) {
		struct keep_ctx k = {.s = s, .count = true};
		struct wire_filter_result fr;
		char name[WIRE_NAME_STRLEN];
		size_t flen;

		e = wire_filter_answer(&m, keep_learned, &k, s->filt, sizeof(s->filt), &flen, &fr);
		if (e == WIRE_OK) /* m becomes the filtered message (same rr array) */
			e = wire_msg_parse(s->filt, flen, s->rr, s->rr_max, &m);
		wire_name_format(&p->qname, name, sizeof(name));
		if (e != WIRE_OK) {
			s->st.filter_errors++;
			log_ratelimited(LOG_WARNING,
					"stub: %s: cannot remove what was not learned "
					"from the answer (%s): SERVFAIL",
					name, wire_strerror(e));
			goto fail;
		}
		/* NXDOMAIN and the like keep their RCODE; a NOERROR answer with
		 * nothing left of what was asked would read as "no such data". */
		if (m.rcode == WIRE_RCODE_NOERROR && fr.removed_asked && !fr.kept_asked) {
			s->st.answers_emptied++;
			log_ratelimited(LOG_WARNING,
					"stub: %s: no address of the answer could be "
					"allowed (%zu removed): SERVFAIL",
					name, fr.removed);
			goto fail;
		}
		s->st.answers_filtered++;
	}
	send_answer(s, p, &m);
	qlog_answered(s, p, m.rcode & 0xf, server, false);
	cache_store(s, p, &m, server);
	goto done;
fail:
	reply_error(s, p->qbuf, p->qlen, rcode, p->edns, p->udp_fd, &p->peer, p->peerlen, p->tcp);
	qlog_answered(s, p, rcode, server, false);
done:
	pending_put(s, p);
}

/* ---- the query path ---- */

static struct upstream *upstream_for(const struct stub *s, const struct stub_pending *p)
{
	const struct stub_route *best = NULL;

	if (!p->self)
		for (unsigned i = 0; i < s->nroutes; i++)
			if (addr_prefix_contains(&s->routes[i].subnet, &p->client) &&
			    (!s->routes[i].ifindex || s->routes[i].ifindex == p->ifindex) &&
			    (!best || s->routes[i].subnet.len > best->subnet.len))
				best = &s->routes[i];
	/* forward_zones: the client's service, then the zone's servers */
	return upstream_route(best ? best->up : s->up, &p->qname);
}

static bool is_canary(const struct wire_name *n)
{
	static struct wire_name canary;
	static bool init;

	if (!init) {
		wire_name_from_str(STUB_CANARY, &canary);
		init = true;
	}
	return wire_name_equal(n, &canary);
}

/* A query from a UDP listener l (tcp NULL) or a TCP connection (l NULL);
 * ifindex: the arrival interface of a UDP query (0: unknown). */
static void handle_query(struct stub *s, const uint8_t *buf, size_t len,
			 const struct stub_listener *l, const struct sockaddr_storage *peer,
			 socklen_t peerlen, struct stub_tcp *tcp, uint32_t ifindex)
{
	const int udp_fd = l ? l->fd : -1;
	struct wire_query q;
	struct stub_pending *p;
	struct addr client, udp_owner;
	const struct addr *owner;
	uint8_t up[QBUF_MAX + 32];
	struct upstream *via;
	size_t uplen;
	unsigned mine;
	enum wire_err e;
	int rc;

	if (peer->ss_family == AF_INET)
		addr_from_v4(&client, &((const struct sockaddr_in *)peer)->sin_addr);
	else
		addr_from_v6(&client, &((const struct sockaddr_in6 *)peer)->sin6_addr);
	e = wire_query_parse(buf, len, &q);
	if (e != WIRE_OK) {
		int rcode = wire_query_rcode(e);

		if (rcode < 0) {
			s->st.dropped++;
			return;
		}
		s->st.formerr++;
		reply_error(s, buf, len, (unsigned)rcode, q.edns && e == WIRE_ERR_EDNS_VERSION,
			    udp_fd, peer, peerlen, tcp);
		return;
	}
	if (q.qclass != WIRE_CLASS_IN || q.qtype == 251 || q.qtype == 252) {
		/* Only IN; no zone transfers (IXFR 251, AXFR 252). */
		reply_error(s, buf, len, WIRE_RCODE_REFUSED, q.edns, udp_fd, peer, peerlen, tcp);
		return;
	}
	if (is_canary(&q.qname)) {
		/* Tells browsers to turn their own DoH off and use us. */
		s->st.canary++;
		reply_error(s, buf, len, WIRE_RCODE_NXDOMAIN, q.edns, udp_fd, peer, peerlen, tcp);
		return;
	}
	if (s->npending >= s->pool_size || s->npending >= s->c->limits.pending_queries) {
		s->st.pending_full++;
		log_ratelimited(LOG_WARNING, "stub: %u queries pending, refusing more",
				s->npending);
		reply_error(s, buf, len, WIRE_RCODE_SERVFAIL, q.edns, udp_fd, peer, peerlen, tcp);
		return;
	}
	/* Who it counts against: found once a query is worth the lookup. */
	if (tcp) {
		owner = &tcp->owner;
	} else {
		owner_of(s, false, &l->local, peer, &client, &udp_owner);
		owner = &udp_owner;
	}
	mine = pending_of(s, owner);
	if (mine >= s->c->limits.pending_per_client) {
		char a[ADDR_STRLEN];

		s->st.client_full++;
		log_ratelimited(LOG_WARNING, "stub: %s has too many queries pending",
				owner_format(owner, a, sizeof(a)));
		reply_error(s, buf, len, WIRE_RCODE_SERVFAIL, q.edns, udp_fd, peer, peerlen, tcp);
		return;
	}
	p = pending_get(s);
	p->s = s;
	p->t0_us = s->qlog ? mono_us() : 0;
	p->client = client;
	p->owner = *owner;
	owner_hold(s, owner);
	rc = gateway_scope(s, p, ifindex);
	if (rc > 0) {
		reply_error(s, buf, len, (unsigned)rc, q.edns, udp_fd, peer, peerlen, tcp);
		pending_put(s, p);
		return;
	}
	memcpy(&p->peer, peer, peerlen);
	p->peerlen = peerlen;
	p->udp_fd = udp_fd;
	p->tcp = tcp;
	if (tcp)
		tcp->pending++;
	p->qname = q.qname;
	p->qtype = q.qtype;
	p->qclass = q.qclass;
	p->edns = q.edns;
	p->udp_limit = q.udp_limit;
	p->qlen = UTIL_MIN((size_t)q.question_end, sizeof(p->qbuf));
	memcpy(p->qbuf, buf, p->qlen);
	if (cache_answer(s, p)) {
		pending_put(s, p);
		return;
	}
	/* A fresh query with only the question: nothing of the client's EDNS
	 * options (client subnet...) leaves the machine. */
	if (getrandom(&p->up_id, sizeof(p->up_id), 0) != sizeof(p->up_id))
		p->up_id = (uint16_t)rand();
	if (wire_build_query(p->up_id, &q.qname, q.qtype, true, STUB_UPSTREAM_EDNS, up, sizeof(up),
			     &uplen) != WIRE_OK) {
		reply_error(s, buf, len, WIRE_RCODE_SERVFAIL, q.edns, udp_fd, peer, peerlen, tcp);
		qlog_error(s, p, WIRE_RCODE_SERVFAIL, NULL);
		pending_put(s, p);
		return;
	}
	via = upstream_for(s, p);
	if (!fair_share_ok(s, via, mine)) {
		char a[ADDR_STRLEN];

		s->st.fair_refused++;
		log_ratelimited(
		    LOG_WARNING,
		    "stub: %s holds its fair share of upstream slots (%u of %u pending)",
		    owner_format(owner, a, sizeof(a)), mine, s->npending - 1);
		reply_error(s, buf, len, WIRE_RCODE_SERVFAIL, q.edns, udp_fd, peer, peerlen, tcp);
		qlog_error(s, p, WIRE_RCODE_SERVFAIL, NULL);
		pending_put(s, p);
		return;
	}
	rc = upstream_query(via, up, uplen, on_upstream, p);
	if (rc < 0) {
		s->st.upstream_errors++;
		reply_error(s, buf, len, WIRE_RCODE_SERVFAIL, q.edns, udp_fd, peer, peerlen, tcp);
		qlog_error(s, p, WIRE_RCODE_SERVFAIL, NULL);
		pending_put(s, p);
	}
}

/* ---- UDP ---- */

static void on_udp(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stub_listener *l = container_of(w, struct stub_listener, io);
	struct stub *s = l->s;
	uint8_t buf[WIRE_MAX_MSG];

	(void)loop;
	(void)revents;
	for (unsigned i = 0; i < STUB_UDP_BUDGET; i++) {
		struct sockaddr_storage peer;
		union {
			struct cmsghdr h;
			uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
				  CMSG_SPACE(sizeof(uint32_t))];
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_name = &peer,
				    .msg_namelen = sizeof(peer),
				    .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b)};
		uint32_t ifindex = 0;
		ssize_t n = recvmsg(l->fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_ratelimited(LOG_WARNING, "stub: recvmsg: %s", strerror(errno));
			break;
		}
		/* The arrival interface: a gateway client's scope is bound to it. */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
			    cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				ifindex = (uint32_t)pi.ipi_ifindex;
			} else if (cm->cmsg_level == IPPROTO_IPV6 &&
				   cm->cmsg_type == IPV6_PKTINFO &&
				   cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				ifindex = pi.ipi6_ifindex;
			} else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
				   cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
				uint32_t drops;

				/* The socket's drop count so far (it wraps). */
				memcpy(&drops, CMSG_DATA(cm), sizeof(drops));
				s->st.udp_rcvbuf_drops += (uint32_t)(drops - l->drops);
				l->drops = drops;
			}
		}
		s->st.udp_queries++;
		if (!ifindex && s->c->mode == CONF_MODE_GATEWAY) {
			/* Without it no scope can be bound: never guess. */
			s->st.scope_refused++;
			continue;
		}
		handle_query(s, buf, (size_t)n, l, &peer, mh.msg_namelen, NULL, ifindex);
	}
}

/* ---- TCP (RFC 7766: length-prefixed, pipelined, answers in any order) ---- */

static void tcp_close(struct stub_tcp *t)
{
	struct stub *s = t->s;

	if (!t->closed) {
		t->closed = true;
		ev_io_stop(s->loop, &t->rio);
		ev_io_stop(s->loop, &t->wio);
		ev_timer_stop(s->loop, &t->idle);
		close(t->fd);
		t->fd = -1;
	}
	if (t->pending)
		return; /* freed by the last pending_put() */
	if (t->prev)
		t->prev->next = t->next;
	else
		s->conns = t->next;
	if (t->next)
		t->next->prev = t->prev;
	s->nconns--;
	free(t->out);
	free(t);
}

static void tcp_flush(struct stub_tcp *t)
{
	while (t->outoff < t->outlen) {
		ssize_t n = send(t->fd, t->out + t->outoff, t->outlen - t->outoff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(t->s->loop, &t->wio);
				return;
			}
			tcp_close(t);
			return;
		}
		t->outoff += (size_t)n;
	}
	t->outoff = t->outlen = 0;
	ev_io_stop(t->s->loop, &t->wio);
}

static void tcp_send(struct stub_tcp *t, const uint8_t *msg, size_t len)
{
	size_t need;
	uint8_t *grown;

	if (t->closed)
		return;
	need = t->outlen + 2 + len;
	if (need - t->outoff > STUB_TCP_OUT_MAX) {
		/* A client that does not read its answers loses the connection. */
		t->s->st.tcp_out_overflow++;
		tcp_close(t);
		return;
	}
	grown = realloc(t->out, need);
	if (!grown) {
		tcp_close(t);
		return;
	}
	t->out = grown;
	t->out[t->outlen] = (uint8_t)(len >> 8);
	t->out[t->outlen + 1] = (uint8_t)len;
	memcpy(t->out + t->outlen + 2, msg, len);
	t->outlen = need;
	tcp_flush(t);
}

static void on_tcp_write(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	tcp_flush(container_of(w, struct stub_tcp, wio));
}

static void on_tcp_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stub_tcp *t = container_of(w, struct stub_tcp, idle);

	(void)loop;
	(void)revents;
	if (t->pending) {
		ev_timer_again(t->s->loop, &t->idle);
		return;
	}
	t->s->st.tcp_idle_closed++;
	tcp_close(t);
}

static void on_tcp_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stub_tcp *t = container_of(w, struct stub_tcp, rio);
	struct stub *s = t->s;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	size_t off = 0;
	ssize_t n;

	(void)revents;
	n = recv(t->fd, t->in + t->inlen, sizeof(t->in) - t->inlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		tcp_close(t);
		return;
	}
	t->inlen += (size_t)n;
	if (getpeername(t->fd, (struct sockaddr *)&peer, &plen) < 0) {
		tcp_close(t);
		return;
	}
	while (t->inlen - off >= 2) {
		size_t mlen = (size_t)t->in[off] << 8 | t->in[off + 1];

		if (mlen == 0) {
			s->st.dropped++;
			tcp_close(t);
			return;
		}
		if (t->inlen - off - 2 < mlen)
			break;
		s->st.tcp_queries++;
		t->pending++; /* hold t across handle_query(), which may close it */
		handle_query(s, t->in + off + 2, mlen, NULL, &peer, plen, t, 0);
		t->pending--;
		off += 2 + mlen;
		if (t->closed) {
			if (t->pending == 0)
				tcp_close(t);
			return;
		}
	}
	if (off) {
		/* Only whole queries keep a connection: a client that trickles
		 * bytes is idle (RFC 7766 §6.2.3 lets the server close idle
		 * connections at any time). */
		ev_timer_again(loop, &t->idle);
		memmove(t->in, t->in + off, t->inlen - off);
		t->inlen -= off;
	}
}

static unsigned conns_of(const struct stub *s, const struct addr *owner)
{
	unsigned n = 0;

	for (const struct stub_tcp *t = s->conns; t; t = t->next)
		if (!t->closed && addr_equal(&t->owner, owner))
			n++;
	return n;
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stub_listener *l = container_of(w, struct stub_listener, pause);

	(void)revents;
	ev_io_start(loop, &l->io);
}

/* accept4() failed: see UTIL_ACCEPT_MUST_PAUSE. */
static void accept_failed(struct stub *s, struct stub_listener *l)
{
	int e = errno;

	if (!UTIL_ACCEPT_MUST_PAUSE(e))
		return;
	s->st.accept_paused++;
	log_ratelimited(LOG_WARNING, "stub: accept: %s; not accepting TCP for %.1f s", strerror(e),
			UTIL_ACCEPT_PAUSE_S);
	ev_io_stop(s->loop, &l->io);
	ev_timer_set(&l->pause, UTIL_ACCEPT_PAUSE_S, 0.);
	ev_timer_start(s->loop, &l->pause);
}

static void on_tcp_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stub_listener *l = container_of(w, struct stub_listener, io);
	struct stub *s = l->s;
	const struct conf_limits *lim = &s->c->limits;
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	struct addr client, owner;
	struct stub_tcp *t;
	int one = 1;
	int fd;

	(void)revents;
	fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		accept_failed(s, l);
		return;
	}
	if (s->nconns >= lim->tcp_connections) {
		s->st.tcp_refused++;
		log_ratelimited(LOG_WARNING,
				"stub: %u TCP connections (limits.tcp_connections), "
				"refusing more",
				s->nconns);
		close(fd);
		return;
	}
	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)) {
		close(fd);
		return;
	}
	if (peer.ss_family == AF_INET)
		addr_from_v4(&client, &((const struct sockaddr_in *)&peer)->sin_addr);
	else
		addr_from_v6(&client, &((const struct sockaddr_in6 *)&peer)->sin6_addr);
	owner_of(s, true, &local, &peer, &client, &owner);
	if (conns_of(s, &owner) >= lim->tcp_per_client) {
		char a[ADDR_STRLEN];

		s->st.tcp_client_full++;
		log_ratelimited(LOG_WARNING,
				"stub: %s has %u TCP connections (limits.tcp_per_client), "
				"refusing more",
				owner_format(&owner, a, sizeof(a)), lim->tcp_per_client);
		close(fd);
		return;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	t->s = s;
	t->fd = fd;
	t->peer = client;
	t->owner = owner;
	ev_io_init(&t->rio, on_tcp_read, fd, EV_READ);
	ev_io_init(&t->wio, on_tcp_write, fd, EV_WRITE);
	ev_init(&t->idle, on_tcp_idle);
	t->idle.repeat = lim->tcp_idle_ms / 1000.0;
	ev_io_start(loop, &t->rio);
	ev_timer_again(loop, &t->idle);
	t->next = s->conns;
	if (s->conns)
		s->conns->prev = t;
	s->conns = t;
	s->nconns++;
	s->st.tcp_conns++;
}

/* ---- set-up ---- */

static int open_listener(struct stub *s, const struct conf_endpoint *ep, bool tcp,
			 struct stub_listener *l)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int one = 1, fd, rc;

	if (ep->addr.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		memcpy(&sin->sin_addr, ep->addr.b, 4);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(ep->port);
		memcpy(&sin6->sin6_addr, ep->addr.b, 16);
		sl = sizeof(*sin6);
	}
	fd = socket(ep->addr.family,
		    (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ep->addr.family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (!tcp && (ep->addr.family == AF_INET
			 ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
			 : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!tcp) {
		/* Room for bursts, and the kernel's drop count on every datagram
		 * (SO_RXQ_OVFL): a client that floods the buffer is seen. FORCE
		 * needs CAP_NET_ADMIN (held at start); else rmem_max caps it. */
		int rb = (int)STUB_UDP_RCVBUF;

		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
		setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || (tcp && listen(fd, 128) < 0)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	l->s = s;
	l->fd = fd;
	l->tcp = tcp;
	memcpy(&l->local, &ss, sl);
	ev_io_init(&l->io, tcp ? on_tcp_accept : on_udp, fd, EV_READ);
	ev_init(&l->pause, on_accept_pause);
	ev_io_start(s->loop, &l->io);
	return 0;
}

struct stub *stub_new(struct ev_loop *loop, const struct conf *c, struct upstream *up,
		      struct allowset *as, int *err)
{
	struct stub *s = calloc(1, sizeof(*s));
	int rc = -ENOMEM;

	if (!s)
		goto fail;
	s->loop = loop;
	s->c = c;
	s->up = up;
	s->as = as;
	s->pool_size = c->limits.pending_queries;
	s->pool = calloc(s->pool_size, sizeof(*s->pool));
	for (s->owners_mask = 1; s->owners_mask < 2 * (size_t)s->pool_size;)
		s->owners_mask <<= 1;
	s->owners = calloc(s->owners_mask, sizeof(*s->owners));
	s->owners_mask--;
	s->rr_max = c->limits.records_per_message;
	s->rr = calloc(s->rr_max, sizeof(*s->rr));
	/* Room past addrs_per_name, to know (and remove) what is over it. */
	s->found_max =
	    UTIL_MAX((size_t)c->limits.addrs_per_name, s->rr_max) + c->limits.addrs_per_name;
	s->found = calloc(s->found_max, sizeof(*s->found));
	s->fate = calloc(s->found_max, sizeof(*s->fate));
	s->listeners = calloc(2 * (size_t)c->nlisten, sizeof(*s->listeners));
	if (!s->pool || !s->owners || !s->rr || !s->found || !s->fate || !s->listeners)
		goto fail;
	for (unsigned i = 0; i < s->pool_size; i++)
		s->pool[i].next_free = i + 1;
	resolve_ifaces(s);
	/* Opened now, before privileges go; without it every local socket
	 * shares the "unknown" owner's quotas (fail closed, counted). */
	s->cache = cache_for(c);
	s->pu = peeruid_new(&rc);
	if (!s->pu)
		log_warn("stub: no sock_diag socket (%s): local users share one quota",
			 strerror(-rc));
	for (unsigned i = 0; i < c->nlisten; i++) {
		for (int tcp = 0; tcp < 2; tcp++) {
			rc = open_listener(s, &c->listen[i], tcp, &s->listeners[s->nlisteners]);
			if (rc < 0) {
				char a[ADDR_STRLEN];

				log_err("stub: cannot listen on %s port %u (%s): %s",
					addr_format(&c->listen[i].addr, a, sizeof(a)),
					c->listen[i].port, tcp ? "tcp" : "udp", strerror(-rc));
				goto fail;
			}
			s->nlisteners++;
		}
	}
	return s;
fail:
	stub_free(&s);
	*err = rc;
	return NULL;
}

void stub_set_conf(struct stub *s, const struct conf *c)
{
	s->c = c;
	/* A reload may change the policy behind every answer: start empty. */
	cache_free(&s->cache);
	s->cache = cache_for(c);
	s->local_ok = false; /* new NAT64 prefixes; interfaces read again */
	resolve_ifaces(s);
}

void stub_set_upstream(struct stub *s, struct upstream *up)
{
	s->up = up;
	if (s->cache)
		cache_flush(s->cache);
}

void stub_set_routes(struct stub *s, const struct stub_route *routes, unsigned n)
{
	s->nroutes = n < STUB_MAX_ROUTES ? n : STUB_MAX_ROUTES;
	memcpy(s->routes, routes, s->nroutes * sizeof(*routes));
	if (s->cache) /* identities are route indexes */
		cache_flush(s->cache);
}

void stub_free(struct stub **sp)
{
	struct stub *s;

	if (!sp || !*sp)
		return;
	s = *sp;
	s->closing = true;
	for (unsigned i = 0; i < s->nlisteners; i++) {
		ev_io_stop(s->loop, &s->listeners[i].io);
		ev_timer_stop(s->loop, &s->listeners[i].pause);
		close(s->listeners[i].fd);
	}
	peeruid_free(&s->pu);
	cache_free(&s->cache);
	/* Queries still pending reference their connection: detach them. */
	for (unsigned i = 0; s->pool && i < s->pool_size; i++)
		s->pool[i].tcp = NULL;
	while (s->conns) {
		s->conns->pending = 0;
		tcp_close(s->conns);
	}
	neigh_free(&s->neigh);
	free(s->listeners);
	free(s->pool);
	free(s->owners);
	free(s->rr);
	free(s->found);
	free(s->fate);
	free(s);
	*sp = NULL;
}

void stub_set_learn_hook(struct stub *s, stub_learn_cb cb, void *arg)
{
	s->learn_cb = cb;
	s->learn_arg = arg;
}

unsigned stub_removed_counters(const struct stub_stats *st, struct stub_counter *out)
{
	out[0] = (struct stub_counter){"over-cap", st->removed_over_cap};
	out[1] = (struct stub_counter){"full", st->removed_full};
	out[2] = (struct stub_counter){"never-learn", st->removed_never_learn};
	out[3] = (struct stub_counter){"unproven", st->removed_unproven};
	return STUB_REMOVED_WHYS;
}

struct cache *stub_cache(struct stub *s)
{
	return s->cache;
}

void stub_get_stats(const struct stub *s, struct stub_stats *st)
{
	*st = s->st;
	st->pending = s->npending;
	st->tcp_open = s->nconns;
}
