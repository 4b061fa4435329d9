/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/allowset.h"
#include "core/log.h"
#include "core/statefile.h"
#include "core/transfer.h"

struct save_ctx {
	FILE *f;
	uint64_t mono, real;
	uint64_t n;
	int err;
};

static int save_one(const struct allowset_view *v, void *arg)
{
	struct save_ctx *sc = arg;
	char a[ADDR_STRLEN], s[ADDR_STRLEN];
	json_t *o, *names;
	char *line;

	if (v->expires_ms <= sc->mono)
		return 0;
	names = transfer_names_json(v->names);
	o = json_pack("{s:i, s:s?, s:s, s:s, s:I, s:o, s:s}", "v", 1, "scope",
		      v->scope.family == AF_LOCAL ? "self"
		      : v->scope.family		  ? addr_format(&v->scope, s, sizeof(s))
						  : NULL,
		      "addr", addr_format(&v->addr, a, sizeof(a)), "source",
		      v->source == ALLOWSET_MANUAL ? "manual" : "learned", "expires_ms",
		      (json_int_t)(sc->real + (v->expires_ms - sc->mono)), "names", names, "server",
		      v->server);
	line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!line || fprintf(sc->f, "%s\n", line) < 0) {
		sc->err = -EIO;
		free(line);
		return 1;
	}
	free(line);
	sc->n++;
	return 0;
}

int journal_save(struct allowset *as, const char *path, struct journal_stats *st)
{
	struct save_ctx sc = {.mono = allowset_now_ms(), .real = statefile_real_ms()};
	char *text = NULL;
	size_t len = 0;
	int rc = 0;

	sc.f = open_memstream(&text, &len);
	if (!sc.f) {
		rc = -errno;
		goto out;
	}
	allowset_walk(as, save_one, &sc);
	if (fclose(sc.f) != 0 && !sc.err)
		sc.err = -ENOMEM;
	rc = sc.err ? sc.err : statefile_write(path, text, len);
	if (rc == 0)
		st->saved = sc.n;
out:
	free(text);
	st->saves++;
	if (rc < 0) {
		st->save_errors++;
		log_ratelimited(LOG_WARNING, "journal: cannot write %s: %s", path, strerror(-rc));
	}
	return rc;
}

/* One line: {"v":1,"scope":S|null,"addr":A,"source":..,"expires_ms":N,
 * "names":[...],"server":S}. */
static int load_line(struct allowset *as, const char *line, size_t len, uint64_t mono,
		     uint64_t real, struct journal_stats *st)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *names, *n, *jscope;
	const char *scope = NULL, *addr = NULL, *source = NULL, *server = NULL;
	json_int_t version = 0, expires = 0;
	struct addr a, sc;
	const struct addr *scp = NULL;
	enum allowset_source src;
	size_t i;
	int rc = -EINVAL;

	if (!o ||
	    json_unpack(o, "{s:I, s:s, s:s, s:I, s:o, s?s}", "v", &version, "addr", &addr, "source",
			&source, "expires_ms", &expires, "names", &names, "server", &server) < 0 ||
	    version != 1 || !json_is_array(names) || addr_parse(addr, &a) < 0)
		goto out;
	/* null (or no key): the unset scope. */
	jscope = json_object_get(o, "scope");
	if (jscope && !json_is_null(jscope)) {
		if (!json_is_string(jscope))
			goto out;
		scope = json_string_value(jscope);
	}
	if (strcmp(source, "manual") == 0)
		src = ALLOWSET_MANUAL;
	else if (strcmp(source, "learned") == 0)
		src = ALLOWSET_LEARNED;
	else
		goto out;
	if (scope && strcmp(scope, "self") == 0) {
		scp = allowset_scope_self();
	} else if (scope) {
		if (addr_parse(scope, &sc) < 0)
			goto out;
		scp = &sc;
	}
	rc = 0;
	if (expires <= 0 || (uint64_t)expires <= real) {
		st->load_expired++;
		goto out;
	}
	json_array_foreach(names, i, n)
	{
		int r;

		if (!json_is_string(n))
			continue;
		r = allowset_add(as, scp, &a, mono + ((uint64_t)expires - real), src,
				 json_string_value(n), server, mono);
		if (r < 0) {
			st->load_refused++;
			goto out;
		}
	}
	if (json_array_size(names) == 0 &&
	    allowset_add(as, scp, &a, mono + ((uint64_t)expires - real), src, NULL, server, mono) <
		0) {
		st->load_refused++;
		goto out;
	}
	st->loaded++;
out:
	if (rc < 0)
		st->load_bad++;
	json_decref(o);
	return rc;
}

int journal_load(struct allowset *as, const char *path, struct journal_stats *st)
{
	uint64_t mono = allowset_now_ms(), real = statefile_real_ms();
	char line[JOURNAL_LINE_MAX];
	FILE *f;
	int fd;

	fd = statefile_open(path, "journal");
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			int ch;

			/* Longer than any line we write: skip it whole. */
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			st->load_bad++;
			continue;
		}
		load_line(as, line, len, mono, real, st);
	}
	fclose(f);
	log_info("journal: restored %llu allowances from %s (%llu expired, %llu bad lines)",
		 (unsigned long long)st->loaded, path, (unsigned long long)st->load_expired,
		 (unsigned long long)st->load_bad);
	return 0;
}
