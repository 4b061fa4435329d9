/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DNS wire format: the parser trusts no count, no length and no pointer from
 * the peer. Every read goes through a bound that was checked first; names are
 * decoded by one function (read_name) that enforces RFC 1035 §4.1.4 strictly.
 */
#include "dns/wire.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

/* Records a query may carry (OPT, TSIG, a cookie-bearing OPT...): anything
 * beyond is not a query a stub should take. */
#define WIRE_QUERY_MAX_RECORDS 16
/* Fixed part of a question (QTYPE, QCLASS) and of a record (TYPE, CLASS,
 * TTL, RDLENGTH), RFC 1035 §4.1.2, §4.1.3. */
#define QFIXED	4
#define RRFIXED 10
/* Smallest question (root name + fixed) and record, for the count check. */
#define MIN_QUESTION (1 + QFIXED)
#define MIN_RR	     (1 + RRFIXED)
/* An OPT record with no options: root, TYPE, CLASS, TTL, RDLENGTH. */
#define OPT_LEN (1 + RRFIXED)

/* SvcParamKeys, RFC 9460 §14.3.2. */
#define SVC_MANDATORY	    0
#define SVC_ALPN	    1
#define SVC_NO_DEFAULT_ALPN 2
#define SVC_PORT	    3
#define SVC_IPV4HINT	    4
#define SVC_IPV6HINT	    6
#define SVC_INVALID_KEY	    65535

/* A switch without default: -Wswitch names any code left without a string. */
const char *wire_strerror(enum wire_err e)
{
	switch (e) {
	case WIRE_OK:
		return "ok";
	case WIRE_ERR_SHORT:
		return "message shorter than a DNS header";
	case WIRE_ERR_TOO_LONG:
		return "message longer than 65535 bytes";
	case WIRE_ERR_TRUNCATED:
		return "message ends inside a name, question or record";
	case WIRE_ERR_QDCOUNT:
		return "question count is not 1";
	case WIRE_ERR_COUNT:
		return "record counts exceed the message length";
	case WIRE_ERR_TOO_MANY_RECORDS:
		return "too many records in the message";
	case WIRE_ERR_TRAILING:
		return "trailing bytes after the last record";
	case WIRE_ERR_LABEL_TYPE:
		return "reserved or extended label type";
	case WIRE_ERR_NAME_TOO_LONG:
		return "name longer than 255 bytes";
	case WIRE_ERR_PTR_FORWARD:
		return "compression pointer does not point backwards";
	case WIRE_ERR_PTR_LOOP:
		return "compression pointer loop";
	case WIRE_ERR_PTR_HEADER:
		return "compression pointer into the header";
	case WIRE_ERR_PTR_JUMPS:
		return "too many compression pointers in one name";
	case WIRE_ERR_PTR_IN_RDATA:
		return "compression pointer where compression is forbidden";
	case WIRE_ERR_NAME_SYNTAX:
		return "bad domain name syntax";
	case WIRE_ERR_RDLENGTH:
		return "RDLENGTH runs past the end of the message";
	case WIRE_ERR_RDATA:
		return "RDATA does not match its type";
	case WIRE_ERR_SVCB:
		return "malformed SVCB/HTTPS record";
	case WIRE_ERR_OPT:
		return "malformed or misplaced OPT record";
	case WIRE_ERR_OPT_MULTI:
		return "more than one OPT record";
	case WIRE_ERR_QR:
		return "query has the QR bit set";
	case WIRE_ERR_OPCODE:
		return "opcode not implemented";
	case WIRE_ERR_EDNS_VERSION:
		return "unsupported EDNS version";
	case WIRE_ERR_NOT_RESPONSE:
		return "not a response to a standard query";
	case WIRE_ERR_ID_MISMATCH:
		return "response ID does not match the query";
	case WIRE_ERR_QUESTION_MISMATCH:
		return "response question does not match the query";
	case WIRE_ERR_CNAME_LOOP:
		return "CNAME loop";
	case WIRE_ERR_CNAME_DEPTH:
		return "CNAME chain too long";
	case WIRE_ERR_CNAME_CONFLICT:
		return "conflicting CNAME records for one name";
	case WIRE_ERR_NOSPACE:
		return "output buffer too small";
	case WIRE_ERR_INVAL:
		return "invalid argument";
	case WIRE_ERR__COUNT:
		break;
	}
	return "unknown wire error";
}

