/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration parser. The JSON is walked once, key by key, into a fresh
 * struct conf that starts with every default filled in; each value is checked
 * where it is read and every problem is recorded with its JSON path, so one
 * run of "ztdnsd --check" shows all of them. Only a document with no error at
 * all produces a struct.
 *
 * Strings that end up in messages are quoted and escaped, because they come
 * from the file and a control character must not forge a log line.
 */
#include "policy/conf.h"
#include "policy/exceptions.h"

#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

#define CONF_MAX_FILE	      (1024 * 1024)
#define CONF_PATH_LEN	      256  /* JSON path in messages; a longer one is cut */
#define CONF_QUOTE_LEN	      100  /* a quoted value in a message; longer ones end in "..." */
#define CONF_NAME_MAX	      63   /* server names: log and metrics labels */
#define CONF_HOST_MAX	      253  /* RFC 1035 name length in text form */
#define CONF_URL_MAX	      2048 /* what any HTTP stack accepts without argument */
#define CONF_PATH_MAX	      (PATH_MAX - 1)
#define CONF_SUN_PATH	      108 /* sizeof(sockaddr_un.sun_path), NUL included */
#define CONF_IFNAMSIZ	      16  /* Linux IFNAMSIZ, NUL included */
#define CONF_DEFAULT_SOCKET   "/run/ztdns/control.sock"
#define CONF_DEFAULT_DOH_PORT 443
#define CONF_DEFAULT_DOT_PORT 853

struct conf_ctx {
	const char *fname;
	struct conf_errors *errs;
	char path[CONF_PATH_LEN]; /* JSON path of the value being read */
	size_t plen;
	bool oom;
};

static const char *const conf_mode_names[] = {"host", "gateway", "sidecar"};
static const char *const conf_proto_names[] = {"doh", "dot", "dns"};

const char *conf_proto_name(enum conf_proto p)
{
	return (unsigned)p < ARRAY_SIZE(conf_proto_names) ? conf_proto_names[p] : "?";
}
static const char *const conf_level_names[] = {"error", "warning", "info", "debug"};
static const char *const conf_format_names[] = {"json", "text"};
static const char *const conf_deny_names[] = {"drop", "reject"};
static const char *const conf_seccomp_names[] = {"kill", "log", "off"};

/* ---- messages ----------------------------------------------------------- */

/* Copy s into buf with every byte that is not printable ASCII and the
 * backslash escaped (and the double quote, when quotes adds them around);
 * cut with "..." when it does not fit. */
static const char *conf_escape(const char *s, char *buf, size_t len, bool quotes)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, room;

	/* Reserve room for the closing quote, a "..." and the NUL. */
	if (len < 8) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	room = len - 5;
	if (quotes)
		buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char e[4];
		size_t n;

		if ((*p == '"' && quotes) || *p == '\\') {
			e[0] = '\\';
			e[1] = (char)*p;
			n = 2;
		} else if (*p < 0x20 || *p >= 0x7f) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[*p >> 4];
			e[3] = hex[*p & 15];
			n = 4;
		} else {
			e[0] = (char)*p;
			n = 1;
		}
		if (o + n > room) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, e, n);
		o += n;
	}
	if (quotes)
		buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const char *conf_quote(const char *s, char *buf, size_t len)
{
	return conf_escape(s, buf, len, true);
}

__attribute__((format(printf, 3, 0))) static void conf_vreport(struct conf_ctx *x, bool warning,
							       const char *fmt, va_list ap)
{
	struct conf_errors *e = x->errs;
	char reason[CONF_ERR_LEN];
	const char *path = x->plen ? x->path : "(root)";
	char *slot;

	if (vsnprintf(reason, sizeof(reason), fmt, ap) < 0)
		reason[0] = '\0';
	if (warning) {
		/* Warnings past the bound are not kept: they never stop a load. */
		if (e->nwarn >= CONF_MAX_ERRORS)
			return;
		slot = e->warn[e->nwarn++];
	} else {
		if (e->count >= CONF_MAX_ERRORS) {
			e->dropped++;
			return;
		}
		slot = e->msg[e->count++];
	}
	if (snprintf(slot, CONF_ERR_LEN, "%s: %s: %s%s", x->fname, path, warning ? "warning: " : "",
		     reason) < 0)
		slot[0] = '\0';
}

__attribute__((format(printf, 2, 3))) static void conf_err(struct conf_ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vreport(x, false, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3))) static void conf_warn(struct conf_ctx *x, const char *fmt,
							    ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vreport(x, true, fmt, ap);
	va_end(ap);
}

static void conf_oom(struct conf_ctx *x)
{
	if (!x->oom)
		conf_err(x, "out of memory");
	x->oom = true;
}

/* ---- JSON path ---------------------------------------------------------- */

static void conf_path_append(struct conf_ctx *x, const char *s)
{
	size_t n = strlen(s);

	if (x->plen + n >= sizeof(x->path))
		n = sizeof(x->path) - 1 - x->plen;
	memcpy(x->path + x->plen, s, n);
	x->plen += n;
	x->path[x->plen] = '\0';
}

/* Descend into key; returns the length to give back to conf_path_pop(). */
static size_t conf_path_key(struct conf_ctx *x, const char *key)
{
	char buf[CONF_QUOTE_LEN];
	size_t old = x->plen;

	if (x->plen)
		conf_path_append(x, ".");
	conf_path_append(x, conf_escape(key, buf, sizeof(buf), false));
	return old;
}

static size_t conf_path_index(struct conf_ctx *x, size_t i)
{
	char buf[32];
	size_t old = x->plen;

	snprintf(buf, sizeof(buf), "[%zu]", i);
	conf_path_append(x, buf);
	return old;
}

static void conf_path_pop(struct conf_ctx *x, size_t old)
{
	x->plen = old;
	x->path[old] = '\0';
}

/* ---- typed getters ------------------------------------------------------ */

static const char *conf_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown type";
}

/* Each getter reads obj[key]. It returns 0 when the key is absent, 1 when it
 * is present and valid (*out set), -1 when it is present and wrong (reported
 * under obj's path + key, *out untouched). */

static void conf_check_keys(struct conf_ctx *x, json_t *obj, const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		size_t old;
		bool ok = false;

		for (const char *const *k = known; *k; k++)
			if (strcmp(key, *k) == 0)
				ok = true;
		if (ok)
			continue;
		old = conf_path_key(x, key);
		conf_err(x, "unknown key");
		conf_path_pop(x, old);
	}
}

static int conf_get_bool(struct conf_ctx *x, json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	size_t old;
	int ret = 1;

	if (!v)
		return 0;
	old = conf_path_key(x, key);
	if (!json_is_boolean(v)) {
		conf_err(x, "expected true or false, got %s", conf_type_name(v));
		ret = -1;
		goto out;
	}
	*out = json_is_true(v);
out:
	conf_path_pop(x, old);
	return ret;
}

static int conf_int_value(struct conf_ctx *x, json_t *v, json_int_t min, json_int_t max,
			  json_int_t *out)
{
	json_int_t n;

	if (!json_is_integer(v)) {
		conf_err(x, "expected an integer, got %s", conf_type_name(v));
		return -1;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		conf_err(x, "%lld is out of range %lld..%lld", (long long)n, (long long)min,
			 (long long)max);
		return -1;
	}
	*out = n;
	return 1;
}

static int conf_get_int(struct conf_ctx *x, json_t *obj, const char *key, json_int_t min,
			json_int_t max, json_int_t *out)
{
	json_t *v = json_object_get(obj, key);
	size_t old;
	int ret;

	if (!v)
		return 0;
	old = conf_path_key(x, key);
	ret = conf_int_value(x, v, min, max, out);
	conf_path_pop(x, old);
	return ret;
}

/* The same for the uint32_t fields of the struct. */
static int conf_get_u32(struct conf_ctx *x, json_t *obj, const char *key, json_int_t min,
			json_int_t max, uint32_t *out)
{
	json_int_t n = 0;
	int ret = conf_get_int(x, obj, key, min, max, &n);

	if (ret > 0)
		*out = (uint32_t)n;
	return ret;
}

/* Borrowed string: lives as long as the JSON document. */
static int conf_get_str(struct conf_ctx *x, json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);
	size_t old;
	int ret = 1;

	if (!v)
		return 0;
	old = conf_path_key(x, key);
	if (!json_is_string(v)) {
		conf_err(x, "expected a string, got %s", conf_type_name(v));
		ret = -1;
		goto out;
	}
	*out = json_string_value(v);
out:
	conf_path_pop(x, old);
	return ret;
}

