/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/transfer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dns/wire.h"

const char *transfer_time_format(uint64_t real_ms, char *buf, size_t len)
{
	time_t t = (time_t)(real_ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		if (len)
			buf[0] = '\0';
	}
	return buf;
}

int transfer_time_parse(const char *s, uint64_t *real_ms)
{
	struct tm tm = {0};
	const char *end;
	time_t t;

	if (!s || strlen(s) != 20)
		return -EINVAL;
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end != '\0')
		return -EINVAL;
	t = timegm(&tm);
	if (t <= 0)
		return -EINVAL;
	*real_ms = (uint64_t)t * 1000u;
	return 0;
}

json_t *transfer_names_json(const char *names)
{
	json_t *arr = json_array();
	const char *p = names;

	while (arr && *p) {
		const char *sep = strstr(p, ", ");
		size_t len = sep ? (size_t)(sep - p) : strlen(p);

		json_array_append_new(arr, json_stringn(p, len));
		p += len + (sep ? 2 : 0);
	}
	return arr;
}

json_t *transfer_entry_json(const struct allowset_view *v, uint64_t mono_now, uint64_t real_now)
{
	char a[ADDR_STRLEN], s[ADDR_STRLEN], when[TRANSFER_TIME_LEN];
	json_t *names, *scope;

	if (v->expires_ms <= mono_now)
		return NULL;
	names = transfer_names_json(v->names);
	if (v->scope.family == AF_LOCAL)
		scope = json_string("self");
	else if (v->scope.family)
		scope = json_string(addr_format(&v->scope, s, sizeof(s)));
	else
		scope = json_null();
	transfer_time_format(real_now + (v->expires_ms - mono_now), when, sizeof(when));
	return json_pack("{s:o, s:s, s:o, s:s, s:s, s:s}", "scope", scope, "addr",
			 addr_format(&v->addr, a, sizeof(a)), "names", names, "expires", when,
			 "source", v->source == ALLOWSET_MANUAL ? "manual" : "learned", "server",
			 v->server);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* A name as the stub would have learned it: a valid presentation name,
 * kept in the daemon's own lowercase, escaped form. */
static int parse_name(json_t *n, char *out, char *err, size_t errlen)
{
	struct wire_name w;
	const char *s = json_string_value(n);
	char f[WIRE_NAME_STRLEN];

	if (!s || json_string_length(n) == 0 || json_string_length(n) >= TRANSFER_NAME_LEN ||
	    strlen(s) != json_string_length(n) || !printable(s))
		return fail(err, errlen, "a name must be a text of 1 to %d printable characters",
			    TRANSFER_NAME_LEN - 1);
	if (wire_name_from_str(s, &w) != WIRE_OK || w.len <= 1)
		return fail(err, errlen, "\"%s\" is not a DNS name", s);
	wire_name_format(&w, f, sizeof(f));
	if (strlen(f) >= TRANSFER_NAME_LEN)
		return fail(err, errlen, "\"%s\" is too long", s);
	memcpy(out, f, strlen(f) + 1);
	return 0;
}

int transfer_entry_parse(json_t *o, const struct transfer_limits *l, struct transfer_entry *e,
			 char *err, size_t errlen)
{
	static const char *const keys[] = {"scope", "addr", "names", "expires", "source", "server"};
	json_t *scope = json_object_get(o, "scope"), *names = json_object_get(o, "names"), *v;
	const char *addr = NULL, *expires = NULL, *source = NULL, *server = NULL, *k;
	char a[ADDR_STRLEN];
	size_t i;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o))
		return fail(err, errlen, "an entry must be an object");
	json_object_foreach(o, k, v)
	{
		bool known = false;

		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known)
			return fail(err, errlen, "unknown key \"%.40s\"", k);
	}
	if (json_unpack(o, "{s:s, s:s, s:s}", "addr", &addr, "expires", &expires, "source",
			&source) < 0)
		return fail(err, errlen, "\"addr\", \"expires\" and \"source\" are required texts");
	if (addr_parse(addr, &e->addr) < 0)
		return fail(err, errlen, "\"%.64s\" is not an IP address", addr);
	addr_format(&e->addr, a, sizeof(a));
	if (strcmp(source, "learned") == 0)
		e->source = ALLOWSET_LEARNED;
	else if (strcmp(source, "manual") == 0)
		e->source = ALLOWSET_MANUAL;
	else
		return fail(err, errlen, "%s: \"source\" must be learned or manual", a);
	if (scope && json_is_string(scope) && strcmp(json_string_value(scope), "self") == 0) {
		e->scope = *allowset_scope_self();
	} else if (scope && json_is_string(scope)) {
		if (addr_parse(json_string_value(scope), &e->scope) < 0)
			return fail(err, errlen,
				    "%s: \"scope\" must be null, \"self\" or an address", a);
	} else if (scope && !json_is_null(scope)) {
		return fail(err, errlen, "%s: \"scope\" must be null, \"self\" or an address", a);
	}
	if (transfer_time_parse(expires, &e->expires_real_ms) < 0)
		return fail(err, errlen, "%s: \"expires\" must be YYYY-MM-DDTHH:MM:SSZ", a);
	if (e->expires_real_ms <= l->now_real_ms)
		return fail(err, errlen, "%s: expired at %s", a, expires);
	if (e->expires_real_ms - l->now_real_ms >
	    (e->source == ALLOWSET_MANUAL ? l->manual_max_ms : l->learned_max_ms))
		return fail(
		    err, errlen,
		    "%s: expires %s, more than %llu s from now (the most a %s "
		    "allowance may last)",
		    a, expires,
		    (unsigned long long)((e->source == ALLOWSET_MANUAL ? l->manual_max_ms
								       : l->learned_max_ms) /
					 1000),
		    source);
	if (names && !json_is_array(names))
		return fail(err, errlen, "%s: \"names\" must be an array", a);
	if (json_array_size(names) > l->names_max || json_array_size(names) > TRANSFER_NAMES_MAX)
		return fail(err, errlen, "%s: %zu names, more than %u", a, json_array_size(names),
			    l->names_max < TRANSFER_NAMES_MAX ? l->names_max : TRANSFER_NAMES_MAX);
	if (e->source == ALLOWSET_LEARNED && json_array_size(names) == 0)
		return fail(err, errlen,
			    "%s: a learned allowance needs the names it was learned for", a);
	json_array_foreach(names, i, v)
	{
		char why[160];

		if (parse_name(v, e->names[i], why, sizeof(why)) < 0)
			return fail(err, errlen, "%s: %s", a, why);
	}
	e->nnames = (unsigned)json_array_size(names);
	v = json_object_get(o, "server");
	if (v) {
		server = json_string_value(v);
		if (!server || json_string_length(v) >= ALLOWSET_SERVER_LEN ||
		    strlen(server) != json_string_length(v) || (server[0] && !printable(server)))
			return fail(err, errlen,
				    "%s: \"server\" must be a printable text of at most %d "
				    "characters",
				    a, ALLOWSET_SERVER_LEN - 1);
		memcpy(e->server, server, strlen(server) + 1);
	}
	return 0;
}

int transfer_doc_check(json_t *doc, char *err, size_t errlen)
{
	json_t *fmt = json_object_get(doc, "format"), *ver = json_object_get(doc, "version");

	if (!json_is_object(doc))
		return fail(err, errlen, "the document must be a JSON object");
	if (!json_is_string(fmt) || strcmp(json_string_value(fmt), TRANSFER_FORMAT) != 0)
		return fail(err, errlen, "\"format\" must be \"%s\"", TRANSFER_FORMAT);
	if (!json_is_integer(ver) || json_integer_value(ver) != TRANSFER_VERSION)
		return fail(err, errlen, "\"version\" must be %d (this build reads only that)",
			    TRANSFER_VERSION);
	if (!json_is_array(json_object_get(doc, "entries")))
		return fail(err, errlen, "\"entries\" must be an array");
	return 0;
}
