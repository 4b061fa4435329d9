/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/spawn: spawn_start() on libev's default loop, with real children:
 * stdin fed from a memory file and read back whole (more than a pipe holds),
 * stdout cut at outmax, exit statuses, a program that cannot be run, a
 * signal, and several children at once, each reported once. No root.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "check.h"
#include "core/spawn.h"

int main(void);

struct result {
	int calls;
	int status;
	char *out;
};

static void on_done(void *arg, int status, char *out)
{
	struct result *r = arg;

	r->calls++;
	r->status = status;
	free(r->out);
	r->out = out;
}

static void run_until(struct ev_loop *loop, struct result *r, int n)
{
	/* Bounded: each child here ends at once; 2000 iterations of at most
	 * 10 ms each is far more than they need. */
	for (int i = 0; i < 2000; i++) {
		bool all = true;

		for (int j = 0; j < n; j++)
			all = all && r[j].calls > 0;
		if (all)
			return;
		ev_run(loop, EVRUN_ONCE);
	}
}

int main(void)
{
	struct ev_loop *loop = ev_default_loop(0);
	char cat[256], sh[256];
	size_t big = 300000;
	char *in = malloc(big);

	CHECK(in != NULL);
	CHECK(spawn_find("cat", cat, sizeof(cat)));
	CHECK(spawn_find("sh", sh, sizeof(sh)));
	for (size_t i = 0; i < big; i++)
		in[i] = (char)('a' + i % 26);

	{ /* stdin in, stdout out: 300 kB, past any pipe buffer */
		struct result r = {0};
		char *argv[] = {cat, NULL};

		CHECK(spawn_start(loop, argv, in, big, big, on_done, &r) == 0);
		CHECK(r.calls == 0); /* never from within spawn_start */
		run_until(loop, &r, 1);
		CHECK(r.calls == 1 && r.status == 0);
		CHECK(r.out && strlen(r.out) == big && memcmp(r.out, in, big) == 0);
		free(r.out);
	}
	{ /* output cut at outmax */
		struct result r = {0};
		char *argv[] = {cat, NULL};

		CHECK(spawn_start(loop, argv, in, big, 1000, on_done, &r) == 0);
		run_until(loop, &r, 1);
		CHECK(r.calls == 1 && r.status == 0 && r.out && strlen(r.out) == 1000);
		free(r.out);
	}
	{ /* exit statuses, no output asked for, several at once */
		struct result r[3] = {{0}};
		char *a0[] = {sh, "-c", "exit 0", NULL};
		char *a3[] = {sh, "-c", "echo ignored; exit 3", NULL};
		char *ak[] = {sh, "-c", "kill -KILL $$", NULL};

		CHECK(spawn_start(loop, a0, NULL, 0, 0, on_done, &r[0]) == 0);
		CHECK(spawn_start(loop, a3, NULL, 0, 0, on_done, &r[1]) == 0);
		CHECK(spawn_start(loop, ak, NULL, 0, 0, on_done, &r[2]) == 0);
		run_until(loop, r, 3);
		CHECK(r[0].calls == 1 && r[0].status == 0 && r[0].out == NULL);
		CHECK(r[1].calls == 1 && r[1].status == 3 && r[1].out == NULL);
		CHECK(r[2].calls == 1 && r[2].status == 128);
		/* Each reported once: more loop turns change nothing. */
		for (int i = 0; i < 5; i++)
			ev_run(loop, EVRUN_NOWAIT);
		CHECK(r[0].calls == 1 && r[1].calls == 1 && r[2].calls == 1);
	}
	{ /* a program that cannot be run: -ENOENT at once, done never called */
		struct result r = {0};
		char *argv[] = {"/nonexistent/ztdns-tool", NULL};

		CHECK(spawn_start(loop, argv, NULL, 0, 16, on_done, &r) == -ENOENT);
		for (int i = 0; i < 5; i++)
			ev_run(loop, EVRUN_NOWAIT);
		CHECK(r.calls == 0);
		CHECK(spawn_run(argv, NULL, 0, NULL, 0) == -ENOENT);
	}
	free(in);
	CHECK_DONE();
}