int wire_query_rcode(enum wire_err e)
{
	switch (e) {
	case WIRE_OK:
		return WIRE_RCODE_NOERROR;
	case WIRE_ERR_SHORT: /* no complete header: nothing to answer to */
	case WIRE_ERR_QR:
	case WIRE_ERR_INVAL:
		return -1;
	case WIRE_ERR_OPCODE:
		return WIRE_RCODE_NOTIMP;
	case WIRE_ERR_EDNS_VERSION:
		return WIRE_RCODE_BADVERS; /* RFC 6891 §6.1.3 */
	default:
		return WIRE_RCODE_FORMERR;
	}
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/*
 * Decode the name at buf[off]. Bytes of the name itself (before any pointer)
 * must lie below limit (the end of the message, or of the RDATA holding the
 * name); after a pointer, below len. RFC 1035 §4.1.4 pointers are accepted
 * only when they go strictly backwards, to before the start of the run of
 * labels they end: that refuses forward and self pointers and every loop,
 * and makes each jump land lower than the last. *next is the offset just
 * after the name where it was found. out may be NULL (validate and skip).
 */
static enum wire_err read_name_x(const uint8_t *buf, size_t len, size_t off, size_t limit,
				 bool compress_ok, bool fold, size_t *next, struct wire_name *out)
{
	size_t pos = off, seg = off, end = 0, wlen = 0;
	unsigned jumps = 0;

	for (;;) {
		uint8_t c;

		if (pos >= limit)
			return WIRE_ERR_TRUNCATED;
		c = buf[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (!compress_ok)
				return WIRE_ERR_PTR_IN_RDATA;
			if (limit - pos < 2)
				return WIRE_ERR_TRUNCATED;
			target = (size_t)(c & 0x3f) << 8 | buf[pos + 1];
			if (target >= pos)
				return WIRE_ERR_PTR_FORWARD;
			if (target >= seg)
				return WIRE_ERR_PTR_LOOP;
			if (target < WIRE_HDR_LEN)
				return WIRE_ERR_PTR_HEADER;
			if (++jumps > WIRE_MAX_PTR_JUMPS)
				return WIRE_ERR_PTR_JUMPS;
			if (jumps == 1)
				end = pos + 2;
			pos = seg = target;
			limit = len;
			continue;
		}
		if (c & 0xc0) /* 0b01 extended (RFC 6891 §5), 0b10 reserved */
			return WIRE_ERR_LABEL_TYPE;
		if (c == 0) {
			if (out) {
				out->b[wlen] = 0;
				out->len = (uint8_t)(wlen + 1);
			}
			*next = jumps ? end : pos + 1;
			return WIRE_OK;
		}
		/* the label, then at least the root label, within 255 bytes */
		if (wlen + 1 + c + 1 > WIRE_MAX_NAME)
			return WIRE_ERR_NAME_TOO_LONG;
		if (limit - pos - 1 < c)
			return WIRE_ERR_TRUNCATED;
		if (out) {
			out->b[wlen] = c;
			for (size_t i = 1; i <= c; i++)
				out->b[wlen + i] = fold ? lower(buf[pos + i]) : buf[pos + i];
		}
		wlen += 1 + (size_t)c;
		pos += 1 + (size_t)c;
	}
}

/* read_name_x() folding to lowercase: the form every comparison uses. */
static enum wire_err read_name(const uint8_t *buf, size_t len, size_t off, size_t limit,
			       bool compress_ok, size_t *next, struct wire_name *out)
{
	return read_name_x(buf, len, off, limit, compress_ok, true, next, out);
}

/* Is n a well-formed wire name (labels <= 63, ends with the root at n->len)? */
static bool name_valid(const struct wire_name *n)
{
	size_t p = 0;

	if (n->len < 1) /* uint8_t: never above WIRE_MAX_NAME */
		return false;
	while (p < n->len) {
		uint8_t c = n->b[p];

		if (c == 0)
			return p + 1 == n->len;
		if (c > WIRE_MAX_LABEL)
			return false;
		p += 1 + (size_t)c;
	}
	return false;
}

enum wire_err wire_name_from_str(const char *s, struct wire_name *out)
{
	uint8_t w[WIRE_MAX_NAME];
	size_t n = 1, lp = 0; /* bytes used; where the current length byte is */
	unsigned ll = 0;

	if (!s || !out)
		return WIRE_ERR_INVAL;
	if (s[0] == '\0')
		return WIRE_ERR_NAME_SYNTAX;
	if (s[0] == '.' && s[1] == '\0') {
		out->len = 1;
		out->b[0] = 0;
		return WIRE_OK;
	}
	while (*s) {
		unsigned v;

		if (*s == '.') {
			if (ll == 0)
				return WIRE_ERR_NAME_SYNTAX; /* empty label */
			w[lp] = (uint8_t)ll;
			if (n >= WIRE_MAX_NAME)
				return WIRE_ERR_NAME_TOO_LONG;
			lp = n++;
			ll = 0;
			s++;
			continue;
		}
		if (*s == '\\') {
			s++;
			if (*s >= '0' && *s <= '9') { /* \DDD, RFC 1035 §5.1 */
				if (s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
					return WIRE_ERR_NAME_SYNTAX;
				v = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
				    (unsigned)(s[2] - '0');
				if (v > 255)
					return WIRE_ERR_NAME_SYNTAX;
				s += 3;
			} else if (*s) {
				v = (uint8_t)*s++;
			} else {
				return WIRE_ERR_NAME_SYNTAX;
			}
		} else {
			v = (uint8_t)*s++;
		}
		if (ll == WIRE_MAX_LABEL)
			return WIRE_ERR_NAME_SYNTAX;
		if (n + 1 >= WIRE_MAX_NAME) /* room for this byte and the root */
			return WIRE_ERR_NAME_TOO_LONG;
		w[n++] = lower((uint8_t)v);
		ll++;
	}
	if (ll) {
		w[lp] = (uint8_t)ll;
		w[n++] = 0;
	} else {
		w[lp] = 0; /* trailing dot: the reserved length byte is the root */
	}
	memcpy(out->b, w, n);
	out->len = (uint8_t)n;
	return WIRE_OK;
}

/* Append s to buf[*used .. len - 1), keeping a NUL; false when it is full. */
static bool append(char *buf, size_t len, size_t *used, const char *s)
{
	size_t n = strlen(s);

	if (n >= len - *used)
		return false;
	memcpy(buf + *used, s, n + 1);
	*used += n;
	return true;
}

const char *wire_name_format(const struct wire_name *n, char *buf, size_t len)
{
	size_t used = 0, p = 0;

	if (!buf || len == 0)
		return buf;
	buf[0] = '\0';
	if (!n || !name_valid(n)) {
		append(buf, len, &used, "?");
		return buf;
	}
	if (n->b[0] == 0) {
		append(buf, len, &used, ".");
		return buf;
	}
	while (n->b[p] != 0) {
		uint8_t ll = n->b[p];

		if (p && !append(buf, len, &used, "."))
			return buf;
		for (size_t i = 1; i <= ll; i++) {
			uint8_t c = n->b[p + i];
			char tmp[5];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*') {
				tmp[0] = (char)c;
				tmp[1] = '\0';
			} else {
				snprintf(tmp, sizeof(tmp), "\\%03u", c);
			}
			if (!append(buf, len, &used, tmp))
				return buf;
		}
		p += 1 + (size_t)ll;
	}
	return buf;
}

bool wire_name_equal(const struct wire_name *a, const struct wire_name *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++)
		if (lower(a->b[i]) != lower(b->b[i]))
			return false;
	return true;
}

