/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DNS messages on the wire: parse and build, never reading or writing past a
 * checked length (RFC 1035 §4, RFC 3596 AAAA, RFC 6891 EDNS, RFC 9460
 * SVCB/HTTPS).
 *
 * Nothing here allocates. A parsed message is a plain struct that borrows the
 * caller's buffer and a caller-provided record array; names are copied out
 * into struct wire_name, which is self-contained. Every parser returns an
 * enum wire_err; wire_strerror() names it.
 *
 * The one security-relevant product is wire_chain_extract(): the addresses an
 * answer proves for the question it answers (DESIGN.md invariant 3), taken
 * from the ANSWER section only, for the question name and its CNAME chain only.
 */
#ifndef ZTDNS_WIRE_H
#define ZTDNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define WIRE_HDR_LEN   12
#define WIRE_MAX_MSG   65535
#define WIRE_MAX_NAME  255 /* RFC 1035 §2.3.4, wire length incl. the root label */
#define WIRE_MAX_LABEL 63
#define WIRE_MIN_UDP   512 /* RFC 1035 §4.2.1; smaller EDNS sizes mean 512 (RFC 6891 §6.2.5) */
/* Worst-case presentation length of a name (every byte as \DDD) plus NUL. */
#define WIRE_NAME_STRLEN 1024
/* Compression pointers followed for one name at most. Pointers must already go
 * strictly backwards, which alone guarantees termination; this caps the work. */
#define WIRE_MAX_PTR_JUMPS 128

/* Default bounds (DESIGN.md, "Default bounds"); callers pass their own. */
#define WIRE_DEFAULT_MAX_RECORDS 256
#define WIRE_DEFAULT_MAX_CHAIN	 8
/* Hard ceiling for the CNAME depth parameter (size of wire_chain.names). */
#define WIRE_CHAIN_LIMIT 16

/* Types and classes (RFC 1035 §3.2.2, RFC 3596, RFC 6891, RFC 9460). */
#define WIRE_TYPE_A	1
#define WIRE_TYPE_CNAME 5
#define WIRE_TYPE_AAAA	28
#define WIRE_TYPE_OPT	41
#define WIRE_TYPE_SVCB	64
#define WIRE_TYPE_HTTPS 65
#define WIRE_TYPE_ANY	255
#define WIRE_CLASS_IN	1

/* Header flags word (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD/CD). */
#define WIRE_FLAG_QR	     0x8000
#define WIRE_FLAG_AA	     0x0400
#define WIRE_FLAG_TC	     0x0200
#define WIRE_FLAG_RD	     0x0100
#define WIRE_FLAG_RA	     0x0080
#define WIRE_FLAG_AD	     0x0020
#define WIRE_FLAG_CD	     0x0010
#define WIRE_FLAGS_OPCODE(f) (((f) >> 11) & 0xf)
#define WIRE_FLAGS_RCODE(f)  ((f)&0xf)
#define WIRE_OPCODE_QUERY    0

/* RCODEs; values above 15 need an OPT record (RFC 6891 §6.1.3). */
enum wire_rcode {
	WIRE_RCODE_NOERROR = 0,
	WIRE_RCODE_FORMERR = 1,
	WIRE_RCODE_SERVFAIL = 2,
	WIRE_RCODE_NXDOMAIN = 3,
	WIRE_RCODE_NOTIMP = 4,
	WIRE_RCODE_REFUSED = 5,
	WIRE_RCODE_BADVERS = 16,
};