static int conf_get_enum(struct conf_ctx *x, json_t *obj, const char *key, const char *const *names,
			 size_t n, int *out)
{
	json_t *v = json_object_get(obj, key);
	char q[CONF_QUOTE_LEN], list[128] = "";
	size_t old, used = 0;
	int ret = -1;

	if (!v)
		return 0;
	old = conf_path_key(x, key);
	if (!json_is_string(v)) {
		conf_err(x, "expected a string, got %s", conf_type_name(v));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(json_string_value(v), names[i]) == 0) {
			*out = (int)i;
			ret = 1;
			goto out;
		}
	}
	for (size_t i = 0; i < n && used < sizeof(list); i++) {
		int w =
		    snprintf(list + used, sizeof(list) - used, "%s\"%s\"", i ? ", " : "", names[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	conf_err(x, "%s is not one of %s", conf_quote(json_string_value(v), q, sizeof(q)), list);
out:
	conf_path_pop(x, old);
	return ret;
}

static bool conf_has_ctl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/* An absolute file path, copied into *out. null is accepted as "not set" when
 * nullable, so that the canonical dump (which prints every key) loads again. */
static int conf_get_path(struct conf_ctx *x, json_t *obj, const char *key, bool nullable,
			 size_t maxlen, char **out)
{
	json_t *v = json_object_get(obj, key);
	char q[CONF_QUOTE_LEN];
	const char *s;
	size_t old, len;
	int ret = -1;

	if (!v)
		return 0;
	old = conf_path_key(x, key);
	if (nullable && json_is_null(v)) {
		ret = 0;
		goto out;
	}
	if (!json_is_string(v)) {
		conf_err(x, "expected a string%s, got %s", nullable ? " or null" : "",
			 conf_type_name(v));
		goto out;
	}
	s = json_string_value(v);
	len = strlen(s);
	if (s[0] != '/') {
		/* The daemon may run with another working directory than --check. */
		conf_err(x, "%s must be an absolute path", conf_quote(s, q, sizeof(q)));
		goto out;
	}
	if (len > maxlen) {
		conf_err(x, "%s is too long (%zu bytes, at most %zu)", conf_quote(s, q, sizeof(q)),
			 len, maxlen);
		goto out;
	}
	if (conf_has_ctl(s)) {
		conf_err(x, "%s contains a control character", conf_quote(s, q, sizeof(q)));
		goto out;
	}
	free(*out);
	*out = strdup(s);
	if (!*out) {
		conf_oom(x);
		goto out;
	}
	ret = 1;
out:
	conf_path_pop(x, old);
	return ret;
}

/* obj[key] as an object, or NULL (absent, or wrong type and reported). */
static json_t *conf_get_object(struct conf_ctx *x, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	size_t old;

	if (!v || json_is_object(v))
		return v;
	old = conf_path_key(x, key);
	conf_err(x, "expected an object, got %s", conf_type_name(v));
	conf_path_pop(x, old);
	return NULL;
}

/* Checks that v (at the current path) is an array of 1..max elements; returns
 * how many elements to read (0 on error, reported). Too many is reported but
 * the first max are still read so that their own errors show too. */
static size_t conf_array(struct conf_ctx *x, json_t *v, size_t max, const char *what)
{
	size_t n;

	if (!json_is_array(v)) {
		conf_err(x, "expected an array, got %s", conf_type_name(v));
		return 0;
	}
	n = json_array_size(v);
	if (n == 0) {
		conf_err(x, "must not be empty");
		return 0;
	}
	if (n > max) {
		conf_err(x, "has %zu elements, at most %zu %s allowed", n, max, what);
		n = max;
	}
	return n;
}

static void conf_missing(struct conf_ctx *x, const char *key, const char *why)
{
	size_t old = conf_path_key(x, key);

	conf_err(x, "required%s%s", why ? " " : "", why ? why : "");
	conf_path_pop(x, old);
}

static void conf_forbid(struct conf_ctx *x, json_t *obj, const char *key, const char *why)
{
	size_t old;

	if (!json_object_get(obj, key))
		return;
	old = conf_path_key(x, key);
	conf_err(x, "not allowed %s", why);
	conf_path_pop(x, old);
}

/* ---- syntax of names, ports, URLs --------------------------------------- */

/* A DNS host name as TLS and HTTP use it: LDH labels of 1..63, not all
 * numeric at the end (that would be a mistyped IPv4 address). */
static bool conf_hostname_valid(const char *s, size_t len)
{
	size_t label = 0;
	bool digits = true;

	if (len == 0 || len > CONF_HOST_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? s[i] : '.';

		if (ch == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			if (i == len && digits)
				return false;
			label = 0;
			digits = true;
			continue;
		}
		if (ch == '-') {
			if (label == 0)
				return false;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9'))) {
			return false;
		}
		if (ch < '0' || ch > '9')
			digits = false;
		label++;
	}
	return true;
}

/* "1".."65535", digits only. */
static int conf_port_parse(const char *s, size_t len, uint16_t *out)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* Split "https://host[:port]/path". host receives the name or address
 * without brackets (it is also the default TLS name). On error *why says what
 * is wrong. */
static int conf_url_parse(const char *url, char *host, size_t hostlen, uint16_t *port,
			  const char **why)
{
	const char *p, *h, *end;
	size_t hlen;
	struct addr a;

	*port = CONF_DEFAULT_DOH_PORT;
	if (strlen(url) > CONF_URL_MAX) {
		*why = "is too long";
		return -EINVAL;
	}
	if (strncasecmp(url, "https://", 8) != 0) {
		/* DoH over plain HTTP would be plain-text DNS with extra steps. */
		*why = strncasecmp(url, "http://", 7) == 0
			   ? "must use https (plain http is refused)"
			   : "must start with \"https://\"";
		return -EINVAL;
	}
	p = url + 8;
	if (*p == '[') {
		h = p + 1;
		end = strchr(h, ']');
		if (!end) {
			*why = "has an IPv6 address without its closing \"]\"";
			return -EINVAL;
		}
		hlen = (size_t)(end - h);
		if (hlen == 0 || hlen >= hostlen) {
			*why = "has a bad IPv6 address";
			return -EINVAL;
		}
		memcpy(host, h, hlen);
		host[hlen] = '\0';
		if (addr_parse(host, &a) < 0 || a.family != AF_INET6) {
			*why = "has a bad IPv6 address between the brackets";
			return -EINVAL;
		}
		p = end + 1;
	} else {
		h = p;
		hlen = strcspn(h, ":/");
		if (hlen == 0) {
			*why = "has no host";
			return -EINVAL;
		}
		if (hlen >= hostlen) {
			*why = "has a host name longer than 253 characters";
			return -EINVAL;
		}
		memcpy(host, h, hlen);
		host[hlen] = '\0';
		if (!conf_hostname_valid(host, hlen) &&
		    !(addr_parse(host, &a) == 0 && a.family == AF_INET)) {
			/* '@' lands here: credentials in a URL are refused too. */
			*why = "has a host that is neither a host name nor an IP address "
			       "(IPv6 needs brackets)";
			return -EINVAL;
		}
		p = h + hlen;
	}
	if (*p == ':') {
		size_t plen = strcspn(p + 1, "/");

		if (conf_port_parse(p + 1, plen, port) < 0) {
			*why = "has a bad port (1..65535)";
			return -EINVAL;
		}
		p += 1 + plen;
	}
	if (*p != '/') {
		*why = *p ? "has garbage after the host" : "has no path (e.g. \"/dns-query\")";
		return -EINVAL;
	}
	for (; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#') {
			*why = "has a space, a control character, a non-ASCII byte or a "
			       "fragment in its path";
			return -EINVAL;
		}
	}
	return 0;
}

static bool conf_ifname_valid(const char *s)
{
	size_t len = strlen(s);

	/* The kernel's dev_valid_name(). */
	if (len == 0 || len >= CONF_IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == '/' || *p == ':' || *p <= 0x20 || *p >= 0x7f)
			return false;
	return true;
}

/* ---- SPKI pins: padded base64 (RFC 4648), decoded by OpenSSL ------------ */

/* Longest base64 string decoded (a pin is 44 characters). */
#define CONF_B64_MAX 1024

/* Returns the decoded length (which may be more than outlen: only outlen
 * bytes are stored) or -1 if s is not padded base64. EVP_DecodeBlock skips
 * blanks and counts padding as data, so the form is checked here first:
 * alphabet only, a multiple of 4, at most two '=' and only at the end. */
static long conf_b64_decode(const char *s, uint8_t *out, size_t outlen)
{
	unsigned char buf[CONF_B64_MAX / 4 * 3];
	size_t len = strlen(s), pad = 0;

	if (len == 0 || len % 4 || len > CONF_B64_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '=') {
			if (i < len - 2 || (i == len - 2 && s[len - 1] != '='))
				return -1;
			pad++;
			continue;
		}
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
			return -1;
	}
	if (EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) != (int)(len / 4 * 3))
		return -1;
	memcpy(out, buf, len / 4 * 3 - pad < outlen ? len / 4 * 3 - pad : outlen);
	return (long)(len / 4 * 3 - pad);
}

int conf_pin_parse(const char *b64, uint8_t out[32])
{
	uint8_t buf[33];

	if (!b64 || strlen(b64) != CONF_PIN_B64LEN - 1 ||
	    conf_b64_decode(b64, buf, sizeof(buf)) != 32)
		return -EINVAL;
	memcpy(out, buf, 32);
	return 0;
}

const char *conf_pin_format(const uint8_t pin[32], char out[CONF_PIN_B64LEN])
{
	EVP_EncodeBlock((unsigned char *)out, pin, 32);
	return out;
}

/* ---- servers ------------------------------------------------------------ */

/* The address of a server: any unicast literal. The unspecified and
 * multicast addresses cannot be a server and are typos. */
static void conf_server_addr(struct conf_ctx *x, json_t *v, struct conf_server *s)
{
	static const uint8_t zero[16];
	char q[CONF_QUOTE_LEN];
	struct addr a;

	if (!json_is_string(v)) {
		conf_err(x, "expected an IP address string, got %s", conf_type_name(v));
		return;
	}
	if (addr_parse(json_string_value(v), &a) < 0) {
		conf_err(x, "%s is not an IP address",
			 conf_quote(json_string_value(v), q, sizeof(q)));
		return;
	}
	if (memcmp(a.b, zero, sizeof(zero)) == 0 || (a.family == AF_INET && a.b[0] >= 224) ||
	    (a.family == AF_INET6 && a.b[0] == 0xff)) {
		conf_err(x, "%s cannot be a server address (unspecified, multicast or reserved)",
			 conf_quote(json_string_value(v), q, sizeof(q)));
		return;
	}
	for (unsigned i = 0; i < s->naddrs; i++) {
		if (addr_equal(&s->addrs[i], &a)) {
			conf_err(x, "%s is listed twice",
				 conf_quote(json_string_value(v), q, sizeof(q)));
			return;
		}
	}
	s->addrs[s->naddrs++] = a;
}

static void conf_server_addrs(struct conf_ctx *x, json_t *obj, const char *key, bool one_ok,
			      struct conf_server *s)
{
	json_t *v = json_object_get(obj, key);
	size_t old = conf_path_key(x, key), n;

	if (one_ok && json_is_string(v)) {
		conf_server_addr(x, v, s);
		goto out;
	}
	if (one_ok && !json_is_array(v)) {
		conf_err(x, "expected an IP address or an array of them, got %s",
			 conf_type_name(v));
		goto out;
	}
	n = conf_array(x, v, CONF_MAX_SERVER_ADDRS, "addresses are");
	for (size_t i = 0; i < n; i++) {
		size_t o2 = conf_path_index(x, i);

		conf_server_addr(x, json_array_get(v, i), s);
		conf_path_pop(x, o2);
	}
out:
	conf_path_pop(x, old);
}

static void conf_server_pins(struct conf_ctx *x, json_t *obj, struct conf_server *s)
{
	json_t *v = json_object_get(obj, "spki_pins");
	size_t old, n;

	if (!v)
		return;
	old = conf_path_key(x, "spki_pins");
	n = conf_array(x, v, CONF_MAX_PINS, "pins are");
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(v, i);
		size_t o2 = conf_path_index(x, i);
		char q[CONF_QUOTE_LEN];
		uint8_t buf[64];
		long len;

		if (!json_is_string(p)) {
			conf_err(x, "expected a base64 string, got %s", conf_type_name(p));
			goto next;
		}
		len = conf_b64_decode(json_string_value(p), buf, sizeof(buf));
		if (len < 0) {
			conf_err(x, "%s is not padded base64 (RFC 4648)",
				 conf_quote(json_string_value(p), q, sizeof(q)));
		} else if (len != 32) {
			conf_err(x, "%s decodes to %ld bytes, a SHA-256 pin has 32",
				 conf_quote(json_string_value(p), q, sizeof(q)), len);
		} else {
			memcpy(s->pins[s->npins++], buf, 32);
		}
	next:
		conf_path_pop(x, o2);
	}
	conf_path_pop(x, old);
}

static bool conf_tls_name_valid(const char *s)
{
	struct addr a;

	return conf_hostname_valid(s, strlen(s)) || addr_parse(s, &a) == 0;
}

/* plain_ok: protocol "dns" is accepted (a forward zone's servers; the zone
 * checks its insecure_plain_dns key). */
static void conf_server(struct conf_ctx *x, json_t *o, unsigned idx, bool plain_ok,
			struct conf_server *s)
{
	static const char *const keys[] = {"name",	"protocol", "url",	"address",
					   "bootstrap", "port",	    "tls_name", "ca_file",
					   "spki_pins", "priority", NULL};
	char host[CONF_HOST_MAX + 1] = "", q[CONF_QUOTE_LEN];
	const char *str = NULL;
	int proto = -1;
	json_int_t n = 0;

	conf_check_keys(x, o, keys);

	if (!json_object_get(o, "protocol"))
		conf_missing(x, "protocol", "(\"doh\" or \"dot\")");
	else if (conf_get_enum(x, o, "protocol", conf_proto_names, ARRAY_SIZE(conf_proto_names),
			       &proto) > 0) {
		if (proto == CONF_PROTO_DNS && !plain_ok) {
			size_t old = conf_path_key(x, "protocol");

			conf_err(x, "\"dns\" (plain DNS) is only for the servers of a forward "
				    "zone with \"insecure_plain_dns\": true");
			conf_path_pop(x, old);
			proto = -1;
		} else {
			s->proto = (enum conf_proto)proto;
		}
	}

	if (conf_get_str(x, o, "name", &str) > 0) {
		size_t old = conf_path_key(x, "name");
		size_t len = strlen(str);

		if (len == 0 || len > CONF_NAME_MAX ||
		    strspn(str,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			len)
			conf_err(x, "%s must be 1..%d characters of A-Z a-z 0-9 . _ -",
				 conf_quote(str, q, sizeof(q)), CONF_NAME_MAX);
		else if (!(s->name = strdup(str)))
			conf_oom(x);
		conf_path_pop(x, old);
	} else {
		char def[32];

		snprintf(def, sizeof(def), "server%u", idx);
		if (!(s->name = strdup(def)))
			conf_oom(x);
	}

	if (proto == CONF_PROTO_DOH) {
		conf_forbid(x, o, "address", "with protocol \"doh\" (use \"bootstrap\")");
		conf_forbid(x, o, "port", "with protocol \"doh\" (the port is part of the URL)");
		if (!json_object_get(o, "url")) {
			conf_missing(x, "url", "for protocol \"doh\"");
		} else if (conf_get_str(x, o, "url", &str) > 0) {
			size_t old = conf_path_key(x, "url");
			const char *why = NULL;

			if (conf_url_parse(str, host, sizeof(host), &s->port, &why) < 0) {
				conf_err(x, "%s %s", conf_quote(str, q, sizeof(q)), why);
				host[0] = '\0';
			} else if (!(s->url = strdup(str))) {
				conf_oom(x);
			}
			conf_path_pop(x, old);
		}
		if (!json_object_get(o, "bootstrap"))
			conf_missing(x, "bootstrap",
				     "for protocol \"doh\" (the server's IP addresses, so that "
				     "finding it needs no plain DNS)");
		else
			conf_server_addrs(x, o, "bootstrap", false, s);
	} else if (proto == CONF_PROTO_DOT) {
		conf_forbid(x, o, "url", "with protocol \"dot\"");
		conf_forbid(x, o, "bootstrap", "with protocol \"dot\" (use \"address\")");
		if (!json_object_get(o, "address"))
			conf_missing(x, "address", "for protocol \"dot\"");
		else
			conf_server_addrs(x, o, "address", true, s);
		s->port = CONF_DEFAULT_DOT_PORT;
		if (conf_get_int(x, o, "port", 1, 65535, &n) > 0)
			s->port = (uint16_t)n;
		if (!json_object_get(o, "tls_name"))
			conf_missing(x, "tls_name",
				     "for protocol \"dot\" (the name in the server's certificate)");
	} else if (proto == CONF_PROTO_DNS) {
		static const char *const no_tls[] = {"url", "bootstrap", "tls_name", "ca_file",
						     "spki_pins"};

		for (size_t i = 0; i < ARRAY_SIZE(no_tls); i++)
			conf_forbid(x, o, no_tls[i],
				    "with protocol \"dns\" (plain DNS: nothing is encrypted or "
				    "authenticated)");
		if (!json_object_get(o, "address"))
			conf_missing(x, "address", "for protocol \"dns\"");
		else
			conf_server_addrs(x, o, "address", true, s);
		s->port = 53;
		if (conf_get_int(x, o, "port", 1, 65535, &n) > 0)
			s->port = (uint16_t)n;
		goto prio; /* no TLS keys */
	}

	if (conf_get_str(x, o, "tls_name", &str) > 0) {
		size_t old = conf_path_key(x, "tls_name");

		if (!conf_tls_name_valid(str))
			conf_err(x,
				 "%s is neither a host name (at most %d characters) nor an IP "
				 "address",
				 conf_quote(str, q, sizeof(q)), CONF_HOST_MAX);
		else if (!(s->tls_name = strdup(str)))
			conf_oom(x);
		conf_path_pop(x, old);
	} else if (proto == CONF_PROTO_DOH && host[0] && !(s->tls_name = strdup(host))) {
		conf_oom(x);
	}

	conf_get_path(x, o, "ca_file", true, CONF_PATH_MAX, &s->ca_file);
	conf_server_pins(x, o, s);
prio:
	if (conf_get_int(x, o, "priority", 0, 1000, &n) > 0)
		s->priority = (int)n;
}

static void conf_servers_free(struct conf_server *servers)
{
	for (unsigned i = 0; i < CONF_MAX_SERVERS; i++) {
		free(servers[i].name);
		free(servers[i].url);
		free(servers[i].tls_name);
		free(servers[i].ca_file);
	}
}

/* The array v (path already pushed) into servers[0 .. *np). */
static void conf_server_list(struct conf_ctx *x, json_t *v, bool plain_ok,
			     struct conf_server *servers, unsigned *np)
{
	size_t n = conf_array(x, v, CONF_MAX_SERVERS, "servers are");
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(v, i);
		size_t o2 = conf_path_index(x, i);

