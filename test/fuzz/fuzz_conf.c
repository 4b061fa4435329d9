/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * conf_parse() on arbitrary bytes. Beyond "no crash, no leak", it checks the
 * parser's contract: a refusal always says why and yields no struct, and an
 * accepted document's canonical dump loads again and dumps to the same text
 * (so "ztdnsd --check -v" output is always a valid configuration).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fuzz_conf_dump(const struct conf *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		abort();
	conf_dump(c, f);
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Static: each is about 64 KiB. */
	static struct conf_errors errs, errs2;
	struct conf *c = NULL, *c2 = NULL;
	char *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;

	if (conf_parse((const char *)data, size, "fuzz", &c, &errs) != 0) {
		if (c || errs.count == 0)
			abort();
		goto out;
	}
	if (!c || errs.count != 0)
		abort();
	d1 = fuzz_conf_dump(c, &l1);
	if (conf_parse(d1, l1, "dump", &c2, &errs2) != 0) {
		conf_errors_print(&errs2, stderr);
		fprintf(stderr, "%.*s\n", (int)l1, d1);
		abort();
	}
	d2 = fuzz_conf_dump(c2, &l2);
	if (l1 != l2 || memcmp(d1, d2, l1) != 0)
		abort();
out:
	free(d1);
	free(d2);
	conf_free(&c);
	conf_free(&c2);
	return 0;
}