enum wire_err {
	WIRE_OK = 0,
	/* message structure */
	WIRE_ERR_SHORT,		   /* shorter than the 12-byte header */
	WIRE_ERR_TOO_LONG,	   /* longer than 65535 bytes */
	WIRE_ERR_TRUNCATED,	   /* ends inside a name, question or record */
	WIRE_ERR_QDCOUNT,	   /* question count is not 1 */
	WIRE_ERR_COUNT,		   /* record counts need more bytes than there are */
	WIRE_ERR_TOO_MANY_RECORDS, /* more records than the caller's bound */
	WIRE_ERR_TRAILING,	   /* bytes after the last counted record */
	/* names (RFC 1035 §3.1, §4.1.4) */
	WIRE_ERR_LABEL_TYPE,	/* label type 0b01 or 0b10 (RFC 6891 §5) */
	WIRE_ERR_NAME_TOO_LONG, /* more than 255 bytes in wire form */
	WIRE_ERR_PTR_FORWARD,	/* compression pointer to itself or further on */
	WIRE_ERR_PTR_LOOP,	/* pointer back into the labels it came from */
	WIRE_ERR_PTR_HEADER,	/* pointer into the 12-byte header */
	WIRE_ERR_PTR_JUMPS,	/* more than WIRE_MAX_PTR_JUMPS pointers */
	WIRE_ERR_PTR_IN_RDATA,	/* pointer where compression is forbidden */
	WIRE_ERR_NAME_SYNTAX,	/* bad presentation name (wire_name_from_str) */
	/* records */
	WIRE_ERR_RDLENGTH,  /* RDLENGTH runs past the message */
	WIRE_ERR_RDATA,	    /* A not 4 bytes, AAAA not 16, CNAME not one name */
	WIRE_ERR_SVCB,	    /* malformed SVCB/HTTPS RDATA (RFC 9460 §2.2) */
	WIRE_ERR_OPT,	    /* OPT not in additional, owner not root, bad options */
	WIRE_ERR_OPT_MULTI, /* more than one OPT record (RFC 6891 §6.1.1) */
	/* queries (stub side) */
	WIRE_ERR_QR,	       /* a "query" with QR=1: drop it, never answer it */
	WIRE_ERR_OPCODE,       /* opcode other than QUERY: NOTIMP */
	WIRE_ERR_EDNS_VERSION, /* EDNS version other than 0: BADVERS */
	/* answers (upstream side) */
	WIRE_ERR_NOT_RESPONSE, /* QR=0 or opcode not QUERY */
	WIRE_ERR_ID_MISMATCH,
	WIRE_ERR_QUESTION_MISMATCH,
	WIRE_ERR_CNAME_LOOP,
	WIRE_ERR_CNAME_DEPTH,	 /* chain longer than the caller's bound */
	WIRE_ERR_CNAME_CONFLICT, /* two CNAMEs for one owner with different targets */
	/* builders and arguments */
	WIRE_ERR_NOSPACE, /* output buffer too small */
	WIRE_ERR_INVAL,	  /* bad argument (NULL, bound out of range, rcode) */
	WIRE_ERR__COUNT	  /* number of codes, not an error */
};

/* A static string for every code (never NULL, also for unknown values). */
const char *wire_strerror(enum wire_err e);

/* What the stub does with a query that wire_query_parse() refused: the RCODE
 * to answer with (FORMERR, NOTIMP, BADVERS), 0 for WIRE_OK, or -1 to drop it
 * without an answer (too short to carry an ID, or QR=1: never answer a
 * response, so two servers cannot ping-pong). */
int wire_query_rcode(enum wire_err e);

/*
 * A domain name in lowercase, uncompressed wire form: len bytes of labels
 * ending with the root label (so len >= 1; the root name is len 1, b[0] 0).
 * Lowercasing only touches 'A'..'Z' (RFC 4343 §3), never length bytes (<= 63),
 * so comparing two names is comparing bytes. Self-contained: copy freely.
 */
struct wire_name {
	uint8_t len;
	uint8_t b[WIRE_MAX_NAME];
};

/* Parse a presentation name ("www.Example.com", trailing dot optional, "."
 * for the root, \DDD and \X escapes as in RFC 1035 §5.1) into lowercase wire
 * form. Returns WIRE_OK, WIRE_ERR_NAME_SYNTAX (empty label, bad escape,
 * label > 63) or WIRE_ERR_NAME_TOO_LONG. */
enum wire_err wire_name_from_str(const char *s, struct wire_name *out);

/* Format for logs: "www.example.com" (no trailing dot; the root is "."),
 * every byte other than [a-z0-9-_*] as \DDD ('.' inside a label is \046), so
 * a name can never inject control characters into a log line. Writes at most
 * len bytes, always NUL-terminated when len > 0 (cut short if len is smaller
 * than WIRE_NAME_STRLEN). Returns buf. */