		if (!json_is_object(o))
			conf_err(x, "expected an object, got %s", conf_type_name(o));
		else
			conf_server(x, o, (unsigned)i, plain_ok, &servers[i]);
		conf_path_pop(x, o2);
	}
	*np = (unsigned)n;
	/* Names label logs and metrics: two servers must not share one. */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (servers[i].name && servers[j].name &&
			    strcmp(servers[i].name, servers[j].name) == 0) {
				size_t o2 = conf_path_index(x, i);
				size_t o3 = conf_path_key(x, "name");
				char q[CONF_QUOTE_LEN];

				conf_err(x, "%s is already the name of servers[%zu]",
					 conf_quote(servers[i].name, q, sizeof(q)), j);
				conf_path_pop(x, o3);
				conf_path_pop(x, o2);
				break;
			}
		}
	}
}

static void conf_servers(struct conf_ctx *x, json_t *root, struct conf *c)
{
	json_t *v = json_object_get(root, "servers");
	size_t old;

	if (!v) {
		conf_missing(x, "servers", "(at least one Protective DNS server)");
		return;
	}
	old = conf_path_key(x, "servers");
	conf_server_list(x, v, false, c->servers, &c->nservers);
	conf_path_pop(x, old);
}

/* ---- forward_zones (split DNS) ------------------------------------------ */

/* "cluster.local", "corp.example.": a DNS name of at least one label, kept
 * lowercase without the trailing dot. Returns 0 or -1 (error reported). */
static int conf_zone_name(struct conf_ctx *x, const char *s, char **out)
{
	char q[CONF_QUOTE_LEN];
	size_t len = strlen(s);

	if (len && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253) {
		conf_err(x, "%s is not a zone name (the root is what servers answer)",
			 conf_quote(s, q, sizeof(q)));
		return -1;
	}
	for (size_t i = 0, lab = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (lab == 0)
				goto bad;
			lab = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') ||
		    ++lab > 63)
			goto bad;
	}
	if (s[len - 1] == '.' || !(*out = strndup(s, len))) {
		if (s[len - 1] == '.')
			goto bad;
		conf_oom(x);
		return -1;
	}
	for (char *p = *out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
bad:
	conf_err(x,
		 "%s is not a zone name (letters, digits, '-' and '_' in labels of "
		 "1..63, separated by dots)",
		 conf_quote(s, q, sizeof(q)));
	return -1;
}

static void conf_forward_zone(struct conf_ctx *x, json_t *o, struct conf_forward_zone *z)
{
	static const char *const keys[] = {"zone", "servers", "insecure_plain_dns", NULL};
	const char *str = NULL;
	unsigned nplain = 0;
	json_t *v;

	conf_check_keys(x, o, keys);
	if (!json_object_get(o, "zone"))
		conf_missing(x, "zone", "(the suffix forwarded, e.g. \"cluster.local\")");
	else if (conf_get_str(x, o, "zone", &str) > 0) {
		size_t old = conf_path_key(x, "zone");

		conf_zone_name(x, str, &z->zone);
		conf_path_pop(x, old);
	}
	v = json_object_get(o, "servers");
	if (!v) {
		conf_missing(x, "servers", "(the servers that answer the zone)");
	} else {
		size_t old = conf_path_key(x, "servers");

		conf_server_list(x, v, true, z->servers, &z->nservers);
		conf_path_pop(x, old);
	}
	conf_get_bool(x, o, "insecure_plain_dns", &z->insecure_plain_dns);
	for (unsigned i = 0; i < z->nservers; i++)
		nplain += z->servers[i].proto == CONF_PROTO_DNS;
	if (nplain && !z->insecure_plain_dns)
		conf_err(x,
			 "%u of the servers of zone \"%s\" use plain DNS (protocol \"dns\"), "
			 "which needs \"insecure_plain_dns\": true on the zone",
			 nplain, z->zone ? z->zone : "?");
	else if (nplain)
		conf_warn(x,
			  "insecure_plain_dns: zone \"%s\" is asked in plain DNS, which "
			  "anyone on the path can read and forge; what a forged answer names "
			  "becomes allowed",
			  z->zone ? z->zone : "?");
	else if (z->insecure_plain_dns)
		conf_warn(x,
			  "insecure_plain_dns has no effect: no server of zone \"%s\" uses "
			  "protocol \"dns\"",
			  z->zone ? z->zone : "?");
}

static void conf_forward_zones(struct conf_ctx *x, json_t *root, struct conf *c)
{
	json_t *v = json_object_get(root, "forward_zones");
	size_t old, n;

	if (!v)
		return;
	old = conf_path_key(x, "forward_zones");
	n = conf_array(x, v, CONF_MAX_FORWARD_ZONES, "forward zones are");
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(v, i);
		size_t o2 = conf_path_index(x, i);

		if (!json_is_object(o))
			conf_err(x, "expected an object, got %s", conf_type_name(o));
		else
			conf_forward_zone(x, o, &c->fzones[i]);
		for (size_t j = 0; j < i; j++)
			if (c->fzones[i].zone && c->fzones[j].zone &&
			    strcmp(c->fzones[i].zone, c->fzones[j].zone) == 0)
				conf_err(x, "zone \"%s\" is already forward_zones[%zu]",
					 c->fzones[i].zone, j);
		conf_path_pop(x, o2);
	}
	c->nfzones = (unsigned)n;
	conf_path_pop(x, old);
}

static void conf_forward_zones_free(struct conf *c)
{
	for (unsigned i = 0; i < CONF_MAX_FORWARD_ZONES; i++) {
		free(c->fzones[i].zone);
		conf_servers_free(c->fzones[i].servers);
	}
}

/* ---- exceptions, listen ------------------------------------------------- */

/* Where exception prefix i came from, for an error about a duplicate. */
static const char *conf_exception_where(const struct conf *c, unsigned i, char *buf, size_t len)
{
	const struct conf_exception_group *g;

	if (!c->exception_group[i]) {
		snprintf(buf, len, "exceptions[%u]", c->exception_pos[i]);
		return buf;
	}
	g = &c->exception_groups[c->exception_group[i] - 1];
	if (g->file >= 0)
		snprintf(buf, len, "%s line %u", c->exceptions_files[g->file], c->exception_pos[i]);
	else
		snprintf(buf, len, "group \"%s\"", g->name);
	return buf;
}

/* One exception prefix s, in group (0: none; else 1 + its index) at pos
 * (its index in its list, or its line in a file). */
static void conf_exception(struct conf_ctx *x, const char *s, struct conf *c, unsigned group,
			   unsigned pos)
{
	char q[CONF_QUOTE_LEN], tmp[ADDR_STRLEN], fixed[PREFIX_STRLEN], where[CONF_PATH_MAX + 32];
	const char *slash;
	struct prefix p;
	struct addr a;
	size_t alen;
	unsigned long len;

	if (c->nexceptions >= CONF_MAX_EXCEPTIONS) {
		conf_err(x, "more than %d exception prefixes in all", CONF_MAX_EXCEPTIONS);
		return;
	}
	conf_quote(s, q, sizeof(q));
	/* Take it apart first, so that each mistake gets its own reason. */
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(tmp)) {
		conf_err(x, "%s is not an IP address or CIDR prefix", q);
		return;
	}
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (addr_parse(tmp, &a) < 0) {
		conf_err(x, "%s is not an IP address or CIDR prefix", q);
		return;
	}
	len = addr_bits(&a);
	if (slash) {
		char *end;

		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || errno || *end || len > addr_bits(&a)) {
			conf_err(x, "%s has a bad prefix length (1..%u)", q, addr_bits(&a));
			return;
		}
	}
	if (len == 0) {
		conf_err(x, "%s would allow everything and disable the firewall", q);
		return;
	}
	if (addr_prefix_parse(s, &p) < 0) {
		struct prefix m = {.addr = a, .len = (uint8_t)len};

		for (unsigned i = (unsigned)len; i < 128; i++)
			m.addr.b[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
		conf_err(x, "%s has host bits set (did you mean \"%s\"?)", q,
			 addr_prefix_format(&m, fixed, sizeof(fixed)));
		return;
	}
	for (unsigned i = 0; i < c->nexceptions; i++) {
		if (c->exceptions[i].len == p.len && addr_equal(&c->exceptions[i].addr, &p.addr)) {
			conf_err(x, "%s is the same prefix as %s", q,
				 conf_exception_where(c, i, where, sizeof(where)));
			return;
		}
	}
	if (!addr_prefix_is_global(&p))
		conf_warn(x,
			  "%s is not globally routable (private, loopback, link-local, "
			  "documentation...): is it really an exception?",
			  q);
	c->exception_group[c->nexceptions] = (uint8_t)group;
	c->exception_pos[c->nexceptions] = (uint16_t)pos;
	c->exceptions[c->nexceptions++] = p;
}

/* A group's name: what logs and explain print, so short and plain. */
static bool conf_group_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= CONF_GROUP_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

static int conf_exception_group_new(struct conf_ctx *x, struct conf *c, const char *name, int file)
{
	struct conf_exception_group *g;

	if (c->nexception_groups >= CONF_MAX_EXCEPTION_GROUPS) {
		conf_err(x, "more than %d exception groups and files", CONF_MAX_EXCEPTION_GROUPS);
		return -1;
	}
	g = &c->exception_groups[c->nexception_groups++];
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->file = file;
	return (int)c->nexception_groups; /* 1 + its index */
}

/* {"name": "...", "subnets": [...]}: prefixes logged and explained by name. */
static void conf_exception_named(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"name", "subnets", NULL};
	char q[CONF_QUOTE_LEN];
	const char *name = NULL;
	json_t *subs;
	size_t old, n;
	int group;

	conf_check_keys(x, o, keys);
	if (conf_get_str(x, o, "name", &name) == 0) {
		conf_missing(x, "name", "for an exception group");
		return;
	}
	if (!name)
		return;
	if (!conf_group_name_valid(name)) {
		old = conf_path_key(x, "name");
		conf_err(x, "%s is not a group name (1..%d of A-Z a-z 0-9 . _ -)",
			 conf_quote(name, q, sizeof(q)), CONF_GROUP_NAME_MAX - 1);
		conf_path_pop(x, old);
		return;
	}
	for (unsigned i = 0; i < c->nexception_groups; i++)
		if (c->exception_groups[i].file < 0 &&
		    strcmp(c->exception_groups[i].name, name) == 0) {
			old = conf_path_key(x, "name");
			conf_err(x, "%s names another group too", conf_quote(name, q, sizeof(q)));
			conf_path_pop(x, old);
			return;
		}
	subs = json_object_get(o, "subnets");
	if (!subs) {
		conf_missing(x, "subnets", "for an exception group");
		return;
	}
	group = conf_exception_group_new(x, c, name, -1);
	if (group < 0)
		return;
	old = conf_path_key(x, "subnets");
	if (!json_is_array(subs) || json_array_size(subs) == 0) {
		conf_err(x, "expected a non-empty array of CIDR prefixes, got %s",
			 json_is_array(subs) ? "an empty array" : conf_type_name(subs));
		goto out;
	}
	n = json_array_size(subs);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(subs, i);
		size_t o2 = conf_path_index(x, i);

		if (json_is_string(v))
			conf_exception(x, json_string_value(v), c, (unsigned)group, (unsigned)i);
		else
			conf_err(x, "expected a CIDR prefix string, got %s", conf_type_name(v));
		conf_path_pop(x, o2);
	}
