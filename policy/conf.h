/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration: one JSON file parsed (jansson) into a fresh struct conf,
 * validated as a whole, then handed to the daemon. Nothing is half-applied: a
 * file with any error yields no struct at all, and every error is reported as
 * "FILE: JSON.path: reason" (the path uses "." and "[i]", e.g.
 * "servers[1].spki_pins[0]"). Unknown keys are errors, because a typo must
 * never silently weaken policy.
 */
#ifndef ZTDNS_CONF_H
#define ZTDNS_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/addr.h"

#define CONF_MAX_SERVERS      8
#define CONF_MAX_SERVER_ADDRS 8
#define CONF_MAX_PINS	      8
#define CONF_MAX_EXCEPTIONS   4096
/* Named exception groups ({"name": ..., "subnets": [...]}) and
 * exceptions_files (each file is one group, named by its path). */
#define CONF_MAX_EXCEPTION_GROUPS 64
#define CONF_MAX_EXCEPTION_FILES  16
#define CONF_GROUP_NAME_MAX	  32 /* bytes with the NUL */
#define CONF_EXCEPTION_LINE_MAX	  256
#define CONF_EXCEPTIONS_FILE_MAX  (1 << 20) /* bytes */
/* Exceptions together larger than this are refused without
 * allow_large_exceptions: a /8 of IPv4 (in addresses), a /16 of IPv6 (in
 * /64s, as exceptions_coverage() counts). */
#define CONF_EXCEPTIONS_MAX_V4 ((uint64_t)1 << 24)
#define CONF_EXCEPTIONS_MAX_V6 ((uint64_t)1 << 48)
#define CONF_MAX_LISTEN	       8
#define CONF_MAX_LAN_IFACES    8
#define CONF_MAX_LAN_SUBNETS   16 /* client subnets per LAN interface */
#define CONF_MAX_IDENTITIES    16
#define CONF_MAX_SERVICES      64 /* inbound.services, gateway.port_forwards */
#define CONF_MAX_SERVICE_FROM  16 /* "from" subnets of one service */
#define CONF_MAX_FORWARD_ZONES 16
#define CONF_MAX_ERRORS	       64
#define CONF_ERR_LEN	       512

enum conf_mode { CONF_MODE_HOST, CONF_MODE_GATEWAY, CONF_MODE_SIDECAR };
enum conf_proto { CONF_PROTO_DOH, CONF_PROTO_DOT, CONF_PROTO_DNS }; /* dns: forward zones only */

/* "doh", "dot" or "dns": the name the configuration uses. */
const char *conf_proto_name(enum conf_proto p);
enum conf_deny_action { CONF_DENY_DROP, CONF_DENY_REJECT };
enum conf_log_level { CONF_LOG_ERR, CONF_LOG_WARN, CONF_LOG_INFO, CONF_LOG_DEBUG };
enum conf_log_format { CONF_LOG_JSON, CONF_LOG_TEXT };
enum conf_seccomp { CONF_SECCOMP_KILL, CONF_SECCOMP_LOG, CONF_SECCOMP_OFF };

struct conf_endpoint {
	struct addr addr;
	uint16_t port;
};

struct conf_server {
	char *name; /* label for logs/metrics; default "server<i>" */
	enum conf_proto proto;
	char *url;	/* DoH: "https://host[:port]/path"; NULL for DoT, DNS */
	char *tls_name; /* name checked in the certificate; DoH default: URL host */
	uint16_t port;	/* DoH: from the URL (default 443); DoT: "port" (default 853);
			 * DNS: "port" (default 53) */
	struct addr addrs[CONF_MAX_SERVER_ADDRS]; /* DoH "bootstrap" / DoT "address"(es) */
	unsigned naddrs;			  /* >= 1 */
	char *ca_file;				  /* NULL: system store */
	uint8_t pins[CONF_MAX_PINS][32];	  /* SPKI SHA-256, from base64 (RFC 7469 form) */
	unsigned npins;
	int priority; /* lower is preferred; default 0 */
};

/* forward_zones[i]: names at or under zone are asked of these servers
 * (DoT/DoH, same keys and checks as servers) instead of the main ones. */
struct conf_forward_zone {
	char *zone; /* presentation form, lowercase, no trailing dot */
	struct conf_server servers[CONF_MAX_SERVERS];
	unsigned nservers; /* >= 1 */
	/* insecure_plain_dns: servers of protocol "dns" (plain DNS, dns/plain.h)
	 * are accepted; without it they are refused. A trust decision. */
	bool insecure_plain_dns;
};

