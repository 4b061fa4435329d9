/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * peeruid_lookup_redirected() against real sockets (no root needed): a UDP
 * socket connected to another address's port 53, as an application's
 * resolver socket is before the nat table sends its query to the stub, is
 * found with its owner's uid; not when its remote port is not 53, not for
 * another address on the same port (a remote client's), not once closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

#include "check.h"
#include "dns/peeruid.h"

/* A UDP socket on 127.0.0.1 connected to 127.0.0.9:rport; its own end in
 * *self. Returns the fd or -1. */
static int connected(uint16_t rport, struct sockaddr_storage *self)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(*self);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	inet_pton(AF_INET, "127.0.0.9", &a.sin_addr);
	a.sin_port = htons(rport);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)self, &len) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int main(void)
{
	struct sockaddr_storage self, other;
	struct peeruid *p;
	uint32_t uid = 12345;
	int err = 0, fd, fd54;

	p = peeruid_new(&err);
	CHECK_MSG(p != NULL, "peeruid_new: %d", err);
	if (!p)
		CHECK_DONE();
	fd = connected(53, &self);
	CHECK(fd >= 0);
	CHECK(peeruid_lookup_redirected(p, 0, &self, &uid) == 0);
	CHECK_MSG(uid == getuid(), "uid %u, want %u", uid, getuid());

	/* The same port on another address: not a local socket's end. */
	other = self;
	inet_pton(AF_INET, "192.0.2.7", &((struct sockaddr_in *)&other)->sin_addr);
	CHECK(peeruid_lookup_redirected(p, 0, &other, &uid) == -ENOENT);
	/* TCP has no such socket. */
	CHECK(peeruid_lookup_redirected(p, 1, &self, &uid) == -ENOENT);

	/* Connected to port 54: not a DNS query that was redirected. */
	fd54 = connected(54, &other);
	CHECK(fd54 >= 0);
	CHECK(peeruid_lookup_redirected(p, 0, &other, &uid) == -ENOENT);

	close(fd);
	CHECK(peeruid_lookup_redirected(p, 0, &self, &uid) == -ENOENT);
	close(fd54);
	other.ss_family = AF_UNIX;
	CHECK(peeruid_lookup_redirected(p, 0, &other, &uid) == -EAFNOSUPPORT);
	peeruid_free(&p);
	CHECK(p == NULL);
	CHECK_DONE();
}