out:
	conf_path_pop(x, old);
}

/* One prefix per line; '#' starts a comment; blank lines are fine. The
 * file is read at every load, so a SIGHUP picks up a new list, and every
 * prefix gets the same checks as one in the configuration. */
static void conf_exceptions_file(struct conf_ctx *x, struct conf *c, unsigned idx)
{
	const char *path = c->exceptions_files[idx];
	char line[CONF_EXCEPTION_LINE_MAX + 2], at[48];
	unsigned lineno = 0;
	struct stat st;
	int group;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		conf_err(x, "cannot read \"%s\": %s", path, strerror(errno));
		return;
	}
	/* A regular file of bounded size: never a device or a FIFO that
	 * would stall a reload. */
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONF_EXCEPTIONS_FILE_MAX) {
		conf_err(x, "\"%s\" is not a regular file of at most %d bytes", path,
			 CONF_EXCEPTIONS_FILE_MAX);
		fclose(f);
		return;
	}
	group = conf_exception_group_new(x, c, "", (int)idx);
	while (group > 0 && lineno < CONF_EXCEPTIONS_FILE_MAX && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line), old;
		char *s = line, *e;

		lineno++;
		snprintf(at, sizeof(at), " line %u", lineno);
		old = x->plen;
		conf_path_append(x, at);
		if (len && line[len - 1] != '\n' && !feof(f)) {
			int ch;

			conf_err(x, "longer than %d bytes", CONF_EXCEPTION_LINE_MAX);
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			conf_path_pop(x, old);
			continue;
		}
		e = strchr(s, '#');
		if (e)
			*e = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
			*--e = '\0';
		if (*s)
			conf_exception(x, s, c, (unsigned)group, lineno);
		conf_path_pop(x, old);
	}
	if (ferror(f))
		conf_err(x, "cannot read \"%s\": %s", path, strerror(errno));
	fclose(f);
}

const char *conf_exception_group(const struct conf *c, unsigned i)
{
	const struct conf_exception_group *g;

	if (i >= c->nexceptions || !c->exception_group[i])
		return NULL;
	g = &c->exception_groups[c->exception_group[i] - 1];
	return g->file >= 0 ? c->exceptions_files[g->file] : g->name;
}

/* 0.0.0.0, :: or ::ffff:0.0.0.0: a socket bound there takes every address. */
static bool conf_addr_wildcard(const struct addr *a)
{
	static const uint8_t zero[16], mapped[12] = {[10] = 0xff, [11] = 0xff};

	if (a->family == AF_INET)
		return memcmp(a->b, zero, 4) == 0;
	return a->family == AF_INET6 &&
	       (memcmp(a->b, zero, 16) == 0 ||
		(memcmp(a->b, mapped, 12) == 0 && memcmp(a->b + 12, zero, 4) == 0));
}

/* "192.0.2.1:53" or "[2001:db8::1]:53". */
static void conf_listen_one(struct conf_ctx *x, json_t *v, struct conf *c)
{
	char q[CONF_QUOTE_LEN], host[ADDR_STRLEN];
	struct conf_endpoint ep;
	const char *s, *colon;
	size_t hlen;

	if (!json_is_string(v)) {
		conf_err(x, "expected an \"address:port\" string, got %s", conf_type_name(v));
		return;
	}
	s = json_string_value(v);
	conf_quote(s, q, sizeof(q));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':') {
			conf_err(x, "%s must be \"[IPv6]:port\"", q);
			return;
		}
		hlen = (size_t)(rb - s - 1);
		if (hlen >= sizeof(host)) {
			conf_err(x, "%s has a bad IPv6 address", q);
			return;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (addr_parse(host, &ep.addr) < 0 || ep.addr.family != AF_INET6) {
			conf_err(x, "%s has a bad IPv6 address between the brackets", q);
			return;
		}
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			conf_err(x, "%s has no port (e.g. \"127.0.0.1:53\")", q);
			return;
		}
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen)) {
			conf_err(x, "%s: an IPv6 address must be in brackets (e.g. \"[::1]:53\")",
				 q);
			return;
		}
		if (hlen >= sizeof(host)) {
			conf_err(x, "%s has a bad IPv4 address", q);
			return;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (addr_parse(host, &ep.addr) < 0 || ep.addr.family != AF_INET) {
			conf_err(x, "%s has a bad IPv4 address", q);
			return;
		}
	}
	if (conf_port_parse(colon + 1, strlen(colon + 1), &ep.port) < 0) {
		conf_err(x, "%s has a bad port (1..65535)", q);
		return;
	}
	for (unsigned i = 0; i < c->nlisten; i++) {
		if (c->listen[i].port == ep.port && addr_equal(&c->listen[i].addr, &ep.addr)) {
			conf_err(x, "%s is listed twice", q);
			return;
		}
	}
	if (conf_addr_wildcard(&ep.addr) && c->mode != CONF_MODE_GATEWAY) {
		/* The stub answers whoever reaches it, and every answer opens the
		 * firewall for what it names: on a wildcard address that is every
		 * host that can reach this one. */
		if (!c->listen_any)
			conf_err(x,
				 "%s listens on every address of the host, an open resolver for "
				 "all that can reach it (set \"listen_any\": true if that is "
				 "meant)",
				 q);
		else
			conf_warn(x,
				  "%s listens on every address of the host (listen_any): anyone "
				  "who can reach it can use the stub",
				  q);
	}
	c->listen[c->nlisten++] = ep;
}

/* intercept_dns: on by default in host and sidecar mode (the gateway
 * redirects its LAN's DNS instead, gateway.lan). Redirected to a listener
 * of the same family, so each family needs one. */
static void conf_intercept(struct conf_ctx *x, json_t *root, struct conf *c)
{
	bool v = c->mode != CONF_MODE_GATEWAY;

	if (conf_get_bool(x, root, "intercept_dns", &v) > 0 && v && c->mode == CONF_MODE_GATEWAY) {
		size_t old = conf_path_key(x, "intercept_dns");

		conf_err(x, "only in host and sidecar mode (a gateway redirects its LAN's DNS)");
		conf_path_pop(x, old);
		return;
	}
	c->intercept_dns = v;
	for (int fam = 0; v && fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		bool have = false;

		for (unsigned i = 0; i < c->nlisten; i++)
			have |= c->listen[i].addr.family == family;
		if (!have) {
			size_t old = conf_path_key(x, "intercept_dns");

			conf_warn(x,
				  "no %s listen address: local plain DNS over %s is not redirected "
				  "to the stub (it is dropped like any other flow)",
				  fam ? "IPv6" : "IPv4", fam ? "IPv6" : "IPv4");
			conf_path_pop(x, old);
		}
	}
}

static void conf_listen(struct conf_ctx *x, json_t *root, struct conf *c)
{
	json_t *v = json_object_get(root, "listen");
	size_t old, n;

	if (!v)
		return; /* defaults already in place */
	c->nlisten = 0;
	old = conf_path_key(x, "listen");
	n = conf_array(x, v, CONF_MAX_LISTEN, "listen addresses are");
	for (size_t i = 0; i < n; i++) {
		size_t o2 = conf_path_index(x, i);

		conf_listen_one(x, json_array_get(v, i), c);
		conf_path_pop(x, o2);
	}
	conf_path_pop(x, old);
}

/* "nat64_prefixes": ["2001:db8:64::/96", ...], RFC 6052 §2.2 lengths only. */
static void conf_nat64(struct conf_ctx *x, json_t *root, struct conf *c)
{
	json_t *v = json_object_get(root, "nat64_prefixes");
	size_t old, n;

	if (!v)
		return;
	old = conf_path_key(x, "nat64_prefixes");
	if (!json_is_array(v)) {
		conf_err(x, "expected an array, got %s", conf_type_name(v));
		goto out;
	}
	n = json_array_size(v);
	if (n > ADDR_NAT64_MAX) {
		conf_err(x, "has %zu elements, at most %d prefixes are allowed", n, ADDR_NAT64_MAX);
		n = ADDR_NAT64_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		size_t o2 = conf_path_index(x, i);
		json_t *e = json_array_get(v, i);
		struct prefix p;

		if (!json_is_string(e)) {
			conf_err(x, "expected a string (an IPv6 prefix), got %s",
				 conf_type_name(e));
		} else if (addr_prefix_parse(json_string_value(e), &p) < 0 ||
			   p.addr.family != AF_INET6) {
			conf_err(x, "\"%s\" is not an IPv6 prefix (host bits must be zero)",
				 json_string_value(e));
		} else if (p.len != 32 && p.len != 40 && p.len != 48 && p.len != 56 &&
			   p.len != 64 && p.len != 96) {
			conf_err(x,
				 "\"%s\": a NAT64 prefix is /32, /40, /48, /56, /64 or /96 "
				 "(RFC 6052 section 2.2)",
				 json_string_value(e));
		} else {
			c->nat64[c->nnat64++] = p;
		}
		conf_path_pop(x, o2);
	}
out:
	conf_path_pop(x, old);
}

/*
 * Exceptions that together cover a large share of a family turn the
 * firewall off for it as surely as ::/0 does ("0.0.0.0/1" + "128.0.0.0/1"):
 * more than a /8 of IPv4 or a /16 of IPv6 in total is refused unless
 * allow_large_exceptions says it is meant, and then warned about.
 */
static void conf_exceptions_coverage(struct conf_ctx *x, const struct conf *c, int family)
{
	uint64_t total = exceptions_coverage(c->exceptions, c->nexceptions, family);
	uint64_t max = family == AF_INET ? CONF_EXCEPTIONS_MAX_V4 : CONF_EXCEPTIONS_MAX_V6;
	/* Shares of the family: IPv4 in addresses, IPv6 in /64s. */
	double whole = family == AF_INET ? 4294967296.0 : 18446744073709551616.0;
	double share = (double)total / whole * 100;
	const char *fam = family == AF_INET ? "IPv4" : "IPv6";
	const char *unit = family == AF_INET ? "addresses" : "/64s";
	const struct prefix *largest = NULL;
	char big[PREFIX_STRLEN];

	if (total <= max)
		return;
	for (unsigned i = 0; i < c->nexceptions; i++)
		if (c->exceptions[i].addr.family == family &&
		    (!largest || c->exceptions[i].len < largest->len))
			largest = &c->exceptions[i];
	addr_prefix_format(largest, big, sizeof(big));
	/* Exact counts, so that "just over" reads as over; the share for
	 * the reader. */
	if (!c->allow_large_exceptions)
		conf_err(x,
			 "the %s prefixes together cover %llu %s (%.3g%% of %s, largest \"%s\"), "
			 "more than a /%u (%llu): that leaves it mostly unfiltered (set "
			 "\"allow_large_exceptions\": true if that is meant)",
			 fam, (unsigned long long)total, unit, share, fam, big,
			 family == AF_INET ? 8 : 16, (unsigned long long)max);
	else
		conf_warn(x,
			  "the %s prefixes together cover %llu %s (%.3g%% of %s, largest \"%s\"), "
			  "more than a /%u: allowed by allow_large_exceptions",
			  fam, (unsigned long long)total, unit, share, fam, big,
			  family == AF_INET ? 8 : 16);
}

static void conf_exceptions(struct conf_ctx *x, json_t *root, struct conf *c)
{
	json_t *v = json_object_get(root, "exceptions");
	size_t old, n;

	if (!v)
		return;
	old = conf_path_key(x, "exceptions");
	if (!json_is_array(v)) {
		conf_err(x, "expected an array, got %s", conf_type_name(v));
		goto out;
	}
	/* An empty list is fine: no exceptions. */
	n = json_array_size(v);
	if (n > CONF_MAX_EXCEPTIONS) {
		conf_err(x, "has %zu elements, at most %d prefixes are allowed", n,
			 CONF_MAX_EXCEPTIONS);
		n = CONF_MAX_EXCEPTIONS;
	}
	for (size_t i = 0; i < n; i++) {
		size_t o2 = conf_path_index(x, i);
		json_t *e = json_array_get(v, i);

		if (json_is_string(e))
			conf_exception(x, json_string_value(e), c, 0, (unsigned)i);
		else if (json_is_object(e))
			conf_exception_named(x, e, c);
		else
			conf_err(x, "expected a CIDR prefix string or a group object, got %s",
				 conf_type_name(e));
		conf_path_pop(x, o2);
	}
out:
	conf_path_pop(x, old);
}

