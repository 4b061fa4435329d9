/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The stop decision over all 16 combinations: the ruleset comes out only on
 * a clean stop of a daemon that reached READY with its rules in and no
 * keep_on_stop; everything else leaves (or installs) the lockdown.
 */
#include "check.h"
#include "core/lifecycle.h"

int main(void)
{
	unsigned removes = 0;

	for (unsigned i = 0; i < 16; i++) {
		bool clean = i & 1, ready = i & 2, installed = i & 4, keep = i & 8;
		enum lifecycle_stop s = lifecycle_on_stop(clean, ready, installed, keep);

		if (s == LIFECYCLE_REMOVE) {
			removes++;
			CHECK_MSG(clean && ready && installed && !keep,
				  "removed with clean %d ready %d installed %d keep %d", clean,
				  ready, installed, keep);
		}
		if (!clean || !ready)
			/* A failed start or a crash-like exit: never open. */
			CHECK_MSG(
			    s == (installed ? LIFECYCLE_LOCKDOWN_STAYS : LIFECYCLE_LOCKDOWN_NEW),
			    "exit clean %d ready %d installed %d: %s", clean, ready, installed,
			    lifecycle_stop_name(s));
		if (clean && ready && installed && keep)
			CHECK(s == LIFECYCLE_KEEP);
		if (!installed)
			CHECK(s == LIFECYCLE_LOCKDOWN_NEW);
	}
	CHECK(removes == 1);
	CHECK_STREQ(lifecycle_stop_name(LIFECYCLE_LOCKDOWN_NEW), "lockdown-new");
	CHECK_DONE();
}
