/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/listeners.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "policy/conf.h"

#define LISTENERS_MAX_PORTS 1024 /* distinct unlisted ports remembered */

struct table {
	const char *path;
	uint8_t proto;
	unsigned state; /* TCP_LISTEN 0x0A; an unconnected UDP socket is 0x07 */
	bool v6;
};

static const struct table tables[] = {
    {"/proc/net/tcp", IPPROTO_TCP, 0x0A, false},
    {"/proc/net/tcp6", IPPROTO_TCP, 0x0A, true},
    {"/proc/net/udp", IPPROTO_UDP, 0x07, false},
    {"/proc/net/udp6", IPPROTO_UDP, 0x07, true},
};

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* The kernel prints each 32-bit word of the address in host order: the
 * bytes of one word come out reversed on a little-endian machine. Only
 * loopback matters here, so compare the words as numbers. */
static bool parse_loopback(const char *hex, size_t n, bool v6, bool *loop)
{
	uint32_t w[4] = {0};
	size_t words = v6 ? 4 : 1;

	if (n != words * 8)
		return false;
	for (size_t i = 0; i < words; i++)
		for (size_t j = 0; j < 8; j++) {
			int v = hexval(hex[i * 8 + j]);

			if (v < 0)
				return false;
			w[i] = (w[i] << 4) | (uint32_t)v;
		}
	if (!v6) {
		*loop = (ntohl(w[0]) >> 24) == 127;
		return true;
	}
	/* ::1, and ::ffff:127.0.0.0/104 (a v4 loopback bound on a v6 socket) */
	*loop = (w[0] == 0 && w[1] == 0 && w[2] == 0 && ntohl(w[3]) == 1) ||
		(w[0] == 0 && w[1] == 0 && ntohl(w[2]) == 0xffff && (ntohl(w[3]) >> 24) == 127);
	return true;
}

static bool listed(const struct conf *c, uint8_t proto, unsigned port)
{
	for (unsigned i = 0; i < c->nservices; i++)
		if (c->services[i].proto == proto && c->services[i].port == port)
			return true;
	/* The stub where the configuration puts it: ZTDNS-IN lets it in. */
	for (unsigned i = 0; i < c->nlisten; i++)
		if (c->listen[i].port == port)
			return true;
	return false;
}

int listeners_check(const struct conf *c, listeners_warn_cb warn, void *arg)
{
	uint32_t seen[LISTENERS_MAX_PORTS]; /* proto << 16 | port */
	unsigned nseen = 0, over = 0, readable = 0;
	int found = 0;

	if (c->mode == CONF_MODE_GATEWAY)
		return 0;
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++) {
		FILE *f = fopen(tables[t].path, "r");
		char line[512];

		if (!f)
			continue;
		readable++;
		if (!fgets(line, sizeof(line), f)) { /* the header */
			fclose(f);
			continue;
		}
		while (fgets(line, sizeof(line), f)) {
			char local[64], msg[160];
			unsigned port, state;
			const char *colon;
			bool loop, dup = false;
			uint32_t key;

			if (sscanf(line, " %*u: %63s %*s %x", local, &state) != 2 ||
			    state != tables[t].state)
				continue;
			colon = strchr(local, ':');
			if (!colon || sscanf(colon + 1, "%x", &port) != 1 || port == 0 ||
			    port > 65535 ||
			    !parse_loopback(local, (size_t)(colon - local), tables[t].v6, &loop) ||
			    loop || listed(c, tables[t].proto, port))
				continue;
			key = (uint32_t)tables[t].proto << 16 | port;
			for (unsigned i = 0; i < nseen; i++)
				dup |= seen[i] == key;
			if (dup)
				continue;
			if (nseen < LISTENERS_MAX_PORTS)
				seen[nseen++] = key;
			found++;
			if ((unsigned)found > LISTENERS_MAX_WARN) {
				over++;
				continue;
			}
			snprintf(msg, sizeof(msg),
				 "%s port %u is %s but inbound.services does not list it: new %s "
				 "to it are dropped",
				 tables[t].proto == IPPROTO_TCP ? "tcp" : "udp", port,
				 tables[t].proto == IPPROTO_TCP ? "listening" : "bound",
				 tables[t].proto == IPPROTO_TCP ? "connections" : "flows");
			warn(arg, msg);
		}
		fclose(f);
	}
	if (over) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%u more unlisted ports not shown", over);
		warn(arg, msg);
	}
	return readable ? found : -ENOENT;
}
