#include "core/privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int cap_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};

	return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

static int cap_set(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};

	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int privs_pass_net_admin(void)
{
	struct __user_cap_data_struct data[2] = {{0}};
	const unsigned bit = 1u << (CAP_NET_ADMIN % 32);
	const unsigned word = CAP_NET_ADMIN / 32;
	int rc;

	if (geteuid() == 0)
		return 0;
	rc = cap_get(data);
	if (rc < 0)
		return rc;
	if (!(data[word].permitted & bit))
		return -EPERM;
	if (!(data[word].inheritable & bit)) {
		data[word].inheritable |= bit;
		rc = cap_set(data);
		if (rc < 0)
			return rc;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) < 0)
		return -errno;
	return 0;
}