/* Does the SvcParams block buf[p .. end) (already validated) hold key? */
static bool svc_has_key(const uint8_t *buf, size_t p, size_t end, uint16_t key)
{
	while (end - p >= 4) {
		uint16_t k = get16(buf + p), vlen = get16(buf + p + 2);

		if (k == key)
			return true;
		p += 4 + (size_t)vlen;
	}
	return false;
}

/*
 * RFC 9460 §2.2: SvcPriority, an uncompressed TargetName, then SvcParams in
 * strictly increasing key order, each value inside the RDATA; §7 and §8 give
 * the formats checked here. *params is where the SvcParams start.
 */
static enum wire_err check_svcb(const uint8_t *buf, size_t len, size_t off, size_t rdlen,
				size_t *params)
{
	size_t end = off + rdlen, p, mand = 0, mandlen = 0;
	long prev = -1;
	enum wire_err err;

	if (rdlen < 2)
		return WIRE_ERR_SVCB;
	err = read_name(buf, len, off + 2, end, false, &p, NULL);
	if (err == WIRE_ERR_TRUNCATED)
		return WIRE_ERR_SVCB;
	if (err)
		return err;
	*params = p;
	while (p < end) {
		uint16_t key, vlen;

		if (end - p < 4)
			return WIRE_ERR_SVCB;
		key = get16(buf + p);
		vlen = get16(buf + p + 2);
		p += 4;
		if (vlen > end - p || (long)key <= prev || key == SVC_INVALID_KEY)
			return WIRE_ERR_SVCB;
		prev = key;
		switch (key) {
		case SVC_MANDATORY: /* §8: a non-empty list of keys */
			if (vlen == 0 || vlen % 2)
				return WIRE_ERR_SVCB;
			mand = p;
			mandlen = vlen;
			break;
		case SVC_ALPN: /* §7.1.1: non-empty alpn-ids, each non-empty */
			if (vlen == 0)
				return WIRE_ERR_SVCB;
			for (size_t i = 0; i < vlen; i += 1 + (size_t)buf[p + i])
				if (buf[p + i] == 0 || buf[p + i] > vlen - i - 1)
					return WIRE_ERR_SVCB;
			break;
		case SVC_NO_DEFAULT_ALPN:
			if (vlen != 0)
				return WIRE_ERR_SVCB;
			break;
		case SVC_PORT:
			if (vlen != 2)
				return WIRE_ERR_SVCB;
			break;
		case SVC_IPV4HINT: /* §7.3: one or more addresses */
			if (vlen == 0 || vlen % 4)
				return WIRE_ERR_SVCB;
			break;
		case SVC_IPV6HINT:
			if (vlen == 0 || vlen % 16)
				return WIRE_ERR_SVCB;
			break;
		default:
			break;
		}
		p += vlen;
	}
	/* §8: mandatory keys strictly increasing, never "mandatory" itself, each
	 * present in the record */
	prev = SVC_MANDATORY;
	for (size_t i = 0; i < mandlen; i += 2) {
		uint16_t k = get16(buf + mand + i);

		if ((long)k <= prev || !svc_has_key(buf, *params, end, k))
			return WIRE_ERR_SVCB;
		prev = k;
	}
	return WIRE_OK;
}

/* RDATA checks for the types the extraction reads (class IN only: the same
 * type numbers mean other formats in other classes). */
static enum wire_err check_rdata(const uint8_t *buf, size_t len, const struct wire_rr *rr)
{
	size_t end = (size_t)rr->rdata_off + rr->rdlen, next, params;
	enum wire_err err;

	if (rr->rclass != WIRE_CLASS_IN)
		return WIRE_OK;
	switch (rr->type) {
	case WIRE_TYPE_A: /* RFC 1035 §3.4.1 */
		return rr->rdlen == 4 ? WIRE_OK : WIRE_ERR_RDATA;
	case WIRE_TYPE_AAAA: /* RFC 3596 §2.2 */
		return rr->rdlen == 16 ? WIRE_OK : WIRE_ERR_RDATA;
	case WIRE_TYPE_CNAME: /* RFC 1035 §3.3.1: one name, may be compressed */
		err = read_name(buf, len, rr->rdata_off, end, true, &next, NULL);
		if (err == WIRE_ERR_TRUNCATED || (!err && next != end))
			return WIRE_ERR_RDATA;
		return err;
	case WIRE_TYPE_SVCB:
	case WIRE_TYPE_HTTPS:
		return check_svcb(buf, len, rr->rdata_off, rr->rdlen, &params);
	default:
		return WIRE_OK;
	}
}

/* RFC 6891 §6.1.2: RDATA is {OPTION-CODE, OPTION-LENGTH, OPTION-DATA}*. */
static enum wire_err check_opt(const uint8_t *buf, const struct wire_rr *rr)
{
	size_t p = rr->rdata_off, end = p + rr->rdlen;

	if (buf[rr->name_off] != 0) /* owner must be the root, §6.1.2 */
		return WIRE_ERR_OPT;
	if (rr->section != WIRE_SEC_ADDITIONAL)
		return WIRE_ERR_OPT;
	while (p < end) {
		if (end - p < 4 || get16(buf + p + 2) > end - p - 4)
			return WIRE_ERR_OPT;
		p += 4 + (size_t)get16(buf + p + 2);
	}
	return WIRE_OK;
}

/* One record at *pos; on success *pos moves past it. */
static enum wire_err parse_rr(const uint8_t *buf, size_t len, size_t *pos, uint8_t section,
			      struct wire_rr *rr)
{
	size_t p;
	enum wire_err err;

	err = read_name(buf, len, *pos, len, true, &p, NULL);
	if (err)
		return err;
	if (len - p < RRFIXED)
		return WIRE_ERR_TRUNCATED;
	rr->name_off = (uint16_t)*pos;
	rr->type = get16(buf + p);
	rr->rclass = get16(buf + p + 2);
	rr->ttl = get32(buf + p + 4);
	if (rr->ttl > INT32_MAX) /* RFC 2181 §8 */
		rr->ttl = 0;
	rr->rdlen = get16(buf + p + 8);
	p += RRFIXED;
	if (rr->rdlen > len - p)
		return WIRE_ERR_RDLENGTH;
	rr->rdata_off = (uint16_t)p;
	rr->section = section;
	rr->pad = 0;
	*pos = p + rr->rdlen;
	return check_rdata(buf, len, rr);
}

