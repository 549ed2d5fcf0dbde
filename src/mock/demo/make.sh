#!/usr/bin/env bash
# Made once, with the openssl command line, the DEMO-ONLY credentials embedded in
# `wechatpay::mock`. They are public (they ship in the crate) and protect nothing: never
# configure a real client with them. Rerunning this script changes every key, so the
# serials in src/mock/credentials.rs must change with them.
set -euo pipefail
cd "$(dirname "$0")"

MERCHANT_SERIAL=42209D51B896DD6018B129CFD574867619713E2F
PLATFORM_CERT_SERIAL=23FA95F111AA8D19D1F8AA9ACD15ECB28D0FC59E

# The demo merchant's API private key (apiclient_key.pem), PKCS#8. The merchant's
# certificate serial is the constant above; the simulator needs only its public key.
openssl genrsa -traditional 2048 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out merchant_private_key.pem

# WeChat Pay's side, public-key mode: the key behind PUB_KEY_ID_... and its public key.
openssl genrsa -traditional 2048 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out platform_public_key_private.pem
openssl pkey -in platform_public_key_private.pem -pubout -out platform_public_key.pem

# WeChat Pay's side, platform-certificate mode: another key and a self-signed certificate
# valid for 20 years.
openssl genrsa -traditional 2048 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out platform_certificate_private.pem
openssl req -x509 -new -key platform_certificate_private.pem -days 7305 -sha256 \
  -subj "/C=CN/O=wechatpay-rust mock (DEMO ONLY)/OU=Tenpay.com CA Center/CN=Tenpay.com Root CA (demo)" \
  -set_serial "0x$PLATFORM_CERT_SERIAL" -out platform_certificate.pem
