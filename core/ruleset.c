#include "core/ruleset.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "policy/conf.h"

#define LISTING_MAX (4 * 1024 * 1024)

struct tool {
	const char *restore; /* iptables-restore */
	const char *list;    /* iptables */
};

static const struct tool tools_v4[] = {
    {"iptables-restore", "iptables"},
    {"iptables-nft-restore", "iptables-nft"},
    {"iptables-legacy-restore", "iptables-legacy"},
};
static const struct tool tools_v6[] = {
    {"ip6tables-restore", "ip6tables"},
    {"ip6tables-nft-restore", "ip6tables-nft"},
    {"ip6tables-legacy-restore", "ip6tables-legacy"},
};

static const char *const search_path[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

/* Resolve a tool name to an executable path (no shell, no $PATH games). */
static bool find_exe(const char *name, char *path, size_t len)
{
	for (size_t i = 0; i < sizeof(search_path) / sizeof(search_path[0]); i++) {
		snprintf(path, len, "%s/%s", search_path[i], name);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

static const struct tool *pick_tool(int family, char *restore, char *list, size_t len)
{
	const struct tool *t = family == AF_INET ? tools_v4 : tools_v6;

	for (size_t i = 0; i < 3; i++)
		if (find_exe(t[i].restore, restore, len) && find_exe(t[i].list, list, len))
			return &t[i];
	return NULL;
}

/* Run argv; feed in (may be NULL) to its stdin; collect up to outmax bytes
 * of its stdout into *out (malloc'd, NUL-terminated, may be NULL). Its
 * stderr goes to ours. Returns the exit status, or -errno. */
static int run(char *const argv[], const char *in, size_t inlen, char **out, size_t outmax)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, status, rc;
	size_t used = 0;
	char *buf = NULL;
	pid_t pid;

	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
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

int ruleset_have_ipv6(void)
{
	return access("/proc/net/if_inet6", F_OK) == 0;
}

static void chain_rules(const struct conf *c, int family, const char *chain, FILE *out)
{
	char a[ADDR_STRLEN];

	if (strcmp(chain, RULESET_CHAIN_OUT) == 0)
		fprintf(out, "-A %s -o lo -j ACCEPT\n", chain);
	fprintf(out, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", chain);
	/* Finding the network: DHCP, DHCPv6, NDP (RFC 4861 types 133-137). */
	if (family == AF_INET) {
		fprintf(out, "-A %s -p udp -m udp --sport 68 --dport 67 -j ACCEPT\n", chain);
	} else {
		fprintf(out, "-A %s -p udp -m udp --sport 546 --dport 547 -j ACCEPT\n", chain);
		for (int t = 133; t <= 137; t++)
			fprintf(out, "-A %s -p ipv6-icmp -m icmp6 --icmpv6-type %d -j ACCEPT\n",
				chain, t);
	}
	/* The Protective DNS servers, and nothing else on their port. */
	if (strcmp(chain, RULESET_CHAIN_OUT) == 0) {
		for (unsigned i = 0; i < c->nservers; i++) {
			const struct conf_server *s = &c->servers[i];

			for (unsigned j = 0; j < s->naddrs; j++) {
				if (s->addrs[j].family != family)
					continue;
				fprintf(out, "-A %s -d %s/%u -p tcp -m tcp --dport %u -j ACCEPT\n",
					chain, addr_format(&s->addrs[j], a, sizeof(a)),
					addr_bits(&s->addrs[j]), s->port);
			}
		}
	}
	fprintf(out, "-A %s -m conntrack --ctstate INVALID -j DROP\n", chain);
	/* No --queue-bypass: with no reader bound, the kernel drops. */
	if (c->queue_count > 1)
		fprintf(out, "-A %s -m conntrack --ctstate NEW -j NFQUEUE --queue-balance %u:%u\n",
			chain, c->queue_num, c->queue_num + c->queue_count - 1);
	else
		fprintf(out, "-A %s -m conntrack --ctstate NEW -j NFQUEUE --queue-num %u\n", chain,
			c->queue_num);
	fprintf(out, "-A %s -j DROP\n", chain);
}

static bool wants_out(const struct conf *c)
{
	return c->mode != CONF_MODE_GATEWAY || c->gateway_enforce_output;
}

static bool wants_fwd(const struct conf *c)
{
	return c->mode == CONF_MODE_GATEWAY;
}

/* The transaction: remove old jumps (lines from the current listing), then
 * (re)fill the chains and insert the jumps; or, with c NULL, drop them. */
static void render_txn(const struct conf *c, int family, const char *listing, FILE *out)
{
	bool have_out = false, have_fwd = false;
	const char *p = listing;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > 3 && strncmp(p, "-N ", 3) == 0) {
			if (len == 3 + strlen(RULESET_CHAIN_OUT) &&
			    strncmp(p + 3, RULESET_CHAIN_OUT, len - 3) == 0)
				have_out = true;
			if (len == 3 + strlen(RULESET_CHAIN_FWD) &&
			    strncmp(p + 3, RULESET_CHAIN_FWD, len - 3) == 0)
				have_fwd = true;
		}
		p = nl ? nl + 1 : NULL;
	}
	fprintf(out, "*filter\n");
	if (have_out || (c && wants_out(c)))
		fprintf(out, ":%s - [0:0]\n", RULESET_CHAIN_OUT);
	if (have_fwd || (c && wants_fwd(c)))
		fprintf(out, ":%s - [0:0]\n", RULESET_CHAIN_FWD);
	/* Every existing jump to one of our chains, from any built-in chain. */
	for (p = listing; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > 3 && strncmp(p, "-A ", 3) == 0 &&
		    (strncmp(p, "-A " RULESET_CHAIN_OUT " ", 4 + strlen(RULESET_CHAIN_OUT)) != 0) &&
		    (strncmp(p, "-A " RULESET_CHAIN_FWD " ", 4 + strlen(RULESET_CHAIN_FWD)) != 0)) {
			const char *j = memmem(p, len, " -j ZTDNS-", 10);

			if (j)
				fprintf(out, "-D %.*s\n", (int)(len - 3), p + 3);
		}
		p = nl ? nl + 1 : NULL;
	}
	if (c) {
		if (wants_out(c)) {
			chain_rules(c, family, RULESET_CHAIN_OUT, out);
			fprintf(out, "-I OUTPUT 1 -j %s\n", RULESET_CHAIN_OUT);
		} else if (have_out) {
			fprintf(out, "-X %s\n", RULESET_CHAIN_OUT);
		}
		if (wants_fwd(c)) {
			chain_rules(c, family, RULESET_CHAIN_FWD, out);
			for (unsigned i = 0; i < c->nlan_ifaces; i++)
				fprintf(out, "-I FORWARD 1 -i %s -j %s\n", c->lan_ifaces[i],
					RULESET_CHAIN_FWD);
		} else if (have_fwd) {
			fprintf(out, "-X %s\n", RULESET_CHAIN_FWD);
		}
	} else {
		if (have_out)
			fprintf(out, "-X %s\n", RULESET_CHAIN_OUT);
		if (have_fwd)
			fprintf(out, "-X %s\n", RULESET_CHAIN_FWD);
	}
	fprintf(out, "COMMIT\n");
}

int ruleset_render(const struct conf *c, int family, FILE *out)
{
	render_txn(c, family, "", out);
	return 0;
}

/* Apply (c) or remove (c NULL) for one family. */
static int apply_family(const struct conf *c, int family)
{
	char restore[256], list[256];
	const char *fam = family == AF_INET ? "IPv4" : "IPv6";
	char *listing = NULL, *txn = NULL;
	size_t txnlen = 0;
	FILE *f;
	int rc;

	if (!pick_tool(family, restore, list, sizeof(restore))) {
		log_err("%s: no iptables-restore / ip6tables-restore found", fam);
		return -ENOENT;
	}
	{
		char *argv[] = {list, "-w", "10", "-t", "filter", "-S", NULL};

		rc = run(argv, NULL, 0, &listing, LISTING_MAX);
		if (rc != 0) {
			log_err("%s: %s -S failed (status %d)", fam, list, rc);
			rc = rc < 0 ? rc : -EIO;
			goto out;
		}
	}
	f = open_memstream(&txn, &txnlen);
	if (!f) {
		rc = -errno;
		goto out;
	}
	render_txn(c, family, listing, f);
	fclose(f);
	{
		char *argv[] = {restore, "-w", "10", "--noflush", NULL};

		rc = run(argv, txn, txnlen, NULL, 0);
		if (rc != 0) {
			log_err("%s: %s refused the ruleset (status %d):\n%s", fam, restore, rc,
				txn);
			rc = rc < 0 ? rc : -EIO;
			goto out;
		}
	}
	log_debug("%s ruleset %s with %s", fam, c ? "installed" : "removed", restore);
out:
	free(listing);
	free(txn);
	return rc;
}

int ruleset_apply(const struct conf *c)
{
	int rc = apply_family(c, AF_INET);

	if (rc == 0 && ruleset_have_ipv6())
		rc = apply_family(c, AF_INET6);
	return rc;
}

int ruleset_remove(void)
{
	int rc = apply_family(NULL, AF_INET);
	int rc6 = ruleset_have_ipv6() ? apply_family(NULL, AF_INET6) : 0;

	return rc ? rc : rc6;
}
