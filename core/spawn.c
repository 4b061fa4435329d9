/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "core/util.h"

static const char *const search_path[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

/* Resolve a tool name to an executable path (no shell, no $PATH games). */
bool spawn_find(const char *name, char *path, size_t len)
{
	for (size_t i = 0; i < sizeof(search_path) / sizeof(search_path[0]); i++) {
		snprintf(path, len, "%s/%s", search_path[i], name);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

extern char **environ;

/* Start argv[0] with in as its stdin and out (-1: ours) as its stdout.
 * posix_spawn(), not fork(): glibc starts the child with CLONE_VM |
 * CLONE_VFORK, so the parent's page tables are not copied and the verdict
 * threads take no copy-on-write faults while a ruleset tool starts (H9).
 * An exec failure is returned here (-errno), not as an exit status. */
static int spawn_child(char *const argv[], int in, int out, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int rc = posix_spawn_file_actions_init(&fa);

	if (rc)
		return -rc;
	rc = posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (!rc && out >= 0)
		rc = posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (!rc)
		rc = posix_spawn(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

/* Run argv; feed in (may be NULL) to its stdin; collect up to outmax bytes
 * of its stdout into *out (malloc'd, NUL-terminated, may be NULL). Its
 * stderr goes to ours. Returns the exit status, or -errno. */
int spawn_run(char *const argv[], const char *in, size_t inlen, char **out, size_t outmax)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, status, rc;
	size_t used = 0;
	char *buf = NULL;
	pid_t pid;

	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out;
	}
	rc = spawn_child(argv, pin[0], pout[1], &pid);
	if (rc < 0)
		goto out;
	close(pin[0]);
	close(pout[1]);
	pin[0] = pout[1] = -1;
	/* The restore tools read all of stdin before writing; the listing
	 * tool reads nothing. So write first, then read: no deadlock. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t off = 0; in && off < inlen;) {
		ssize_t n = write(pin[1], in + off, inlen - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	close(pin[1]);
	pin[1] = -1;
	if (out) {
		buf = malloc(outmax + 1);
		if (!buf) {
			rc = -ENOMEM;
			goto reap;
		}
	}
	for (;;) {
		char scratch[4096];
		char *dst = buf && used < outmax ? buf + used : scratch;
		size_t room = buf && used < outmax ? outmax - used : sizeof(scratch);
		ssize_t n = read(pout[0], dst, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != scratch)
			used += (size_t)n;
	}
	rc = 0;
reap:
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			rc = -errno;
			goto out;
		}
	if (rc == 0)
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
out:
	if (buf) {
		buf[used] = '\0';
		if (out)
			*out = buf;
	}
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
	}
	return rc;
}

struct spawn {
	ev_child child;
	int outfd; /* the child's stdout, a memory file; -1 when not collected */
	size_t outmax;
	spawn_done done;
	void *arg;
};

/* A memory file holding len bytes of data, its offset back at 0. */
static int memfile(const char *name, const char *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;

			close(fd);
			return rc;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct spawn *s = container_of(w, struct spawn, child);
	int status = w->rstatus;
	char *out = NULL;

	(void)revents;
	ev_child_stop(loop, w);
	if (s->outfd >= 0) {
		out = malloc(s->outmax + 1);
		if (out) {
			size_t used = 0;

			/* The child wrote through the shared offset: read from 0. */
			while (used < s->outmax) {
				ssize_t n =
				    pread(s->outfd, out + used, s->outmax - used, (off_t)used);

				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				used += (size_t)n;
			}
			out[used] = '\0';
		}
		close(s->outfd);
	}
	s->done(s->arg, WIFEXITED(status) ? WEXITSTATUS(status) : 128, out);
	free(s);
}

int spawn_start(struct ev_loop *loop, char *const argv[], const char *in, size_t inlen,
		size_t outmax, spawn_done done, void *arg)
{
	struct spawn *s = calloc(1, sizeof(*s));
	int infd = -1, nullfd = -1, rc;
	pid_t pid;

	if (!s)
		return -ENOMEM;
	s->outfd = -1;
	s->outmax = outmax;
	s->done = done;
	s->arg = arg;
	infd = memfile("ztdns-stdin", in, in ? inlen : 0);
	if (infd < 0) {
		rc = infd;
		goto fail;
	}
	if (outmax > 0) {
		s->outfd = memfile("ztdns-stdout", NULL, 0);
		if (s->outfd < 0) {
			rc = s->outfd;
			goto fail;
		}
	}
	if (s->outfd < 0) {
		nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (nullfd < 0) {
			rc = -errno;
			goto fail;
		}
	}
	rc = spawn_child(argv, infd, s->outfd >= 0 ? s->outfd : nullfd, &pid);
	if (rc < 0)
		goto fail;
	close(infd);
	if (nullfd >= 0)
		close(nullfd);
	/* Started before the loop runs again, so the end cannot be missed. */
	ev_child_init(&s->child, on_child, pid, 0);
	ev_child_start(loop, &s->child);
	return 0;
fail:
	if (infd >= 0)
		close(infd);
	if (nullfd >= 0)
		close(nullfd);
	if (s->outfd >= 0)
		close(s->outfd);
	free(s);
	return rc;
}
