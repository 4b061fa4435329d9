/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/lifecycle.h"

enum lifecycle_stop lifecycle_on_stop(bool clean, bool ready, bool rules_installed,
				      bool keep_on_stop)
{
	if (clean && ready && rules_installed)
		return keep_on_stop ? LIFECYCLE_KEEP : LIFECYCLE_REMOVE;
	return rules_installed ? LIFECYCLE_LOCKDOWN_STAYS : LIFECYCLE_LOCKDOWN_NEW;
}

const char *lifecycle_stop_name(enum lifecycle_stop s)
{
	switch (s) {
	case LIFECYCLE_REMOVE:
		return "remove";
	case LIFECYCLE_KEEP:
		return "keep";
	case LIFECYCLE_LOCKDOWN_STAYS:
		return "lockdown-stays";
	case LIFECYCLE_LOCKDOWN_NEW:
		return "lockdown-new";
	}
	return "?";
}
