/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztdnsctl export / import (core/xfercmd.h has the protocol) and
 * audit-report --config: the commands that write or read a document.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/ctl.h"
#include "core/transfer.h"
#include "core/xfercmd.h"

#define CTLXFER_FILE_MAX (16u << 20) /* an import document */

/* Write doc to file ("-" or NULL: stdout); a file is created 0600, since
 * what it holds grants network access or is a configuration to review. */
static int write_doc(json_t *doc, const char *file)
{
	FILE *f = stdout;
	int fd = -1, rc = 0;

	if (file && strcmp(file, "-") != 0) {
		fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || fchmod(fd, 0600) < 0 || !(f = fdopen(fd, "w"))) {
			fprintf(stderr, "ztdnsctl: %s: %s\n", file, strerror(errno));
			if (fd >= 0)
				close(fd);
			return EX_CANTCREAT;
		}
	}
	if (json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', f) == EOF)
		rc = EX_IOERR;
	if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
		rc = EX_IOERR;
	if (rc)
		fprintf(stderr, "ztdnsctl: cannot write %s\n", file ? file : "-");
	return rc;
}

int ctl_export(const char *path, const char *file)
{
	json_t *req = json_pack("{s:s}", "cmd", "export"), *resp = ctl_transact(path, req, false);
	long long total, n;
	int rc;

	json_decref(req);
	if (!resp)
		return EX_UNAVAILABLE;
	if (!json_is_true(json_object_get(resp, "ok"))) {
		fprintf(stderr, "ztdnsctl: %s\n",
			json_string_value(json_object_get(resp, "error")));
		json_decref(resp);
		return 1;
	}
	total = json_integer_value(json_object_get(resp, "total"));
	n = (long long)json_array_size(json_object_get(resp, "entries"));
	json_object_del(resp, "ok");
	json_object_del(resp, "total");
	json_object_del(resp, "truncated");
	rc = write_doc(resp, file);
	json_decref(resp);
	if (rc)
		return rc;
	fprintf(stderr, "exported %lld allowances\n", n);
	if (n < total) {
		fprintf(stderr, "ztdnsctl: only %lld of %lld allowances exported (at most %d)\n", n,
			total, XFERCMD_EXPORT_MAX);
		return 1;
	}
	return 0;
}

static json_t *load_doc(const char *file)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
	char *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *doc = NULL;

	if (!f) {
		fprintf(stderr, "ztdnsctl: %s: %s\n", file, strerror(errno));
		return NULL;
	}
	buf = malloc(CTLXFER_FILE_MAX + 1);
	if (buf)
		len = fread(buf, 1, CTLXFER_FILE_MAX + 1, f);
	if (!buf || ferror(f))
		fprintf(stderr, "ztdnsctl: cannot read %s\n", file);
	else if (len > CTLXFER_FILE_MAX)
		fprintf(stderr, "ztdnsctl: %s is larger than %u bytes\n", file, CTLXFER_FILE_MAX);
	else if (!(doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)))
		fprintf(stderr, "ztdnsctl: %s: line %d: %s\n", file, jerr.line, jerr.text);
	if (f != stdin)
		fclose(f);
	free(buf);
	return doc;
}

struct import_pass {
	const char *path;
	bool dry;
	size_t accepted, imported, refused;
	long long room;
};

/* Send entries [from, to) of arr; note what the daemon refused, by the
 * entry's index in the document. Returns 0 or an exit code. */
static int send_batch(struct import_pass *ip, json_t *arr, size_t from, size_t to)
{
	json_t *req = json_pack("{s:s, s:i, s:b, s:[]}", "cmd", "import", "version",
				TRANSFER_VERSION, "dry_run", ip->dry, "entries");
	json_t *list = json_object_get(req, "entries"), *resp, *r;
	size_t i;

	for (i = from; i < to; i++)
		json_array_append(list, json_array_get(arr, i));
	resp = ctl_transact(ip->path, req, false);
	json_decref(req);
	if (!resp)
		return EX_UNAVAILABLE;
	if (!json_is_true(json_object_get(resp, "ok"))) {
		fprintf(stderr, "ztdnsctl: import: %s\n",
			json_string_value(json_object_get(resp, "error")));
		json_decref(resp);
		return 1;
	}
	json_array_foreach(json_object_get(resp, "refused"), i, r)
	    fprintf(stderr, "ztdnsctl: import: entry %lld refused: %s\n",
		    (long long)from + json_integer_value(json_object_get(r, "index")),
		    json_string_value(json_object_get(r, "error")));
	ip->accepted += (size_t)json_integer_value(json_object_get(resp, "accepted"));
	ip->imported += (size_t)json_integer_value(json_object_get(resp, "imported"));
	ip->refused += (size_t)json_integer_value(json_object_get(resp, "refused_count"));
	ip->room = json_integer_value(json_object_get(resp, "room"));
	json_decref(resp);
	return 0;
}

