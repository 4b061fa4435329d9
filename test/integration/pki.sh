#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Test PKI for the Protective DNS lab: a CA, server certificates for given
# names/IPs, client certificates, and a second unrelated CA (to prove that a
# wrong CA or pin is refused). Everything is generated fresh by each test.
#   pki_init DIR                      CA "ca" and "otherca" in DIR
#   pki_server DIR NAME CA DNSNAME [IP...]   DIR/NAME.pem, DIR/NAME.key
#   pki_client DIR NAME CA CN         DIR/NAME.pem, DIR/NAME.key
#   pki_spki DIR/NAME.pem             base64 SHA-256 of the SPKI (RFC 7469)

pki_ca() {
	local dir=$1 name=$2
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$name.key" -out "$dir/$name.pem" -days 2 \
		-subj "/CN=ztdns test $name" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

pki_init() {
	local dir=$1
	mkdir -p "$dir"
	pki_ca "$dir" ca
	pki_ca "$dir" otherca
}

pki_server() {
	local dir=$1 name=$2 ca=$3 dns=$4
	shift 4
	local san="DNS:$dns" ip
	for ip in "$@"; do san="$san,IP:$ip"; done
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$dns" 2>/dev/null
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
		"$san" >"$dir/$name.ext"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" \
		-CAcreateserial -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
}

pki_client() {
	local dir=$1 name=$2 ca=$3 cn=$4
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$cn" 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >"$dir/$name.ext"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" \
		-CAcreateserial -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
}

pki_spki() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | openssl base64 -A
}