static void conf_exceptions_files(struct conf_ctx *x, json_t *root, struct conf *c)
{
	json_t *v = json_object_get(root, "exceptions_files");
	size_t old, n;

	if (!v)
		return;
	old = conf_path_key(x, "exceptions_files");
	/* An empty list is fine (the canonical dump writes one). */
	n = json_is_array(v) && json_array_size(v) == 0
		? 0
		: conf_array(x, v, CONF_MAX_EXCEPTION_FILES, "files are");
	for (size_t i = 0; i < n; i++) {
		size_t o2 = conf_path_index(x, i);
		json_t *e = json_array_get(v, i);
		char q[CONF_QUOTE_LEN];
		const char *path;

		if (!json_is_string(e)) {
			conf_err(x, "expected a path string, got %s", conf_type_name(e));
		} else if ((path = json_string_value(e))[0] != '/' ||
			   strlen(path) > CONF_PATH_MAX || conf_has_ctl(path)) {
			conf_err(x, "%s must be an absolute path without control characters",
				 conf_quote(path, q, sizeof(q)));
		} else {
			bool dup = false;

			for (unsigned j = 0; j < c->nexceptions_files; j++)
				dup |= strcmp(c->exceptions_files[j], path) == 0;
			if (dup) {
				conf_err(x, "%s is listed twice", conf_quote(path, q, sizeof(q)));
			} else if (!(c->exceptions_files[c->nexceptions_files] = strdup(path))) {
				conf_oom(x);
			} else {
				conf_exceptions_file(x, c, c->nexceptions_files++);
			}
		}
		conf_path_pop(x, o2);
	}
	conf_path_pop(x, old);
}

/* ---- sections ----------------------------------------------------------- */

static void conf_queue(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"num", "count", "maxlen", NULL};
	json_int_t num = c->queue_num, count = c->queue_count;
	int a, b;

	conf_check_keys(x, o, keys);
	a = conf_get_int(x, o, "num", 0, 65535, &num);
	b = conf_get_int(x, o, "count", 1, 16, &count);
	conf_get_u32(x, o, "maxlen", 4096, 1048576, &c->queue_maxlen);
	if (a < 0 || b < 0)
		return;
	if (num + count - 1 > 65535) {
		size_t old = conf_path_key(x, "count");

		conf_err(x, "queues %lld..%lld go past 65535", (long long)num,
			 (long long)(num + count - 1));
		conf_path_pop(x, old);
		return;
	}
	c->queue_num = (uint16_t)num;
	c->queue_count = (uint16_t)count;
}

static void conf_limits(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"learned_max",
					   "addrs_per_name",
					   "names_per_addr",
					   "cname_depth",
					   "records_per_message",
					   "pending_queries",
					   "pending_per_client",
					   "upstream_timeout_ms",
					   "learned_per_client",
					   "tcp_connections",
					   "tcp_per_client",
					   "tcp_idle_ms",
					   NULL};
	struct conf_limits *l = &c->limits;
	int a, b, lm, lpc, tc, tpc;

	conf_check_keys(x, o, keys);
	lm = conf_get_u32(x, o, "learned_max", 16, 16777216, &l->learned_max);
	conf_get_u32(x, o, "addrs_per_name", 1, 1024, &l->addrs_per_name);
	conf_get_u32(x, o, "names_per_addr", 1, 64, &l->names_per_addr);
	conf_get_u32(x, o, "cname_depth", 1, 16, &l->cname_depth);
	conf_get_u32(x, o, "records_per_message", 1, 4096, &l->records_per_message);
	a = conf_get_u32(x, o, "pending_queries", 1, 65536, &l->pending_queries);
	b = conf_get_u32(x, o, "pending_per_client", 1, 65536, &l->pending_per_client);
	conf_get_u32(x, o, "upstream_timeout_ms", 100, 60000, &l->upstream_timeout_ms);
	lpc = conf_get_u32(x, o, "learned_per_client", 1, 16777216, &l->learned_per_client);
	tc = conf_get_u32(x, o, "tcp_connections", 1, 65536, &l->tcp_connections);
	tpc = conf_get_u32(x, o, "tcp_per_client", 1, 65536, &l->tcp_per_client);
	conf_get_u32(x, o, "tcp_idle_ms", 100, 120000, &l->tcp_idle_ms);
	if (a >= 0 && b >= 0 && l->pending_per_client > l->pending_queries) {
		size_t old = conf_path_key(x, "pending_per_client");

		conf_err(x, "%u is more than pending_queries (%u)", l->pending_per_client,
			 l->pending_queries);
		conf_path_pop(x, old);
	}
	/* Unset, a client's share of the allowset follows learned_max. */
	if (lpc == 0 && lm >= 0)
		l->learned_per_client = UTIL_MAX(l->learned_max / 4, 1u);
	if (lm >= 0 && lpc > 0 && l->learned_per_client > l->learned_max) {
		size_t old = conf_path_key(x, "learned_per_client");

		conf_err(x, "%u is more than learned_max (%u)", l->learned_per_client,
			 l->learned_max);
		conf_path_pop(x, old);
	}
	if (tc >= 0 && tpc >= 0 && l->tcp_per_client > l->tcp_connections) {
		size_t old = conf_path_key(x, "tcp_per_client");

		conf_err(x, "%u is more than tcp_connections (%u)", l->tcp_per_client,
			 l->tcp_connections);
		conf_path_pop(x, old);
	}
}

static void conf_ttl(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"min", "max", "grace", NULL};
	int a, b;

	conf_check_keys(x, o, keys);
	a = conf_get_u32(x, o, "min", 0, 86400, &c->ttl.min);
	b = conf_get_u32(x, o, "max", 1, 604800, &c->ttl.max);
	conf_get_u32(x, o, "grace", 0, 3600, &c->ttl.grace);
	if (a >= 0 && b >= 0 && c->ttl.min > c->ttl.max) {
		size_t old = conf_path_key(x, "min");

		conf_err(x, "%u is more than ttl.max (%u)", c->ttl.min, c->ttl.max);
		conf_path_pop(x, old);
	}
}

static void conf_cache(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"enabled", "max_entries", "max_bytes", "negative_max",
					   NULL};
	struct conf_cache *k = &c->cache;
	int a, b;

	conf_check_keys(x, o, keys);
	conf_get_bool(x, o, "enabled", &k->enabled);
	a = conf_get_u32(x, o, "max_entries", 1, 1048576, &k->max_entries);
	conf_get_u32(x, o, "max_bytes", 16384, 2147483648LL, &k->max_bytes);
	b = conf_get_u32(x, o, "negative_max", 0, 1048576, &k->negative_max);
	if (a >= 0 && b >= 0 && k->negative_max > k->max_entries) {
		size_t old = conf_path_key(x, "negative_max");

		conf_err(x, "%u is more than max_entries (%u)", k->negative_max, k->max_entries);
		conf_path_pop(x, old);
	}
}

static json_t *conf_json_cache(const struct conf_cache *k)
{
	json_t *o = json_object();

	json_object_set_new(o, "enabled", json_boolean(k->enabled));
	json_object_set_new(o, "max_entries", json_integer(k->max_entries));
	json_object_set_new(o, "max_bytes", json_integer(k->max_bytes));
	json_object_set_new(o, "negative_max", json_integer(k->negative_max));
	return o;
}

static void conf_log(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"level", "verdicts", "verdict_file", "format", NULL};
	int v;

	conf_check_keys(x, o, keys);
	if (conf_get_enum(x, o, "level", conf_level_names, ARRAY_SIZE(conf_level_names), &v) > 0)
		c->log_level = (enum conf_log_level)v;
	conf_get_bool(x, o, "verdicts", &c->log_verdicts);
	conf_get_path(x, o, "verdict_file", true, CONF_PATH_MAX, &c->verdict_log);
	if (conf_get_enum(x, o, "format", conf_format_names, ARRAY_SIZE(conf_format_names), &v) > 0)
		c->log_format = (enum conf_log_format)v;
}

/* privileges: {"user": name|null, "seccomp": "kill"|"log"|"off"} */
static void conf_privileges(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"user", "seccomp", NULL};
	json_t *u = json_object_get(o, "user");
	char q[CONF_QUOTE_LEN];
	int v;

	conf_check_keys(x, o, keys);
	if (conf_get_enum(x, o, "seccomp", conf_seccomp_names, ARRAY_SIZE(conf_seccomp_names), &v) >
	    0)
		c->seccomp = (enum conf_seccomp)v;
	if (u && !json_is_null(u)) {
		size_t old = conf_path_key(x, "user");
		const char *s = json_is_string(u) ? json_string_value(u) : NULL;
		bool ok = s && *s && strlen(s) <= 32 && s[0] != '-';

		for (const char *p = s; ok && *p; p++)
			ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.';
		if (!ok)
			conf_err(x, "%s is not a user name",
				 s ? conf_quote(s, q, sizeof(q)) : conf_type_name(u));
		else if (strcmp(s, "root") == 0)
			conf_err(x, "\"root\" is what the daemon drops from: name an unprivileged "
				    "user, or null to stay as started");
		else if (!(c->user = strdup(s)))
			conf_oom(x);
		conf_path_pop(x, old);
	}
}

static void conf_state(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"journal", "journal_interval_s", "break_glass", NULL};

	conf_check_keys(x, o, keys);
	conf_get_path(x, o, "journal", true, CONF_PATH_MAX, &c->journal);
	conf_get_path(x, o, "break_glass", true, CONF_PATH_MAX, &c->break_glass);
	conf_get_u32(x, o, "journal_interval_s", 1, 86400, &c->journal_interval);
}

/* query_log: where the stub's query lines go (dns/querylog.h). */
static void conf_query_log(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"file", "journal", NULL};

	conf_check_keys(x, o, keys);
	conf_get_path(x, o, "file", true, CONF_PATH_MAX, &c->query_log_file);
	conf_get_bool(x, o, "journal", &c->query_log_journal);
}

/* readiness: what READY waits for. The default depends on the mode, which
 * conf_root reads before the sections; conf_readiness_default fills it in
 * when the section does not say. */
static void conf_readiness(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"require_answer", NULL};

	conf_check_keys(x, o, keys);
	if (conf_get_bool(x, o, "require_answer", &c->ready_require_answer) > 0)
		c->ready_require_answer_set = true;
}

static void conf_readiness_default(struct conf *c)
{
	if (!c->ready_require_answer_set)
		c->ready_require_answer = c->mode == CONF_MODE_SIDECAR;
}

static void conf_readiness_dump(const struct conf *c, json_t *root)
{
	json_t *o = json_object();

	json_object_set_new(o, "require_answer", json_boolean(c->ready_require_answer));
	json_object_set_new(root, "readiness", o);
}

/* "127.0.0.1:9153" or "[::1]:9153": a loopback address and a port. */
static bool conf_loopback_endpoint(const char *s)
{
	char host[ADDR_STRLEN];
	const char *colon, *h = s;
	size_t hlen;
	struct addr a;
	unsigned long port;
	char *end;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return false;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false; /* IPv6 must be bracketed */
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (addr_parse(host, &a) < 0 || (*s == '[') != (a.family == AF_INET6))
		return false;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || errno || *end || port == 0 || port > 65535)
		return false;
	if (a.family == AF_INET)
		return a.b[0] == 127;
	for (int i = 0; i < 15; i++)
		if (a.b[i])
			return false;
	return a.b[15] == 1;
}

/* metrics.listen: a unix socket path or a loopback address and port (the
 * counters say what the firewall saw: not for the network). */
static void conf_metrics(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"listen", NULL};
	json_t *v = json_object_get(o, "listen");
	char q[CONF_QUOTE_LEN];
	size_t old;

	conf_check_keys(x, o, keys);
	if (!v || json_is_null(v))
		return;
	old = conf_path_key(x, "listen");
	if (!json_is_string(v)) {
		conf_err(x, "expected a string, got %s", conf_type_name(v));
	} else {
		const char *s = json_string_value(v);
		bool ok = false;

		if (strncmp(s, "unix:/", 6) == 0) {
			ok = strlen(s + 5) < CONF_SUN_PATH && !conf_has_ctl(s);
		} else {
			ok = conf_loopback_endpoint(s);
		}
		if (!ok)
			conf_err(x,
				 "%s must be \"unix:/absolute/path\" or a loopback address with a "
				 "port (\"127.0.0.1:9153\", \"[::1]:9153\")",
				 conf_quote(s, q, sizeof(q)));
		else if (!(c->metrics = strdup(s)))
			conf_oom(x);
	}
	conf_path_pop(x, old);
}

static void conf_control(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"socket", "uid", NULL};

	conf_check_keys(x, o, keys);
	/* The path must fit sun_path with its NUL. */
	conf_get_path(x, o, "socket", false, CONF_SUN_PATH - 1, &c->control_socket);
	/* (uid_t)-1 means "no change" to chown(), never a user. */
	conf_get_u32(x, o, "uid", 0, 4294967294LL, &c->control_uid);
}

