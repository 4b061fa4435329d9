/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TLS helpers shared by the encrypted upstreams: a client SSL_CTX built from
 * a server's configuration, the peer name to check, and the identity check
 * after the handshake (chain + name, then SPKI pins, RFC 7469 form).
 *
 * The identity of a Protective DNS server is the one security decision of
 * the transports: an answer is only worth an allowance if it came from the
 * configured server, so every check here fails closed.
 */
#ifndef ZTDNS_TLS_H
#define ZTDNS_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "policy/conf.h"

/* The TLS policy of both transports (DoT here, DoH through libcurl's
 * CURLOPT_SSLVERSION and CURLOPT_SSL_CIPHER_LIST): TLS 1.2 or later, and
 * for TLS 1.2 only forward secrecy with AEAD (RFC 7525 §4.2, RFC 8310 §9).
 * TLS 1.3 suites are all acceptable and keep OpenSSL's defaults. */
#define TLS_CIPHERS_12 "ECDHE+AESGCM:ECDHE+CHACHA20"

/*
 * A client context for server s: TLS 1.2 or later (1.3 preferred), ECDHE
 * AEAD suites only for 1.2, SSL_VERIFY_PEER against s->ca_file (the system
 * default paths when NULL), the client certificate chain and key (PEM) when
 * both are given (checked to match), client-side session caching so a
 * transport can resume, and an unexpected EOF read as a close (DNS framing
 * carries its own lengths, so a truncation cannot go unnoticed).
 *
 * s, client_cert and client_key are only read during the call. Returns a new
 * SSL_CTX (caller frees with SSL_CTX_free), or NULL with a message in err
 * (errlen bytes, always NUL-terminated when errlen > 0).
 */
SSL_CTX *tls_client_ctx_new(const struct conf_server *s, const char *client_cert,
			    const char *client_key, char *err, size_t errlen);

/*
 * Before the handshake: make OpenSSL check tls_name during verification, as a
 * DNS name (SSL_set1_host, and sent as SNI) or, for an IP literal, as an
 * iPAddress SAN. tls_name is copied. Returns 0, -EINVAL (NULL or empty name)
 * or -ENOMEM.
 */
int tls_set_peer_name(SSL *ssl, const char *tls_name);

/*
 * After a successful handshake: the verification result must be X509_V_OK
 * (chain and name, see tls_set_peer_name) and, when s->npins > 0, the SHA-256
 * of the leaf's SubjectPublicKeyInfo must equal one of s->pins. Works for a
 * resumed session too (the result and the leaf are kept in the session).
 * Returns 0, or -EACCES with a human reason in why ("certificate verify
 * failed: <reason>", "SPKI pin mismatch: got <base64>", "no server
 * certificate").
 */
int tls_verify_identity(SSL *ssl, const struct conf_server *s, char *why, size_t whylen);

/*
 * After a failed handshake (SSL_ERROR_SSL or SSL_ERROR_SYSCALL): -EACCES when
 * the server's certificate was refused (the reason in why), else -EPROTO with
 * OpenSSL's first queued error in why. Consumes the thread's error queue.
 */
int tls_handshake_error(SSL *ssl, char *why, size_t whylen);

/* SHA-256 of the DER SubjectPublicKeyInfo of cert (i2d_PUBKEY of its public
 * key). Returns 0, -EINVAL (no key) or -ENOMEM. cert is borrowed. */
int tls_spki_sha256(X509 *cert, uint8_t out[32]);

#endif
