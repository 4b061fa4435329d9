/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who sent it (core/owner.h): the cgroup parser on a table of real
 * /proc/PID/cgroup texts, then lookups of this process's own sockets and of
 * a child's through the real sock_diag and /proc: found, cached, gone, the
 * per-second scan budget, a protocol without sockets.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/owner.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_parse(void)
{
	static const struct {
		const char *text, *cgroup, *unit, *container;
	} t[] = {
	    {"0::/system.slice/nginx.service\n", "/system.slice/nginx.service", "nginx.service",
	     ""},
	    {"0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
	     "app-org.gnome.Terminal.slice/vte-spawn-1.scope\n",
	     "/user.slice/user-1000.slice/user@1000.service/app.slice/"
	     "app-org.gnome.Terminal.slice/vte-spawn-1.scope",
	     "vte-spawn-1.scope", ""},
	    {"0::/system.slice/docker-" HEX64 ".scope\n", "/system.slice/docker-" HEX64 ".scope",
	     "", "0123456789ab"},
	    {"0::/docker/" HEX64 "\n", "/docker/" HEX64, "", "0123456789ab"},
	    {"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
	     "cri-containerd-" HEX64 ".scope\n",
	     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
	     "cri-containerd-" HEX64 ".scope",
	     "", "0123456789ab"},
	    /* cgroup v1 lines first, then v2's */
	    {"12:cpu,cpuacct:/foo\n1:name=systemd:/system.slice/x.service\n0::/system.slice/"
	     "cron.service\n",
	     "/system.slice/cron.service", "cron.service", ""},
	    /* v1 only: nothing */
	    {"12:cpu,cpuacct:/foo\n1:name=systemd:/system.slice/x.service\n", "", "", ""},
	    {"0::/\n", "/", "", ""},
	    {"", "", "", ""},
	    /* no newline at the end, a near-id that is not one */
	    {"0::/system.slice/docker-0123.scope", "/system.slice/docker-0123.scope",
	     "docker-0123.scope", ""},
	    {"0::/a.service/b/.service", "/a.service/b/.service", "a.service", ""},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char cg[OWNER_CGROUP_MAX], unit[OWNER_UNIT_MAX], ct[16];

		owner_parse_cgroup(t[i].text, strlen(t[i].text), cg, sizeof(cg), unit, sizeof(unit),
				   ct, sizeof(ct));
		CHECK_MSG(strcmp(cg, t[i].cgroup) == 0, "%zu: cgroup '%s'", i, cg);
		CHECK_MSG(strcmp(unit, t[i].unit) == 0, "%zu: unit '%s'", i, unit);
		CHECK_MSG(strcmp(ct, t[i].container) == 0, "%zu: container '%s'", i, ct);
	}
	/* Cut at every length: never past the buffer, always terminated. */
	{
		const char *s = t[4].text;

		for (size_t n = 0; n <= strlen(s); n++) {
			char cg[24], unit[8], ct[6];

			owner_parse_cgroup(s, n, cg, sizeof(cg), unit, sizeof(unit), ct,
					   sizeof(ct));
			CHECK(strlen(cg) < sizeof(cg) && strlen(unit) < sizeof(unit) &&
			      strlen(ct) < sizeof(ct));
		}
	}
}

/* A UDP socket on 127.0.0.1 "connected" to 127.0.0.1:9; its flow in *pi. */
static int udp_flow(struct packet_info *pi)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	getsockname(fd, (struct sockaddr *)&a, &al);
	memset(pi, 0, sizeof(*pi));
	pi->proto = IPPROTO_UDP;
	addr_parse("127.0.0.1", &pi->src);
	addr_parse("127.0.0.1", &pi->dst);
	pi->sport = ntohs(a.sin_port);
	pi->dport = 9;
	a.sin_port = htons(9);
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	return fd;
}

