/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/allowset's memory of refused addresses (what the stub removed from an
 * answer, DESIGN.md invariant 7) and the verdict reasons it gives: over-cap
 * for a full table or addrs_per_name, never-learn for a never-learn class,
 * with the name and when; the ring forgets the oldest after
 * ALLOWSET_OVERCAP_RING newer refusals.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/allowset.h"
#include "core/verdict.h"
#include "policy/exceptions.h"

int main(void);

static enum verdict_reason reason_of(struct verdict_policy *pol, const char *dst, uint64_t now,
				     struct verdict_result *r)
{
	struct packet_info p = {0};

	addr_parse("192.0.2.1", &p.src);
	addr_parse(dst, &p.dst);
	p.proto = IPPROTO_TCP;
	p.sport = 40000;
	p.dport = 443;
	verdict_decide(pol, &p, NULL, now, r);
	return r->reason;
}

int main(void)
{
	struct verdict_policy pol = {.enforce = true, .want_details = true};
	struct verdict_result r;
	struct allowset_refusal f;
	struct addr a;
	const uint64_t now = 100000;
	char name[32];

	allowset_reader_register();
	pol.allowset = allowset_new(16, 4);
	pol.exceptions = exceptions_new(NULL, 0);

	addr_parse("169.254.169.254", &a);
	CHECK(!allowset_refusal_get(pol.allowset, NULL, &a, &f));
	CHECK(reason_of(&pol, "169.254.169.254", now, &r) == VERDICT_NEVER_RESOLVED);
	allowset_note_refused(pol.allowset, NULL, &a, ALLOWSET_REFUSED_NEVER_LEARN, 3, "meta.test",
			      now - 2000);
	CHECK(reason_of(&pol, "169.254.169.254", now, &r) == VERDICT_NEVER_LEARN);
	CHECK(r.refusal.reason == ALLOWSET_REFUSED_NEVER_LEARN && r.refusal.cls == 3);
	CHECK_STREQ(r.refusal.name, "meta.test");
	CHECK(r.refusal.at_ms == now - 2000 && !r.accept);
	CHECK_STREQ(verdict_reason_name(VERDICT_NEVER_LEARN), "never-learn");
	CHECK(!verdict_reason_accepts(VERDICT_NEVER_LEARN));

	/* the latest refusal of an address wins */
	allowset_note_refused(pol.allowset, NULL, &a, ALLOWSET_REFUSED_PER_NAME, 0, "other.test",
			      now - 1000);
	CHECK(reason_of(&pol, "169.254.169.254", now, &r) == VERDICT_OVER_CAP);
	CHECK_STREQ(r.refusal.name, "other.test");

	/* a scoped refusal is not the unscoped one */
	{
		struct addr client;

		addr_parse("192.0.2.77", &client);
		addr_parse("198.51.100.5", &a);
		allowset_note_refused(pol.allowset, &client, &a, ALLOWSET_REFUSED_PER_NAME, 0,
				      "x.test", now);
		CHECK(allowset_refusal_get(pol.allowset, &client, &a, NULL));
		CHECK(!allowset_refusal_get(pol.allowset, NULL, &a, NULL));
	}

	/* a full table remembers the refusal with the name */
	for (unsigned i = 0; i < 16; i++) {
		char s[32];

		snprintf(s, sizeof(s), "198.51.100.%u", 100 + i);
		addr_parse(s, &a);
		CHECK(allowset_add(pol.allowset, NULL, &a, now + 60000, ALLOWSET_LEARNED, "fill",
				   "s", now) == 0);
	}
	addr_parse("198.51.100.200", &a);
	CHECK(allowset_add(pol.allowset, NULL, &a, now + 60000, ALLOWSET_LEARNED, "full.test", "s",
			   now) == -ENOSPC);
	CHECK(reason_of(&pol, "198.51.100.200", now, &r) == VERDICT_OVER_CAP);
	CHECK(r.refusal.reason == ALLOWSET_REFUSED_FULL);
	CHECK_STREQ(r.refusal.name, "full.test");

	/* a long name is cut, NUL-terminated */
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		addr_parse("198.51.100.201", &a);
		allowset_note_refused(pol.allowset, NULL, &a, ALLOWSET_REFUSED_PER_NAME, 0,
				      longname, now);
		CHECK(allowset_refusal_get(pol.allowset, NULL, &a, &f));
		CHECK(strlen(f.name) == ALLOWSET_REFUSED_NAME_LEN - 1);
	}

	/* the ring: ALLOWSET_OVERCAP_RING newer refusals push the first out */
	addr_parse("169.254.169.254", &a);
	for (unsigned i = 0; i < ALLOWSET_OVERCAP_RING; i++) {
		struct addr b;
		uint8_t v6[16] = {
		    0x20, 0x01, 0x0d, 0xb8, [14] = (uint8_t)(i >> 8), [15] = (uint8_t)i};

		addr_from_v6(&b, v6);
		snprintf(name, sizeof(name), "n%u.test", i);
		allowset_note_refused(pol.allowset, NULL, &b, ALLOWSET_REFUSED_PER_NAME, 0, name,
				      now);
	}
	CHECK(!allowset_refusal_get(pol.allowset, NULL, &a, NULL));
	CHECK(reason_of(&pol, "169.254.169.254", now, &r) == VERDICT_NEVER_RESOLVED);
	CHECK(reason_of(&pol, "2001:db8::ff", now, &r) == VERDICT_OVER_CAP);
	CHECK_STREQ(r.refusal.name, "n255.test");

	allowset_free(&pol.allowset);
	exceptions_free((struct exceptions **)&pol.exceptions);
	allowset_reader_unregister();
	CHECK_DONE();
}
