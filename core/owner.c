/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/owner.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "dns/peeruid.h"

#define OWNER_RECENT_PIDS 16 /* cached senders' pids tried before a full scan */

struct owner_slot {
	uint64_t inode; /* 0: free */
	uint64_t expires_ms;
	struct owner_info info;
};

struct owner {
	struct peeruid *pu;
	int proc_fd;
	uint64_t window_s; /* the second the budgets count in */
	unsigned lookups_in_window, scans_in_window;
	struct owner_stats st;
	struct owner_slot cache[OWNER_CACHE_MAX];
};

const char *owner_status_name(enum owner_status s)
{
	switch (s) {
	case OWNER_FOUND:
		return "found";
	case OWNER_NO_SOCKET:
		return "no-socket";
	case OWNER_NOT_PERMITTED:
		return "not-permitted";
	case OWNER_NOT_FOUND:
		return "not-found";
	case OWNER_BUDGET:
		return "budget";
	case OWNER_UNSUPPORTED:
		return "unsupported";
	}
	return "unknown";
}

struct owner *owner_new(const char *proc, int *err)
{
	struct owner *o = calloc(1, sizeof(*o));

	if (!o) {
		*err = -ENOMEM;
		return NULL;
	}
	o->proc_fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->proc_fd < 0) {
		*err = -errno;
		free(o);
		return NULL;
	}
	o->pu = peeruid_new(err);
	if (!o->pu) {
		close(o->proc_fd);
		free(o);
		return NULL;
	}
	return o;
}

void owner_free(struct owner **op)
{
	if (!op || !*op)
		return;
	peeruid_free(&(*op)->pu);
	close((*op)->proc_fd);
	free(*op);
	*op = NULL;
}

void owner_get_stats(const struct owner *o, struct owner_stats *st)
{
	*st = o->st;
}

static void to_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->b, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a->b, 16);
	}
}

static void copy_field(char *dst, size_t dlen, const char *src, size_t slen)
{
	size_t n = UTIL_MIN(slen, dlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

/* A container id in one path component: the whole component (64 hex
 * digits: docker's /docker/ID, kubepods' cgroupfs driver), or prefix-ID.scope
 * (systemd driver: docker-, cri-containerd-, crio-, libpod-). */
static bool component_container(const char *c, size_t n, char *out, size_t olen)
{
	static const char *const pfx[] = {"docker-", "cri-containerd-", "crio-", "libpod-"};

	if (n == 64 && all_hex(c, n)) {
		copy_field(out, olen, c, 12);
		return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(pfx); i++) {
		size_t pl = strlen(pfx[i]);

		if (n == pl + 64 + 6 && strncmp(c, pfx[i], pl) == 0 &&
		    strncmp(c + pl + 64, ".scope", 6) == 0 && all_hex(c + pl, 64)) {
			copy_field(out, olen, c + pl, 12);
			return true;
		}
	}
	return false;
}

static bool ends_with(const char *c, size_t n, const char *suf)
{
	size_t sl = strlen(suf);

	return n > sl && strncmp(c + n - sl, suf, sl) == 0;
}

void owner_parse_cgroup(const char *text, size_t len, char *cgroup, size_t cglen, char *unit,
			size_t unitlen, char *container, size_t ctlen)
{
	const char *p = text, *end = text + len;

	cgroup[0] = unit[0] = container[0] = '\0';
	/* One line per hierarchy, "ID:CONTROLLERS:PATH"; v2's is "0::PATH". */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;

		if (le - p >= 3 && strncmp(p, "0::", 3) == 0) {
			const char *path = p + 3, *c = path;

			copy_field(cgroup, cglen, path, (size_t)(le - path));
			while (c < le) {
				const char *slash = memchr(c, '/', (size_t)(le - c));
				const char *ce = slash ? slash : le;
				size_t n = (size_t)(ce - c);

				if (n && component_container(c, n, container, ctlen)) {
					/* the id names it better than its scope */
				} else if (n && (ends_with(c, n, ".service") ||
						 ends_with(c, n, ".scope"))) {
					copy_field(unit, unitlen, c, n);
				}
				c = ce + 1;
			}
			return;
		}
		p = le + 1;
	}
}

/* Read a small /proc file relative to proc_fd. Returns bytes read, or -errno. */
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

/* Does pid hold "socket:[inode]"? 1 yes, 0 no, -EACCES not readable (another
 * user's without CAP_SYS_PTRACE), other -errno (it exited). *budget counts
 * the descriptors read down. */
static int pid_holds(struct owner *o, uint32_t pid, const char *want, size_t wlen, long *budget)
{
	char path[32], link[64];
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%u/fd", pid);
	fd = openat(o->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -ENOMEM;
	}
	while (*budget > 0 && (de = readdir(dir))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		(*budget)--;
		n = readlinkat(dirfd(dir), de->d_name, link, sizeof(link));
		if (n < 0 && (errno == EACCES || errno == EPERM)) {
			rc = -EACCES;
			break;
		}
		if (n == (ssize_t)wlen && memcmp(link, want, wlen) == 0) {
			rc = 1;
			break;
		}
	}
	closedir(dir);
	return rc;
}

static bool parse_pid(const char *s, uint32_t *pid)
{
	unsigned long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 4194304)
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*pid = (uint32_t)v;
	return v > 0;
}