enum wire_err wire_msg_parse(const uint8_t *buf, size_t len, struct wire_rr *rr, size_t rr_max,
			     struct wire_msg *out)
{
	size_t pos, total, an;
	enum wire_err err;

	if (!buf || !out || (!rr && rr_max))
		return WIRE_ERR_INVAL;
	if (len < WIRE_HDR_LEN)
		return WIRE_ERR_SHORT;
	if (len > WIRE_MAX_MSG)
		return WIRE_ERR_TOO_LONG;
	memset(out, 0, sizeof(*out));
	out->buf = buf;
	out->len = len;
	out->rr = rr;
	out->id = get16(buf);
	out->flags = get16(buf + 2);
	out->ancount = get16(buf + 6);
	out->nscount = get16(buf + 8);
	out->arcount = get16(buf + 10);
	if (get16(buf + 4) != 1)
		return WIRE_ERR_QDCOUNT;
	/* a count that lies is caught here, before any loop trusts it */
	an = out->ancount;
	total = an + out->nscount + out->arcount;
	if (total * MIN_RR + MIN_QUESTION > len - WIRE_HDR_LEN)
		return WIRE_ERR_COUNT;
	if (total > rr_max)
		return WIRE_ERR_TOO_MANY_RECORDS;

	err = read_name(buf, len, WIRE_HDR_LEN, len, true, &pos, &out->qname);
	if (err)
		return err;
	if (len - pos < QFIXED)
		return WIRE_ERR_TRUNCATED;
	out->qtype = get16(buf + pos);
	out->qclass = get16(buf + pos + 2);
	pos += QFIXED;
	out->question_end = (uint16_t)pos;

	for (size_t i = 0; i < total; i++) {
		uint8_t sec = i < an		      ? WIRE_SEC_ANSWER
			      : i < an + out->nscount ? WIRE_SEC_AUTHORITY
						      : WIRE_SEC_ADDITIONAL;

		err = parse_rr(buf, len, &pos, sec, &rr[i]);
		if (err)
			return err;
		if (rr[i].type != WIRE_TYPE_OPT)
			continue;
		err = check_opt(buf, &rr[i]);
		if (err)
			return err;
		if (out->edns)
			return WIRE_ERR_OPT_MULTI; /* RFC 6891 §6.1.1 */
		/* §6.1.3: CLASS is the payload size, TTL is EXTENDED-RCODE,
		 * VERSION, DO and Z */
		out->edns = true;
		out->edns_udp_size = rr[i].rclass;
		out->edns_version = buf[rr[i].rdata_off - 5];
		out->edns_do = buf[rr[i].rdata_off - 4] & 0x80;
		out->rcode = (uint16_t)(buf[rr[i].rdata_off - 6] << 4);
	}
	if (pos != len)
		return WIRE_ERR_TRAILING;
	out->nrr = total;
	out->rcode |= WIRE_FLAGS_RCODE(out->flags);
	return WIRE_OK;
}

enum wire_err wire_rr_owner(const struct wire_msg *m, const struct wire_rr *rr,
			    struct wire_name *out)
{
	size_t next;

	if (!m || !rr || !out)
		return WIRE_ERR_INVAL;
	return read_name(m->buf, m->len, rr->name_off, m->len, true, &next, out);
}

enum wire_err wire_answer_matches(const struct wire_msg *m, uint16_t id,
				  const struct wire_name *qname, uint16_t qtype, uint16_t qclass)
{
	if (!m || !qname)
		return WIRE_ERR_INVAL;
	if (!(m->flags & WIRE_FLAG_QR) || WIRE_FLAGS_OPCODE(m->flags) != WIRE_OPCODE_QUERY)
		return WIRE_ERR_NOT_RESPONSE;
	if (m->id != id)
		return WIRE_ERR_ID_MISMATCH;
	if (!wire_name_equal(&m->qname, qname) || m->qtype != qtype || m->qclass != qclass)
		return WIRE_ERR_QUESTION_MISMATCH;
	return WIRE_OK;
}

/* Index of name on the chain, or -1. */
static int chain_index(const struct wire_chain *c, const struct wire_name *n)
{
	for (unsigned i = 0; i < c->nnames; i++)
		if (wire_name_equal(&c->names[i], n))
			return (int)i;
	return -1;
}

/* The CNAME for name in the answer section, if any (RFC 1034 §3.6.2). */
static enum wire_err find_cname(const struct wire_msg *m, const struct wire_name *name, bool *found,
				struct wire_name *target, uint32_t *ttl)
{
	*found = false;
	for (size_t i = 0; i < m->nrr; i++) {
		const struct wire_rr *rr = &m->rr[i];
		struct wire_name owner, t;
		size_t next;
		enum wire_err err;

		if (rr->section != WIRE_SEC_ANSWER || rr->type != WIRE_TYPE_CNAME ||
		    rr->rclass != WIRE_CLASS_IN)
			continue;
		err = wire_rr_owner(m, rr, &owner);
		if (err)
			return err;
		if (!wire_name_equal(&owner, name))
			continue;
		err = read_name(m->buf, m->len, rr->rdata_off, (size_t)rr->rdata_off + rr->rdlen,
				true, &next, &t);
		if (err)
			return err;
		if (*found && !wire_name_equal(&t, target))
			return WIRE_ERR_CNAME_CONFLICT; /* RFC 2181 §10.1 */
		if (!*found || rr->ttl < *ttl)
			*ttl = rr->ttl;
		*target = t;
		*found = true;
	}
	return WIRE_OK;
}