static void test_lookup(void)
{
	struct owner_stats st;
	struct owner_info w;
	struct packet_info pi, tp;
	struct owner *o;
	int err = 0, fd, lfd, cfd, pfd[2];
	int fds[OWNER_SCANS_PER_S + 4];
	struct packet_info pis[OWNER_SCANS_PER_S + 4];
	struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t ll = sizeof(la);
	unsigned budget = 0, found = 0;
	pid_t child;
	char c;

	o = owner_new("/proc", &err);
	CHECK_MSG(o != NULL, "owner_new: %d", err);
	if (!o)
		return;
	prctl(PR_SET_NAME, "zt-owner-test", 0, 0, 0);

	/* UDP: found, then from the cache. */
	fd = udp_flow(&pi);
	CHECK(fd >= 0);
	owner_lookup(o, &pi, 1000, &w);
	CHECK_MSG(w.status == OWNER_FOUND, "udp: %s", owner_status_name(w.status));
	CHECK(w.pid == (uint32_t)getpid());
	CHECK_STREQ(w.comm, "zt-owner-test");
	CHECK(w.has_uid && w.uid == getuid());
	owner_lookup(o, &pi, 1001, &w);
	owner_get_stats(o, &st);
	CHECK(w.status == OWNER_FOUND && w.pid == (uint32_t)getpid());
	CHECK(st.lookups == 2 && st.found == 2 && st.cache_hits == 1 && st.scans == 1);
	/* Gone: no socket. */
	close(fd);
	owner_lookup(o, &pi, 1002, &w);
	CHECK_MSG(w.status == OWNER_NO_SOCKET, "closed: %s", owner_status_name(w.status));

	/* TCP: the client's socket of a connection to our listener, held by
	 * a child (its own pid and name); the parent closes its copy. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&la, sizeof(la)) == 0 &&
	      listen(lfd, 4) == 0);
	getsockname(lfd, (struct sockaddr *)&la, &ll);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(cfd, (struct sockaddr *)&la, sizeof(la)) == 0);
	memset(&tp, 0, sizeof(tp));
	{
		struct sockaddr_in ca;
		socklen_t cl = sizeof(ca);

		getsockname(cfd, (struct sockaddr *)&ca, &cl);
		tp.proto = IPPROTO_TCP;
		addr_parse("127.0.0.1", &tp.src);
		addr_parse("127.0.0.1", &tp.dst);
		tp.sport = ntohs(ca.sin_port);
		tp.dport = ntohs(la.sin_port);
	}
	CHECK(pipe(pfd) == 0);
	child = fork();
	if (child == 0) {
		prctl(PR_SET_NAME, "zt-child", 0, 0, 0);
		close(pfd[1]);
		/* Hold cfd until the parent closes the pipe. */
		(void)!read(pfd[0], &c, 1);
		_exit(0);
	}
	close(cfd);
	close(pfd[0]);
	usleep(100000); /* the child names itself */
	owner_lookup(o, &tp, 2000, &w);
	CHECK_MSG(w.status == OWNER_FOUND, "tcp: %s", owner_status_name(w.status));
	CHECK_MSG(w.pid == (uint32_t)child, "tcp pid %u, child %d", w.pid, (int)child);
	CHECK_STREQ(w.comm, "zt-child");
	close(pfd[1]);
	waitpid(child, NULL, 0);
	close(lfd);

	/* The scan budget: OWNER_SCANS_PER_S scans in one second, then
	 * budget (uid only); the next second scans again. */
	for (unsigned i = 0; i < OWNER_SCANS_PER_S + 4; i++)
		fds[i] = udp_flow(&pis[i]);
	for (unsigned i = 0; i < OWNER_SCANS_PER_S + 4; i++) {
		owner_lookup(o, &pis[i], 5000 + i, &w);
		budget += w.status == OWNER_BUDGET;
		found += w.status == OWNER_FOUND;
	}
	CHECK_MSG(found == OWNER_SCANS_PER_S && budget == 4, "found %u budget %u", found, budget);
	CHECK(w.status == OWNER_BUDGET && !w.pid);
	owner_lookup(o, &pis[OWNER_SCANS_PER_S + 3], 6000, &w);
	CHECK(w.status == OWNER_FOUND && w.pid == (uint32_t)getpid());
	for (unsigned i = 0; i < OWNER_SCANS_PER_S + 4; i++)
		close(fds[i]);

	/* ICMP has no socket to look up. */
	pi.proto = IPPROTO_ICMP;
	owner_lookup(o, &pi, 7000, &w);
	CHECK(w.status == OWNER_UNSUPPORTED);
	owner_get_stats(o, &st);
	CHECK(st.budget == 4 && st.no_socket == 1);
	owner_free(&o);
	CHECK(o == NULL);
	owner_free(&o);
}

int main(void)
{
	test_parse();
	test_lookup();
	CHECK_DONE();
}
