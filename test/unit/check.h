/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The unit tests' whole framework: CHECK() counts, main() ends with
 * CHECK_DONE() which prints "N passed, N failed" and sets the exit code.
 */
#ifndef ZTDNS_CHECK_H
#define ZTDNS_CHECK_H

#include <stdio.h>
#include <string.h>

static unsigned check_passed, check_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_MSG(cond, ...)                                                                       \
	do {                                                                                       \
		if (cond) {                                                                        \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

#define CHECK_STREQ(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "'%s' != '%s'", (a), (b))

#define CHECK_DONE()                                                                               \
	do {                                                                                       \
		printf("%u passed, %u failed\n", check_passed, check_failed);                      \
		return check_failed ? 1 : 0;                                                       \
	} while (0)

#endif