const char *wire_name_format(const struct wire_name *n, char *buf, size_t len);

/* Case-insensitive comparison of two names (RFC 4343). */
bool wire_name_equal(const struct wire_name *a, const struct wire_name *b);

enum wire_section {
	WIRE_SEC_ANSWER = 1, /* RFC 1035 §4.1 */
	WIRE_SEC_AUTHORITY = 2,
	WIRE_SEC_ADDITIONAL = 3,
};

/* One resource record, as offsets into the message (RFC 1035 §4.1.3). */
struct wire_rr {
	uint16_t name_off; /* owner name (may be compressed): wire_rr_owner() */
	uint16_t type;
	uint16_t rclass;
	uint16_t rdlen;
	uint16_t rdata_off; /* rdata is buf[rdata_off .. rdata_off + rdlen) */
	uint8_t section;    /* enum wire_section */
	uint8_t pad;
	uint32_t ttl; /* seconds; a TTL with the top bit set reads as 0 (RFC 2181 §8) */
};

/*
 * A parsed message. Plain data: buf and rr are BORROWED (the caller's message
 * buffer and record array) and the struct is valid only while both live and
 * the buffer is unchanged. Everything else is copied.
 */
struct wire_msg {
	const uint8_t *buf; /* borrowed */
	size_t len;
	uint16_t id;
	uint16_t flags; /* header flags word, with the 4-bit header RCODE */
	uint16_t rcode; /* full 12-bit RCODE: header RCODE plus the OPT
			 * extended RCODE bits (RFC 6891 §6.1.3) */
	uint16_t ancount, nscount, arcount;
	/* the single question (RFC 1035 §4.1.2): name lowercased */
	struct wire_name qname;
	uint16_t qtype, qclass;
	uint16_t question_end; /* header + question = buf[0 .. question_end) */
	/* the records of all three sections, in message order */
	struct wire_rr *rr; /* borrowed: the caller's array */
	size_t nrr;
	/* EDNS (RFC 6891 §6.1.2, §6.1.3) */
	bool edns;
	uint8_t edns_version;
	bool edns_do;
	uint16_t edns_udp_size; /* as sent, not clamped */
};

/*
 * Parse a whole message: header, exactly one question, every record of the
 * three sections (RFC 1035 §4.1), at most one OPT record, which must be in
 * the additional section with the root as owner (RFC 6891 §6.1.1). A message
 * with trailing bytes after its last record is refused, and so is a message
 * with more than rr_max records (WIRE_ERR_TOO_MANY_RECORDS).
 *
 * RDATA is checked for the records the extraction reads, in every section:
 * IN A is 4 bytes, IN AAAA is 16, IN CNAME holds exactly one name, IN
 * SVCB/HTTPS is well formed (RFC 9460 §2.2, keys strictly increasing,
 * mandatory keys present, ipv4hint/ipv6hint a non-empty multiple of 4/16).
 *
 * buf (len bytes) and rr (rr_max entries) are borrowed by *out, which is
 * filled on WIRE_OK only (its contents are unspecified on error). Never reads
 * outside buf[0 .. len).
 */
enum wire_err wire_msg_parse(const uint8_t *buf, size_t len, struct wire_rr *rr, size_t rr_max,
			     struct wire_msg *out);

/* Decode the owner name of rr (one of m->rr) into *out. */
enum wire_err wire_rr_owner(const struct wire_msg *m, const struct wire_rr *rr,
			    struct wire_name *out);

/*
 * Is m the answer to the query we sent? Checks QR=1 and opcode QUERY
 * (WIRE_ERR_NOT_RESPONSE), the ID (WIRE_ERR_ID_MISMATCH) and the question:
 * name case-insensitively, type and class (WIRE_ERR_QUESTION_MISMATCH).
 * Call it before wire_chain_extract(): the extraction trusts the question
 * that the message itself carries.
 */
enum wire_err wire_answer_matches(const struct wire_msg *m, uint16_t id,
				  const struct wire_name *qname, uint16_t qtype, uint16_t qclass);