/* Store one address, once; count what does not fit. */
static void add_found(struct wire_chain *c, size_t max, const struct addr *a, uint32_t ttl,
		      unsigned owner)
{
	for (size_t i = 0; i < c->nfound; i++) {
		if (addr_equal(&c->found[i].addr, a)) {
			if (ttl > c->found[i].ttl)
				c->found[i].ttl = ttl;
			return;
		}
	}
	if (c->nfound >= max) {
		c->dropped++;
		return;
	}
	c->found[c->nfound].addr = *a;
	c->found[c->nfound].ttl = ttl;
	c->found[c->nfound].owner = (uint8_t)owner;
	c->nfound++;
}

/* ipv4hint / ipv6hint of a ServiceMode SVCB/HTTPS record (RFC 9460 §7.3). */
static void add_hints(const struct wire_msg *m, const struct wire_rr *rr, struct wire_chain *c,
		      size_t max, unsigned owner)
{
	const uint8_t *buf = m->buf;
	size_t end = (size_t)rr->rdata_off + rr->rdlen, p;
	struct addr a;

	if (get16(buf + rr->rdata_off) == 0) /* AliasMode: params ignored, §2.4.2 */
		return;
	if (check_svcb(buf, m->len, rr->rdata_off, rr->rdlen, &p) != WIRE_OK)
		return; /* validated by the parser; never trust twice-read data blindly */
	while (end - p >= 4) {
		uint16_t key = get16(buf + p), vlen = get16(buf + p + 2);

		p += 4;
		if (key == SVC_IPV4HINT)
			for (size_t i = 0; i + 4 <= vlen; i += 4) {
				addr_from_v4(&a, buf + p + i);
				add_found(c, max, &a, rr->ttl, owner);
			}
		else if (key == SVC_IPV6HINT)
			for (size_t i = 0; i + 16 <= vlen; i += 16) {
				addr_from_v6(&a, buf + p + i);
				add_found(c, max, &a, rr->ttl, owner);
			}
		p += vlen;
	}
}

static bool wanted_type(uint16_t qtype, uint16_t type)
{
	if (type != WIRE_TYPE_A && type != WIRE_TYPE_AAAA && type != WIRE_TYPE_SVCB &&
	    type != WIRE_TYPE_HTTPS)
		return false;
	return qtype == type || qtype == WIRE_TYPE_ANY;
}

enum wire_err wire_chain_extract(const struct wire_msg *m, unsigned max_depth,
				 struct wire_found *found, size_t found_max, struct wire_chain *out)
{
	enum wire_err err;

	if (!m || !out || (!found && found_max) || max_depth > WIRE_CHAIN_LIMIT)
		return WIRE_ERR_INVAL;
	out->found = found;
	out->nfound = 0;
	out->dropped = 0;
	out->min_ttl = UINT32_MAX;
	out->names[0] = m->qname;
	out->nnames = 1;

	while (m->qtype != WIRE_TYPE_CNAME) {
		struct wire_name target;
		uint32_t ttl = 0;
		bool more;

		err = find_cname(m, &out->names[out->nnames - 1], &more, &target, &ttl);
		if (err)
			return err;
		if (!more)
			break;
		if (chain_index(out, &target) >= 0)
			return WIRE_ERR_CNAME_LOOP;
		if (out->nnames > max_depth)
			return WIRE_ERR_CNAME_DEPTH;
		out->names[out->nnames++] = target;
		if (ttl < out->min_ttl)
			out->min_ttl = ttl;
	}

	if (m->rcode != WIRE_RCODE_NOERROR)
		return WIRE_OK;
	for (size_t i = 0; i < m->nrr; i++) {
		const struct wire_rr *rr = &m->rr[i];
		struct wire_name owner;
		struct addr a;
		int idx;

		if (rr->section != WIRE_SEC_ANSWER || rr->rclass != WIRE_CLASS_IN ||
		    !wanted_type(m->qtype, rr->type))
			continue;
		err = wire_rr_owner(m, rr, &owner);
		if (err) {
			out->nfound = 0;
			return err;
		}
		idx = chain_index(out, &owner);
		if (idx < 0)
			continue;
		if (rr->type == WIRE_TYPE_A && rr->rdlen == 4) {
			addr_from_v4(&a, m->buf + rr->rdata_off);
			add_found(out, found_max, &a, rr->ttl, (unsigned)idx);
		} else if (rr->type == WIRE_TYPE_AAAA && rr->rdlen == 16) {
			addr_from_v6(&a, m->buf + rr->rdata_off);
			add_found(out, found_max, &a, rr->ttl, (unsigned)idx);
		} else if (rr->type == WIRE_TYPE_SVCB || rr->type == WIRE_TYPE_HTTPS) {
			add_hints(m, rr, out, found_max, (unsigned)idx);
		}
	}
	return WIRE_OK;
}

enum wire_err wire_query_parse(const uint8_t *buf, size_t len, struct wire_query *out)
{
	struct wire_rr rr[WIRE_QUERY_MAX_RECORDS];
	struct wire_msg m;
	enum wire_err err;

	if (!buf || !out)
		return WIRE_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	if (len < WIRE_HDR_LEN)
		return WIRE_ERR_SHORT;
	out->id = get16(buf);
	out->flags = get16(buf + 2);
	out->opcode = (uint8_t)WIRE_FLAGS_OPCODE(out->flags);
	out->rd = out->flags & WIRE_FLAG_RD;
	if (out->flags & WIRE_FLAG_QR)
		return WIRE_ERR_QR;
	if (out->opcode != WIRE_OPCODE_QUERY)
		return WIRE_ERR_OPCODE;
	err = wire_msg_parse(buf, len, rr, ARRAY_SIZE(rr), &m);
	if (err)
		return err;
	out->qname = m.qname;
	out->qtype = m.qtype;
	out->qclass = m.qclass;
	out->question_end = m.question_end;
	out->edns = m.edns;
	out->edns_version = m.edns_version;
	out->edns_do = m.edns_do;
	out->edns_udp_size = m.edns_udp_size;
	out->udp_limit = WIRE_MIN_UDP;
	if (m.edns && m.edns_udp_size > WIRE_MIN_UDP)
		out->udp_limit = m.edns_udp_size;
	if (m.edns && m.edns_version != 0)
		return WIRE_ERR_EDNS_VERSION; /* RFC 6891 §6.1.3 */
	return WIRE_OK;
}

