/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What "ztdnsd --check" checks beyond the JSON, without the network: the
 * files the configuration names. The same OpenSSL loaders the upstream
 * clients use, so a file that passes here loads at start.
 */
#ifndef ZTDNS_CONFCHECK_H
#define ZTDNS_CONFCHECK_H

#include "policy/conf.h"

/* Every servers[i].ca_file is readable and holds at least one PEM
 * certificate; every client certificate / key pair (client_cert at the top
 * and in gateway.client_identities[i]) is readable, parses, and the key
 * matches the certificate (X509_check_private_key). Each problem is added
 * to errs as "FILE: json.path: the file: reason". Returns the number of
 * problems (0: all good). */
unsigned confcheck_files(const struct conf *c, struct conf_errors *errs);

#endif
