/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TLS helpers for the encrypted upstreams (see tls.h). OpenSSL's error queue
 * is per thread and sticky: it is cleared before every call whose failure we
 * inspect, so a message always belongs to the call that failed (unbound's
 * habit).
 */
#include "dns/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

/* "what: first OpenSSL error" into err; clears the queue. */
static void tls_errmsg(char *err, size_t errlen, const char *what, const char *arg)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (!errlen)
		goto out;
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown error");
	snprintf(err, errlen, "%s%s%s: %s", what, arg ? " " : "", arg ? arg : "", buf);
out:
	ERR_clear_error();
}

SSL_CTX *tls_client_ctx_new(const struct conf_server *s, const char *client_cert,
			    const char *client_key, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;

	if (errlen)
		err[0] = '\0';
	if (!s || (!client_cert) != (!client_key)) {
		if (errlen)
			snprintf(err, errlen, "client certificate and key: both or neither");
		goto out;
	}
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		tls_errmsg(err, errlen, "SSL_CTX_new", NULL);
		goto out;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12)) {
		tls_errmsg(err, errlen, "TLS version/ciphers", NULL);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (s->ca_file) {
		if (!SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL)) {
			tls_errmsg(err, errlen, "cannot load CA file", s->ca_file);
			goto fail;
		}
	} else if (!SSL_CTX_set_default_verify_paths(ctx)) {
		tls_errmsg(err, errlen, "cannot load the system CA store", NULL);
		goto fail;
	}
	if (client_cert) {
		if (!SSL_CTX_use_certificate_chain_file(ctx, client_cert)) {
			tls_errmsg(err, errlen, "cannot load client certificate", client_cert);
			goto fail;
		}
		if (!SSL_CTX_use_PrivateKey_file(ctx, client_key, SSL_FILETYPE_PEM)) {
			tls_errmsg(err, errlen, "cannot load client key", client_key);
			goto fail;
		}
		if (!SSL_CTX_check_private_key(ctx)) {
			tls_errmsg(err, errlen, "client key does not match certificate",
				   client_key);
			goto fail;
		}
	}
	/* Client mode only: the transport keeps its last session itself (new
	 * session callback), the internal store would never be looked up. */
	SSL_CTX_set_session_cache_mode(ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	goto out;
fail:
	SSL_CTX_free(ctx);
	ctx = NULL;
out:
	return ctx;
}

int tls_set_peer_name(SSL *ssl, const char *tls_name)
{
	unsigned char ip[16];
	X509_VERIFY_PARAM *param;
	int ret = 0;

	if (!ssl || !tls_name || !tls_name[0]) {
		ret = -EINVAL;
		goto out;
	}
	ERR_clear_error();
	param = SSL_get0_param(ssl);
	if (inet_pton(AF_INET, tls_name, ip) == 1 || inet_pton(AF_INET6, tls_name, ip) == 1) {
		/* RFC 6066 §3: no SNI for an address literal. */
		if (!X509_VERIFY_PARAM_set1_ip_asc(param, tls_name))
			ret = -ENOMEM;
		goto out;
	}
	/* No partial wildcards ("w*.example"): a server identity is exact. */
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (!SSL_set1_host(ssl, tls_name) || !SSL_set_tlsext_host_name(ssl, tls_name))
		ret = -ENOMEM;
out:
	return ret;
}

int tls_spki_sha256(X509 *cert, uint8_t out[32])
{
	EVP_PKEY *pkey;
	unsigned char *der = NULL, *p;
	unsigned int mdlen = 0;
	int len, ret = 0;

	pkey = cert ? X509_get0_pubkey(cert) : NULL;
	if (!pkey) {
		ret = -EINVAL;
		goto out;
	}
	len = i2d_PUBKEY(pkey, NULL);
	if (len <= 0) {
		ret = -EINVAL;
		goto out;
	}
	der = malloc((size_t)len);
	if (!der) {
		ret = -ENOMEM;
		goto out;
	}
	p = der; /* i2d_* advances the pointer it is given */
	if (i2d_PUBKEY(pkey, &p) != len ||
	    !EVP_Digest(der, (size_t)len, out, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		ret = -EINVAL;
out:
	free(der);
	return ret;
}

int tls_verify_identity(SSL *ssl, const struct conf_server *s, char *why, size_t whylen)
{
	char b64[CONF_PIN_B64LEN];
	uint8_t got[32];
	X509 *leaf;
	long vr;
	int ret = -EACCES;

	if (whylen)
		why[0] = '\0';
	leaf = SSL_get0_peer_certificate(ssl);
	if (!leaf) {
		snprintf(why, whylen, "no server certificate");
		goto out;
	}
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		snprintf(why, whylen, "certificate verify failed: %s",
			 X509_verify_cert_error_string(vr));
		goto out;
	}
	if (s->npins) {
		if (tls_spki_sha256(leaf, got) < 0) {
			snprintf(why, whylen, "SPKI pin mismatch: cannot hash the public key");
			goto out;
		}
		for (unsigned i = 0; i < s->npins; i++) {
			if (CRYPTO_memcmp(got, s->pins[i], 32) == 0) {
				ret = 0;
				goto out;
			}
		}
		snprintf(why, whylen, "SPKI pin mismatch: got %s", conf_pin_format(got, b64));
		goto out;
	}
	ret = 0;
out:
	return ret;
}

int tls_handshake_error(SSL *ssl, char *why, size_t whylen)
{
	long vr = SSL_get_verify_result(ssl);
	int ret;

	/* X509_V_OK until a certificate was seen and refused, so anything
	 * else means the server's identity, not the protocol, failed. */
	if (vr != X509_V_OK) {
		snprintf(why, whylen, "certificate verify failed: %s",
			 X509_verify_cert_error_string(vr));
		ERR_clear_error();
		ret = -EACCES;
		goto out;
	}
	tls_errmsg(why, whylen, "TLS handshake failed", NULL);
	ret = -EPROTO;
out:
	return ret;
}