/* An OPT record with no options at p (OPT_LEN bytes), RFC 6891 §6.1.2. */
static void put_opt(uint8_t *p, uint16_t udp_size, unsigned rcode)
{
	p[0] = 0;
	put16(p + 1, WIRE_TYPE_OPT);
	put16(p + 3, udp_size);
	p[5] = (uint8_t)(rcode >> 4); /* EXTENDED-RCODE, §6.1.3 */
	p[6] = 0;		      /* VERSION */
	p[7] = 0;		      /* DO and Z */
	p[8] = 0;
	put16(p + 9, 0); /* RDLENGTH */
}

static void put_header(uint8_t *p, uint16_t id, uint16_t flags, uint16_t qd, uint16_t ar)
{
	put16(p, id);
	put16(p + 2, flags);
	put16(p + 4, qd);
	put16(p + 6, 0);
	put16(p + 8, 0);
	put16(p + 10, ar);
}

enum wire_err wire_build_query(uint16_t id, const struct wire_name *qname, uint16_t qtype, bool rd,
			       uint16_t edns_udp_size, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t need;

	if (!qname || !out || !outlen || !name_valid(qname))
		return WIRE_ERR_INVAL;
	need = WIRE_HDR_LEN + qname->len + QFIXED + (edns_udp_size ? OPT_LEN : 0);
	if (need > cap)
		return WIRE_ERR_NOSPACE;
	put_header(out, id, rd ? WIRE_FLAG_RD : 0, 1, edns_udp_size ? 1 : 0);
	memcpy(out + WIRE_HDR_LEN, qname->b, qname->len);
	put16(out + WIRE_HDR_LEN + qname->len, qtype);
	put16(out + WIRE_HDR_LEN + qname->len + 2, WIRE_CLASS_IN);
	if (edns_udp_size)
		put_opt(out + WIRE_HDR_LEN + qname->len + QFIXED, edns_udp_size, 0);
	*outlen = need;
	return WIRE_OK;
}

/* End of the single question of msg, or 0 when there is not exactly one
 * question that parses. */
static size_t question_end(const uint8_t *msg, size_t len)
{
	size_t p;

	if (len < WIRE_HDR_LEN || len > WIRE_MAX_MSG || get16(msg + 4) != 1)
		return 0;
	if (read_name(msg, len, WIRE_HDR_LEN, len, true, &p, NULL) != WIRE_OK)
		return 0;
	return len - p >= QFIXED ? p + QFIXED : 0;
}

enum wire_err wire_build_error(const uint8_t *query, size_t qlen, unsigned rcode,
			       uint16_t edns_udp_size, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t qend, need, qbytes;
	uint16_t flags;

	if (!query || !out || !outlen || rcode > 0xfff || (rcode > 0xf && !edns_udp_size))
		return WIRE_ERR_INVAL;
	if (qlen < WIRE_HDR_LEN)
		return WIRE_ERR_SHORT;
	qend = question_end(query, qlen);
	qbytes = qend ? qend - WIRE_HDR_LEN : 0;
	need = WIRE_HDR_LEN + qbytes + (edns_udp_size ? OPT_LEN : 0);
	if (need > cap)
		return WIRE_ERR_NOSPACE;
	/* RFC 1035 §4.1.1: opcode and RD copied; CD copied (RFC 4035 §3.2.2) */
	flags = (uint16_t)(WIRE_FLAG_QR | WIRE_FLAG_RA | (rcode & 0xf) |
			   (get16(query + 2) & (0x7800 | WIRE_FLAG_RD | WIRE_FLAG_CD)));
	put_header(out, get16(query), flags, qend ? 1 : 0, edns_udp_size ? 1 : 0);
	memcpy(out + WIRE_HDR_LEN, query + WIRE_HDR_LEN, qbytes);
	if (edns_udp_size)
		put_opt(out + WIRE_HDR_LEN + qbytes, edns_udp_size, rcode);
	*outlen = need;
	return WIRE_OK;
}

enum wire_err wire_fit_udp(uint8_t *msg, size_t *len, size_t max, uint16_t edns_udp_size,
			   bool *truncated)
{
	size_t qend, need;

	if (truncated)
		*truncated = false;
	if (!msg || !len)
		return WIRE_ERR_INVAL;
	if (*len < WIRE_HDR_LEN)
		return WIRE_ERR_SHORT;
	if (*len <= max)
		return WIRE_OK;
	qend = question_end(msg, *len);
	if (!qend)
		return WIRE_ERR_QDCOUNT;
	need = qend + (edns_udp_size ? OPT_LEN : 0);
	if (need > max)
		return WIRE_ERR_NOSPACE;
	/* RFC 2181 §9: TC set, the partial sections dropped entirely */
	put_header(msg, get16(msg), (uint16_t)(get16(msg + 2) | WIRE_FLAG_TC), 1,
		   edns_udp_size ? 1 : 0);
	if (edns_udp_size)
		put_opt(msg + qend, edns_udp_size, 0);
	*len = need;
	if (truncated)
		*truncated = true;
	return WIRE_OK;
}

enum wire_err wire_get_id(const uint8_t *msg, size_t len, uint16_t *id)
{
	if (!msg || !id)
		return WIRE_ERR_INVAL;
	if (len < WIRE_HDR_LEN)
		return WIRE_ERR_SHORT;
	*id = get16(msg);
	return WIRE_OK;
}

enum wire_err wire_set_id(uint8_t *msg, size_t len, uint16_t id)
{
	if (!msg)
		return WIRE_ERR_INVAL;
	if (len < WIRE_HDR_LEN)
		return WIRE_ERR_SHORT;
	put16(msg, id);
	return WIRE_OK;
}

/* ---- the answer filter: remove the addresses that were not learned ---- */

/* Compression table of the output: label offsets keyed by a hash of the
 * lowercased name suffix starting there (open addressing, never full: we
 * stop inserting at 3/4). Only an optimisation: a suffix not found is
 * written out in full. */