/* One address proven by an answer. */
struct wire_found {
	struct addr addr;
	uint32_t ttl;  /* the record's TTL (the largest, if the address came twice) */
	uint8_t owner; /* index of the owner name in wire_chain.names */
};

/* The CNAME chain of an answer and what it proved. Plain data, copy freely
 * except found, which is BORROWED (the caller's array). */
struct wire_chain {
	/* names[0] is the question name, names[i] the target of the i-th CNAME */
	struct wire_name names[WIRE_CHAIN_LIMIT + 1];
	unsigned nnames;
	/* smallest TTL of the CNAME records followed; UINT32_MAX when none */
	uint32_t min_ttl;
	struct wire_found *found; /* borrowed: the caller's array */
	size_t nfound;
	/* distinct addresses that did not fit in found (bound hit): the caller
	 * counts them; nothing is written past found[found_max - 1] */
	size_t dropped;
};

/*
 * Follow the chain of an answer m (already checked with wire_answer_matches)
 * and collect the addresses it proves, following RFC 1034 §3.6.2 / §4.3.2:
 *
 *  - start at the question name; while the ANSWER section has an IN CNAME
 *    for the current name, move to its target (unless the question type is
 *    CNAME). More than max_depth CNAMEs is WIRE_ERR_CNAME_DEPTH, a name seen
 *    twice WIRE_ERR_CNAME_LOOP, two different CNAMEs for one name
 *    WIRE_ERR_CNAME_CONFLICT; on any error nfound is 0.
 *  - collect, from ANSWER records of class IN whose owner is on the chain and
 *    whose type is the question type (any of them for ANY): A and AAAA
 *    addresses, and the ipv4hint/ipv6hint of ServiceMode SVCB/HTTPS records
 *    (RFC 9460 §7.3; AliasMode parameters are ignored, §2.4.2).
 *  - nothing from the authority or additional sections, nothing for a name
 *    off the chain, nothing unless the RCODE is NOERROR.
 *
 * max_depth must be at most WIRE_CHAIN_LIMIT (else WIRE_ERR_INVAL). found
 * (found_max entries, may be 0) is borrowed by *out. Duplicate addresses are
 * stored once.
 */
enum wire_err wire_chain_extract(const struct wire_msg *m, unsigned max_depth,
				 struct wire_found *found, size_t found_max,
				 struct wire_chain *out);

/* A query as the stub received it. Self-contained (copied out of the buffer). */
struct wire_query {
	uint16_t id;
	uint16_t flags; /* header flags word */
	uint8_t opcode; /* WIRE_FLAGS_OPCODE(flags) */
	bool rd;
	struct wire_name qname; /* lowercased; the original case is in the
				 * buffer at WIRE_HDR_LEN (wire_build_error echoes it) */
	uint16_t qtype, qclass;
	uint16_t question_end; /* header + question = buf[0 .. question_end) */
	bool edns;
	uint8_t edns_version;
	bool edns_do;
	uint16_t edns_udp_size; /* as sent */
	uint16_t udp_limit;	/* the largest UDP answer the client takes:
				 * 512 without EDNS, else max(512, edns_udp_size) */
};

/*
 * Parse a query for the stub. The checks come in the order that decides the
 * answer (wire_query_rcode()): WIRE_ERR_SHORT (drop), WIRE_ERR_QR (drop),
 * WIRE_ERR_OPCODE (NOTIMP), then any malformation including qdcount != 1
 * (FORMERR), then WIRE_ERR_EDNS_VERSION (BADVERS). Header fields of *out (id,
 * flags, opcode, rd) are set whenever the header was read; the rest on
 * WIRE_OK only (and on WIRE_ERR_EDNS_VERSION). Reads only buf[0 .. len).
 */
enum wire_err wire_query_parse(const uint8_t *buf, size_t len, struct wire_query *out);

/*
 * Build a query into out (cap bytes): one question (qname, qtype, class IN),
 * RD if rd, and an OPT record with UDP payload size edns_udp_size unless that
 * is 0 (RFC 6891 §6.1.2; version 0, DO clear). *outlen gets the length.
 * Returns WIRE_OK, WIRE_ERR_NOSPACE or WIRE_ERR_INVAL (bad qname).
 */