/* Every entry in batches of at most XFERCMD_BATCH_MAX entries and
 * TRANSFER_BATCH_BYTES bytes (a control request has a size limit). */
static int send_all(struct import_pass *ip, json_t *arr)
{
	size_t n = json_array_size(arr), from = 0, bytes = 0;

	if (n == 0) /* still asked: the daemon says whether it would take one */
		return send_batch(ip, arr, 0, 0);
	for (size_t i = 0; i <= n; i++) {
		size_t len = 0;
		int rc;

		if (i < n) {
			char *t = json_dumps(json_array_get(arr, i), JSON_COMPACT);

			len = t ? strlen(t) : SIZE_MAX;
			free(t);
			if (len > TRANSFER_BATCH_BYTES) {
				fprintf(stderr,
					"ztdnsctl: import: entry %zu refused: longer than %d "
					"bytes\n",
					i, TRANSFER_BATCH_BYTES);
				return 1;
			}
		}
		if (i < n && i - from < XFERCMD_BATCH_MAX &&
		    bytes + len + 1 <= TRANSFER_BATCH_BYTES) {
			bytes += len + 1;
			continue;
		}
		if (i > from && (rc = send_batch(ip, arr, from, i)) != 0)
			return rc;
		from = i;
		bytes = len + 1;
	}
	return 0;
}

int ctl_import(const char *path, const char *file)
{
	json_t *doc = load_doc(file), *arr;
	struct import_pass ip = {.path = path, .dry = true};
	char err[256];
	size_t n;
	int rc;

	if (!doc)
		return EX_DATAERR;
	if (transfer_doc_check(doc, err, sizeof(err)) < 0) {
		fprintf(stderr, "ztdnsctl: %s: %s\n", file, err);
		json_decref(doc);
		return EX_DATAERR;
	}
	arr = json_object_get(doc, "entries");
	n = json_array_size(arr);
	/* First every entry as a dry run: the daemon checks all of them and
	 * changes nothing; the import goes ahead only if it refused none. */
	rc = send_all(&ip, arr);
	if (rc == 0 && ip.refused) {
		fprintf(stderr, "ztdnsctl: nothing imported: %zu of %zu entries refused\n",
			ip.refused, n);
		rc = EX_DATAERR;
	} else if (rc == 0 && (long long)n > ip.room) {
		fprintf(stderr,
			"ztdnsctl: nothing imported: %zu entries, the allowset has room for %lld "
			"more\n",
			n, ip.room);
		rc = EX_DATAERR;
	}
	if (rc == 0) {
		ip = (struct import_pass){.path = path, .dry = false};
		rc = send_all(&ip, arr);
		if (rc == 0 && ip.refused)
			rc = 1;
		printf("imported %zu of %zu allowances", ip.imported, n);
		if (ip.refused)
			printf(" (%zu refused on the way: see above)", ip.refused);
		printf("\n");
	}
	json_decref(doc);
	return rc;
}

int ctl_audit_config(const char *path, json_t *req, const char *file)
{
	json_t *resp, *conf;
	int rc;

	json_object_set_new(req, "config", json_true());
	resp = ctl_transact(path, req, false);
	if (!resp)
		return EX_UNAVAILABLE;
	conf = json_object_get(resp, "config");
	if (!json_is_true(json_object_get(resp, "ok")) || !json_is_object(conf)) {
		fprintf(stderr, "ztdnsctl: %s\n",
			json_string_value(json_object_get(resp, "error")) ?: "no configuration");
		json_decref(resp);
		return 1;
	}
	rc = write_doc(conf, file);
	if (rc == 0)
		fprintf(stderr,
			"wrote the running configuration with %lld proposed exceptions (%lld "
			"already covered, %lld over the limit): review it, then ztdnsd --check\n",
			json_integer_value(json_object_get(resp, "config_added")),
			json_integer_value(json_object_get(resp, "config_present")),
			json_integer_value(json_object_get(resp, "config_omitted")));
	json_decref(resp);
	return rc;
}