static void conf_ruleset(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"keep_on_stop", "deny_action", "fast_path", NULL};
	int v;

	conf_check_keys(x, o, keys);
	conf_get_bool(x, o, "keep_on_stop", &c->keep_on_stop);
	conf_get_bool(x, o, "fast_path", &c->fast_path);
	if (conf_get_enum(x, o, "deny_action", conf_deny_names, ARRAY_SIZE(conf_deny_names), &v) >
	    0)
		c->deny_action = (enum conf_deny_action)v;
}

/* A private key anyone can read is a stolen identity waiting to happen. A
 * missing file is left to the daemon's start (--check does not need it). */
static void conf_key_private(struct conf_ctx *x, const char *key, const char *path)
{
	struct stat sb;
	char q[CONF_QUOTE_LEN];
	size_t old;

	/* Group read stays allowed: a Kubernetes Secret mounted with fsGroup is
	 * how the sidecar's user reads its key. */
	if (!path || stat(path, &sb) < 0 || !(sb.st_mode & 027))
		return;
	old = conf_path_key(x, key);
	conf_err(x, "%s is readable or writable by others (mode %03o): chmod 600 (or 640) it",
		 conf_quote(path, q, sizeof(q)), (unsigned)(sb.st_mode & 0777));
	conf_path_pop(x, old);
}

/* ---- inbound services, port forwards ------------------------------------ */

static const char *const conf_service_protos[] = {"tcp", "udp"};

/* A CIDR prefix (or a bare address) at the current path into *out. */
static int conf_prefix_value(struct conf_ctx *x, json_t *v, struct prefix *out)
{
	char q[CONF_QUOTE_LEN];

	if (!json_is_string(v)) {
		conf_err(x, "expected an address or CIDR prefix string, got %s", conf_type_name(v));
		return -1;
	}
	if (addr_prefix_parse(json_string_value(v), out) < 0) {
		conf_err(x, "%s is not an address or a CIDR prefix with host bits zero",
			 conf_quote(json_string_value(v), q, sizeof(q)));
		return -1;
	}
	return 0;
}

/* One {"proto", "port", "from", and for a port forward "to"}. */
static void conf_service_one(struct conf_ctx *x, json_t *e, bool forward, struct conf_service *s)
{
	static const char *const keys_in[] = {"proto", "port", "from", NULL};
	static const char *const keys_fwd[] = {"to", "proto", "port", "from", NULL};
	json_t *from = json_object_get(e, "from"), *to = json_object_get(e, "to");
	json_int_t port = 0;
	int proto = -1;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(e)) {
		conf_err(x, "expected an object, got %s", conf_type_name(e));
		return;
	}
	conf_check_keys(x, e, forward ? keys_fwd : keys_in);
	if (!json_object_get(e, "proto"))
		conf_missing(x, "proto", "(\"tcp\" or \"udp\")");
	else if (conf_get_enum(x, e, "proto", conf_service_protos, ARRAY_SIZE(conf_service_protos),
			       &proto) > 0)
		s->proto = proto == 0 ? IPPROTO_TCP : IPPROTO_UDP;
	if (!json_object_get(e, "port"))
		conf_missing(x, "port", "(1..65535)");
	else if (conf_get_int(x, e, "port", 1, 65535, &port) > 0)
		s->port = (uint16_t)port;
	if (forward) {
		if (!to) {
			conf_missing(x, "to", "(the LAN client's address or subnet)");
		} else {
			size_t old = conf_path_key(x, "to");

			conf_prefix_value(x, to, &s->to);
			conf_path_pop(x, old);
		}
	}
	if (from) {
		size_t old = conf_path_key(x, "from");
		size_t n = conf_array(x, from, CONF_MAX_SERVICE_FROM, "subnets are");

		for (size_t i = 0; i < n; i++) {
			size_t o2 = conf_path_index(x, i);

			if (conf_prefix_value(x, json_array_get(from, i), &s->from[s->nfrom]) == 0)
				s->nfrom++;
			conf_path_pop(x, o2);
		}
		conf_path_pop(x, old);
	}
}

/* obj[key]: a list of services (an empty list is fine: none). */
static void conf_service_list(struct conf_ctx *x, json_t *obj, const char *key, bool forward,
			      struct conf_service *out, unsigned *nout)
{
	json_t *v = json_object_get(obj, key);
	size_t old, n;

	if (!v)
		return;
	old = conf_path_key(x, key);
	if (!json_is_array(v)) {
		conf_err(x, "expected an array, got %s", conf_type_name(v));
		goto out;
	}
	n = json_array_size(v);
	if (n > CONF_MAX_SERVICES) {
		conf_err(x, "has %zu elements, at most %d are allowed", n, CONF_MAX_SERVICES);
		n = CONF_MAX_SERVICES;
	}
	for (size_t i = 0; i < n; i++) {
		size_t o2 = conf_path_index(x, i);

		conf_service_one(x, json_array_get(v, i), forward, &out[*nout]);
		(*nout)++;
		conf_path_pop(x, o2);
	}
out:
	conf_path_pop(x, old);
}

static void conf_inbound(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"services", NULL};

	conf_check_keys(x, o, keys);
	conf_service_list(x, o, "services", false, c->services, &c->nservices);
}

/* client_identities[i].interface: an identity is chosen by the interface a
 * query arrived on as well as by its source, so a source forged on another
 * interface never picks it. With gateway.lan it is required, and the subnet
 * must lie inside one of that interface's client subnets. */
static void conf_identity_iface(struct conf_ctx *x, json_t *e, struct conf *c,
				struct conf_identity *id, bool lan_form)
{
	json_t *v = json_object_get(e, "interface");
	char q[CONF_QUOTE_LEN];
	size_t old;
	int li = -1;

	if (!v) {
		if (lan_form)
			conf_missing(x, "interface", "(the LAN interface this subnet is on)");
		return;
	}
	old = conf_path_key(x, "interface");
	if (!json_is_string(v)) {
		conf_err(x, "expected an interface name, got %s", conf_type_name(v));
		goto out;
	}
	for (unsigned i = 0; i < c->nlan_ifaces; i++)
		if (strcmp(c->lan_ifaces[i], json_string_value(v)) == 0)
			li = (int)i;
	if (li < 0) {
		conf_err(x, "%s is not one of the gateway's LAN interfaces",
			 conf_quote(json_string_value(v), q, sizeof(q)));
		goto out;
	}
	if (c->lan_nsubnets[li]) {
		bool inside = false;

		for (unsigned j = 0; j < c->lan_nsubnets[li]; j++) {
			const struct prefix *ls = &c->lan_subnets[li][j];

			inside |= id->subnet.addr.family == ls->addr.family &&
				  id->subnet.len >= ls->len &&
				  addr_prefix_contains(ls, &id->subnet.addr);
		}
		if (!inside && id->subnet.addr.family)
			conf_err(x, "the identity's subnet is not inside a client subnet of %s",
				 conf_quote(json_string_value(v), q, sizeof(q)));
	}
	id->iface = strdup(json_string_value(v));
	if (!id->iface)
		conf_oom(x);
out:
	conf_path_pop(x, old);
}

/* gateway.client_identities[i]: {"interface", "subnet", "client_cert",
 * "client_key"}; parsed after the LAN interfaces. */
static void conf_identity(struct conf_ctx *x, json_t *e, struct conf *c, bool lan_form)
{
	static const char *const keys[] = {"interface", "subnet", "client_cert", "client_key",
					   NULL};
	struct conf_identity *id = &c->identities[c->nidentities];
	json_t *v;
	char q[CONF_QUOTE_LEN];
	size_t old;

	if (!json_is_object(e)) {
		conf_err(x, "expected an object, got %s", conf_type_name(e));
		return;
	}
	conf_check_keys(x, e, keys);
	v = json_object_get(e, "subnet");
	old = conf_path_key(x, "subnet");
	if (!v || !json_is_string(v) || addr_prefix_parse(json_string_value(v), &id->subnet) < 0) {
		conf_err(x, "%s: a CIDR prefix with host bits zero is required",
			 v && json_is_string(v) ? conf_quote(json_string_value(v), q, sizeof(q))
						: "missing or not a string");
	} else {
		for (unsigned i = 0; i < c->nidentities; i++)
			if (c->identities[i].subnet.len == id->subnet.len &&
			    addr_equal(&c->identities[i].subnet.addr, &id->subnet.addr))
				conf_err(x, "%s is the same subnet as client_identities[%u]",
					 conf_quote(json_string_value(v), q, sizeof(q)), i);
	}
	conf_path_pop(x, old);
	conf_identity_iface(x, e, c, id, lan_form);
	if (!json_object_get(e, "client_cert"))
		conf_missing(x, "client_cert", "(PEM certificate for this subnet)");
	if (!json_object_get(e, "client_key"))
		conf_missing(x, "client_key", "(PEM key for this subnet)");
	conf_get_path(x, e, "client_cert", false, CONF_PATH_MAX, &id->client_cert);
	conf_get_path(x, e, "client_key", false, CONF_PATH_MAX, &id->client_key);
	conf_key_private(x, "client_key", id->client_key);
	c->nidentities++;
}

/* One LAN interface name (at the current path); returns its index in
 * c->lan_ifaces or -1 (reported). */
static int conf_lan_iface(struct conf_ctx *x, json_t *e, struct conf *c)
{
	char q[CONF_QUOTE_LEN];
	const char *s;

	if (!e || !json_is_string(e)) {
		conf_err(x, "expected an interface name, got %s",
			 e ? conf_type_name(e) : "nothing");
		return -1;
	}
	s = json_string_value(e);
	if (!conf_ifname_valid(s)) {
		conf_err(x,
			 "%s is not a valid interface name (1..15 characters, no '/', "
			 "':' or space)",
			 conf_quote(s, q, sizeof(q)));
		return -1;
	}
	for (unsigned j = 0; j < c->nlan_ifaces; j++)
		if (strcmp(c->lan_ifaces[j], s) == 0) {
			conf_err(x, "%s is listed twice", conf_quote(s, q, sizeof(q)));
			return -1;
		}
	if (c->nlan_ifaces >= CONF_MAX_LAN_IFACES)
		return -1; /* reported by conf_array() */
	c->lan_ifaces[c->nlan_ifaces] = strdup(s);
	if (!c->lan_ifaces[c->nlan_ifaces]) {
		conf_oom(x);
		return -1;
	}
	return (int)c->nlan_ifaces++;
}

static bool prefixes_overlap(const struct prefix *a, const struct prefix *b)
{
	return a->addr.family == b->addr.family &&
	       (addr_prefix_contains(a, &b->addr) || addr_prefix_contains(b, &a->addr));
}

/* gateway.lan[i].subnets for interface li: the client subnets, none of which
 * may overlap another interface's (the source then names one interface). */
static void conf_lan_subnets(struct conf_ctx *x, json_t *v, struct conf *c, int li)
{
	size_t n = conf_array(x, v, CONF_MAX_LAN_SUBNETS, "subnets are");
	char q[CONF_QUOTE_LEN];

	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		size_t o2 = conf_path_index(x, i);
		struct prefix *p = &c->lan_subnets[li][c->lan_nsubnets[li]];

		if (!json_is_string(e) || addr_prefix_parse(json_string_value(e), p) < 0) {
			conf_err(x, "%s: a CIDR prefix with host bits zero is required",
				 json_is_string(e) ? conf_quote(json_string_value(e), q, sizeof(q))
						   : conf_type_name(e));
			goto next;
		}
		for (int j = 0; j < li; j++)
			for (unsigned k = 0; k < c->lan_nsubnets[j]; k++)
				if (prefixes_overlap(p, &c->lan_subnets[j][k]))
					conf_err(x, "%s overlaps a client subnet of %s",
						 conf_quote(json_string_value(e), q, sizeof(q)),
						 c->lan_ifaces[j]);
		c->lan_nsubnets[li]++;
	next:
		conf_path_pop(x, o2);
	}
}

/* gateway.lan: [{"interface": "lan0", "subnets": ["192.0.2.0/25", ...]}] */
static void conf_lan(struct conf_ctx *x, json_t *v, struct conf *c)
{
	static const char *const keys[] = {"interface", "subnets", NULL};
	size_t n = conf_array(x, v, CONF_MAX_LAN_IFACES, "interfaces are");

	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		size_t o2 = conf_path_index(x, i), o3;
		int li;

		if (!json_is_object(e)) {
			conf_err(x, "expected an object {\"interface\", \"subnets\"}, got %s",
				 conf_type_name(e));
			goto next;
		}
		conf_check_keys(x, e, keys);
		o3 = conf_path_key(x, "interface");
		li = conf_lan_iface(x, json_object_get(e, "interface"), c);
		conf_path_pop(x, o3);
		if (li < 0)
			goto next;
		if (!json_object_get(e, "subnets")) {
			conf_missing(x, "subnets", "(the client subnets on this interface)");
			goto next;
		}
		o3 = conf_path_key(x, "subnets");
		conf_lan_subnets(x, json_object_get(e, "subnets"), c, li);
		conf_path_pop(x, o3);
	next:
		conf_path_pop(x, o2);
	}
}