#define FILTER_SLOTS 1024

struct fenc {
	uint8_t *out;
	size_t cap, len;
	uint32_t hash[FILTER_SLOTS];
	uint16_t off[FILTER_SLOTS]; /* 0 = empty (no name starts in the header) */
	unsigned used;
};

/* Hashes of every suffix of n: h[i] for the suffix that starts at label i. */
static unsigned suffix_hashes(const struct wire_name *n, size_t *start, uint32_t *h)
{
	unsigned k = 0;
	uint32_t acc = 2166136261u;

	for (size_t p = 0; n->b[p]; p += 1 + (size_t)n->b[p])
		start[k++] = p;
	for (unsigned i = k; i-- > 0;) {
		for (size_t j = start[i]; j <= start[i] + n->b[start[i]]; j++)
			acc = (acc ^ lower(n->b[j])) * 16777619u;
		h[i] = acc ? acc : 1;
	}
	return k;
}

/* Is the name at out[off] (ours: pointers valid and backwards) equal,
 * case-insensitively, to the labels s[0 ..] ending with the root? */
static bool fenc_same(const struct fenc *e, size_t off, const uint8_t *s)
{
	unsigned jumps = 0;

	for (;;) {
		uint8_t c = e->out[off];

		if ((c & 0xc0) == 0xc0) {
			if (++jumps > WIRE_MAX_PTR_JUMPS)
				return false;
			off = (size_t)(c & 0x3f) << 8 | e->out[off + 1];
			continue;
		}
		if (c != *s)
			return false;
		if (c == 0)
			return true;
		for (size_t i = 1; i <= c; i++)
			if (lower(e->out[off + i]) != lower(s[i]))
				return false;
		off += 1 + (size_t)c;
		s += 1 + (size_t)c;
	}
}

static int fenc_find(const struct fenc *e, uint32_t h, const uint8_t *s)
{
	for (unsigned i = h % FILTER_SLOTS, n = 0; n < FILTER_SLOTS && e->off[i];
	     n++, i = (i + 1) % FILTER_SLOTS)
		if (e->hash[i] == h && fenc_same(e, e->off[i], s))
			return e->off[i];
	return -1;
}

static void fenc_add(struct fenc *e, uint32_t h, size_t off)
{
	unsigned i = h % FILTER_SLOTS;

	if (off > 0x3fff || e->used >= FILTER_SLOTS * 3 / 4)
		return;
	while (e->off[i])
		i = (i + 1) % FILTER_SLOTS;
	e->hash[i] = h;
	e->off[i] = (uint16_t)off;
	e->used++;
}

static enum wire_err fenc_put(struct fenc *e, const void *p, size_t n)
{
	if (e->cap - e->len < n)
		return WIRE_ERR_NOSPACE;
	memcpy(e->out + e->len, p, n);
	e->len += n;
	return WIRE_OK;
}

/* Write n (original case) with a pointer to the longest suffix already
 * written when compress is set (RFC 1035 §4.1.4), else in full. */
static enum wire_err fenc_name(struct fenc *e, const struct wire_name *n, bool compress)
{
	size_t start[WIRE_MAX_NAME / 2 + 1];
	uint32_t h[WIRE_MAX_NAME / 2 + 1];
	unsigned k = suffix_hashes(n, start, h);
	enum wire_err err;

	for (unsigned i = 0; i < k; i++) {
		int at = compress ? fenc_find(e, h[i], n->b + start[i]) : -1;

		if (at >= 0) {
			uint8_t ptr[2] = {(uint8_t)(0xc0 | at >> 8), (uint8_t)at};

			return fenc_put(e, ptr, 2);
		}
		if (compress)
			fenc_add(e, h[i], e->len);
		err = fenc_put(e, n->b + start[i], 1 + (size_t)n->b[start[i]]);
		if (err)
			return err;
	}
	return fenc_put(e, "", 1);
}

/* RDATA layouts with names (RFC 1035 §3.3, RFC 3597 §4): fixed bytes
 * before, names, fixed bytes after. Names may be compressed on output only
 * for the RFC 1035 types (RFC 3597 §4); the others are written in full. */
struct rdata_layout {
	uint16_t type;
	uint8_t before, names, after;
	bool compress;
};

static const struct rdata_layout layouts[] = {
    {2, 0, 1, 0, true},	  /* NS */
    {3, 0, 1, 0, true},	  /* MD */
    {4, 0, 1, 0, true},	  /* MF */
    {5, 0, 1, 0, true},	  /* CNAME */
    {6, 0, 2, 20, true},  /* SOA */
    {7, 0, 1, 0, true},	  /* MB */
    {8, 0, 1, 0, true},	  /* MG */
    {9, 0, 1, 0, true},	  /* MR */
    {12, 0, 1, 0, true},  /* PTR */
    {14, 0, 2, 0, true},  /* MINFO */
    {15, 2, 1, 0, true},  /* MX */
    {17, 0, 2, 0, false}, /* RP */
    {18, 2, 1, 0, false}, /* AFSDB */
    {21, 2, 1, 0, false}, /* RT */
    {26, 2, 2, 0, false}, /* PX */
    {33, 6, 1, 0, false}, /* SRV */
    {36, 2, 1, 0, false}, /* KX */
    {39, 0, 1, 0, false}, /* DNAME */
};

/* Re-encode the RDATA of rr; names are decompressed from the original and
 * written again, so no pointer into a removed record survives. */
static enum wire_err fenc_rdata(struct fenc *e, const struct wire_msg *m, const struct wire_rr *rr)
{
	const struct rdata_layout *l = NULL;
	size_t p = rr->rdata_off, end = p + rr->rdlen, lenpos = e->len;
	enum wire_err err;

	for (size_t i = 0; i < ARRAY_SIZE(layouts); i++)
		if (layouts[i].type == rr->type)
			l = &layouts[i];
	static const uint8_t zero[2];

