/* SPDX-License-Identifier: GPL-2.0-or-later */
/* --check's file checks: a missing or empty CA file, a key that does not
 * match its certificate, unreadable or unparsable PEM files are each one
 * error naming the JSON path; good files pass. Keys made here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "check.h"
#include "policy/confcheck.h"

static char dir[] = "/tmp/zt-confcheck-XXXXXX";

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static void write_cert(const char *path, EVP_PKEY *k)
{
	X509 *x = X509_new();
	FILE *f = fopen(path, "w");

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"client.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, k, EVP_sha256());
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
}

static void write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

static char *P(const char *name)
{
	static char buf[8][128];
	static unsigned n;
	char *b = buf[n++ % 8];

	snprintf(b, 128, "%s/%s", dir, name);
	return b;
}

static unsigned run(const char *ca, const char *cert, const char *key, struct conf_errors *e)
{
	struct conf c = {0};

	memset(e, 0, sizeof(*e));
	c.path = (char *)"t.json";
	c.nservers = 1;
	c.servers[0].ca_file = (char *)ca;
	c.client_cert = (char *)cert;
	c.client_key = (char *)key;
	return confcheck_files(&c, e);
}

int main(void)
{
	struct conf_errors e;
	EVP_PKEY *a, *b;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	a = new_key();
	b = new_key();
	CHECK(a && b);
	write_cert(P("a.pem"), a);
	write_key(P("a.key"), a);
	write_key(P("b.key"), b);
	f = fopen(P("junk.pem"), "w");
	fputs("not a certificate\n", f);
	fclose(f);

	CHECK(run(NULL, NULL, NULL, &e) == 0); /* system store, no mTLS */
	CHECK(run(P("a.pem"), NULL, NULL, &e) == 0 && e.count == 0);
	CHECK(run(P("a.pem"), P("a.pem"), P("a.key"), &e) == 0 && e.count == 0);

	CHECK(run(P("missing.pem"), NULL, NULL, &e) == 1);
	CHECK_MSG(strstr(e.msg[0], "t.json: servers[0].ca_file: ") &&
		      strstr(e.msg[0], "cannot read: No such file"),
		  "%s", e.msg[0]);
	CHECK(run(P("junk.pem"), NULL, NULL, &e) == 1);
	CHECK_MSG(strstr(e.msg[0], "no PEM certificate"), "%s", e.msg[0]);

	CHECK(run(NULL, P("a.pem"), P("b.key"), &e) == 1);
	CHECK_MSG(strstr(e.msg[0], "t.json: client_key: ") &&
		      strstr(e.msg[0], "does not match the certificate"),
		  "%s", e.msg[0]);
	CHECK(run(NULL, P("a.pem"), P("missing.key"), &e) == 1);
	CHECK_MSG(strstr(e.msg[0], "client_key") && strstr(e.msg[0], "cannot read"), "%s",
		  e.msg[0]);
	CHECK(run(NULL, P("junk.pem"), P("a.key"), &e) == 1);
	CHECK_MSG(strstr(e.msg[0], "client_cert") && strstr(e.msg[0], "not a PEM certificate"),
		  "%s", e.msg[0]);
	CHECK(run(NULL, P("a.pem"), P("junk.pem"), &e) == 1);
	CHECK_MSG(strstr(e.msg[0], "not a PEM private key"), "%s", e.msg[0]);
	/* several problems: each reported */
	CHECK(run(P("missing.pem"), P("a.pem"), P("b.key"), &e) == 2 && e.count == 2);

	unlink(P("a.pem"));
	unlink(P("a.key"));
	unlink(P("b.key"));
	unlink(P("junk.pem"));
	rmdir(dir);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	CHECK_DONE();
}
