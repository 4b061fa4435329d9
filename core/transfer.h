/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The allowance transfer format of "ztdnsctl export" / "import": what one
 * gateway learned, carried to a standby or a new machine. One JSON document:
 *
 *   {"format":"ztdns-allowances", "version":1, "exported_at":"RFC 3339",
 *    "entries":[{"scope":null|"self"|ADDR, "addr":ADDR, "names":[...],
 *                "expires":"2026-12-02T16:30:00Z", "source":"learned"|"manual",
 *                "server":S}, ...]}
 *
 * Expiry is absolute wall-clock time (UTC, whole seconds, rounded down), so
 * the document means the same on another machine with a synchronised clock.
 * The file grants network access: an importer checks every entry as
 * strictly as an answer the stub would learn from (transfer_entry_parse()
 * here; the never-learn classes and the mode in core/commands.c).
 */
#ifndef ZTDNS_TRANSFER_H
#define ZTDNS_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/addr.h"
#include "core/allowset.h"

#define TRANSFER_FORMAT	     "ztdns-allowances"
#define TRANSFER_VERSION     1
#define TRANSFER_NAMES_MAX   64	  /* names per entry in a document */
#define TRANSFER_NAME_LEN    254  /* presentation form, NUL included */
#define TRANSFER_BATCH_BYTES 3800 /* one import request, under CONTROL_MAX_LINE */
#define TRANSFER_TIME_LEN    24	  /* "2026-12-02T16:30:00Z" + NUL */

/* What a document entry may be, from the importing daemon's configuration. */
struct transfer_limits {
	uint64_t now_real_ms;	 /* wall clock now */
	uint64_t learned_max_ms; /* farthest expiry of a learned entry from now */
	uint64_t manual_max_ms;	 /* ... of a manual one */
	unsigned names_max;	 /* limits.names_per_addr */
};

/* One entry, parsed and checked. names are copies. */
struct transfer_entry {
	struct addr scope; /* family 0: unset scope; AF_LOCAL: "self" */
	struct addr addr;
	enum allowset_source source;
	uint64_t expires_real_ms;
	unsigned nnames;
	char names[TRANSFER_NAMES_MAX][TRANSFER_NAME_LEN];
	char server[ALLOWSET_SERVER_LEN];
};

/* Format wall-clock ms as "YYYY-MM-DDTHH:MM:SSZ" (seconds rounded down)
 * into buf (at least TRANSFER_TIME_LEN). Returns buf. */
const char *transfer_time_format(uint64_t real_ms, char *buf, size_t len);

/* Parse exactly that form (UTC, "Z"). Returns 0 or -EINVAL. */
int transfer_time_parse(const char *s, uint64_t *real_ms);

/* The names of a view ("a.example, b.example") as a JSON array of texts.
 * New reference, caller owns. */
json_t *transfer_names_json(const char *names);

/* The document entry for v, or NULL when it has expired at mono_now
 * (monotonic ms; real_now is the wall clock at the same instant). New
 * reference, caller owns. */
json_t *transfer_entry_json(const struct allowset_view *v, uint64_t mono_now, uint64_t real_now);

/* Check one entry against l: known keys only, an IP address, the scope
 * (null, "self" or an address), source, names (valid
 * DNS names, at most l->names_max and TRANSFER_NAMES_MAX; a learned entry
 * has at least one), server (printable, shorter than ALLOWSET_SERVER_LEN),
 * expiry in the future and not past now + the source's maximum. Returns 0,
 * or -EINVAL with a one-line reason in err. */
int transfer_entry_parse(json_t *o, const struct transfer_limits *l, struct transfer_entry *e,
			 char *err, size_t errlen);

/* Check a whole document's header (format, version, entries an array).
 * Returns 0 or -EINVAL with the reason in err. */
int transfer_doc_check(json_t *doc, char *err, size_t errlen);

#endif