static void conf_gateway(struct conf_ctx *x, json_t *o, struct conf *c)
{
	static const char *const keys[] = {"lan",
					   "lan_interfaces",
					   "enforce_output",
					   "shared_allowances",
					   "client_identities",
					   "lan_may_reach_servers",
					   "port_forwards",
					   NULL};
	json_t *ids = json_object_get(o, "client_identities");
	json_t *lan = json_object_get(o, "lan");
	json_t *v = json_object_get(o, "lan_interfaces");
	size_t n, old;

	conf_check_keys(x, o, keys);
	conf_get_bool(x, o, "enforce_output", &c->gateway_enforce_output);
	conf_get_bool(x, o, "shared_allowances", &c->shared_allowances);
	conf_get_bool(x, o, "lan_may_reach_servers", &c->lan_may_reach_servers);
	if (lan && v) {
		old = conf_path_key(x, "lan_interfaces");
		conf_err(x, "give either gateway.lan or gateway.lan_interfaces, not both");
		conf_path_pop(x, old);
	} else if (lan) {
		old = conf_path_key(x, "lan");
		conf_lan(x, lan, c);
		conf_path_pop(x, old);
	} else if (!v) {
		conf_missing(x, "lan", "(the LAN interfaces and their client subnets)");
	} else {
		old = conf_path_key(x, "lan_interfaces");
		conf_warn(x,
			  "no client subnets: any source address on these interfaces may ask and "
			  "forward; give gateway.lan [{\"interface\", \"subnets\"}] instead");
		n = conf_array(x, v, CONF_MAX_LAN_IFACES, "interfaces are");
		for (size_t i = 0; i < n; i++) {
			size_t o2 = conf_path_index(x, i);

			conf_lan_iface(x, json_array_get(v, i), c);
			conf_path_pop(x, o2);
		}
		conf_path_pop(x, old);
	}
	conf_service_list(x, o, "port_forwards", true, c->forwards, &c->nforwards);
	if (ids) {
		size_t oi = conf_path_key(x, "client_identities");
		size_t nids = conf_array(x, ids, CONF_MAX_IDENTITIES, "identities are");

		for (size_t i = 0; i < nids; i++) {
			size_t o2 = conf_path_index(x, i);

			conf_identity(x, json_array_get(ids, i), c, lan != NULL);
			conf_path_pop(x, o2);
		}
		conf_path_pop(x, oi);
	}
}

static void conf_defaults(struct conf *c)
{
	c->mode = CONF_MODE_HOST;
	c->enforce = true;
	addr_parse("127.0.0.1", &c->listen[0].addr);
	c->listen[0].port = 53;
	addr_parse("::1", &c->listen[1].addr);
	c->listen[1].port = 53;
	c->nlisten = 2;
	c->queue_num = 0;
	c->queue_count = 1;
	c->queue_maxlen = 4096;
	c->limits = (struct conf_limits){
	    .learned_max = 65536,
	    .addrs_per_name = 64,
	    .names_per_addr = 8,
	    .cname_depth = 8,
	    .records_per_message = 256,
	    .pending_queries = 1024,
	    .pending_per_client = 64,
	    .upstream_timeout_ms = 3000,
	    .learned_per_client = 65536 / 4,
	    .tcp_connections = 256,
	    .tcp_per_client = 16,
	    .tcp_idle_ms = 10000,
	};
	c->ttl = (struct conf_ttl){.min = 5, .max = 86400, .grace = 30};
	c->cache = (struct conf_cache){
	    .enabled = false, .max_entries = 10000, .max_bytes = 8u << 20, .negative_max = 2500};
	c->log_level = CONF_LOG_INFO;
	c->log_verdicts = false;
	c->log_format = CONF_LOG_JSON;
	c->control_uid = 0;
	c->keep_on_stop = false;
	c->deny_action = CONF_DENY_DROP;
	c->gateway_enforce_output = true;
	c->journal_interval = 30;
	c->shared_allowances = false;
}

/* The plain sections of the root object, each parsed by its own function
 * with the JSON path set to its key. */
static const struct {
	const char *key;
	void (*parse)(struct conf_ctx *x, json_t *o, struct conf *c);
} conf_sections[] = {
    {"queue", conf_queue},
    {"limits", conf_limits},
    {"ttl", conf_ttl},
    {"log", conf_log},
    {"control", conf_control},
    {"state", conf_state},
    {"readiness", conf_readiness},
    {"query_log", conf_query_log},
    {"privileges", conf_privileges},
    {"metrics", conf_metrics},
    {"ruleset", conf_ruleset},
    {"cache", conf_cache},
};

static void conf_root(struct conf_ctx *x, json_t *root, struct conf *c)
{
	static const char *const keys[] = {"mode",
					   "enforce",
					   "servers",
					   "client_cert",
					   "client_key",
					   "exceptions",
					   "exceptions_files",
					   "listen",
					   "queue",
					   "limits",
					   "ttl",
					   "log",
					   "control",
					   "ruleset",
					   "gateway",
					   "state",
					   "metrics",
					   "privileges",
					   "nat64_prefixes",
					   "allow_large_exceptions",
					   "listen_any",
					   "intercept_dns",
					   "query_log",
					   "inbound",
					   "cache",
					   "readiness",
					   "forward_zones",
					   NULL};
	int mode = -1;
	json_t *o;
	int cert, key;

	conf_check_keys(x, root, keys);
	if (!json_object_get(root, "mode"))
		conf_missing(x, "mode", "(\"host\", \"gateway\" or \"sidecar\")");
	else if (conf_get_enum(x, root, "mode", conf_mode_names, ARRAY_SIZE(conf_mode_names),
			       &mode) > 0)
		c->mode = (enum conf_mode)mode;
	conf_get_bool(x, root, "enforce", &c->enforce);
	conf_servers(x, root, c);
	conf_forward_zones(x, root, c);

	cert = conf_get_path(x, root, "client_cert", true, CONF_PATH_MAX, &c->client_cert);
	key = conf_get_path(x, root, "client_key", true, CONF_PATH_MAX, &c->client_key);
	if (cert > 0 && key == 0)
		conf_missing(x, "client_key", "when client_cert is set");
	if (key > 0 && cert == 0)
		conf_missing(x, "client_cert", "when client_key is set");
	conf_key_private(x, "client_key", c->client_key);

	/* Read first: they change what exceptions and listen accept. */
	conf_get_bool(x, root, "allow_large_exceptions", &c->allow_large_exceptions);
	conf_get_bool(x, root, "listen_any", &c->listen_any);
	conf_exceptions(x, root, c);
	conf_exceptions_files(x, root, c);
	if (c->nexceptions) {
		/* Over every prefix, wherever it came from. */
		size_t old = conf_path_key(x, "exceptions");

		conf_exceptions_coverage(x, c, AF_INET);
		conf_exceptions_coverage(x, c, AF_INET6);
		conf_path_pop(x, old);
	}
	conf_nat64(x, root, c);
	conf_listen(x, root, c);
	conf_intercept(x, root, c);

	for (size_t i = 0; i < ARRAY_SIZE(conf_sections); i++) {
		if ((o = conf_get_object(x, root, conf_sections[i].key))) {
			size_t old = conf_path_key(x, conf_sections[i].key);

			conf_sections[i].parse(x, o, c);
			conf_path_pop(x, old);
		}
	}

	o = json_object_get(root, "gateway");
	if (mode == CONF_MODE_GATEWAY && !o) {
		conf_missing(x, "gateway", "when mode is \"gateway\" (at least gateway.lan)");
	} else if (o && mode >= 0 && mode != CONF_MODE_GATEWAY) {
		size_t old = conf_path_key(x, "gateway");

		/* Refused rather than ignored: it says the file is not what it seems. */
		conf_err(x, "only allowed when mode is \"gateway\" (mode is \"%s\")",
			 conf_mode_names[mode]);
		conf_path_pop(x, old);
	} else if ((o = conf_get_object(x, root, "gateway"))) {
		size_t old = conf_path_key(x, "gateway");

		conf_gateway(x, o, c);
		conf_path_pop(x, old);
	}

	o = json_object_get(root, "inbound");
	if (o && mode == CONF_MODE_GATEWAY) {
		size_t old = conf_path_key(x, "inbound");

		/* The gateway's own INPUT is not ours to filter; what comes from
		 * the WAN side toward the LAN is gateway.port_forwards. */
		conf_err(x, "not used in gateway mode (flows from the WAN side toward the LAN "
			    "are gateway.port_forwards)");
		conf_path_pop(x, old);
	} else if ((o = conf_get_object(x, root, "inbound"))) {
		size_t old = conf_path_key(x, "inbound");

		conf_inbound(x, o, c);
		conf_path_pop(x, old);
	}

	conf_readiness_default(c);
	if (!c->control_socket && !(c->control_socket = strdup(CONF_DEFAULT_SOCKET)))
		conf_oom(x);
}

static bool conf_blank(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r')
			return false;
	return true;
}

int conf_parse(const char *buf, size_t len, const char *fname, struct conf **out,
	       struct conf_errors *errs)
{
	struct conf_ctx x = {.fname = fname ? fname : "(config)", .errs = errs};
	json_t *root = NULL;
	struct conf *c = NULL;
	json_error_t jerr;
	int ret = -EINVAL;

	memset(errs, 0, sizeof(*errs));
	*out = NULL;
	if (!buf || conf_blank(buf, len)) {
		conf_err(&x, "the file is empty");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(x.fname))) {
		conf_oom(&x);
		goto out;
	}
	conf_defaults(c);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char text[sizeof(jerr.text) * 4];

		/* jansson quotes the bad token: escape it like any other value. */
		conf_escape(jerr.text, text, sizeof(text), false);
		if (errs->count < CONF_MAX_ERRORS &&
		    snprintf(errs->msg[errs->count], CONF_ERR_LEN, "%s: line %d column %d: %s",
			     x.fname, jerr.line, jerr.column, text) >= 0)
			errs->count++;
		goto out;
	}
	if (!json_is_object(root)) {
		conf_err(&x, "expected an object, got %s", conf_type_name(root));
		goto out;
	}
	conf_root(&x, root, c);
	if (errs->count || errs->dropped)
		goto out;
	*out = c;
	c = NULL;
	ret = 0;
out:
	if (x.oom)
		ret = -ENOMEM;
	json_decref(root);
	conf_free(&c);
	return ret;
}

