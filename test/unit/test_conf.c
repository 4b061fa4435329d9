/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration parser: a table of bad documents, each with the error
 * (file, JSON path, reason) it must produce, every numeric bound probed just
 * outside and just inside, good documents checked field by field, and the
 * canonical dump loaded again.
 *
 * Inline JSON uses ' for " so that the tables stay readable; dq() swaps them.
 */
#include "policy/conf.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"
#include "test/unit/check.h"

#define DOH                                                                                        \
	"{'protocol':'doh','url':'https://dns.example.test/dns-query','bootstrap':['192.0.2.53']}"
#define DOT "{'protocol':'dot','address':'192.0.2.85','tls_name':'dot.example.test'}"
/* A valid host document plus extra root keys. */
#define HOST(extra) "{'mode':'host','servers':[" DOH "]" extra "}"
/* A host document with one server made of the given fields. */
#define SRV(fields) "{'mode':'host','servers':[{" fields "}]}"
#define DOHF                                                                                       \
	"'protocol':'doh','url':'https://dns.example.test/dns-query','bootstrap':['192.0.2.53']"
#define DOTF "'protocol':'dot','address':'192.0.2.85','tls_name':'dot.example.test'"
#define PIN0 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static struct conf_errors errs;

static char *dq(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; p && *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static int parse(const char *js, struct conf **c)
{
	char *j = dq(js);
	int ret = conf_parse(j, strlen(j), "t.json", c, &errs);

	free(j);
	return ret;
}

static bool has_msg(char (*msgs)[CONF_ERR_LEN], unsigned n, const char *sub)
{
	for (unsigned i = 0; i < n; i++)
		if (strstr(msgs[i], sub))
			return true;
	return false;
}

static void dump_errors(void)
{
	conf_errors_print(&errs, stderr);
}

/* The document must be refused with an error containing "t.json: " + expect. */
static void expect_bad(const char *js, const char *expect)
{
	struct conf *c = (struct conf *)1;
	char want[CONF_ERR_LEN];
	int ret = parse(js, &c);

	snprintf(want, sizeof(want), "t.json: %s", expect);
	CHECK_MSG(ret == -EINVAL, "rc %d for %s", ret, js);
	CHECK_MSG(c == NULL, "conf not NULL for %s", js);
	CHECK_MSG(errs.count >= 1, "no error for %s", js);
	if (!has_msg(errs.msg, errs.count, want)) {
		CHECK_MSG(0, "no error contains '%s' for %s; got:", want, js);
		dump_errors();
	} else {
		CHECK(1);
	}
	conf_free(&c);
}

static struct conf *expect_good(const char *js)
{
	struct conf *c = NULL;
	int ret = parse(js, &c);

	CHECK_MSG(ret == 0 && c, "rc %d for %s", ret, js);
	CHECK_MSG(errs.count == 0, "%u errors for %s", errs.count, js);
	if (ret != 0)
		dump_errors();
	return c;
}

static const struct {
	const char *json, *expect;
} bad[] = {
    /* structure, keys, types */
    {HOST(",'bogus':1"), "bogus: unknown key"},
    {HOST(",'cache':{'enable':true}"), "cache.enable: unknown key"},
    {HOST(",'cache':{'enabled':1}"), "cache.enabled: expected true or false"},
    {HOST(",'cache':{'max_entries':10,'negative_max':11}"),
     "cache.negative_max: 11 is more than max_entries (10)"},
    {HOST(",'limits':{'learned_maxx':100}"), "limits.learned_maxx: unknown key"},
    {SRV(DOHF ",'colour':'red'"), "servers[0].colour: unknown key"},
    {HOST(",'gateway':{'lan_interfaces':['eth0']}"), "gateway: only allowed when mode"},
    {"{'servers':[" DOH "]}", "mode: required"},
    {"{'mode':'host'}", "servers: required"},
    {"{'mode':'router','servers':[" DOH "]}", "mode: \"router\" is not one of"},
    {"{'mode':1,'servers':[" DOH "]}", "mode: expected a string, got an integer"},
    {HOST(",'enforce':'yes'"), "enforce: expected true or false, got a string"},
    {HOST(",'enforce':1"), "enforce: expected true or false"},
    {"{'mode':'host','servers':[]}", "servers: must not be empty"},
    {"{'mode':'host','servers':" DOH "}", "servers: expected an array, got an object"},
    {"{'mode':'host','servers':['x']}", "servers[0]: expected an object, got a string"},
    {HOST(",'queue':5"), "queue: expected an object, got an integer"},
    {HOST(",'limits':{'cname_depth':1.5}"), "limits.cname_depth: expected an integer, got a real"},
    {HOST(",'limits':{'cname_depth':'8'}"),
     "limits.cname_depth: expected an integer, got a string"},
    {HOST(",'limits':{'cname_depth':null}"), "limits.cname_depth: expected an integer, got null"},
    {"[1,2]", "(root): expected an object, got an array"},
    {"{'mode':'host','servers':[" DOH "],'mode':'host'}",
     "line 1 column 122: duplicate object key near '\"mode\"'"},
    {"{'mode':'host',", "line 1 column"},
    {"", "(root): the file is empty"},
    {"  \n\t", "(root): the file is empty"},
    {"{'mode':'host','servers':[" DOH "]} x", "line 1 column"},
    /* servers */
    {SRV("'url':'https://dns.example.test/q','bootstrap':['192.0.2.53']"),
     "servers[0].protocol: required"},
    {SRV("'protocol':'udp','address':'192.0.2.53'"), "servers[0].protocol: \"udp\" is not one of"},
    {SRV("'protocol':'doh','bootstrap':['192.0.2.53']"), "servers[0].url: required"},
    {SRV("'protocol':'doh','url':'https://dns.example.test/q'"), "servers[0].bootstrap: required"},
    {SRV("'protocol':'doh','url':'https://dns.example.test/q','bootstrap':[]"),
     "servers[0].bootstrap: must not be empty"},
    {SRV("'protocol':'doh','url':'https://dns.example.test/q','bootstrap':'192.0.2.53'"),
     "servers[0].bootstrap: expected an array"},
    {SRV(DOHF ",'address':['192.0.2.1']"), "servers[0].address: not allowed with protocol \"doh\""},
    {SRV(DOHF ",'port':443"), "servers[0].port: not allowed with protocol \"doh\""},
    {SRV(DOTF ",'url':'https://dns.example.test/q'"),
     "servers[0].url: not allowed with protocol \"dot\""},
    {SRV(DOTF ",'bootstrap':['192.0.2.1']"),
     "servers[0].bootstrap: not allowed with protocol \"dot\""},
    {SRV("'protocol':'dot','tls_name':'dot.example.test'"), "servers[0].address: required"},
    {SRV("'protocol':'dot','address':'192.0.2.85'"), "servers[0].tls_name: required"},
    {SRV("'protocol':'dot','address':[],'tls_name':'d.example.test'"),
     "servers[0].address: must not be empty"},
    {SRV("'protocol':'dot','address':5,'tls_name':'d.example.test'"),
     "servers[0].address: expected an IP address or an array"},
    {SRV("'protocol':'doh','url':'http://dns.example.test/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"http://dns.example.test/q\" must use https"},
    {SRV("'protocol':'doh','url':'ftp://dns.example.test/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"ftp://dns.example.test/q\" must start with"},
    {SRV("'protocol':'doh','url':'https://dns.example.test','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://dns.example.test\" has no path"},
    {SRV("'protocol':'doh','url':'https://dns.example.test:0/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://dns.example.test:0/q\" has a bad port"},
    {SRV("'protocol':'doh','url':'https://dns.example.test:65536/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://dns.example.test:65536/q\" has a bad port"},
    {SRV("'protocol':'doh','url':'https://dns.example.test:/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://dns.example.test:/q\" has a bad port"},
    {SRV("'protocol':'doh','url':'https://dns.example.test:44x3/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://dns.example.test:44x3/q\" has a bad port"},
    {SRV("'protocol':'doh','url':'https:///q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https:///q\" has no host"},
    {SRV("'protocol':'doh','url':'https://user@dns.example.test/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://user@dns.example.test/q\" has a host that is neither"},
    {SRV("'protocol':'doh','url':'https://-bad.example.test/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://-bad.example.test/q\" has a host"},
    {SRV("'protocol':'doh','url':'https://[2001:db8::1/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://[2001:db8::1/q\" has an IPv6 address without"},
    {SRV("'protocol':'doh','url':'https://[192.0.2.1]/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://[192.0.2.1]/q\" has a bad IPv6"},
    {SRV("'protocol':'doh','url':'https://dns.example.test/a b','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://dns.example.test/a b\" has a space"},
    {SRV("'protocol':'doh','url':'https://1.2.3/q','bootstrap':['192.0.2.53']"),
     "servers[0].url: \"https://1.2.3/q\" has a host"},
    {SRV("'protocol':'doh','url':'https://dns.example.test/q','bootstrap':['192.0.2.300']"),
     "servers[0].bootstrap[0]: \"192.0.2.300\" is not an IP address"},
    {SRV("'protocol':'doh','url':'https://dns.example.test/q','bootstrap':['192.0.2.53',53]"),
     "servers[0].bootstrap[1]: expected an IP address string, got an integer"},
    {SRV("'protocol':'doh','url':'https://dns.example.test/"
	 "q','bootstrap':['192.0.2.53','192.0.2.53']"),
     "servers[0].bootstrap[1]: \"192.0.2.53\" is listed twice"},
    {SRV("'protocol':'doh','url':'https://dns.example.test/q','bootstrap':['0.0.0.0']"),
     "servers[0].bootstrap[0]: \"0.0.0.0\" cannot be a server address"},
    {SRV("'protocol':'dot','address':['192.0.2.85','ff02::1'],'tls_name':'d.example.test'"),
     "servers[0].address[1]: \"ff02::1\" cannot be a server address"},
    {SRV("'protocol':'dot','address':['192.0.2.85','dns.example.test'],'tls_name':'d.example."
	 "test'"),
     "servers[0].address[1]: \"dns.example.test\" is not an IP address"},
    {SRV("'protocol':'dot','address':'192.0.2.850','tls_name':'d.example.test'"),
     "servers[0].address: \"192.0.2.850\" is not an IP address"},
    {SRV("'protocol':'dot','address':['198.51.100.1','198.51.100.2','198.51.100.3','198.51.100.4',"
	 "'198.51.100.5','198.51.100.6','198.51.100.7','198.51.100.8','198.51.100.9'],'tls_name':'"
	 "d.example.test'"),
     "servers[0].address: has 9 elements, at most 8"},
    {SRV(DOHF ",'spki_pins':['!!!!not-base64!!!!']"),
     "servers[0].spki_pins[0]: \"!!!!not-base64!!!!\" is not padded base64"},
    {SRV(DOHF ",'spki_pins':['" PIN0 "','AAAAAAAAAAAAAAAAAAAAAA==']"),
     "servers[0].spki_pins[1]: \"AAAAAAAAAAAAAAAAAAAAAA==\" decodes to 16 bytes"},
    {SRV(DOHF ",'spki_pins':['AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==']"),
     "servers[0].spki_pins[0]: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==\" decodes to 34 "
     "bytes"},
    {SRV(DOHF ",'spki_pins':['AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8']"),
     "servers[0].spki_pins[0]: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\" is not padded "
     "base64"},
    {SRV(DOHF ",'spki_pins':['AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd=h8=']"),
     "servers[0].spki_pins[0]: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd=h8=\" is not padded "
     "base64"},
    {SRV(DOHF ",'spki_pins':[]"), "servers[0].spki_pins: must not be empty"},
    {SRV(DOHF ",'spki_pins':'" PIN0 "'"), "servers[0].spki_pins: expected an array"},
    {SRV(DOHF ",'spki_pins':['" PIN0 "','" PIN0 "','" PIN0 "','" PIN0 "','" PIN0 "','" PIN0
	      "','" PIN0 "','" PIN0 "','" PIN0 "']"),
     "servers[0].spki_pins: has 9 elements, at most 8"},
    {SRV(DOHF ",'tls_name':'bad name'"), "servers[0].tls_name: \"bad name\" is neither"},
    {SRV(DOHF ",'tls_name':''"), "servers[0].tls_name: \"\" is neither"},
    {SRV(DOHF ",'tls_name':'[2001:db8::1]'"), "servers[0].tls_name: \"[2001:db8::1]\" is neither"},
    {SRV(DOHF ",'ca_file':'ca.pem'"), "servers[0].ca_file: \"ca.pem\" must be an absolute path"},
    {SRV(DOHF ",'ca_file':7"), "servers[0].ca_file: expected a string or null"},
    {SRV(DOHF ",'ca_file':'/etc/\\nca.pem'"),
     "servers[0].ca_file: \"/etc/\\x0aca.pem\" contains a control"},
    {SRV(DOHF ",'name':'has space'"), "servers[0].name: \"has space\" must be"},
    {SRV(DOHF ",'name':''"), "servers[0].name: \"\" must be"},
    {"{'mode':'host','servers':[{" DOHF ",'name':'a'},{" DOTF ",'name':'a'}]}",
     "servers[1].name: \"a\" is already the name of servers[0]"},
    {"{'mode':'host','servers':[{" DOHF ",'name':'server1'},{" DOTF "}]}",
     "servers[1].name: \"server1\" is already the name of servers[0]"},
    {SRV(DOTF ",'port':'853'"), "servers[0].port: expected an integer"},
    /* client certificate */
    {HOST(",'client_cert':'/etc/ztdns/c.pem'"), "client_key: required when client_cert is set"},
    {HOST(",'client_key':'/etc/ztdns/c.key'"), "client_cert: required when client_key is set"},
    {HOST(",'client_cert':'c.pem','client_key':'/etc/ztdns/c.key'"),
     "client_cert: \"c.pem\" must be an absolute path"},
    {HOST(",'client_cert':'/etc/ztdns/c.pem','client_key':'./c.key'"),
     "client_key: \"./c.key\" must be an absolute path"},
    /* exceptions */
    {HOST(",'exceptions':['0.0.0.0/0']"),
     "exceptions[0]: \"0.0.0.0/0\" would allow everything and disable the firewall"},
    {HOST(",'exceptions':['198.18.0.0/15','::/0']"),
     "exceptions[1]: \"::/0\" would allow everything and disable the firewall"},
    {HOST(",'exceptions':['8.0.0.0/0']"), "exceptions[0]: \"8.0.0.0/0\" would allow everything"},
    {HOST(",'exceptions':['11.0.0.1/8']"),
     "exceptions[0]: \"11.0.0.1/8\" has host bits set (did you mean \"11.0.0.0/8\"?)"},
    {HOST(",'exceptions':['2a00::1/16']"),
     "exceptions[0]: \"2a00::1/16\" has host bits set (did you mean \"2a00::/16\"?)"},
    /* Together more than a /8 of IPv4 or a /16 of IPv6 (issue 10). */
    {HOST(",'exceptions':['0.0.0.0/1','128.0.0.0/1','::/1','8000::/1']"),
     "exceptions: the IPv4 prefixes together cover 4294967296 addresses (100% of IPv4, largest "
     "\"0.0.0.0/1\"), more than a /8 (16777216): that leaves it mostly unfiltered (set "
     "\"allow_large_exceptions\": true if that is meant)"},
    {HOST(",'exceptions':['0.0.0.0/1','128.0.0.0/1','::/1','8000::/1']"),
     "exceptions: the IPv6 prefixes together cover 18446744073709551615 /64s (100% of IPv6, "
     "largest \"::/1\"), more than a /16 (281474976710656)"},
    {HOST(",'exceptions':['11.0.0.0/8','12.0.0.0/16']"),
     "exceptions: the IPv4 prefixes together cover 16842752 addresses (0.392% of IPv4, largest "
     "\"11.0.0.0/8\"), more than a /8 (16777216)"},
    {HOST(",'exceptions':['2a00::/16','2a01::/48']"),
     "exceptions: the IPv6 prefixes together cover 281474976776192 /64s (0.00153% of IPv6, "
     "largest \"2a00::/16\"), more than a /16 (281474976710656)"},
    {HOST(",'exceptions':['0.0.0.0/7']"),
     "exceptions: the IPv4 prefixes together cover 33554432 addresses (0.781% of IPv4"},
    {HOST(",'exceptions':['2000::/3'],'allow_large_exceptions':false"),
     "exceptions: the IPv6 prefixes together cover 2305843009213693952 /64s (12.5% of IPv6"},
    {HOST(",'allow_large_exceptions':1"), "allow_large_exceptions: expected"},
    /* Wildcard listen in host and sidecar mode: an open resolver. */
    {HOST(",'listen':['127.0.0.1:53','0.0.0.0:53']"),
     "listen[1]: \"0.0.0.0:53\" listens on every address of the host, an open resolver for all "
     "that can reach it (set \"listen_any\": true if that is meant)"},
    {HOST(",'listen':['[::]:5353']"), "listen[0]: \"[::]:5353\" listens on every address"},
    {HOST(",'listen':['[::ffff:0.0.0.0]:53']"),
     "listen[0]: \"[::ffff:0.0.0.0]:53\" listens on every address"},
    {"{'mode':'sidecar','servers':[" DOH "],'listen':['0.0.0.0:53']}",
     "listen[0]: \"0.0.0.0:53\" listens on every address"},
    {HOST(",'listen_any':'yes'"), "listen_any: expected"},
    {HOST(",'exceptions':['11.0.0.0/8','12.0.0.0/8','11.0.0.0/8']"),
     "exceptions[2]: \"11.0.0.0/8\" is the same prefix as exceptions[0]"},
    {HOST(",'exceptions':['2a00::/16','2a00:0::/16']"),
     "exceptions[1]: \"2a00:0::/16\" is the same prefix as exceptions[0]"},
    {HOST(",'exceptions':['11.0.0.0/33']"),
     "exceptions[0]: \"11.0.0.0/33\" has a bad prefix length (1..32)"},
    {HOST(",'exceptions':['2a00::/129']"),
     "exceptions[0]: \"2a00::/129\" has a bad prefix length (1..128)"},
    {HOST(",'exceptions':['11.0.0.0/']"), "exceptions[0]: \"11.0.0.0/\" has a bad prefix length"},
    {HOST(",'exceptions':['11.0.0.0/-8']"),
     "exceptions[0]: \"11.0.0.0/-8\" has a bad prefix length (1..32)"},
    {HOST(",'exceptions':['banana']"),
     "exceptions[0]: \"banana\" is not an IP address or CIDR prefix"},
    {HOST(",'exceptions':['/8']"), "exceptions[0]: \"/8\" is not an IP address"},
    {HOST(",'exceptions':[24]"),
     "exceptions[0]: expected a CIDR prefix string or a group object, got an integer"},
    {HOST(",'exceptions':'11.0.0.0/8'"), "exceptions: expected an array, got a string"},
    /* listen */
    {HOST(",'listen':['127.0.0.1']"), "listen[0]: \"127.0.0.1\" has no port"},
    {HOST(",'listen':['::1:53']"), "listen[0]: \"::1:53\": an IPv6 address must be in brackets"},
    {HOST(",'listen':['[::1]']"), "listen[0]: \"[::1]\" must be \"[IPv6]:port\""},
    {HOST(",'listen':['[::1]:0']"), "listen[0]: \"[::1]:0\" has a bad port"},
    {HOST(",'listen':['127.0.0.1:65536']"), "listen[0]: \"127.0.0.1:65536\" has a bad port"},
    {HOST(",'listen':['127.0.0.1:']"), "listen[0]: \"127.0.0.1:\" has a bad port"},
    {HOST(",'listen':['localhost:53']"), "listen[0]: \"localhost:53\" has a bad IPv4 address"},
    {HOST(",'listen':['[127.0.0.1]:53']"), "listen[0]: \"[127.0.0.1]:53\" has a bad IPv6 address"},
    {HOST(",'listen':['127.0.0.1:53','127.0.0.1:53']"),
     "listen[1]: \"127.0.0.1:53\" is listed twice"},
    {HOST(",'listen':[]"), "listen: must not be empty"},
    {HOST(",'listen':'127.0.0.1:53'"), "listen: expected an array"},
    /* cross-field bounds */
    {HOST(",'queue':{'num':65535,'count':2}"), "queue.count: queues 65535..65536 go past 65535"},
    {HOST(",'limits':{'pending_queries':10,'pending_per_client':11}"),
     "limits.pending_per_client: 11 is more than pending_queries (10)"},
    {HOST(",'limits':{'pending_per_client':2000}"),
     "limits.pending_per_client: 2000 is more than pending_queries (1024)"},
    {HOST(",'limits':{'learned_max':100,'learned_per_client':101}"),
     "limits.learned_per_client: 101 is more than learned_max (100)"},
    {HOST(",'limits':{'tcp_per_client':300}"),
     "limits.tcp_per_client: 300 is more than tcp_connections (256)"},
    {HOST(",'ttl':{'min':100,'max':50}"), "ttl.min: 100 is more than ttl.max (50)"},
    {HOST(",'ttl':{'min':86400,'max':3600}"), "ttl.min: 86400 is more than ttl.max (3600)"},
    /* log, control, ruleset */
    {HOST(",'log':{'level':'verbose'}"),
     "log.level: \"verbose\" is not one of \"error\", \"warning\", \"info\", \"debug\""},
    {HOST(",'log':{'verdicts':'no'}"), "log.verdicts: expected true or false"},
    {HOST(",'log':{'verdict_file':'verdicts.log'}"),
     "log.verdict_file: \"verdicts.log\" must be an absolute path"},
    {HOST(",'log':{'format':'xml'}"), "log.format: \"xml\" is not one of \"json\", \"text\""},
    {HOST(",'log':{'colour':true}"), "log.colour: unknown key"},
    {HOST(",'control':{'socket':'ztdns.sock'}"),
     "control.socket: \"ztdns.sock\" must be an absolute path"},
    {HOST(",'control':{'socket':'/run/ztdns/"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaa.sock'}"),
     "control.socket: \"/run/ztdns/aaaaaaaaaaa"},
    {HOST(",'control':{'socket':null}"), "control.socket: expected a string, got null"},
    {HOST(",'ruleset':{'deny_action':'accept'}"),
     "ruleset.deny_action: \"accept\" is not one of \"drop\", \"reject\""},
    {HOST(",'ruleset':{'keep_on_stop':1}"), "ruleset.keep_on_stop: expected true or false"},
    /* state, metrics */
    {HOST(",'state':{'journal':'rel/j.json'}"),
     "state.journal: \"rel/j.json\" must be an absolute"},
    {HOST(",'state':{'journal_interval_s':0}"), "state.journal_interval_s: 0 is out of range"},
    {HOST(",'state':{'break_glass':'bg.json'}"),
     "state.break_glass: \"bg.json\" must be an absolute"},
    {HOST(",'state':{'jornal':'/j'}"), "state.jornal: unknown key"},
    {HOST(",'metrics':{'listen':'0.0.0.0:9153'}"), "metrics.listen: \"0.0.0.0:9153\" must be"},
    {HOST(",'metrics':{'listen':'192.0.2.1:9153'}"), "metrics.listen: \"192.0.2.1:9153\" must be"},
    {HOST(",'metrics':{'listen':'127.0.0.1'}"), "metrics.listen: \"127.0.0.1\" must be"},
    {HOST(",'metrics':{'listen':'[::1]:0'}"), "metrics.listen: \"[::1]:0\" must be"},
    {HOST(",'metrics':{'listen':'::1:9153'}"), "metrics.listen: \"::1:9153\" must be"},
    {HOST(",'metrics':{'listen':'unix:rel'}"), "metrics.listen: \"unix:rel\" must be"},
    {HOST(",'metrics':{'listen':9153}"), "metrics.listen: expected a string"},
/* gateway */
#define GW(x) "{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':['lan0']" x "}}"
    {GW(",'client_identities':[]"), "gateway.client_identities: must not be empty"},
    {GW(",'client_identities':{}"), "gateway.client_identities: expected an array"},
    {GW(",'client_identities':[{'subnet':'192.0.2.0/25','client_cert':'/a.pem'}]"),
     "gateway.client_identities[0].client_key: required"},
    {GW(",'client_identities':[{'subnet':'192.0.2.1/25','client_cert':'/a','client_key':'/b'}]"),
     "gateway.client_identities[0].subnet: \"192.0.2.1/25\": a CIDR prefix"},
    {GW(",'client_identities':[{'client_cert':'/a','client_key':'/b'}]"),
     "gateway.client_identities[0].subnet: missing or not a string"},
    {GW(",'client_identities':[{'subnet':'192.0.2.0/25','client_cert':'a','client_key':'/b'}]"),
     "gateway.client_identities[0].client_cert: \"a\" must be an absolute path"},
    {GW(",'client_identities':[{'subnet':'192.0.2.0/25','client_cert':'/a','client_key':'/b',"
	"'cert':'/c'}]"),
     "gateway.client_identities[0].cert: unknown key"},
    {GW(",'client_identities':[{'subnet':'192.0.2.0/25','client_cert':'/a','client_key':'/b'},"
	"{'subnet':'192.0.2.0/25','client_cert':'/c','client_key':'/d'}]"),
     "gateway.client_identities[1].subnet: \"192.0.2.0/25\" is the same subnet"},
    {"{'mode':'gateway','servers':[" DOH "]}", "gateway: required when mode is \"gateway\""},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{}}", "gateway.lan: required"},
/* gateway.lan: interfaces with their client subnets */
#define GWL(x) "{'mode':'gateway','servers':[" DOH "],'gateway':{" x "}}"
    {GWL("'lan':[]"), "gateway.lan: must not be empty"},
    {GWL("'lan':['lan0']"), "gateway.lan[0]: expected an object"},
    {GWL("'lan':[{'interface':'lan0'}]"), "gateway.lan[0].subnets: required"},
    {GWL("'lan':[{'interface':'lan0','subnets':[]}]"), "gateway.lan[0].subnets: must not be empty"},
    {GWL("'lan':[{'subnets':['192.0.2.0/25']}]"),
     "gateway.lan[0].interface: expected an interface"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.1/25']}]"),
     "gateway.lan[0].subnets[0]: \"192.0.2.1/25\": a CIDR prefix"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/25'],'mac':'x'}]"),
     "gateway.lan[0].mac: unknown key"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/24']},"
	 "{'interface':'lan1','subnets':['192.0.2.128/25']}]"),
     "gateway.lan[1].subnets[0]: \"192.0.2.128/25\" overlaps a client subnet of lan0"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/25']},"
	 "{'interface':'lan0','subnets':['192.0.2.128/25']}]"),
     "gateway.lan[1].interface: \"lan0\" is listed twice"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/25']}],'lan_interfaces':['lan0']"),
     "gateway.lan_interfaces: give either gateway.lan or gateway.lan_interfaces"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/25']}],'lan_may_reach_servers':1"),
     "gateway.lan_may_reach_servers: expected true or false"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/25']}],"
	 "'client_identities':[{'subnet':'192.0.2.0/26','client_cert':'/a','client_key':'/b'}]"),
     "gateway.client_identities[0].interface: required"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/25']}],"
	 "'client_identities':[{'interface':'lan1','subnet':'192.0.2.0/26','client_cert':'/a',"
	 "'client_key':'/b'}]"),
     "gateway.client_identities[0].interface: \"lan1\" is not one of the gateway's LAN"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/25']}],"
	 "'client_identities':[{'interface':'lan0','subnet':'192.0.2.128/26','client_cert':'/a',"
	 "'client_key':'/b'}]"),
     "gateway.client_identities[0].interface: the identity's subnet is not inside a client subnet"},
    {GWL("'lan':[{'interface':'lan0','subnets':['192.0.2.0/25']}],"
	 "'client_identities':[{'interface':'lan0','subnet':'192.0.2.0/24','client_cert':'/a',"
	 "'client_key':'/b'}]"),
     "gateway.client_identities[0].interface: the identity's subnet is not inside a client subnet"},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':[]}}",
     "gateway.lan_interfaces: must not be empty"},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':['eth/0']}}",
     "gateway.lan_interfaces[0]: \"eth/0\" is not a valid interface name"},
    {"{'mode':'gateway','servers':[" DOH
     "],'gateway':{'lan_interfaces':['eth0','abcdefghijklmnop']}}",
     "gateway.lan_interfaces[1]: \"abcdefghijklmnop\" is not a valid interface name"},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':['eth 0']}}",
     "gateway.lan_interfaces[0]: \"eth 0\" is not a valid"},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':['']}}",
     "gateway.lan_interfaces[0]: \"\" is not a valid"},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':['..']}}",
     "gateway.lan_interfaces[0]: \"..\" is not a valid"},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':['eth0:1']}}",
     "gateway.lan_interfaces[0]: \"eth0:1\" is not a valid"},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':['eth1','eth1']}}",
     "gateway.lan_interfaces[1]: \"eth1\" is listed twice"},
    {"{'mode':'gateway','servers':[" DOH
     "],'gateway':{'lan_interfaces':['eth1'],'shared_allowances':'yes'}}",
     "gateway.shared_allowances: expected true or false"},
    {"{'mode':'gateway','servers':[" DOH "],'gateway':{'lan_interfaces':['eth1'],'wan':'eth0'}}",
     "gateway.wan: unknown key"},
    {"{'mode':'sidecar','servers':[" DOH "],'gateway':{'lan_interfaces':['eth1']}}",
     "gateway: only allowed when mode is \"gateway\" (mode is \"sidecar\")"},
    /* inbound.services, gateway.port_forwards */
    {HOST(",'inbound':{'services':[{'port':22}]}"), "inbound.services[0].proto: required"},
    {HOST(",'inbound':{'services':[{'proto':'tcp'}]}"), "inbound.services[0].port: required"},
    {HOST(",'inbound':{'services':[{'proto':'sctp','port':22}]}"),
     "inbound.services[0].proto: \"sctp\" is not one of \"tcp\", \"udp\""},
    {HOST(",'inbound':{'services':[{'proto':'tcp','port':0}]}"),
     "inbound.services[0].port: 0 is out of range 1..65535"},
    {HOST(",'inbound':{'services':[{'proto':'tcp','port':22,'from':[]}]}"),
     "inbound.services[0].from: must not be empty"},
    {HOST(",'inbound':{'services':[{'proto':'tcp','port':22,'from':['10.0.0.1/8']}]}"),
     "inbound.services[0].from[0]: \"10.0.0.1/8\" is not an address or a CIDR prefix"},
    {HOST(",'inbound':{'services':[{'proto':'tcp','port':22,'to':'192.0.2.1'}]}"),
     "inbound.services[0].to: unknown key"},
    {HOST(",'inbound':{'services':{}}"), "inbound.services: expected an array"},
    {HOST(",'inbound':{'listen':[]}"), "inbound.listen: unknown key"},
    {"{'mode':'gateway','servers':[" DOH
     "],'gateway':{'lan_interfaces':['a']},'inbound':{'services':[]}}",
     "inbound: not used in gateway mode"},
    {"{'mode':'gateway','servers':[" DOH
     "],'gateway':{'lan_interfaces':['a'],'port_forwards':[{'proto':'tcp','port':80}]}}",
     "gateway.port_forwards[0].to: required"},
    {"{'mode':'gateway','servers':[" DOH
     "],'gateway':{'lan_interfaces':['a'],'port_forwards':[{'to':'x','proto':'tcp','port':80}]}}",
     "gateway.port_forwards[0].to: \"x\" is not an address"},
    /* values are escaped in messages */
    {HOST(",'b\\u0001d':1"), "b\\x01d: unknown key"},
    {HOST(",'exceptions':['1\\\"2']"), "exceptions[0]: \"1\\\"2\" is not an IP address"},
};

/* forward_zones (split DNS) and readiness.require_answer. */
static void test_forward_zones_readiness(void)
{
	struct conf *c;

	c = expect_good(HOST(",'forward_zones':[{'zone':'Cluster.Local.','servers':[" DOT "]},"
			     "{'zone':'corp.example','servers':[" DOH "," DOT "]}]"));
	CHECK(c && c->nfzones == 2);
	CHECK(c && strcmp(c->fzones[0].zone, "cluster.local") == 0);
	CHECK(c && c->fzones[0].nservers == 1 && c->fzones[0].servers[0].proto == CONF_PROTO_DOT);
	CHECK(c && c->fzones[1].nservers == 2);
	CHECK(c && !c->ready_require_answer); /* host mode default */
	conf_free(&c);
	c = expect_good("{'mode':'sidecar','servers':[" DOH "]}");
	CHECK(c && c->ready_require_answer); /* sidecar mode default */
	conf_free(&c);
	c = expect_good("{'mode':'sidecar','servers':[" DOH
			"],'readiness':{'require_answer':false}}");
	CHECK(c && !c->ready_require_answer);
	conf_free(&c);
	expect_bad(HOST(",'forward_zones':[{'zone':'.','servers':[" DOT "]}]"),
		   "forward_zones[0].zone: \".\" is not a zone name");
	expect_bad(HOST(",'forward_zones':[{'zone':'a..b','servers':[" DOT "]}]"),
		   "forward_zones[0].zone: \"a..b\" is not a zone name");
	expect_bad(HOST(",'forward_zones':[{'zone':'a b','servers':[" DOT "]}]"),
		   "forward_zones[0].zone: \"a b\" is not a zone name");
	expect_bad(HOST(",'forward_zones':[{'servers':[" DOT "]}]"),
		   "forward_zones[0].zone: required");
	expect_bad(HOST(",'forward_zones':[{'zone':'x.test'}]"),
		   "forward_zones[0].servers: required");
	expect_bad(HOST(",'forward_zones':[{'zone':'x.test','servers':[]}]"),
		   "forward_zones[0].servers: must not be empty");
	expect_bad(HOST(",'forward_zones':[{'zone':'x.test','servers':[" DOT "]},"
			"{'zone':'X.test.','servers':[" DOT "]}]"),
		   "forward_zones[1]: zone \"x.test\" is already forward_zones[0]");
	expect_bad(HOST(",'forward_zones':[{'zone':'x.test','servers':[" DOT "],'plain':1}]"),
		   "forward_zones[0].plain: unknown key");
	expect_bad(HOST(",'readiness':{'require_answer':1}"),
		   "readiness.require_answer: expected true or false");
}

#define PLAIN "{'protocol':'dns','address':'10.96.0.10'}"

static char *dump_string(const struct conf *c);
static void round_trip(struct conf *c, const char *what);

/* forward_zones[].insecure_plain_dns: plain DNS only with the key, a warning
 * with it, never among the main servers, no TLS keys, port 53 by default. */
static void test_plain_dns_zones(void)
{
	struct conf *c;
	char *d;

	c = expect_good(HOST(",'forward_zones':[{'zone':'cluster.local','insecure_plain_dns':true,"
			     "'servers':[" PLAIN ",{'name':'kd2','protocol':'dns','address':["
			     "'10.96.0.11','2001:db8::53'],'port':5353}]}]"));
	CHECK(c && c->nfzones == 1 && c->fzones[0].insecure_plain_dns);
	CHECK(c && c->fzones[0].nservers == 2);
	CHECK(c && c->fzones[0].servers[0].proto == CONF_PROTO_DNS &&
	      c->fzones[0].servers[0].port == 53 && c->fzones[0].servers[0].naddrs == 1);
	CHECK(c && c->fzones[0].servers[1].port == 5353 && c->fzones[0].servers[1].naddrs == 2);
	CHECK(c && !c->fzones[0].servers[0].tls_name && !c->fzones[0].servers[0].url);
	CHECK(errs.nwarn == 1);
	CHECK(has_msg(errs.warn, errs.nwarn,
		      "t.json: forward_zones[0]: warning: insecure_plain_dns: zone "
		      "\"cluster.local\" is asked in plain DNS"));
	if (c) {
		d = dump_string(c);
		CHECK(d && strstr(d, "\"insecure_plain_dns\": true") && strstr(d, "\"dns\""));
		free(d);
		round_trip(c, "plain dns zone");
	}
	conf_free(&c);

	/* Without the key: refused, naming the key. */
	expect_bad(HOST(",'forward_zones':[{'zone':'cluster.local','servers':[" PLAIN "]}]"),
		   "forward_zones[0]: 1 of the servers of zone \"cluster.local\" use plain DNS "
		   "(protocol \"dns\"), which needs \"insecure_plain_dns\": true");
	expect_bad(HOST(",'forward_zones':[{'zone':'cluster.local','insecure_plain_dns':false,"
			"'servers':[" DOT "," PLAIN "]}]"),
		   "forward_zones[0]: 1 of the servers of zone \"cluster.local\" use plain DNS");
	expect_bad(HOST(",'forward_zones':[{'zone':'cluster.local','insecure_plain_dns':'yes',"
			"'servers':[" PLAIN "]}]"),
		   "forward_zones[0].insecure_plain_dns: expected true or false");
	/* Never a Protective DNS server, key or no key. */
	expect_bad("{'mode':'host','servers':[" PLAIN "]}",
		   "servers[0].protocol: \"dns\" (plain DNS) is only for the servers of a "
		   "forward zone");
	expect_bad("{'mode':'host','insecure_plain_dns':true,'servers':[" PLAIN "]}",
		   "insecure_plain_dns: unknown key");
	/* No TLS keys, an address required. */
	expect_bad(HOST(",'forward_zones':[{'zone':'c.test','insecure_plain_dns':true,'servers':["
			"{'protocol':'dns','address':'10.96.0.10','tls_name':'kd'}]}]"),
		   "forward_zones[0].servers[0].tls_name: not allowed with protocol \"dns\"");
	expect_bad(HOST(",'forward_zones':[{'zone':'c.test','insecure_plain_dns':true,'servers':["
			"{'protocol':'dns','address':'10.96.0.10','spki_pins':[]}]}]"),
		   "forward_zones[0].servers[0].spki_pins: not allowed");
	expect_bad(HOST(",'forward_zones':[{'zone':'c.test','insecure_plain_dns':true,'servers':["
			"{'protocol':'dns'}]}]"),
		   "forward_zones[0].servers[0].address: required");
	expect_bad(HOST(",'forward_zones':[{'zone':'c.test','insecure_plain_dns':true,'servers':["
			"{'protocol':'dns','address':'10.96.0.10','port':0}]}]"),
		   "forward_zones[0].servers[0].port:");
	/* The key without a plain server: a warning, nothing else. */
	c = expect_good(HOST(",'forward_zones':[{'zone':'c.test','insecure_plain_dns':true,"
			     "'servers':[" DOT "]}]"));
	CHECK(c && errs.nwarn == 1);
	CHECK(has_msg(errs.warn, errs.nwarn, "insecure_plain_dns has no effect"));
	conf_free(&c);
}

static void test_bad_table(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_bad(bad[i].json, bad[i].expect);
	printf("%zu bad documents\n", ARRAY_SIZE(bad));
}

/* Every integer bound: min-1 and max+1 refused with the path, min and max
 * accepted and visible in the canonical dump. */
static const struct {
	const char *section, *key;
	long long min, max;
	const char *extra; /* other keys of the section so that min/max pass */
} bounds[] = {
    {"queue", "num", 0, 65535, ""},
    {"queue", "count", 1, 16, ""},
    {"queue", "maxlen", 4096, 1048576, ""},
    {"limits", "learned_max", 16, 16777216, ""},
    {"limits", "addrs_per_name", 1, 1024, ""},
    {"limits", "names_per_addr", 1, 64, ""},
    {"limits", "cname_depth", 1, 16, ""},
    {"limits", "records_per_message", 1, 4096, ""},
    {"limits", "pending_queries", 1, 65536, ",'pending_per_client':1"},
    {"limits", "pending_per_client", 1, 65536, ",'pending_queries':65536"},
    {"limits", "upstream_timeout_ms", 100, 60000, ""},
    {"limits", "learned_per_client", 1, 16777216, ",'learned_max':16777216"},
    {"limits", "tcp_connections", 1, 65536, ",'tcp_per_client':1"},
    {"limits", "tcp_per_client", 1, 65536, ",'tcp_connections':65536"},
    {"limits", "tcp_idle_ms", 100, 120000, ""},
    {"ttl", "min", 0, 86400, ",'max':604800"},
    {"ttl", "max", 1, 604800, ",'min':0"},
    {"ttl", "grace", 0, 3600, ""},
    {"cache", "max_entries", 1, 1048576, ",'negative_max':0"},
    {"cache", "max_bytes", 16384, 2147483648LL, ""},
    {"cache", "negative_max", 0, 1048576, ",'max_entries':1048576"},
    {"control", "uid", 0, 4294967294LL, ""},
};

static char *dump_string(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	conf_dump(c, f);
	fclose(f);
	return buf;
}

static void test_bounds(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bounds); i++) {
		long long probe[4] = {bounds[i].min - 1, bounds[i].max + 1, bounds[i].min,
				      bounds[i].max};

		for (int k = 0; k < 4; k++) {
			char js[512], want[128];

			snprintf(js, sizeof(js), HOST(",'%s':{'%s':%lld%s}"), bounds[i].section,
				 bounds[i].key, probe[k], bounds[i].extra);
			if (k < 2) {
				snprintf(want, sizeof(want),
					 "%s.%s: %lld is out of range %lld..%lld",
					 bounds[i].section, bounds[i].key, probe[k], bounds[i].min,
					 bounds[i].max);
				expect_bad(js, want);
			} else {
				struct conf *c = expect_good(js);
				char *d = c ? dump_string(c) : NULL;

				snprintf(want, sizeof(want), "\"%s\": %lld", bounds[i].key,
					 probe[k]);
				CHECK_MSG(d && strstr(d, want), "%s not in dump", want);
				free(d);
				conf_free(&c);
			}
		}
	}
	/* The per-server integers. */
	expect_bad(SRV(DOHF ",'priority':-1"), "servers[0].priority: -1 is out of range 0..1000");
	expect_bad(SRV(DOHF ",'priority':1001"),
		   "servers[0].priority: 1001 is out of range 0..1000");
	expect_bad(SRV(DOTF ",'port':0"), "servers[0].port: 0 is out of range 1..65535");
	expect_bad(SRV(DOTF ",'port':65536"), "servers[0].port: 65536 is out of range 1..65535");
	expect_bad(SRV(DOTF ",'port':99999999999999999999"), "line 1 column");
}

/* n copies of the DoH server in one host document. */
static void servers_doc(char *js, size_t cap, int n)
{
	size_t o = (size_t)snprintf(js, cap, "{'mode':'host','servers':[");

	for (int i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(js + o, cap - o, "%s%s", i ? "," : "", DOH);
	if (o < cap)
		snprintf(js + o, cap - o, "]}");
}

static void test_too_many_servers(void)
{
	char js[2048];
	struct conf *c = NULL;

	servers_doc(js, sizeof(js), CONF_MAX_SERVERS + 1);
	expect_bad(js, "servers: has 9 elements, at most 8 servers are allowed");
	/* Exactly the bound is fine. */
	servers_doc(js, sizeof(js), CONF_MAX_SERVERS);
	c = expect_good(js);
	CHECK(c && c->nservers == CONF_MAX_SERVERS);
	CHECK(c && strcmp(c->servers[7].name, "server7") == 0);
	conf_free(&c);
}

static void test_too_many_exceptions(void)
{
	size_t cap = (CONF_MAX_EXCEPTIONS + 2) * 24 + 256;
	char *js = malloc(cap);
	struct conf *c = NULL;
	size_t o = 0;

	o += (size_t)snprintf(js + o, cap - o, "{'mode':'host','servers':[%s],'exceptions':[", DOH);
	for (int i = 0; i < CONF_MAX_EXCEPTIONS; i++)
		o += (size_t)snprintf(js + o, cap - o, "%s'%d.%d.%d.0/24'", i ? "," : "",
				      11 + i / 65536, (i / 256) % 256, i % 256);
	snprintf(js + o, cap - o, "]}");
	c = expect_good(js);
	CHECK(c && c->nexceptions == CONF_MAX_EXCEPTIONS);
	conf_free(&c);
	snprintf(js + o, cap - o, ",'12.0.0.0/8']}");
	{
		char want[96];

		snprintf(want, sizeof(want), "exceptions: has %d elements, at most %d prefixes",
			 CONF_MAX_EXCEPTIONS + 1, CONF_MAX_EXCEPTIONS);
		expect_bad(js, want);
	}
	free(js);
}

static void test_multiple_errors(void)
{
	struct conf *c = NULL;
	int ret = conf_load("conf/multi_error.json", &c, &errs);
	static const char *const want[] = {
	    "conf/multi_error.json: bogus: unknown key",
	    "conf/multi_error.json: mode: \"router\" is not one of",
	    ("conf/multi_error.json: servers[0].url: \"http://dns.example.test/dns-query\" must "
	     "use "
	     "https"),
	    "conf/multi_error.json: servers[0].bootstrap[0]: \"192.0.2.300\" is not an IP address",
	    "conf/multi_error.json: exceptions[0]: \"0.0.0.0/0\" would allow everything",
	    "conf/multi_error.json: limits.learned_max: 1 is out of range",
	};

	CHECK(ret == -EINVAL);
	CHECK(c == NULL);
	CHECK_MSG(errs.count == ARRAY_SIZE(want), "%u errors", errs.count);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		CHECK_MSG(has_msg(errs.msg, errs.count, want[i]), "missing '%s'", want[i]);
	/* A warning is reported along with the errors. */
	CHECK(errs.nwarn == 1);
	CHECK(has_msg(
	    errs.warn, errs.nwarn,
	    "conf/multi_error.json: exceptions[1]: warning: \"10.0.0.0/8\" is not globally"));
	CHECK(errs.dropped == 0);
}

static void test_dropped(void)
{
	char js[8192];
	size_t o = 0;
	struct conf *c = NULL;

	o += (size_t)snprintf(js + o, sizeof(js) - o,
			      "{'mode':'host','servers':[%s],'exceptions':[", DOH);
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(js + o, sizeof(js) - o, "%s'0.0.0.0/0'", i ? "," : "");
	snprintf(js + o, sizeof(js) - o, "]}");
	CHECK(parse(js, &c) == -EINVAL);
	CHECK(c == NULL);
	CHECK(errs.count == CONF_MAX_ERRORS);
	CHECK_MSG(errs.dropped == 100 - CONF_MAX_ERRORS, "dropped %u", errs.dropped);
	CHECK(strstr(errs.msg[CONF_MAX_ERRORS - 1], "exceptions[63]:") != NULL);
}

static void test_files(void)
{
	struct conf *c = (struct conf *)1;

	CHECK(conf_load("conf/empty.json", &c, &errs) == -EINVAL && c == NULL);
	CHECK(has_msg(errs.msg, errs.count, "conf/empty.json: (root): the file is empty"));
	CHECK(conf_load("conf/syntax.json", &c, &errs) == -EINVAL && c == NULL);
	CHECK(has_msg(errs.msg, errs.count, "conf/syntax.json: line 4 column"));
	CHECK(conf_load("conf/dupkey.json", &c, &errs) == -EINVAL && c == NULL);
	CHECK(has_msg(errs.msg, errs.count, "conf/dupkey.json: line 3 column"));
	CHECK(has_msg(errs.msg, errs.count, "duplicate object key"));
	CHECK(conf_load("conf/does-not-exist.json", &c, &errs) == -ENOENT && c == NULL);
	CHECK(has_msg(errs.msg, errs.count, "conf/does-not-exist.json: cannot read: "));
	CHECK(conf_load("conf", &c, &errs) == -EISDIR && c == NULL);
	CHECK(has_msg(errs.msg, errs.count, "conf: cannot read: "));
}

static void test_big_file(void)
{
	char path[] = "/tmp/test_conf_XXXXXX";
	int fd = mkstemp(path);
	struct conf *c = (struct conf *)1;
	static char chunk[65536];
	char *js = dq(HOST(""));
	size_t len = strlen(js);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	/* Exactly 1 MiB of valid JSON (the document padded with spaces) loads. */
	memset(chunk, ' ', sizeof(chunk));
	CHECK(write(fd, js, len) == (ssize_t)len);
	for (size_t n = len; n < 1024 * 1024;) {
		size_t w = UTIL_MIN(sizeof(chunk), 1024 * 1024 - n);

		CHECK(write(fd, chunk, w) == (ssize_t)w);
		n += w;
	}
	CHECK(conf_load(path, &c, &errs) == 0 && c != NULL);
	conf_free(&c);
	/* One byte more does not. */
	CHECK(write(fd, " ", 1) == 1);
	c = (struct conf *)1;
	CHECK(conf_load(path, &c, &errs) == -EFBIG && c == NULL);
	CHECK(has_msg(errs.msg, errs.count, "the file is larger than 1048576 bytes"));
	close(fd);
	unlink(path);
	free(js);
}

static bool ep_is(const struct conf_endpoint *ep, const char *a, uint16_t port)
{
	struct addr x;

	return addr_parse(a, &x) == 0 && addr_equal(&x, &ep->addr) && ep->port == port;
}

static bool addr_is(const struct addr *a, const char *s)
{
	struct addr x;

	return addr_parse(s, &x) == 0 && addr_equal(&x, a);
}

static void test_minimal_doh_defaults(void)
{
	struct conf *c = expect_good(HOST(""));

	if (!c)
		return;
	CHECK_STREQ(c->path, "t.json");
	CHECK(c->mode == CONF_MODE_HOST);
	CHECK(c->enforce == true);
	CHECK(c->nservers == 1);
	CHECK_STREQ(c->servers[0].name, "server0");
	CHECK(c->servers[0].proto == CONF_PROTO_DOH);
	CHECK_STREQ(c->servers[0].url, "https://dns.example.test/dns-query");
	CHECK_STREQ(c->servers[0].tls_name, "dns.example.test");
	CHECK(c->servers[0].port == 443);
	CHECK(c->servers[0].naddrs == 1 && addr_is(&c->servers[0].addrs[0], "192.0.2.53"));
	CHECK(c->servers[0].ca_file == NULL);
	CHECK(c->servers[0].npins == 0);
	CHECK(c->servers[0].priority == 0);
	CHECK(c->client_cert == NULL && c->client_key == NULL);
	CHECK(c->nexceptions == 0);
	CHECK(c->nlisten == 2);
	CHECK(ep_is(&c->listen[0], "127.0.0.1", 53));
	CHECK(ep_is(&c->listen[1], "::1", 53));
	CHECK(c->queue_num == 0 && c->queue_count == 1 && c->queue_maxlen == 4096);
	CHECK(c->limits.learned_max == 65536);
	CHECK(c->limits.addrs_per_name == 64);
	CHECK(c->limits.names_per_addr == 8);
	CHECK(c->limits.cname_depth == 8);
	CHECK(c->limits.records_per_message == 256);
	CHECK(c->limits.pending_queries == 1024);
	CHECK(c->limits.pending_per_client == 64);
	CHECK(c->limits.upstream_timeout_ms == 3000);
	CHECK(c->limits.learned_per_client == 65536 / 4);
	CHECK(c->limits.tcp_connections == 256 && c->limits.tcp_per_client == 16);
	CHECK(c->limits.tcp_idle_ms == 10000);
	CHECK(c->ttl.min == 5 && c->ttl.max == 86400 && c->ttl.grace == 30);
	CHECK(c->log_level == CONF_LOG_INFO);
	CHECK(c->log_verdicts == false);
	CHECK(c->verdict_log == NULL);
	CHECK(c->log_format == CONF_LOG_JSON);
	CHECK_STREQ(c->control_socket, "/run/ztdns/control.sock");
	CHECK(c->control_uid == 0);
	CHECK(c->keep_on_stop == false);
	CHECK(c->deny_action == CONF_DENY_DROP);
	CHECK(c->nlan_ifaces == 0);
	CHECK(c->gateway_enforce_output == true);
	CHECK(c->shared_allowances == false);
	CHECK(errs.nwarn == 0);
	conf_free(&c);
	CHECK(c == NULL);
	conf_free(&c); /* NULL-safe */
	conf_free(NULL);
}

static void test_minimal_dot(void)
{
	struct conf *c = expect_good("{'mode':'sidecar','servers':[" DOT "]}");

	if (!c)
		return;
	CHECK(c->mode == CONF_MODE_SIDECAR);
	CHECK(c->servers[0].proto == CONF_PROTO_DOT);
	CHECK(c->servers[0].url == NULL);
	CHECK(c->servers[0].port == 853);
	CHECK_STREQ(c->servers[0].tls_name, "dot.example.test");
	CHECK(c->servers[0].naddrs == 1 && addr_is(&c->servers[0].addrs[0], "192.0.2.85"));
	conf_free(&c);

	c = expect_good(SRV("'protocol':'dot','address':['2001:db8::853','192.0.2.85'],"
			    "'tls_name':'2001:db8::853','port':8853"));
	if (!c)
		return;
	CHECK(c->servers[0].port == 8853);
	CHECK(c->servers[0].naddrs == 2);
	CHECK(addr_is(&c->servers[0].addrs[0], "2001:db8::853"));
	CHECK_STREQ(c->servers[0].tls_name, "2001:db8::853");
	conf_free(&c);
}

static void test_urls(void)
{
	static const struct {
		const char *url, *host;
		uint16_t port;
	} ok[] = {
	    {"https://dns.example.test/dns-query", "dns.example.test", 443},
	    {"HTTPS://dns.example.test:8443/dns-query", "dns.example.test", 8443},
	    {"https://[2001:db8::53]:4443/dns-query{?dns}", "2001:db8::53", 4443},
	    {"https://[2001:db8::53]/q", "2001:db8::53", 443},
	    {"https://192.0.2.53/dns-query?x=1", "192.0.2.53", 443},
	    {"https://192.0.2.53:1/", "192.0.2.53", 1},
	    {"https://a:65535/", "a", 65535},
	    {"https://xn--bcher-kva.example/q", "xn--bcher-kva.example", 443},
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		char js[512];
		struct conf *c;

		snprintf(js, sizeof(js),
			 SRV("'protocol':'doh','url':'%s','bootstrap':['192.0.2.53']"), ok[i].url);
		c = expect_good(js);
		if (!c)
			continue;
		CHECK_STREQ(c->servers[0].url, ok[i].url);
		CHECK_STREQ(c->servers[0].tls_name, ok[i].host);
		CHECK_MSG(c->servers[0].port == ok[i].port, "%s: port %u", ok[i].url,
			  c->servers[0].port);
		conf_free(&c);
	}
}

static const uint8_t pin0[32] = {0,  1,	 2,  3,	 4,  5,	 6,  7,	 8,  9,	 10, 11, 12, 13, 14, 15,
				 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void test_full(void)
{
	struct conf *c = NULL;
	uint8_t ff[32];

	CHECK(conf_load("conf/full.json", &c, &errs) == 0);
	if (!c) {
		dump_errors();
		return;
	}
	CHECK(errs.count == 0 && errs.nwarn == 0);
	CHECK_STREQ(c->path, "conf/full.json");
	CHECK(c->mode == CONF_MODE_SIDECAR);
	CHECK(c->enforce == false);
	CHECK(c->nservers == 2);
	CHECK_STREQ(c->servers[0].name, "primary");
	CHECK(c->servers[0].proto == CONF_PROTO_DOH);
	CHECK(c->servers[0].port == 8443);
	CHECK_STREQ(c->servers[0].tls_name, "pdns.example.test");
	CHECK(c->servers[0].naddrs == 2);
	CHECK(addr_is(&c->servers[0].addrs[1], "2001:db8::53"));
	CHECK_STREQ(c->servers[0].ca_file, "/etc/ztdns/ca.pem");
	CHECK(c->servers[0].npins == 2);
	CHECK(memcmp(c->servers[0].pins[0], pin0, 32) == 0);
	memset(ff, 0xff, sizeof(ff));
	CHECK(memcmp(c->servers[0].pins[1], ff, 32) == 0);
	CHECK(c->servers[0].priority == 10);
	CHECK_STREQ(c->servers[1].name, "backup");
	CHECK(c->servers[1].proto == CONF_PROTO_DOT);
	CHECK(c->servers[1].port == 8853);
	CHECK(c->servers[1].naddrs == 2);
	CHECK(c->servers[1].priority == 20);
	CHECK(c->servers[1].ca_file == NULL);
	CHECK_STREQ(c->client_cert, "/etc/ztdns/client.pem");
	CHECK_STREQ(c->client_key, "/etc/ztdns/client.key");
	CHECK(c->nexceptions == 3);
	CHECK(c->exceptions[1].len == 16 && addr_is(&c->exceptions[1].addr, "11.1.0.0"));
	CHECK(c->exceptions[2].len == 32 && c->exceptions[2].addr.family == AF_INET6);
	CHECK(c->nlisten == 2);
	CHECK(ep_is(&c->listen[0], "127.0.0.53", 53));
	CHECK(ep_is(&c->listen[1], "::1", 5353));
	CHECK(c->queue_num == 100 && c->queue_count == 4 && c->queue_maxlen == 8192);
	CHECK(c->limits.learned_max == 100000);
	CHECK(c->limits.addrs_per_name == 32);
	CHECK(c->limits.names_per_addr == 4);
	CHECK(c->limits.cname_depth == 6);
	CHECK(c->limits.records_per_message == 128);
	CHECK(c->limits.pending_queries == 2048);
	CHECK(c->limits.pending_per_client == 128);
	CHECK(c->limits.upstream_timeout_ms == 2500);
	CHECK(c->ttl.min == 10 && c->ttl.max == 3600 && c->ttl.grace == 60);
	CHECK(c->log_level == CONF_LOG_DEBUG);
	CHECK(c->log_verdicts == true);
	CHECK_STREQ(c->verdict_log, "/var/log/ztdns/verdicts.log");
	CHECK(c->log_format == CONF_LOG_TEXT);
	CHECK_STREQ(c->control_socket, "/run/ztdns/ctl.sock");
	CHECK(c->control_uid == 1000);
	CHECK(c->keep_on_stop == true);
	CHECK(c->deny_action == CONF_DENY_REJECT);
	conf_free(&c);
}

static void test_key_mode(void)
{
	char dir[] = "/tmp/ztconfXXXXXX", key[64], js[512];
	struct conf *c;
	FILE *f;

	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	f = fopen(key, "w");
	if (!f)
		return;
	fputs("not really a key\n", f);
	fclose(f);
	snprintf(js, sizeof(js), HOST(",'client_cert':'/etc/c.pem','client_key':'%s'"), key);
	chmod(key, 0644);
	expect_bad(js, "client_key: \"");
	CHECK(has_msg(errs.msg, errs.count, "is readable or writable by others (mode 644)"));
	chmod(key, 0620);
	expect_bad(js, "client_key: \"");
	chmod(key, 0640);
	c = expect_good(js);
	CHECK(c != NULL);
	conf_free(&c);
	chmod(key, 0600);
	c = expect_good(js);
	CHECK(c != NULL);
	conf_free(&c);
	unlink(key);
	rmdir(dir);
}

static void test_state_metrics(void)
{
	struct conf *c =
	    expect_good(HOST(",'state':{'journal':'/var/lib/ztdns/j.json',"
			     "'journal_interval_s':5,'break_glass':'/var/lib/ztdns/bg.json'},"
			     "'metrics':{'listen':'[::1]:9153'}"));

	CHECK(c && c->journal && strcmp(c->journal, "/var/lib/ztdns/j.json") == 0);
	CHECK(c && c->journal_interval == 5);
	CHECK(c && c->break_glass && strcmp(c->break_glass, "/var/lib/ztdns/bg.json") == 0);
	CHECK(c && c->metrics && strcmp(c->metrics, "[::1]:9153") == 0);
	conf_free(&c);
	c = expect_good(HOST(",'metrics':{'listen':'unix:/run/ztdns/metrics.sock'}"));
	CHECK(c && c->metrics && strcmp(c->metrics, "unix:/run/ztdns/metrics.sock") == 0);
	CHECK(c && !c->journal && !c->break_glass && c->journal_interval == 30);
	conf_free(&c);
	c = expect_good(HOST(",'metrics':{'listen':'127.0.0.2:1'}"));
	CHECK(c != NULL);
	conf_free(&c);
}

static void test_gateway(void)
{
	struct conf *c = NULL;

	CHECK(conf_load("conf/gateway.json", &c, &errs) == 0);
	if (!c) {
		dump_errors();
		return;
	}
	CHECK(c->mode == CONF_MODE_GATEWAY);
	CHECK_STREQ(conf_mode_name(c->mode), "gateway");
	CHECK(c->nlan_ifaces == 2);
	CHECK_STREQ(c->lan_ifaces[0], "eth1");
	CHECK_STREQ(c->lan_ifaces[1], "br-lan");
	CHECK(c->gateway_enforce_output == false);
	CHECK(c->shared_allowances == true);
	CHECK(ep_is(&c->listen[0], "192.168.1.1", 53));
	CHECK(c->nidentities == 2);
	if (c->nidentities == 2) {
		char pb[PREFIX_STRLEN];

		CHECK_STREQ(addr_prefix_format(&c->identities[0].subnet, pb, sizeof(pb)),
			    "192.168.1.0/25");
		CHECK_STREQ(c->identities[1].client_key, "/etc/ztdns/b.key");
	}
	conf_free(&c);
	/* Defaults of the gateway section. */
	c = expect_good("{'mode':'gateway','servers':[" DOT
			"],'gateway':{'lan_interfaces':['a']}}");
	CHECK(c && c->gateway_enforce_output == true && c->shared_allowances == false);
	/* The old form has no client subnets (any source) and says so. */
	CHECK(c && c->lan_nsubnets[0] == 0 && c->lan_may_reach_servers == false);
	CHECK(has_msg(errs.warn, errs.nwarn, "gateway.lan_interfaces: warning: no client subnets"));
	conf_free(&c);
	/* gateway.lan: each interface with its client subnets; identities
	 * name their interface and lie inside its subnets. */
	c = expect_good(
	    "{'mode':'gateway','servers':[" DOT
	    "],'gateway':{'lan':[{'interface':'lan0','subnets':['192.0.2.128/25',"
	    "'2001:db8:1::/64']},{'interface':'lan1','subnets':['198.51.100.0/24']}],"
	    "'lan_may_reach_servers':true,'client_identities':[{'interface':'lan0',"
	    "'subnet':'192.0.2.128/26','client_cert':'/a.pem','client_key':'/a.key'}]}}");
	CHECK(c && c->nlan_ifaces == 2 && c->lan_nsubnets[0] == 2 && c->lan_nsubnets[1] == 1);
	if (c && c->nlan_ifaces == 2) {
		char pb[PREFIX_STRLEN];

		CHECK_STREQ(c->lan_ifaces[1], "lan1");
		CHECK_STREQ(addr_prefix_format(&c->lan_subnets[0][1], pb, sizeof(pb)),
			    "2001:db8:1::/64");
		CHECK(c->lan_may_reach_servers == true);
		CHECK(c->nidentities == 1 && c->identities[0].iface &&
		      strcmp(c->identities[0].iface, "lan0") == 0);
	}
	conf_free(&c);
}

static void test_warnings(void)
{
	struct conf *c = expect_good(HOST(",'exceptions':['10.0.0.0/9','11.0.0.0/9','fd00::/16']"));

	CHECK(c && c->nexceptions == 3);
	CHECK(errs.nwarn == 2);
	CHECK(has_msg(errs.warn, errs.nwarn,
		      "t.json: exceptions[0]: warning: \"10.0.0.0/9\" is not globally routable"));
	CHECK(has_msg(errs.warn, errs.nwarn, "t.json: exceptions[2]: warning: \"fd00::/16\""));
	CHECK(!has_msg(errs.warn, errs.nwarn, "exceptions[1]"));
	conf_free(&c);

	/* Single addresses are /32 and /128. */
	c = expect_good(HOST(",'exceptions':['11.2.3.4','2a00::1','11.2.3.5/32']"));
	CHECK(c && c->exceptions[0].len == 32 && c->exceptions[1].len == 128);
	CHECK(c && c->exceptions[2].len == 32);
	conf_free(&c);
}

/* What allow_large_exceptions and listen_any let through, and the
 * "not globally routable" warning judged on the whole prefix. */
static void test_large_and_any(void)
{
	struct conf *c;
	char *js;
	size_t cap = 300 * 20 + 512, o = 0;

	c = expect_good(HOST(",'exceptions':['0.0.0.0/1','128.0.0.0/1','::/1','8000::/1'],"
			     "'allow_large_exceptions':true"));
	CHECK(c && c->nexceptions == 4 && c->allow_large_exceptions);
	/* Two warnings, the coverage of each family; 0.0.0.0/1 only starts
	 * in 0.0.0.0/8 and ::/1 holds 2000::/3: both hold global addresses. */
	CHECK_MSG(errs.nwarn == 2, "%u warnings", errs.nwarn);
	CHECK(has_msg(errs.warn, errs.nwarn,
		      "t.json: exceptions: warning: the IPv4 prefixes together cover 4294967296 "
		      "addresses (100% of IPv4, largest \"0.0.0.0/1\"), more than a /8: allowed by "
		      "allow_large_exceptions"));
	CHECK(has_msg(errs.warn, errs.nwarn,
		      "warning: the IPv6 prefixes together cover 18446744073709551615 /64s (100%"));
	CHECK(!has_msg(errs.warn, errs.nwarn, "not globally routable"));
	conf_free(&c);

	/* Overlaps count once: a /8 and prefixes inside it are a /8. */
	c = expect_good(HOST(",'exceptions':['11.1.0.0/16','11.0.0.0/8','11.2.3.0/24',"
			     "'2a00:8000::/17','2a00::/17','2a00::/32']"));
	CHECK(c && c->nexceptions == 6 && errs.nwarn == 0);
	conf_free(&c);

	/* Many small ones add up: 256 /16s are a /8, 257 are more. */
	js = malloc(cap);
	CHECK(js != NULL);
	if (!js)
		return;
	o += (size_t)snprintf(js + o, cap - o, "{'mode':'host','servers':[%s],'exceptions':[", DOH);
	for (int i = 0; i < 256; i++)
		o += (size_t)snprintf(js + o, cap - o, "%s'%d.%d.0.0/16'", i ? "," : "",
				      20 + i / 256, i % 256);
	snprintf(js + o, cap - o, "]}");
	c = expect_good(js);
	CHECK(c && c->nexceptions == 256);
	conf_free(&c);
	snprintf(js + o, cap - o, ",'21.0.0.0/16']}");
	expect_bad(js, "exceptions: the IPv4 prefixes together cover 16842752 addresses");
	free(js);

	/* Classified as a whole: inside a special range, or not. */
	c = expect_good(HOST(",'exceptions':['10.0.0.0/16','4000::/3','172.16.0.0/12','11.0.0.0/9',"
			     "'::/3'],'allow_large_exceptions':true"));
	CHECK(c && c->nexceptions == 5);
	CHECK(has_msg(errs.warn, errs.nwarn, "exceptions[0]: warning: \"10.0.0.0/16\" is not"));
	CHECK(has_msg(errs.warn, errs.nwarn, "exceptions[1]: warning: \"4000::/3\" is not"));
	CHECK(has_msg(errs.warn, errs.nwarn, "exceptions[2]: warning: \"172.16.0.0/12\" is not"));
	CHECK(has_msg(errs.warn, errs.nwarn, "exceptions[4]: warning: \"::/3\" is not"));
	CHECK(!has_msg(errs.warn, errs.nwarn, "exceptions[3]"));
	conf_free(&c);
	c = expect_good(HOST(",'exceptions':['8.0.0.0/8','2a00::/16']"));
	CHECK(c && errs.nwarn == 0);
	conf_free(&c);

	/* listen_any: allowed, with a warning; gateway mode is not concerned. */
	c = expect_good(HOST(",'listen':['0.0.0.0:53','[::]:53'],'listen_any':true"));
	CHECK(c && c->nlisten == 2 && c->listen_any);
	CHECK(has_msg(errs.warn, errs.nwarn,
		      "t.json: listen[0]: warning: \"0.0.0.0:53\" listens on every address of the "
		      "host (listen_any)"));
	CHECK(has_msg(errs.warn, errs.nwarn, "t.json: listen[1]: warning: \"[::]:53\""));
	conf_free(&c);
	c = expect_good(HOST(",'listen':['127.0.0.53:53','[::1]:53','192.0.2.1:53']"));
	CHECK(c && c->nlisten == 3 && !c->listen_any && errs.nwarn == 0);
	conf_free(&c);
}

static void test_nulls_and_print(void)
{
	struct conf *c =
	    expect_good(HOST(",'client_cert':null,'client_key':null,'log':{'verdict_file':null}"));
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(c && c->client_cert == NULL && c->verdict_log == NULL);
	conf_free(&c);
	expect_bad(HOST(",'client_cert':'/a','client_key':null"), "client_key: required");

	CHECK(parse(HOST(",'exceptions':['10.0.0.0/8','x'],'bogus':1"), &c) == -EINVAL);
	f = open_memstream(&buf, &len);
	conf_errors_print(&errs, f);
	fclose(f);
	CHECK(strstr(buf, "t.json: bogus: unknown key\n") != NULL);
	CHECK(strstr(buf, "t.json: exceptions[1]: \"x\" is not an IP address or CIDR prefix\n"));
	CHECK(strstr(buf, "t.json: exceptions[0]: warning: ") != NULL);
	free(buf);
}

/* Everything conf_dump writes, compared field by field. */
static bool conf_same(const struct conf *a, const struct conf *b)
{
#define SAME(x)	   ((a->x) == (b->x))
#define SAMESTR(x) ((!a->x && !b->x) || (a->x && b->x && strcmp(a->x, b->x) == 0))
	if (!SAME(mode) || !SAME(enforce) || !SAME(nservers) || !SAMESTR(client_cert) ||
	    !SAMESTR(client_key) || !SAME(nexceptions) || !SAME(nlisten) || !SAME(queue_num) ||
	    !SAME(queue_count) || !SAME(queue_maxlen) ||
	    memcmp(&a->limits, &b->limits, sizeof(a->limits)) != 0 ||
	    memcmp(&a->ttl, &b->ttl, sizeof(a->ttl)) != 0 || !SAME(cache.enabled) ||
	    !SAME(cache.max_entries) || !SAME(cache.max_bytes) || !SAME(cache.negative_max) ||
	    !SAME(log_level) || !SAME(log_verdicts) || !SAMESTR(verdict_log) || !SAME(log_format) ||
	    !SAMESTR(control_socket) || !SAME(control_uid) || !SAME(keep_on_stop) ||
	    !SAME(deny_action) || !SAME(nlan_ifaces) || !SAME(gateway_enforce_output) ||
	    !SAME(shared_allowances) || !SAME(intercept_dns))
		return false;
	for (unsigned i = 0; i < a->nservers; i++) {
		const struct conf_server *x = &a->servers[i], *y = &b->servers[i];

		if (strcmp(x->name, y->name) || x->proto != y->proto ||
		    (x->url ? !y->url || strcmp(x->url, y->url) : y->url != NULL) ||
		    strcmp(x->tls_name, y->tls_name) || x->port != y->port ||
		    x->naddrs != y->naddrs ||
		    (x->ca_file ? !y->ca_file || strcmp(x->ca_file, y->ca_file)
				: y->ca_file != NULL) ||
		    x->npins != y->npins || memcmp(x->pins, y->pins, sizeof(x->pins)) ||
		    x->priority != y->priority)
			return false;
		for (unsigned j = 0; j < x->naddrs; j++)
			if (!addr_equal(&x->addrs[j], &y->addrs[j]))
				return false;
	}
	for (unsigned i = 0; i < a->nexceptions; i++) {
		const char *ga = conf_exception_group(a, i), *gb = conf_exception_group(b, i);

		if (a->exceptions[i].len != b->exceptions[i].len ||
		    !addr_equal(&a->exceptions[i].addr, &b->exceptions[i].addr) ||
		    (ga ? !gb || strcmp(ga, gb) : gb != NULL))
			return false;
	}
	for (unsigned i = 0; i < a->nlisten; i++)
		if (a->listen[i].port != b->listen[i].port ||
		    !addr_equal(&a->listen[i].addr, &b->listen[i].addr))
			return false;
	for (unsigned i = 0; i < a->nlan_ifaces; i++)
		if (strcmp(a->lan_ifaces[i], b->lan_ifaces[i]))
			return false;
	if (!SAME(nservices) || !SAME(nforwards) ||
	    memcmp(a->services, b->services, sizeof(a->services[0]) * a->nservices) != 0 ||
	    memcmp(a->forwards, b->forwards, sizeof(a->forwards[0]) * a->nforwards) != 0)
		return false;
	return true;
#undef SAME
#undef SAMESTR
}

static void round_trip(struct conf *c, const char *what)
{
	char *d1 = dump_string(c), *d2 = NULL;
	struct conf *c2 = NULL;
	int ret = conf_parse(d1, strlen(d1), "dump", &c2, &errs);

	CHECK_MSG(ret == 0 && c2, "%s: dump does not load again:\n%s", what, d1);
	if (ret != 0) {
		dump_errors();
		goto out;
	}
	CHECK_MSG(conf_same(c, c2), "%s: reloaded dump differs", what);
	d2 = dump_string(c2);
	CHECK_MSG(strcmp(d1, d2) == 0, "%s: dump is not a fixed point", what);
out:
	free(d1);
	free(d2);
	conf_free(&c2);
}

/* Named groups and exceptions_files: what they accept, where an error
 * points, the group each prefix is shown under, and the canonical dump. */
static void test_exception_groups(void)
{
	char dir[] = "/tmp/ztcg-XXXXXX", path[64], path2[64], js[512];
	struct conf *c;
	char *d;
	FILE *f;

	c = expect_good(HOST(",'exceptions':['198.18.0.0/24',{'name':'corp-vpn','subnets':['"
			     "198.51.100.0/24','2001:db8:5::/48']}]"));
	if (c) {
		CHECK(c->nexceptions == 3 && c->nexception_groups == 1);
		CHECK(conf_exception_group(c, 0) == NULL);
		CHECK_STREQ(conf_exception_group(c, 1), "corp-vpn");
		CHECK_STREQ(conf_exception_group(c, 2), "corp-vpn");
		CHECK(conf_exception_group(c, 3) == NULL);
		d = dump_string(c);
		CHECK(strstr(d, "\"name\": \"corp-vpn\"") != NULL);
		free(d);
		round_trip(c, "groups");
		conf_free(&c);
	}
	expect_bad(HOST(",'exceptions':[{'name':'a b','subnets':['198.51.100.0/24']}]"),
		   "exceptions[0].name: \"a b\" is not a group name");
	expect_bad(HOST(",'exceptions':[{'name':'','subnets':['198.51.100.0/24']}]"),
		   "exceptions[0].name: \"\" is not a group name");
	expect_bad(HOST(",'exceptions':[{'subnets':['198.51.100.0/24']}]"),
		   "exceptions[0].name: required");
	expect_bad(HOST(",'exceptions':[{'name':'x'}]"), "exceptions[0].subnets: required");
	expect_bad(HOST(",'exceptions':[{'name':'x','subnets':[]}]"),
		   "exceptions[0].subnets: expected a non-empty array");
	expect_bad(HOST(",'exceptions':[{'name':'x','subnets':['198.51.100.0/24'],'via':1}]"),
		   "exceptions[0].via: unknown key");
	expect_bad(HOST(",'exceptions':[{'name':'x','subnets':['198.51.100.0/24']},{'name':'x',"
			"'subnets':['198.51.101.0/24']}]"),
		   "exceptions[1].name: \"x\" names another group too");
	expect_bad(HOST(",'exceptions':[{'name':'x','subnets':['198.51.100.0/24']},"
			"'198.51.100.0/24']"),
		   "exceptions[1]: \"198.51.100.0/24\" is the same prefix as group \"x\"");
	expect_bad(HOST(",'exceptions':[{'name':'x','subnets':['0.0.0.0/0']}]"),
		   "exceptions[0].subnets[0]: \"0.0.0.0/0\" would allow everything");
	expect_bad(HOST(",'exceptions':[{'name':'x','subnets':['0.0.0.0/1','128.0.0.0/1']}]"),
		   "exceptions: the IPv4 prefixes together cover 4294967296 addresses");

	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/provider.txt", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("# provider ranges\n\n203.0.113.0/25  # web\n\t2001:db8:77::/48\r\n", f);
	fclose(f);
	snprintf(js, sizeof(js), HOST(",'exceptions':['198.18.0.0/24'],'exceptions_files':['%s']"),
		 path);
	c = expect_good(js);
	if (c) {
		CHECK(c->nexceptions == 3);
		CHECK(conf_exception_group(c, 0) == NULL);
		CHECK_STREQ(conf_exception_group(c, 1), path);
		CHECK_STREQ(conf_exception_group(c, 2), path);
		d = dump_string(c);
		/* The file is dumped as its path, not as its prefixes. */
		CHECK(strstr(d, path) != NULL && strstr(d, "203.0.113.0/25") == NULL);
		free(d);
		round_trip(c, "exceptions_files");
		conf_free(&c);
	}
	snprintf(path2, sizeof(path2), "%s/bad.txt", dir);
	f = fopen(path2, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("203.0.113.128/25\n\n203.0.113.1/24\n198.18.0.0/24\n", f);
		fclose(f);
	}
	snprintf(js, sizeof(js), HOST(",'exceptions':['198.18.0.0/24'],'exceptions_files':['%s']"),
		 path2);
	expect_bad(js, "exceptions_files[0] line 3: \"203.0.113.1/24\" has host bits set");
	{
		char want[160];

		snprintf(want, sizeof(want),
			 "exceptions_files[0] line 4: \"198.18.0.0/24\" is the same prefix as "
			 "exceptions[0]");
		expect_bad(js, want);
	}
	snprintf(js, sizeof(js), HOST(",'exceptions_files':['%s','%s']"), path, path);
	expect_bad(js, "exceptions_files[1]: ");
	snprintf(js, sizeof(js), HOST(",'exceptions_files':['%s/none.txt']"), dir);
	expect_bad(js, "exceptions_files[0]: cannot read");
	expect_bad(HOST(",'exceptions_files':['/dev/zero']"),
		   "exceptions_files[0]: \"/dev/zero\" is not a regular file");
	expect_bad(HOST(",'exceptions_files':['relative.txt']"),
		   "exceptions_files[0]: \"relative.txt\" must be an absolute path");
	unlink(path);
	unlink(path2);
	rmdir(dir);
}

static void test_round_trip(void)
{
	static const char *const files[] = {"conf/full.json", "conf/gateway.json",
					    "../../packaging/ztdns.example.json"};
	struct conf *c = NULL;
	char *d;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		CHECK_MSG(conf_load(files[i], &c, &errs) == 0, "%s does not load", files[i]);
		if (!c) {
			dump_errors();
			continue;
		}
		round_trip(c, files[i]);
		conf_free(&c);
	}
	c = expect_good(HOST(""));
	if (c) {
		round_trip(c, "minimal");
		CHECK(!c->cache.enabled && c->cache.max_entries == 10000 &&
		      c->cache.max_bytes == 8u << 20 && c->cache.negative_max == 2500);
		/* The canonical form shows every default. */
		d = dump_string(c);
		CHECK(strstr(d, "\"learned_max\": 65536") != NULL);
		CHECK(strstr(d, "\"socket\": \"/run/ztdns/control.sock\"") != NULL);
		CHECK(strstr(d, "\"verdict_file\": null") != NULL);
		CHECK(strstr(d, "\"[::1]:53\"") != NULL);
		CHECK(strstr(d, "\"name\": \"server0\"") != NULL);
		CHECK(strstr(d, "\"gateway\"") == NULL);
		free(d);
		conf_free(&c);
	}
	c = expect_good("{'mode':'host','servers':[" DOT "],'exceptions':['2a00::/16']}");
	if (c) {
		round_trip(c, "dot");
		conf_free(&c);
	}
	c = expect_good(HOST(",'cache':{'enabled':true,'max_entries':500,'max_bytes':65536,"
			     "'negative_max':100}"));
	if (c) {
		CHECK(c->cache.enabled && c->cache.max_entries == 500 &&
		      c->cache.max_bytes == 65536 && c->cache.negative_max == 100);
		round_trip(c, "cache");
		conf_free(&c);
	}
	c = expect_good("{'mode':'sidecar','servers':[" DOT
			"],'inbound':{'services':[{'proto':'tcp','port':22,'from':['198.51.100.0/"
			"24','2001:db8::/32']},{'proto':'udp','port':51820}]}}");
	if (c) {
		char pb[PREFIX_STRLEN];

		CHECK(c->nservices == 2 && c->services[0].proto == IPPROTO_TCP &&
		      c->services[0].port == 22 && c->services[0].nfrom == 2 &&
		      c->services[1].proto == IPPROTO_UDP && c->services[1].nfrom == 0 &&
		      c->services[1].to.len == 0);
		CHECK_STREQ(addr_prefix_format(&c->services[0].from[1], pb, sizeof(pb)),
			    "2001:db8::/32");
		d = dump_string(c);
		CHECK(strstr(d, "\"port\": 51820") != NULL);
		free(d);
		round_trip(c, "inbound");
		conf_free(&c);
	}
	c = expect_good(HOST(""));
	CHECK(c && c->nservices == 0); /* default: no services */
	conf_free(&c);
	c = expect_good("{'mode':'gateway','servers':[" DOT
			"],'gateway':{'lan_interfaces':['a'],'port_forwards':[{'to':'192.0.2.10',"
			"'proto':'tcp','port':443,'from':['203.0.113.0/24']},{'to':'2001:db8:a::/"
			"64','proto':'udp','port':53}]}}");
	if (c) {
		char pb[PREFIX_STRLEN];

		CHECK(c->nforwards == 2 && c->forwards[0].port == 443 &&
		      c->forwards[0].nfrom == 1 && c->forwards[1].proto == IPPROTO_UDP);
		CHECK_STREQ(addr_prefix_format(&c->forwards[0].to, pb, sizeof(pb)),
			    "192.0.2.10/32");
		round_trip(c, "port forwards");
		conf_free(&c);
	}
}

/* intercept_dns: on by default in host and sidecar mode, off (and
 * refused when asked for) in gateway mode, dumped and reloaded. */
static void test_intercept(void)
{
	struct conf *c = expect_good(HOST(""));
	char *d;

	CHECK(c && c->intercept_dns);
	if (c) {
		d = dump_string(c);
		CHECK(strstr(d, "\"intercept_dns\": true") != NULL);
		free(d);
	}
	conf_free(&c);
	c = expect_good("{'mode':'sidecar','servers':[" DOT "]}");
	CHECK(c && c->intercept_dns);
	conf_free(&c);
	c = expect_good(HOST(",'intercept_dns':false"));
	CHECK(c && !c->intercept_dns);
	if (c) {
		d = dump_string(c);
		CHECK(strstr(d, "\"intercept_dns\": false") != NULL);
		free(d);
		round_trip(c, "intercept_dns false");
	}
	conf_free(&c);
	c = expect_good(GW(""));
	CHECK(c && !c->intercept_dns);
	if (c)
		round_trip(c, "gateway intercept_dns");
	conf_free(&c);
	c = expect_good("{'mode':'gateway','servers':[" DOH
			"],'intercept_dns':false,'gateway':{'lan_interfaces':['lan0']}}");
	CHECK(c && !c->intercept_dns);
	conf_free(&c);
	expect_bad("{'mode':'gateway','servers':[" DOH
		   "],'intercept_dns':true,'gateway':{'lan_interfaces':['lan0']}}",
		   "intercept_dns: only in host and sidecar mode");
	expect_bad(HOST(",'intercept_dns':1"), "intercept_dns: expected true or false");
	/* A family without a listener: its plain DNS is not redirected. */
	c = expect_good(HOST(",'listen':['127.0.0.1:53']"));
	CHECK(c && errs.nwarn == 1);
	CHECK(has_msg(errs.warn, errs.nwarn,
		      "t.json: intercept_dns: warning: no IPv6 listen address: local plain DNS "
		      "over IPv6 is not redirected"));
	conf_free(&c);
	c = expect_good(HOST(",'listen':['127.0.0.1:53'],'intercept_dns':false"));
	CHECK(c && errs.nwarn == 0);
	conf_free(&c);
}

static void test_example(void)
{
	struct conf *c = NULL;

	CHECK(conf_load("../../packaging/ztdns.example.json", &c, &errs) == 0);
	if (!c) {
		dump_errors();
		return;
	}
	CHECK(c->mode == CONF_MODE_HOST);
	CHECK_STREQ(c->servers[0].url, "https://dns.example.test/dns-query");
	CHECK(addr_is(&c->servers[0].addrs[0], "192.0.2.53"));
	conf_free(&c);
}

int main(void)
{
	test_bad_table();
	test_forward_zones_readiness();
	test_plain_dns_zones();
	test_bounds();
	test_too_many_servers();
	test_too_many_exceptions();
	test_large_and_any();
	test_multiple_errors();
	test_dropped();
	test_files();
	test_big_file();
	test_minimal_doh_defaults();
	test_minimal_dot();
	test_urls();
	test_full();
	test_gateway();
	test_state_metrics();
	test_key_mode();
	test_warnings();
	test_nulls_and_print();
	test_round_trip();
	test_intercept();
	test_exception_groups();
	test_example();
	CHECK_DONE();
}