enum wire_err wire_build_query(uint16_t id, const struct wire_name *qname, uint16_t qtype, bool rd,
			       uint16_t edns_udp_size, uint8_t *out, size_t cap, size_t *outlen);

/*
 * Build an error response (SERVFAIL, REFUSED, NXDOMAIN, FORMERR, NOTIMP,
 * BADVERS...) to the query in query[0 .. qlen): same ID and opcode, QR=1,
 * RD and CD copied, RA set, the question echoed byte for byte (original
 * case, RFC 1035 §4.1.1) when the query has exactly one parseable question,
 * else no question. An OPT record is added when edns_udp_size is not 0 (pass
 * it when the query had EDNS, RFC 6891 §7); an RCODE above 15 needs it
 * (WIRE_ERR_INVAL otherwise). The query needs at least its 12-byte header
 * (WIRE_ERR_SHORT); it is not otherwise validated, so a FORMERR can be built
 * for any query. query and out must not overlap.
 */
enum wire_err wire_build_error(const uint8_t *query, size_t qlen, unsigned rcode,
			       uint16_t edns_udp_size, uint8_t *out, size_t cap, size_t *outlen);

/*
 * Make a complete answer fit a UDP client (RFC 1035 §4.2.1, RFC 2181 §9):
 * if *len <= max, nothing changes; otherwise the message is cut, in place, to
 * its header and question with TC=1 and the record counts zeroed, plus an OPT
 * record with payload size edns_udp_size if that is not 0. *truncated (may be
 * NULL) says which. The question must parse (the message is not otherwise
 * re-validated). WIRE_ERR_NOSPACE if even the cut message exceeds max.
 */
enum wire_err wire_fit_udp(uint8_t *msg, size_t *len, size_t max, uint16_t edns_udp_size,
			   bool *truncated);

/* Read or rewrite the ID of a message in place (RFC 1035 §4.1.1). */
enum wire_err wire_get_id(const uint8_t *msg, size_t len, uint16_t *id);
enum wire_err wire_set_id(uint8_t *msg, size_t len, uint16_t id);

/*
 * The answer filter (DESIGN.md invariant 7: what the client receives is a
 * subset of the allowset). keep() decides for one address; it is called for
 * every record that carries one to a client, in every section and whatever
 * its class: A and AAAA (also by the low byte of the type alone, as musl
 * reads it, when RDLENGTH is 4 / 16) and each ipv4hint/ipv6hint of an IN
 * SVCB/HTTPS record (either mode). A record with an address not kept is
 * removed whole.
 */
typedef bool (*wire_keep_fn)(void *arg, const struct addr *a);

struct wire_filter_result {
	size_t removed;	      /* records removed, every section */
	size_t removed_asked; /* of them, ANSWER records of the question's type (ANY: all) */
	size_t kept_asked;    /* ANSWER records of the question's type left */
};

/* Would wire_filter_answer() remove anything from m? (No copy.) */
bool wire_filter_needed(const struct wire_msg *m, wire_keep_fn keep, void *arg);

/*
 * Write into out (cap bytes) the message m without the records that carry
 * an address keep() refuses: the header (counts fixed, flags, ID and RCODE
 * unchanged) and the question byte for byte, then every other record in its
 * order and section, re-encoded: names are decompressed and compressed again
 * against what is written (RFC 1035 §4.1.4; in RDATA only for the RFC 1035
 * types, RFC 3597 §4), so no pointer can lead into a removed record. TTLs,
 * classes and the OPT record are kept as they are. The caller decides what
 * an answer with nothing left of what was asked means (res->removed_asked
 * and res->kept_asked). Returns WIRE_OK, WIRE_ERR_NOSPACE (cap too small),
 * WIRE_ERR_RDATA (a name in RDATA that does not fit its RDLENGTH) or a name
 * error; *outlen and out are meaningful on WIRE_OK only. m->buf and out must
 * not overlap. Uses about 8 KiB of stack, never allocates.
 */
enum wire_err wire_filter_answer(const struct wire_msg *m, wire_keep_fn keep, void *arg,
				 uint8_t *out, size_t cap, size_t *outlen,
				 struct wire_filter_result *res);

#endif
