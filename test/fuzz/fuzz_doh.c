/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz doh_response_check(), the judge of every DoH HTTP response. Input
 * layout: 2 bytes HTTP status (big endian), 1 byte selecting max (0: the
 * real UPSTREAM_MAX_ANSWER, else that many times 4 bytes), the Content-Type
 * up to the first NUL (absent without a NUL: content_type NULL), the rest
 * is the body. The verdict must be 0, -EPROTO or -EMSGSIZE, and 0 only for
 * status 200, a dns-message media type, and 12..max bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/doh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int media_type_is_dns(const char *ct)
{
	static const char mt[] = "application/dns-message";

	while (*ct == ' ' || *ct == '\t')
		ct++;
	return strncasecmp(ct, mt, sizeof(mt) - 1) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ct[512];
	const char *ctp = NULL;
	const uint8_t *body, *nul;
	size_t max, blen, rest;
	long status;
	int rc;

	if (size < 3)
		return 0;
	status = (long)data[0] << 8 | data[1];
	max = data[2] ? (size_t)data[2] * 4 : UPSTREAM_MAX_ANSWER;
	rest = size - 3;
	nul = memchr(data + 3, 0, rest < sizeof(ct) ? rest : sizeof(ct));
	if (nul) {
		size_t n = (size_t)(nul - (data + 3));

		memcpy(ct, data + 3, n);
		ct[n] = '\0';
		ctp = ct;
		body = nul + 1;
		blen = rest - n - 1;
	} else {
		body = data + 3;
		blen = rest;
	}
	/* A body pointer with no bytes behind it must not be read. */
	rc = doh_response_check(status, ctp, blen ? body : NULL, blen, max);
	if (rc != 0 && rc != -EPROTO && rc != -EMSGSIZE)
		abort();
	if (rc == 0 &&
	    (status != 200 || !ctp || !media_type_is_dns(ctp) || blen > max || blen < 12))
		abort();
	if (rc == -EMSGSIZE && blen <= max)
		abort();
	return 0;
}