	err = fenc_put(e, zero, 2); /* RDLENGTH, set below */
	if (err)
		return err;
	if (!l || rr->type == WIRE_TYPE_OPT) {
		err = fenc_put(e, m->buf + p, rr->rdlen);
		goto out;
	}
	if (rr->rdlen < l->before)
		return WIRE_ERR_RDATA;
	err = fenc_put(e, m->buf + p, l->before);
	p += l->before;
	for (unsigned i = 0; !err && i < l->names; i++) {
		struct wire_name n;

		err = read_name_x(m->buf, m->len, p, end, true, false, &p, &n);
		if (err == WIRE_ERR_TRUNCATED)
			return WIRE_ERR_RDATA;
		if (!err)
			err = fenc_name(e, &n, l->compress);
	}
	if (err)
		return err;
	if (end - p != l->after)
		return WIRE_ERR_RDATA;
	err = fenc_put(e, m->buf + p, l->after);
out:
	if (!err) {
		size_t rdlen = e->len - lenpos - 2;

		if (rdlen > 0xffff)
			return WIRE_ERR_NOSPACE;
		put16(e->out + lenpos, (uint16_t)rdlen);
	}
	return err;
}

/* The addresses a record carries for a client, whatever its class: A and
 * AAAA by the low byte of the type too (musl's parser reads only that byte),
 * and the hints of an IN SVCB/HTTPS record in either mode. Calls keep() on
 * each; returns false as soon as one is not kept, true if none or all are.
 * *carries says whether the record holds any address. */
static bool rr_kept(const struct wire_msg *m, const struct wire_rr *rr, wire_keep_fn keep,
		    void *arg, bool *carries)
{
	const uint8_t *buf = m->buf;
	uint8_t t = (uint8_t)rr->type;
	size_t end = (size_t)rr->rdata_off + rr->rdlen, p;
	struct addr a;

	*carries = false;
	if ((t == WIRE_TYPE_A && rr->rdlen == 4) || (t == WIRE_TYPE_AAAA && rr->rdlen == 16)) {
		*carries = true;
		if (rr->rdlen == 4)
			addr_from_v4(&a, buf + rr->rdata_off);
		else
			addr_from_v6(&a, buf + rr->rdata_off);
		return keep(arg, &a);
	}
	if ((rr->type != WIRE_TYPE_SVCB && rr->type != WIRE_TYPE_HTTPS) ||
	    rr->rclass != WIRE_CLASS_IN)
		return true;
	if (check_svcb(buf, m->len, rr->rdata_off, rr->rdlen, &p) != WIRE_OK) {
		*carries = true; /* the parser checked it: unreachable, but fail closed */
		return false;
	}
	while (end - p >= 4) {
		uint16_t key = get16(buf + p), vlen = get16(buf + p + 2);
		size_t step = key == SVC_IPV4HINT ? 4 : key == SVC_IPV6HINT ? 16 : 0;

		p += 4;
		for (size_t i = 0; step && i + step <= vlen; i += step) {
			*carries = true;
			if (step == 4)
				addr_from_v4(&a, buf + p + i);
			else
				addr_from_v6(&a, buf + p + i);
			if (!keep(arg, &a))
				return false;
		}
		p += vlen;
	}
	return true;
}

bool wire_filter_needed(const struct wire_msg *m, wire_keep_fn keep, void *arg)
{
	bool carries;

	for (size_t i = 0; i < m->nrr; i++)
		if (!rr_kept(m, &m->rr[i], keep, arg, &carries))
			return true;
	return false;
}

enum wire_err wire_filter_answer(const struct wire_msg *m, wire_keep_fn keep, void *arg,
				 uint8_t *out, size_t cap, size_t *outlen,
				 struct wire_filter_result *res)
{
	struct fenc enc, *e = &enc;
	uint16_t counts[3] = {0, 0, 0};
	enum wire_err err = WIRE_OK;

	if (!m || !keep || !out || !outlen || !res || cap < m->question_end)
		return WIRE_ERR_INVAL;
	memset(res, 0, sizeof(*res));
	memset(e, 0, sizeof(*e));
	e->out = out;
	e->cap = cap;
	/* Header and question as they came (the question is uncompressed at
	 * offset 12: pointers may not point into the header). */
	memcpy(out, m->buf, m->question_end);
	e->len = m->question_end;
	{
		size_t start[WIRE_MAX_NAME / 2 + 1];
		uint32_t h[WIRE_MAX_NAME / 2 + 1];
		struct wire_name qn;
		size_t next;
		unsigned k;

		err = read_name_x(m->buf, m->len, WIRE_HDR_LEN, m->len, false, false, &next, &qn);
		if (err)
			goto out;
		k = suffix_hashes(&qn, start, h);
		for (unsigned i = 0; i < k; i++)
			fenc_add(e, h[i], WIRE_HDR_LEN + start[i]);
	}
	for (size_t i = 0; i < m->nrr; i++) {
		const struct wire_rr *rr = &m->rr[i];
		bool carries, kept = rr_kept(m, rr, keep, arg, &carries);
		bool asked = rr->section == WIRE_SEC_ANSWER &&
			     (rr->type == m->qtype || m->qtype == WIRE_TYPE_ANY);
		struct wire_name owner;
		size_t next;
		uint8_t fixed[8];

		if (!kept) {
			res->removed++;
			res->removed_asked += asked;
			continue;
		}
		res->kept_asked += asked;
		err = read_name_x(m->buf, m->len, rr->name_off, m->len, true, false, &next, &owner);
		if (!err)
			err = fenc_name(e, &owner, true);
		put16(fixed, rr->type);
		/* class and TTL as they came (the OPT record keeps its meaning) */
		memcpy(fixed + 2, m->buf + rr->rdata_off - 8, 6);
		if (!err)
			err = fenc_put(e, fixed, 8);
		if (!err)
			err = fenc_rdata(e, m, rr);
		if (err)
			goto out;
		counts[rr->section - 1]++;
	}
	put16(out + 6, counts[0]);
	put16(out + 8, counts[1]);
	put16(out + 10, counts[2]);
	*outlen = e->len;
out:
	return err;
}
