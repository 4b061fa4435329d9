/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The stats registry: every family in both outputs, each Prometheus sample
 * also in the JSON with the same labels and value, HELP and TYPE right
 * before each family's samples, base units and _total names. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "check.h"
#include "core/allowset.h"
#include "core/crossing.h"
#include "core/daemon.h"
#include "core/stats.h"
#include "dns/upstream.h"
#include "policy/conf.h"

static const char conf_text[] =
    "{\"mode\":\"host\",\"servers\":["
    "{\"name\":\"one\",\"protocol\":\"dot\",\"address\":\"192.0.2.53\",\"tls_name\":\"pdns."
    "test\"},"
    "{\"name\":\"two\",\"protocol\":\"doh\",\"url\":\"https://pdns.test/dns-query\","
    "\"bootstrap\":[\"192.0.2.54\"]}]}";

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The JSON sample of family fam whose labels, rendered in the text form,
 * equal lbl ("" or "{k=\"v\",...}") and suffix equals suf. */
static json_t *find_sample(json_t *js, const struct stats_family *fam, const char *suf,
			   const char *lbl)
{
	json_t *samples = json_object_get(json_object_get(js, fam->name), "samples"), *s;
	size_t i;

	json_array_foreach(samples, i, s)
	{
		json_t *labels = json_object_get(s, "labels"), *sj = json_object_get(s, "suffix");
		char buf[1024];
		size_t o = 0;
		unsigned n = 0;

		if (strcmp(sj ? json_string_value(sj) : "", suf) != 0)
			continue;
		/* label order: the family's names, then "le" */
		for (unsigned k = 0; k <= STATS_MAX_LABELS; k++) {
			const char *name =
			    k < STATS_MAX_LABELS && fam->labels[k] ? fam->labels[k] : "le";
			json_t *v = json_object_get(labels, name);

			if (!v)
				break;
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=\"", n ? "," : "{",
					      name);
			for (const char *c = json_string_value(v); *c && o + 3 < sizeof(buf); c++) {
				if (*c == '"' || *c == '\\')
					buf[o++] = '\\';
				buf[o++] = *c;
			}
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\"");
			n++;
			if (strcmp(name, "le") == 0)
				break;
		}
		if (n)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "}");
		buf[o] = '\0';
		if (n == json_object_size(labels) && strcmp(buf, lbl) == 0)
			return s;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct conf_errors errs = {0};
	struct daemon d;
	char *text = NULL;
	size_t tlen = 0, json_samples = 0, prom_samples = 0;
	FILE *f;
	json_t *js;
	int err = 0;

	memset(&d, 0, sizeof(d));
	CHECK(conf_parse(conf_text, strlen(conf_text), "t.json", &d.conf, &errs) == 0);
	conf_errors_print(&errs, stderr);
	d.allowset = allowset_new(16, 4);
	d.crossing = crossing_new(1000);
	d.upstream = d.conf ? upstream_new(loop, d.conf, NULL, NULL, &err) : NULL;
	CHECK_MSG(d.upstream != NULL, "upstream_new: %d", err);
	d.cnt.verdicts[0] = 7;
	d.cnt.reloads = 3;
	d.ready = true;

	/* names: unique, counters end in _total, no milliseconds */
	for (unsigned i = 0; i < stats_family_count(); i++) {
		const struct stats_family *a = stats_family_at(i);

		CHECK_MSG(strncmp(a->name, "ztdns_", 6) == 0, "%s", a->name);
		CHECK_MSG(a->help && a->help[0], "%s has no help", a->name);
		CHECK_MSG((a->type == STATS_COUNTER) == ends_with(a->name, "_total"), "%s",
			  a->name);
		CHECK_MSG(!strstr(a->name, "_ms"), "%s is not in base units", a->name);
		CHECK_MSG(!a->unit[0] || strstr(a->name, a->unit), "%s: unit %s", a->name, a->unit);
		for (unsigned j = 0; j < i; j++)
			CHECK_MSG(strcmp(a->name, stats_family_at(j)->name) != 0, "%s twice",
				  a->name);
	}
	CHECK(stats_family_at(stats_family_count()) == NULL);

	f = open_memstream(&text, &tlen);
	CHECK(stats_render_prometheus(&d, f) == 0);
	fclose(f);
	if (argc > 1) { /* the text for promtool (CMakeLists.txt) */
		FILE *out = fopen(argv[1], "w");

		CHECK(out && fwrite(text, 1, tlen, out) == tlen);
		if (out)
			fclose(out);
	}
	js = stats_render_json(&d);
	CHECK(js != NULL);
	CHECK(json_object_size(js) == stats_family_count());

	/* Walk the text: HELP, TYPE, then only that family's samples. */
	{
		const struct stats_family *cur = NULL;
		unsigned seen = 0, next = 0;
		char *save = NULL;

		for (char *line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "# HELP ", 7) == 0) {
				cur = stats_family_at(next++);
				CHECK_MSG(cur &&
					      strncmp(line + 7, cur->name, strlen(cur->name)) == 0,
					  "out of order: %s", line);
				CHECK(cur && strcmp(line + 8 + strlen(cur->name), cur->help) == 0);
				seen++;
				continue;
			}
			if (strncmp(line, "# TYPE ", 7) == 0) {
				char want[160];

				snprintf(want, sizeof(want), "# TYPE %s %s", cur ? cur->name : "",
					 cur ? stats_type_name(cur->type) : "");
				CHECK_STREQ(line, want);
				continue;
			}
			CHECK_MSG(cur != NULL, "sample before any family: %s", line);
			if (!cur)
				continue;
			prom_samples++;
			{
				size_t nl = strlen(cur->name);
				char *sp = strrchr(line, ' ');
				const char *suf = "";
				char lbl[1024];
				json_t *s;

				CHECK_MSG(strncmp(line, cur->name, nl) == 0, "%s not in %s", line,
					  cur->name);
				if (!sp || strncmp(line, cur->name, nl) != 0)
					continue;
				*sp = '\0';
				if (cur->type == STATS_HISTOGRAM) {
					static const char *const sufs[] = {"_bucket", "_sum",
									   "_count"};

					for (unsigned k = 0; k < 3; k++)
						if (strncmp(line + nl, sufs[k], strlen(sufs[k])) ==
						    0)
							suf = sufs[k];
					CHECK_MSG(suf[0], "histogram sample %s", line);
				}
				snprintf(lbl, sizeof(lbl), "%s", line + nl + strlen(suf));
				s = find_sample(js, cur, suf, lbl);
				CHECK_MSG(s != NULL, "%s not in the JSON", line);
				if (s)
					CHECK_MSG(
					    fabs(json_number_value(json_object_get(s, "value")) -
						 strtod(sp + 1, NULL)) < 1e-9,
					    "%s: %s", line, sp + 1);
			}
		}
		CHECK_MSG(seen == stats_family_count(), "%u of %u families in the text", seen,
			  stats_family_count());
	}
	{
		const char *k;
		json_t *v;

		json_object_foreach(js, k, v) json_samples +=
		    json_array_size(json_object_get(v, "samples"));
		CHECK_MSG(json_samples == prom_samples, "%zu JSON samples, %zu in the text",
			  json_samples, prom_samples);
	}
	/* values from the owners */
	{
		json_t *s = json_array_get(
		    json_object_get(json_object_get(js, "ztdns_reloads_total"), "samples"), 0);

		CHECK(json_integer_value(json_object_get(s, "value")) == 3);
		s = json_array_get(json_object_get(json_object_get(js, "ztdns_ready"), "samples"),
				   0);
		CHECK(json_integer_value(json_object_get(s, "value")) == 1);
		s = json_array_get(
		    json_object_get(json_object_get(js, "ztdns_upstream_latency_seconds"),
				    "samples"),
		    0);
		CHECK_STREQ(json_string_value(json_object_get(json_object_get(s, "labels"), "le")),
			    "0.001");
		CHECK_STREQ(
		    json_string_value(json_object_get(json_object_get(s, "labels"), "server")),
		    "one");
	}
	CHECK(prom_samples > 100);

	json_decref(js);
	free(text);
	upstream_free(&d.upstream);
	crossing_free(&d.crossing);
	allowset_free(&d.allowset);
	conf_free(&d.conf);
	CHECK_DONE();
}