/* Could pid, whose descriptors we may not read, be the socket's owner? Its
 * /proc/PID belongs to its effective uid: the same uid as the socket's
 * (or unknown) says yes; another says it is not why nothing was found. */
static bool maybe_owner(struct owner *o, uint32_t pid, uint32_t uid)
{
	char path[16];
	struct stat st;

	snprintf(path, sizeof(path), "%u", pid);
	return fstatat(o->proc_fd, path, &st, 0) < 0 || st.st_uid == uid;
}

/* The pid holding the inode: recent senders first, then every process.
 * Returns the pid, 0 not found; *denied: a process of the socket's uid
 * could not be read. */
static uint32_t scan(struct owner *o, uint64_t inode, uint32_t uid, uint64_t now_ms, bool *denied)
{
	char want[48];
	size_t wlen =
	    (size_t)snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)inode);
	long budget = OWNER_SCAN_MAX_FDS;
	uint32_t tried[OWNER_RECENT_PIDS], found = 0;
	unsigned ntried = 0;
	struct dirent *de;
	DIR *dir;
	int fd;

	*denied = false;
	for (unsigned i = 0; i < OWNER_CACHE_MAX && ntried < OWNER_RECENT_PIDS; i++) {
		const struct owner_slot *s = &o->cache[i];
		bool dup = false;

		if (!s->inode || s->expires_ms <= now_ms)
			continue;
		for (unsigned k = 0; k < ntried; k++)
			dup = dup || tried[k] == s->info.pid;
		if (dup)
			continue;
		tried[ntried++] = s->info.pid;
		if (pid_holds(o, s->info.pid, want, wlen, &budget) == 1)
			return s->info.pid;
	}
	fd = openat(o->proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return 0;
	}
	while (!found && budget > 0 && (de = readdir(dir))) {
		uint32_t pid;
		int rc;

		if (!parse_pid(de->d_name, &pid))
			continue;
		rc = pid_holds(o, pid, want, wlen, &budget);
		if (rc == 1)
			found = pid;
		else if ((rc == -EACCES || rc == -EPERM) && maybe_owner(o, pid, uid))
			*denied = true;
	}
	closedir(dir);
	return found;
}

