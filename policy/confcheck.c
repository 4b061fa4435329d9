/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "policy/confcheck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static void add_err(struct conf_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_err(struct conf_errors *errs, const char *fmt, ...)
{
	va_list ap;

	if (errs->count >= CONF_MAX_ERRORS) {
		errs->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(errs->msg[errs->count++], CONF_ERR_LEN, fmt, ap);
	va_end(ap);
}

/* The newest OpenSSL error as text, or what errno says. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", strerror(errno ? errno : EINVAL));
	ERR_clear_error();
	return buf;
}

static FILE *open_file(const struct conf *c, struct conf_errors *errs, const char *jpath,
		       const char *file)
{
	FILE *f = fopen(file, "re");

	if (!f)
		add_err(errs, "%s: %s: %s: cannot read: %s", c->path, jpath, file, strerror(errno));
	return f;
}

static unsigned check_ca(const struct conf *c, struct conf_errors *errs, const char *jpath,
			 const char *file)
{
	char why[256];
	unsigned n = 0;
	X509 *x;
	FILE *f = open_file(c, errs, jpath, file);

	if (!f)
		return 1;
	ERR_clear_error();
	while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
		n++;
		X509_free(x);
	}
	fclose(f);
	if (n == 0) {
		add_err(errs, "%s: %s: %s: no PEM certificate in it (%s)", c->path, jpath, file,
			ssl_reason(why, sizeof(why)));
		return 1;
	}
	ERR_clear_error(); /* the end of the file reads as an error */
	return 0;
}

static unsigned check_pair(const struct conf *c, struct conf_errors *errs, const char *where,
			   const char *cert, const char *key)
{
	char jpath[96], why[256];
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	unsigned bad = 0;
	FILE *f;

	if (!cert && !key)
		return 0;
	snprintf(jpath, sizeof(jpath), "%sclient_cert", where);
	if (cert && (f = open_file(c, errs, jpath, cert))) {
		ERR_clear_error();
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		if (!x)
			add_err(errs, "%s: %s: %s: not a PEM certificate (%s)", c->path, jpath,
				cert, ssl_reason(why, sizeof(why)));
	}
	bad += cert && !x;
	snprintf(jpath, sizeof(jpath), "%sclient_key", where);
	if (key && (f = open_file(c, errs, jpath, key))) {
		ERR_clear_error();
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		if (!k)
			add_err(errs, "%s: %s: %s: not a PEM private key (%s)", c->path, jpath, key,
				ssl_reason(why, sizeof(why)));
	}
	bad += key && !k;
	if (x && k) {
		ERR_clear_error();
		if (X509_check_private_key(x, k) != 1) {
			add_err(errs, "%s: %s: %s does not match the certificate %s", c->path,
				jpath, key, cert);
			ERR_clear_error();
			bad++;
		}
	}
	X509_free(x);
	EVP_PKEY_free(k);
	return bad;
}

unsigned confcheck_files(const struct conf *c, struct conf_errors *errs)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < c->nservers; i++) {
		char jpath[64];

		if (!c->servers[i].ca_file)
			continue;
		snprintf(jpath, sizeof(jpath), "servers[%u].ca_file", i);
		bad += check_ca(c, errs, jpath, c->servers[i].ca_file);
	}
	bad += check_pair(c, errs, "", c->client_cert, c->client_key);
	for (unsigned i = 0; i < c->nidentities; i++) {
		char where[64];

		snprintf(where, sizeof(where), "gateway.client_identities[%u].", i);
		bad += check_pair(c, errs, where, c->identities[i].client_cert,
				  c->identities[i].client_key);
	}
	return bad;
}
