/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Audit aggregation: counting by key, ordering, the bound, the proposal. */
#include <netinet/in.h>

#include "check.h"
#include "core/audit.h"

static struct addr A(const char *s) {
	struct addr a;

	addr_parse(s, &a);
	return a;
}

int main(void)
{
	struct audit *a = audit_new();
	json_t *r, *e;
	struct addr x = A("198.51.100.7"), y = A("198.51.100.9"), z = A("2001:db8:5::1");

	CHECK(a != NULL);
	for (int i = 0; i < 3; i++)
		audit_record(a, &x, 443, IPPROTO_TCP, 1000, "curl", "app.service", "never-resolved",
			     1000);
	audit_record(a, &x, 443, IPPROTO_TCP, 1001, "curl", "app.service", "never-resolved",
		     2000); /* other uid */
	audit_record(a, &y, 53, IPPROTO_UDP, -1, NULL, NULL, "expired", 3000);
	audit_record(a, &z, 443, IPPROTO_TCP, 0, "wget", "", "never-resolved", 3000);
	/* Same key, another process: the same entry (the latest sender found
	 * shown), a sender line of its own. */
	audit_record(a, &z, 443, IPPROTO_TCP, 0, "wget2", "", "never-resolved", 3500);
	/* Same key, sender not found: the entry keeps the one found. */
	audit_record(a, &z, 443, IPPROTO_TCP, 0, NULL, NULL, "never-resolved", 3600);
	r = audit_report(a, 32, 128, 5000);
	CHECK(r != NULL);
	CHECK(json_array_size(json_object_get(r, "entries")) == 4);
	e = json_array_get(json_object_get(r, "entries"), 0);
	CHECK_STREQ(json_string_value(json_object_get(e, "dst")), "198.51.100.7");
	CHECK(json_integer_value(json_object_get(e, "count")) == 3);
	CHECK(json_integer_value(json_object_get(e, "uid")) == 1000);
	CHECK(json_integer_value(json_object_get(e, "first_s_ago")) == 4);
	CHECK_STREQ(json_string_value(json_object_get(e, "proto")), "tcp");
	CHECK_STREQ(json_string_value(json_object_get(e, "comm")), "curl");
	CHECK_STREQ(json_string_value(json_object_get(e, "unit")), "app.service");
	e = json_array_get(json_object_get(r, "entries"), 1);
	CHECK_STREQ(json_string_value(json_object_get(e, "dst")), "2001:db8:5::1");
	CHECK(json_integer_value(json_object_get(e, "count")) == 3);
	CHECK_STREQ(json_string_value(json_object_get(e, "comm")), "wget2");
	/* Grouped by sender: curl/app.service twice (uids 1000 and 1001),
	 * wget, wget2, and the two unknown ones (uids -1 and 0). */
	e = json_object_get(r, "senders");
	CHECK(json_array_size(e) == 6);
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(e, 0), "comm")), "curl");
	CHECK(json_integer_value(json_object_get(json_array_get(e, 0), "count")) == 3);
	CHECK(json_integer_value(json_object_get(json_array_get(e, 0), "uid")) == 1000);
	{
		unsigned nulls = 0, total = 0;

		for (size_t i = 0; i < json_array_size(e); i++) {
			nulls += json_is_null(json_object_get(json_array_get(e, i), "comm"));
			total += (unsigned)json_integer_value(
			    json_object_get(json_array_get(e, i), "count"));
		}
		CHECK(nulls == 2 && total == 8);
	}
	/* Unknown uid is null. */
	e = json_array_get(json_object_get(r, "entries"), 2);
	CHECK(e && (json_is_null(json_object_get(e, "uid")) ||
		    json_integer_value(json_object_get(e, "uid")) >= 0));
	/* Proposal: one prefix per distinct destination, no duplicates. */
	CHECK(json_array_size(json_object_get(r, "proposed_exceptions")) == 3);
	json_decref(r);
	/* Aggregated to /24 and /64: the two IPv4 destinations become one. */
	r = audit_report(a, 24, 64, 5000);
	CHECK(json_array_size(json_object_get(r, "proposed_exceptions")) == 2);
	CHECK_STREQ(json_string_value(json_array_get(json_object_get(r, "proposed_exceptions"), 0)),
		    "198.51.100.0/24");
	CHECK_STREQ(json_string_value(json_array_get(json_object_get(r, "proposed_exceptions"), 1)),
		    "2001:db8:5::/64");
	json_decref(r);
	/* The bound: new keys past it are counted, not stored. */
	for (unsigned i = 0; i < AUDIT_MAX_ENTRIES + 10; i++) {
		struct addr b;
		uint8_t bytes[4] = {198, 18, (uint8_t)(i >> 8), (uint8_t)i};

		addr_from_v4(&b, bytes);
		audit_record(a, &b, 80, IPPROTO_TCP, 0, NULL, NULL, "never-resolved", 6000);
	}
	CHECK(audit_dropped(a) == 14); /* 4 stored before, 4096 - 4 fitted */
	audit_clear(a);
	r = audit_report(a, 32, 128, 7000);
	CHECK(json_array_size(json_object_get(r, "entries")) == 0);
	json_decref(r);
	audit_free(&a);
	CHECK(a == NULL);
	CHECK_DONE();
}