/* A process chooses its name and its cgroup's: only printable ASCII in
 * what the logs carry (journald's field form is one line; watch prints to
 * a terminal, where C0 and C1 controls would be escape sequences). */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static void describe(struct owner *o, struct owner_info *out)
{
	char path[32], buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "%u/comm", out->pid);
	n = read_small(o->proc_fd, path, buf, sizeof(buf));
	if (n > 0) {
		if (buf[n - 1] == '\n')
			n--;
		copy_field(out->comm, sizeof(out->comm), buf, (size_t)n);
	}
	snprintf(path, sizeof(path), "%u/cgroup", out->pid);
	n = read_small(o->proc_fd, path, buf, sizeof(buf));
	if (n > 0)
		owner_parse_cgroup(buf, (size_t)n, out->cgroup, sizeof(out->cgroup), out->unit,
				   sizeof(out->unit), out->container, sizeof(out->container));
	sanitize(out->comm);
	sanitize(out->cgroup);
	sanitize(out->unit);
}

static struct owner_slot *cache_find(struct owner *o, uint64_t inode, uint64_t now_ms)
{
	for (unsigned i = 0; i < OWNER_CACHE_MAX; i++)
		if (o->cache[i].inode == inode && o->cache[i].expires_ms > now_ms)
			return &o->cache[i];
	return NULL;
}

static void cache_put(struct owner *o, uint64_t inode, uint64_t now_ms,
		      const struct owner_info *info)
{
	struct owner_slot *victim = &o->cache[0];

	for (unsigned i = 0; i < OWNER_CACHE_MAX; i++) {
		struct owner_slot *s = &o->cache[i];

		if (!s->inode || s->expires_ms <= now_ms) {
			victim = s;
			break;
		}
		if (s->expires_ms < victim->expires_ms)
			victim = s;
	}
	if (victim->inode && victim->expires_ms > now_ms)
		o->st.cache_evicted++;
	victim->inode = inode;
	victim->expires_ms = now_ms + OWNER_CACHE_TTL_MS;
	victim->info = *info;
}

void owner_lookup(struct owner *o, const struct packet_info *pi, uint64_t now_ms,
		  struct owner_info *out)
{
	struct sockaddr_storage local, peer;
	const struct owner_slot *hit;
	uint64_t inode = 0;
	bool denied;

	memset(out, 0, sizeof(*out));
	if (pi->proto != IPPROTO_TCP && pi->proto != IPPROTO_UDP) {
		out->status = OWNER_UNSUPPORTED;
		return;
	}
	o->st.lookups++;
	if (now_ms / 1000 != o->window_s) {
		o->window_s = now_ms / 1000;
		o->lookups_in_window = o->scans_in_window = 0;
	}
	if (o->lookups_in_window >= OWNER_LOOKUPS_PER_S) {
		o->st.budget++;
		out->status = OWNER_BUDGET;
		return;
	}
	o->lookups_in_window++;
	/* The socket looked up is the sender's: its end is the source. */
	to_sockaddr(&pi->src, pi->sport, &peer);
	to_sockaddr(&pi->dst, pi->dport, &local);
	if (peeruid_lookup_sock(o->pu, pi->proto == IPPROTO_TCP, &local, &peer, &out->uid, &inode) <
		0 ||
	    inode == 0) {
		o->st.no_socket++;
		out->status = OWNER_NO_SOCKET;
		return;
	}
	out->has_uid = true;
	hit = cache_find(o, inode, now_ms);
	if (hit) {
		o->st.cache_hits++;
		o->st.found++;
		*out = hit->info;
		return;
	}
	if (o->scans_in_window >= OWNER_SCANS_PER_S) {
		o->st.budget++;
		out->status = OWNER_BUDGET;
		return;
	}
	o->scans_in_window++;
	o->st.scans++;
	out->pid = scan(o, inode, out->uid, now_ms, &denied);
	if (!out->pid) {
		out->status = denied ? OWNER_NOT_PERMITTED : OWNER_NOT_FOUND;
		if (denied)
			o->st.not_permitted++;
		else
			o->st.not_found++;
		return;
	}
	describe(o, out);
	out->status = OWNER_FOUND;
	o->st.found++;
	cache_put(o, inode, now_ms, out);
}