int conf_load(const char *path, struct conf **out, struct conf_errors *errs)
{
	struct conf_ctx x = {.fname = path, .errs = errs};
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, ret = 0;

	memset(errs, 0, sizeof(*errs));
	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	/* One byte more than the bound tells "exactly 1 MiB" from "more". */
	buf = malloc(CONF_MAX_FILE + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (len <= CONF_MAX_FILE) {
		ssize_t n = read(fd, buf + len, CONF_MAX_FILE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONF_MAX_FILE) {
		conf_err(&x, "the file is larger than %d bytes", CONF_MAX_FILE);
		ret = -EFBIG;
		goto out;
	}
	ret = conf_parse(buf, len, path, out, errs);
out:
	if (ret < 0 && errs->count == 0 &&
	    snprintf(errs->msg[0], CONF_ERR_LEN, "%s: cannot read: %s", path, strerror(-ret)) >= 0)
		errs->count = 1;
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

void conf_errors_print(const struct conf_errors *errs, FILE *f)
{
	for (unsigned i = 0; i < errs->count; i++)
		fprintf(f, "%s\n", errs->msg[i]);
	if (errs->dropped)
		fprintf(f, "(%u more errors not shown)\n", errs->dropped);
	for (unsigned i = 0; i < errs->nwarn; i++)
		fprintf(f, "%s\n", errs->warn[i]);
}

/* ---- canonical dump ----------------------------------------------------- */

static json_t *conf_json_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *conf_json_addrs(const struct addr *a, unsigned n)
{
	json_t *arr = json_array();
	char buf[ADDR_STRLEN];

	for (unsigned i = 0; i < n; i++)
		json_array_append_new(arr, json_string(addr_format(&a[i], buf, sizeof(buf))));
	return arr;
}

static json_t *conf_json_server(const struct conf_server *s)
{
	json_t *o = json_object(), *pins = json_array();
	char b64[CONF_PIN_B64LEN];

	json_object_set_new(o, "name", conf_json_str(s->name));
	json_object_set_new(o, "protocol", json_string(conf_proto_names[s->proto]));
	if (s->proto == CONF_PROTO_DNS) {
		json_object_set_new(o, "address", conf_json_addrs(s->addrs, s->naddrs));
		json_object_set_new(o, "port", json_integer(s->port));
		json_object_set_new(o, "priority", json_integer(s->priority));
		json_decref(pins);
		return o;
	}
	if (s->proto == CONF_PROTO_DOH) {
		json_object_set_new(o, "url", conf_json_str(s->url));
		json_object_set_new(o, "bootstrap", conf_json_addrs(s->addrs, s->naddrs));
	} else {
		json_object_set_new(o, "address", conf_json_addrs(s->addrs, s->naddrs));
		json_object_set_new(o, "port", json_integer(s->port));
	}
	json_object_set_new(o, "tls_name", conf_json_str(s->tls_name));
	json_object_set_new(o, "ca_file", conf_json_str(s->ca_file));
	for (unsigned i = 0; i < s->npins; i++) {
		json_array_append_new(pins, json_string(conf_pin_format(s->pins[i], b64)));
	}
	/* An empty list would be refused on reload: leave the key out. */
	if (s->npins)
		json_object_set_new(o, "spki_pins", pins);
	else
		json_decref(pins);
	json_object_set_new(o, "priority", json_integer(s->priority));
	return o;
}

static json_t *conf_json_services(const struct conf_service *s, unsigned n, bool forward)
{
	json_t *arr = json_array();
	char pb[PREFIX_STRLEN];

	for (unsigned i = 0; i < n; i++) {
		json_t *o = json_object(), *from = json_array();

		if (forward)
			json_object_set_new(
			    o, "to", json_string(addr_prefix_format(&s[i].to, pb, sizeof(pb))));
		json_object_set_new(o, "proto",
				    json_string(s[i].proto == IPPROTO_TCP ? "tcp" : "udp"));
		json_object_set_new(o, "port", json_integer(s[i].port));
		for (unsigned j = 0; j < s[i].nfrom; j++)
			json_array_append_new(
			    from, json_string(addr_prefix_format(&s[i].from[j], pb, sizeof(pb))));
		/* An empty list would be refused on reload: absent means any. */
		if (s[i].nfrom)
			json_object_set_new(o, "from", from);
		else
			json_decref(from);
		json_array_append_new(arr, o);
	}
	return arr;
}

static void conf_forward_zones_dump(const struct conf *c, json_t *root)
{
	json_t *zones;

	if (!c->nfzones)
		return; /* an empty list would be refused */
	zones = json_array();
	for (unsigned i = 0; i < c->nfzones; i++) {
		json_t *o = json_object(), *arr = json_array();

		json_object_set_new(o, "zone", json_string(c->fzones[i].zone));
		if (c->fzones[i].insecure_plain_dns)
			json_object_set_new(o, "insecure_plain_dns", json_true());
		for (unsigned j = 0; j < c->fzones[i].nservers; j++)
			json_array_append_new(arr, conf_json_server(&c->fzones[i].servers[j]));
		json_object_set_new(o, "servers", arr);
		json_array_append_new(zones, o);
	}
	json_object_set_new(root, "forward_zones", zones);
}

void conf_dump(const struct conf *c, FILE *f)
{
	json_t *root = json_object(), *arr, *o;
	char buf[PREFIX_STRLEN + 8], a[ADDR_STRLEN];

	json_object_set_new(root, "mode", json_string(conf_mode_name(c->mode)));
	json_object_set_new(root, "enforce", json_boolean(c->enforce));
	arr = json_array();
	for (unsigned i = 0; i < c->nservers; i++)
		json_array_append_new(arr, conf_json_server(&c->servers[i]));
	json_object_set_new(root, "servers", arr);
	conf_forward_zones_dump(c, root);
	json_object_set_new(root, "client_cert", conf_json_str(c->client_cert));
	json_object_set_new(root, "client_key", conf_json_str(c->client_key));

	arr = json_array();
	for (unsigned i = 0; i < c->nexceptions; i++)
		if (!c->exception_group[i])
			json_array_append_new(arr, json_string(addr_prefix_format(
						       &c->exceptions[i], buf, sizeof(buf))));
	for (unsigned g = 0; g < c->nexception_groups; g++) {
		json_t *subs;

		if (c->exception_groups[g].file >= 0)
			continue; /* dumped as its file */
		subs = json_array();
		for (unsigned i = 0; i < c->nexceptions; i++)
			if (c->exception_group[i] == g + 1)
				json_array_append_new(
				    subs, json_string(addr_prefix_format(&c->exceptions[i], buf,
									 sizeof(buf))));
		json_array_append_new(arr, json_pack("{s:s, s:o}", "name",
						     c->exception_groups[g].name, "subnets", subs));
	}
	json_object_set_new(root, "exceptions", arr);
	arr = json_array();
	for (unsigned i = 0; i < c->nexceptions_files; i++)
		json_array_append_new(arr, json_string(c->exceptions_files[i]));
	json_object_set_new(root, "exceptions_files", arr);
	json_object_set_new(root, "allow_large_exceptions",
			    json_boolean(c->allow_large_exceptions));

	arr = json_array();
	for (unsigned i = 0; i < c->nnat64; i++)
		json_array_append_new(
		    arr, json_string(addr_prefix_format(&c->nat64[i], buf, sizeof(buf))));
	json_object_set_new(root, "nat64_prefixes", arr);

	arr = json_array();
	for (unsigned i = 0; i < c->nlisten; i++) {
		const struct conf_endpoint *ep = &c->listen[i];

		addr_format(&ep->addr, a, sizeof(a));
		if (ep->addr.family == AF_INET6)
			snprintf(buf, sizeof(buf), "[%s]:%u", a, ep->port);
		else
			snprintf(buf, sizeof(buf), "%s:%u", a, ep->port);
		json_array_append_new(arr, json_string(buf));
	}
	json_object_set_new(root, "listen", arr);
	json_object_set_new(root, "listen_any", json_boolean(c->listen_any));
	json_object_set_new(root, "intercept_dns", json_boolean(c->intercept_dns));

	o = json_object();
	json_object_set_new(o, "num", json_integer(c->queue_num));
	json_object_set_new(o, "count", json_integer(c->queue_count));
	json_object_set_new(o, "maxlen", json_integer(c->queue_maxlen));
	json_object_set_new(root, "queue", o);

	o = json_object();
	json_object_set_new(o, "learned_max", json_integer(c->limits.learned_max));
	json_object_set_new(o, "addrs_per_name", json_integer(c->limits.addrs_per_name));
	json_object_set_new(o, "names_per_addr", json_integer(c->limits.names_per_addr));
	json_object_set_new(o, "cname_depth", json_integer(c->limits.cname_depth));
	json_object_set_new(o, "records_per_message", json_integer(c->limits.records_per_message));
	json_object_set_new(o, "pending_queries", json_integer(c->limits.pending_queries));
	json_object_set_new(o, "pending_per_client", json_integer(c->limits.pending_per_client));
	json_object_set_new(o, "upstream_timeout_ms", json_integer(c->limits.upstream_timeout_ms));
	json_object_set_new(o, "learned_per_client", json_integer(c->limits.learned_per_client));
	json_object_set_new(o, "tcp_connections", json_integer(c->limits.tcp_connections));
	json_object_set_new(o, "tcp_per_client", json_integer(c->limits.tcp_per_client));
	json_object_set_new(o, "tcp_idle_ms", json_integer(c->limits.tcp_idle_ms));
	json_object_set_new(root, "limits", o);

	o = json_object();
	json_object_set_new(o, "min", json_integer(c->ttl.min));
	json_object_set_new(o, "max", json_integer(c->ttl.max));
	json_object_set_new(o, "grace", json_integer(c->ttl.grace));
	json_object_set_new(root, "ttl", o);
	json_object_set_new(root, "cache", conf_json_cache(&c->cache));

	o = json_object();
	json_object_set_new(o, "level", json_string(conf_level_names[c->log_level]));
	json_object_set_new(o, "verdicts", json_boolean(c->log_verdicts));
	json_object_set_new(o, "verdict_file", conf_json_str(c->verdict_log));
	json_object_set_new(o, "format", json_string(conf_format_names[c->log_format]));
	json_object_set_new(root, "log", o);

	o = json_object();
	json_object_set_new(o, "file", conf_json_str(c->query_log_file));
	json_object_set_new(o, "journal", json_boolean(c->query_log_journal));
	json_object_set_new(root, "query_log", o);

	o = json_object();
	json_object_set_new(o, "socket", conf_json_str(c->control_socket));
	json_object_set_new(o, "uid", json_integer(c->control_uid));
	json_object_set_new(root, "control", o);

	o = json_object();
	json_object_set_new(o, "journal", conf_json_str(c->journal));
	json_object_set_new(o, "journal_interval_s", json_integer(c->journal_interval));
	json_object_set_new(o, "break_glass", conf_json_str(c->break_glass));
	json_object_set_new(root, "state", o);
	conf_readiness_dump(c, root);

	o = json_object();
	json_object_set_new(o, "listen", conf_json_str(c->metrics));
	json_object_set_new(root, "metrics", o);

	o = json_object();
	json_object_set_new(o, "user", conf_json_str(c->user));
	json_object_set_new(o, "seccomp", json_string(conf_seccomp_names[c->seccomp]));
	json_object_set_new(root, "privileges", o);

	o = json_object();
	json_object_set_new(o, "keep_on_stop", json_boolean(c->keep_on_stop));
	json_object_set_new(o, "fast_path", json_boolean(c->fast_path));
	json_object_set_new(o, "deny_action", json_string(conf_deny_names[c->deny_action]));
	json_object_set_new(root, "ruleset", o);

	if (c->mode != CONF_MODE_GATEWAY) {
		o = json_object();
		json_object_set_new(o, "services",
				    conf_json_services(c->services, c->nservices, false));
		json_object_set_new(root, "inbound", o);
	}

	if (c->mode == CONF_MODE_GATEWAY) {
		o = json_object();
		arr = json_array();
		for (unsigned i = 0; i < c->nlan_ifaces; i++) {
			json_t *subs = json_array();

			for (unsigned j = 0; j < c->lan_nsubnets[i]; j++) {
				char pb[PREFIX_STRLEN];

				json_array_append_new(
				    subs, json_string(addr_prefix_format(&c->lan_subnets[i][j], pb,
									 sizeof(pb))));
			}
			if (c->lan_nsubnets[i])
				json_array_append_new(arr,
						      json_pack("{s:o, s:o}", "interface",
								conf_json_str(c->lan_ifaces[i]),
								"subnets", subs));
			else {
				json_decref(subs);
				json_array_append_new(arr, conf_json_str(c->lan_ifaces[i]));
			}
		}
		/* One form for the whole list: the parser refuses a mix. */
		json_object_set_new(
		    o, c->nlan_ifaces && c->lan_nsubnets[0] ? "lan" : "lan_interfaces", arr);
		json_object_set_new(o, "lan_may_reach_servers",
				    json_boolean(c->lan_may_reach_servers));
		json_object_set_new(o, "enforce_output", json_boolean(c->gateway_enforce_output));
		json_object_set_new(o, "shared_allowances", json_boolean(c->shared_allowances));
		json_object_set_new(o, "port_forwards",
				    conf_json_services(c->forwards, c->nforwards, true));
		if (c->nidentities) {
			arr = json_array();
			for (unsigned i = 0; i < c->nidentities; i++) {
				char pb[PREFIX_STRLEN];

				json_t *e = json_pack(
				    "{s:s, s:o, s:o}", "subnet",
				    addr_prefix_format(&c->identities[i].subnet, pb, sizeof(pb)),
				    "client_cert", conf_json_str(c->identities[i].client_cert),
				    "client_key", conf_json_str(c->identities[i].client_key));

				if (e && c->identities[i].iface)
					json_object_set_new(e, "interface",
							    conf_json_str(c->identities[i].iface));
				json_array_append_new(arr, e);
			}
			json_object_set_new(o, "client_identities", arr);
		}
		json_object_set_new(root, "gateway", o);
	}

	json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(root);
}

void conf_free(struct conf **cp)
{
	struct conf *c;

	if (!cp || !*cp)
		return;
	c = *cp;
	conf_servers_free(c->servers);
	conf_forward_zones_free(c);
	for (unsigned i = 0; i < c->nexceptions_files; i++)
		free(c->exceptions_files[i]);
	free(c->client_cert);
	free(c->client_key);
	free(c->verdict_log);
	free(c->query_log_file);
	free(c->control_socket);
	free(c->journal);
	free(c->break_glass);
	free(c->user);
	free(c->metrics);
	for (unsigned i = 0; i < CONF_MAX_LAN_IFACES; i++)
		free(c->lan_ifaces[i]);
	for (unsigned i = 0; i < CONF_MAX_IDENTITIES; i++) {
		free(c->identities[i].iface);
		free(c->identities[i].client_cert);
		free(c->identities[i].client_key);
	}
	free(c->path);
	free(c);
	*cp = NULL;
}

const char *conf_mode_name(enum conf_mode m)
{
	if ((unsigned)m < ARRAY_SIZE(conf_mode_names))
		return conf_mode_names[m];
	return "?";
}
