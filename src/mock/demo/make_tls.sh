#!/usr/bin/env bash
# Made once, with the openssl command line, the DEMO-ONLY TLS material of the simulator's
# HTTPS side (mutual TLS for APIv2's `secapi/` endpoints). Like make.sh's keys it is public
# and protects nothing. Both CA keys are thrown away at the end: nobody can issue another
# certificate under these CAs, and the TLS CA is name-constrained to loopback, so trusting
# it cannot vouch for any real host.
#
# It reuses make.sh's merchant_private_key.pem: the merchant certificate carries the demo
# merchant's serial (MERCHANT_SERIAL in src/mock/credentials.rs) and mchid as its CN, as
# WeChat Pay's merchant API certificates do.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

MCHID=1900000001
MERCHANT_SERIAL=42209D51B896DD6018B129CFD574867619713E2F
DAYS=7305 # 20 years

ec_key() { openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$1"; }

# The CA of the simulator's server certificate: valid only for loopback names.
ec_key "$work/tls_ca_key.pem"
openssl req -x509 -new -key "$work/tls_ca_key.pem" -days "$DAYS" -sha256 \
  -subj "/O=wechatpay-chain mock (DEMO ONLY)/CN=wechatpay-chain mock TLS CA (loopback only)" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "nameConstraints=critical,permitted;IP:127.0.0.0/255.0.0.0,permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,permitted;DNS:localhost" \
  -out tls_ca.pem

# The simulator's server certificate and key.
ec_key tls_server_key.pem
openssl req -new -key tls_server_key.pem -subj "/O=wechatpay-chain mock (DEMO ONLY)/CN=127.0.0.1" \
  -out "$work/server.csr"
cat > "$work/server.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
EXT
openssl x509 -req -in "$work/server.csr" -CA tls_ca.pem -CAkey "$work/tls_ca_key.pem" \
  -days "$DAYS" -sha256 -set_serial 0x01 -extfile "$work/server.ext" -out tls_server.pem

# The CA that issues merchant API certificates (Tenpay.com's role), and the demo merchant's
# certificate over make.sh's merchant key.
ec_key "$work/merchant_ca_key.pem"
openssl req -x509 -new -key "$work/merchant_ca_key.pem" -days "$DAYS" -sha256 \
  -subj "/C=CN/O=wechatpay-chain mock (DEMO ONLY)/OU=Tenpay.com CA Center/CN=Tenpay.com merchant CA (demo)" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out merchant_ca.pem
openssl req -new -key merchant_private_key.pem \
  -subj "/C=CN/ST=Guangdong/L=Shenzhen/O=wechatpay-chain mock (DEMO ONLY)/OU=demo merchant/CN=$MCHID" \
  -out "$work/merchant.csr"
cat > "$work/merchant.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
EXT
openssl x509 -req -in "$work/merchant.csr" -CA merchant_ca.pem -CAkey "$work/merchant_ca_key.pem" \
  -days "$DAYS" -sha256 -set_serial "0x$MERCHANT_SERIAL" -extfile "$work/merchant.ext" \
  -out merchant_certificate.pem