struct conf_limits {
	uint32_t learned_max;	      /* 65536 */
	uint32_t addrs_per_name;      /* 64 */
	uint32_t names_per_addr;      /* 8: names remembered per learned address */
	uint32_t cname_depth;	      /* 8 */
	uint32_t records_per_message; /* 256 */
	uint32_t pending_queries;     /* 1024 */
	uint32_t pending_per_client;  /* 64 */
	uint32_t upstream_timeout_ms; /* 3000 */
	uint32_t learned_per_client;  /* learned_max / 4: allowset entries per client */
	uint32_t tcp_connections;     /* 256: stub TCP connections in total */
	uint32_t tcp_per_client;      /* 16 */
	uint32_t tcp_idle_ms;	      /* 10000 */
};

struct conf_ttl {
	uint32_t min;	/* 5 s */
	uint32_t max;	/* 86400 s */
	uint32_t grace; /* 30 s */
};

/* cache: the stub's answer cache (dns/cache.h). */
struct conf_cache {
	bool enabled;	       /* default false */
	uint32_t max_entries;  /* 10000 */
	uint32_t max_bytes;    /* 8 MiB: messages plus per-entry overhead */
	uint32_t negative_max; /* 2500: NXDOMAIN / NODATA entries (RFC 2308) */
};

/* Gateway: LAN clients in subnet present this certificate to the
 * Protective DNS servers, so the server applies their policy. */
struct conf_identity {
	struct prefix subnet;
	char *iface; /* the LAN interface the subnet is on; NULL: any (old form) */
	char *client_cert;
	char *client_key;
};

/* A flow the far side may start: inbound.services (host, sidecar: to this
 * machine, to.len 0) or gateway.port_forwards (to a LAN client or subnet).
 * nfrom 0: from any source. */
struct conf_service {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;
	struct prefix to;
	struct prefix from[CONF_MAX_SERVICE_FROM];
	unsigned nfrom;
};

struct conf {
	char *path; /* the file it came from (copied) */
	enum conf_mode mode;
	bool enforce; /* false = audit: would-deny is logged and accepted */

	struct conf_server servers[CONF_MAX_SERVERS];
	unsigned nservers;					 /* >= 1 */
	struct conf_forward_zone fzones[CONF_MAX_FORWARD_ZONES]; /* split DNS */
	unsigned nfzones;
	char *client_cert; /* PEM, optional (mTLS); both or neither */
	char *client_key;

	struct prefix exceptions[CONF_MAX_EXCEPTIONS];
	unsigned nexceptions;
	/* exception_group[i]: 0 for a bare prefix, else 1 + its index in
	 * exception_groups (a named group or an exceptions_files entry). */
	uint8_t exception_group[CONF_MAX_EXCEPTIONS];
	uint16_t exception_pos[CONF_MAX_EXCEPTIONS]; /* its index in its list, or its line */
	struct conf_exception_group {
		char name[CONF_GROUP_NAME_MAX]; /* a file's group: "" (see file) */
		int file;			/* -1, or its index in exceptions_files */
	} exception_groups[CONF_MAX_EXCEPTION_GROUPS];
	unsigned nexception_groups;
	char *exceptions_files[CONF_MAX_EXCEPTION_FILES]; /* absolute paths */
	unsigned nexceptions_files;
	/* allow_large_exceptions: exceptions may together cover more than
	 * CONF_EXCEPTIONS_MAX_V4 / _V6 (default false: refused). */
	bool allow_large_exceptions;

	/* NAT64 prefixes of the network (RFC 6052 lengths 32..96): an IPv6
	 * address in one that embeds a never-learn IPv4 address is never
	 * learned (ADDR_NAT64_MAX of them). */
	struct prefix nat64[ADDR_NAT64_MAX];
	unsigned nnat64;

	struct conf_endpoint listen[CONF_MAX_LISTEN]; /* default 127.0.0.1:53, [::1]:53 */
	unsigned nlisten;
	/* listen_any: a host or sidecar stub may listen on 0.0.0.0 / ::
	 * (default false: refused, it would be an open resolver). */
	bool listen_any;
	/* intercept_dns: plain DNS (UDP and TCP port 53) from local processes
	 * to any address is redirected to the stub (nat OUTPUT), host and
	 * sidecar mode; default true there, refused in gateway mode. */
	bool intercept_dns;

	uint16_t queue_num;    /* first NFQUEUE number, default 0 */
	uint16_t queue_count;  /* queues num..num+count-1, default 1, max 16 */
	uint32_t queue_maxlen; /* default 4096, min 4096 */

	struct conf_limits limits;
	struct conf_ttl ttl;
	struct conf_cache cache;

	enum conf_log_level log_level;	 /* default info */
	bool log_verdicts;		 /* one JSON line per verdict; default false */
	char *verdict_log;		 /* file path; NULL = stdout */
	enum conf_log_format log_format; /* verdict log format; default json */

	/* query_log: one JSON line per answered query (dns/querylog.h), to
	 * query_log.file (NULL: none) and/or journald (query_log.journal);
	 * both off by default. */
	char *query_log_file;
	bool query_log_journal;

	char *control_socket; /* default /run/ztdns/control.sock */
	uint32_t control_uid; /* besides root, this uid may use it; default 0 */

	char *journal;		   /* state.journal: warm-restart file; NULL = none */
	uint32_t journal_interval; /* state.journal_interval_s, default 30 */
	char *break_glass; /* state.break_glass: its deadline across restarts; NULL = none */
	char *metrics;	   /* metrics.listen: "unix:/path", "127.0.0.1:port" or
			    * "[::1]:port" (loopback only); NULL = off */

	char *user;		   /* privileges.user: drop to it after set-up; NULL = stay */
	enum conf_seccomp seccomp; /* privileges.seccomp, default kill */

	/* readiness.require_answer: READY (sd_notify, wait-ready) only once a
	 * Protective DNS server has answered; default true in sidecar mode,
	 * false otherwise */
	bool ready_require_answer;
	bool ready_require_answer_set; /* given in the file (else the mode decides) */

	bool fast_path;			   /* ruleset.fast_path, default false */
	bool keep_on_stop;		   /* ruleset.keep_on_stop, default false */
	enum conf_deny_action deny_action; /* ruleset.deny_action, default drop */

	/* host and sidecar: inbound.services, default none */
	struct conf_service services[CONF_MAX_SERVICES];
	unsigned nservices;

	/* gateway mode only */
	char *lan_ifaces[CONF_MAX_LAN_IFACES];
	unsigned nlan_ifaces;
	/* gateway.lan[i].subnets: the sources lan_ifaces[i] may forward and ask
	 * from; disjoint between interfaces. lan_nsubnets[i] 0: the old
	 * gateway.lan_interfaces form, any source on that interface. */
	struct prefix lan_subnets[CONF_MAX_LAN_IFACES][CONF_MAX_LAN_SUBNETS];
	unsigned lan_nsubnets[CONF_MAX_LAN_IFACES];
	bool lan_may_reach_servers;  /* default false: the infra rule is the gateway's own */
	bool gateway_enforce_output; /* default true */
	bool shared_allowances;	     /* default false: per-client scoping */
	struct conf_identity identities[CONF_MAX_IDENTITIES]; /* gateway.client_identities */
	unsigned nidentities;
	struct conf_service forwards[CONF_MAX_SERVICES]; /* gateway.port_forwards */
	unsigned nforwards;
};

struct conf_errors {
	char msg[CONF_MAX_ERRORS][CONF_ERR_LEN];  /* "FILE: path: reason" */
	unsigned count;				  /* stored, <= CONF_MAX_ERRORS */
	unsigned dropped;			  /* errors past the bound, counted not stored */
	char warn[CONF_MAX_ERRORS][CONF_ERR_LEN]; /* "FILE: path: warning: ..." */
	unsigned nwarn;
};

/* The group the exception prefix i belongs to, as logs and explain show it:
 * the group's name, or the file it came from; NULL for a bare prefix. */
const char *conf_exception_group(const struct conf *c, unsigned i);

/* Parse and validate the JSON text in buf (len bytes, need not be
 * NUL-terminated); fname is used in messages only. On success returns 0 and
 * *out is a new conf (caller frees with conf_free); warnings may be in errs.
 * On failure returns -EINVAL, *out is NULL and errs holds every error found
 * (validation goes on after the first error). errs must not be NULL. */
int conf_parse(const char *buf, size_t len, const char *fname, struct conf **out,
	       struct conf_errors *errs);

/* Read the file (at most 1 MiB) and conf_parse() it. -errno when the file
 * cannot be read (errs holds "FILE: cannot read: reason"). */
int conf_load(const char *path, struct conf **out, struct conf_errors *errs);

/* Print every error and warning, one per line. */
void conf_errors_print(const struct conf_errors *errs, FILE *f);

/* Write the canonical configuration (every key, defaults filled in) as
 * indented JSON; used by "ztdnsd --check -v". */
void conf_dump(const struct conf *c, FILE *f);

/* Free a conf and everything it owns; NULL-safe; sets *c to NULL. */
void conf_free(struct conf **c);

const char *conf_mode_name(enum conf_mode m);

/* An SPKI pin in base64 with its NUL: 32 bytes -> 44 characters + 1. */
#define CONF_PIN_B64LEN 45

/* Parse a pin: padded base64 (RFC 4648) of exactly 32 bytes. 0 or -EINVAL. */
int conf_pin_parse(const char *b64, uint8_t out[32]);

/* Base64 of a 32-byte pin into out. Returns out. */
const char *conf_pin_format(const uint8_t pin[32], char out[CONF_PIN_B64LEN]);

#endif
