// A WeChat Pay client in another language, given only credentials.json and the PEM files that
// `MockServer::write_credentials` writes. Node's built-in `crypto` and `http` modules only.
//
//   node tests/interop/client.js /path/to/credentials.json
//
// Prints one line per check and exits non-zero on the first failure.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

const credentialsPath = process.argv[2];
if (!credentialsPath) {
  console.error('usage: node client.js credentials.json');
  process.exit(2);
}
const dir = path.dirname(credentialsPath);
const creds = JSON.parse(fs.readFileSync(credentialsPath, 'utf8'));
const read = (name) => fs.readFileSync(path.join(dir, name));

const merchantKey = crypto.createPrivateKey(read(creds.merchant_private_key_file));
const platformKeys = {
  [creds.platform_public_key_id]: crypto.createPublicKey(read(creds.platform_public_key_file)),
  [creds.platform_certificate_serial]: new crypto.X509Certificate(read(creds.platform_certificate_file)).publicKey,
};
const expectedSerial =
  creds.mode === 'platform_certificate' ? creds.platform_certificate_serial : creds.platform_public_key_id;
const base = new URL(creds.base_uri);

function fail(message) {
  console.error(`FAIL ${message}`);
  process.exit(1);
}

// WeChat Pay's request signature: METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n, SHA256withRSA, base64.
function authorization(method, uri, body) {
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const nonce = crypto.randomBytes(16).toString('hex').toUpperCase();
  const message = `${method}\n${uri}\n${timestamp}\n${nonce}\n${body}\n`;
  const signature = crypto.sign('sha256', Buffer.from(message), merchantKey).toString('base64');
  return (
    `WECHATPAY2-SHA256-RSA2048 mchid="${creds.mchid}",serial_no="${creds.merchant_serial}",` +
    `timestamp="${timestamp}",nonce_str="${nonce}",signature="${signature}"`
  );
}

function call(method, uri, json) {
  const body = json === undefined ? '' : JSON.stringify(json);
  const headers = {
    Accept: 'application/json',
    Authorization: authorization(method, uri, body),
    'Content-Length': Buffer.byteLength(body),
  };
  if (body) headers['Content-Type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: base.hostname, port: base.port, method, path: uri, headers },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// WeChat Pay's response signature: TIMESTAMP\nNONCE\nBODY\n with the platform key.
function verified(res) {
  const serial = res.headers['wechatpay-serial'];
  if (serial !== expectedSerial) fail(`Wechatpay-Serial ${serial}, expected ${expectedSerial}`);
  const timestamp = res.headers['wechatpay-timestamp'];
  if (Math.abs(Number(timestamp) - Date.now() / 1000) > 300) fail(`stale Wechatpay-Timestamp ${timestamp}`);
  const message = Buffer.concat([
    Buffer.from(`${timestamp}\n${res.headers['wechatpay-nonce']}\n`),
    res.body,
    Buffer.from('\n'),
  ]);
  const signature = Buffer.from(res.headers['wechatpay-signature'] || '', 'base64');
  return crypto.verify('sha256', message, platformKeys[serial], signature);
}

async function main() {
  const terminate = await call(
    'POST',
    '/v3/password-exempt-contract/contracts/service-id/12535/out-contract-code/wxwtdk20200910100000/terminate',
    { contract_termination_remark: '用户解约' },
  );
  const contract = JSON.parse(terminate.body.toString('utf8'));
  if (terminate.status !== 200 || !verified(terminate) || contract.mchid !== creds.mchid || contract.service_id !== 12535) {
    fail(`terminate: ${terminate.status} ${terminate.body}`);
  }
  console.log(`ok terminate ${terminate.status} ${terminate.body}`);

  const uri = '/v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/codes/478515832665/unavailable';
  const unavailable = await call('POST', uri, { reason: '用户违反会员条例' });
  if (unavailable.status !== 204 || unavailable.body.length !== 0 || !verified(unavailable)) {
    fail(`unavailable: ${unavailable.status} ${unavailable.body}`);
  }
  console.log(`ok unavailable ${unavailable.status}`);

  const again = await call('POST', uri, { reason: '用户违反会员条例' });
  const error = JSON.parse(again.body.toString('utf8'));
  if (again.status !== 400 || error.code !== 'INVALID_REQUEST' || !verified(again)) {
    fail(`unavailable again: ${again.status} ${again.body}`);
  }
  console.log(`ok unavailable again ${again.status} ${error.code}`);

  const certificates = await call('GET', '/v3/certificates');
  if (certificates.status !== 200 || !verified(certificates)) fail(`certificates: ${certificates.status}`);
  const entry = JSON.parse(certificates.body.toString('utf8')).data[0];
  const sealed = Buffer.from(entry.encrypt_certificate.ciphertext, 'base64');
  const decipher = crypto.createDecipheriv(
    'aes-256-gcm',
    Buffer.from(creds.apiv3_key),
    Buffer.from(entry.encrypt_certificate.nonce),
  );
  decipher.setAAD(Buffer.from(entry.encrypt_certificate.associated_data));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const pem = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString();
  const serial = new crypto.X509Certificate(pem).serialNumber.toUpperCase();
  if (serial !== creds.platform_certificate_serial || entry.serial_no !== serial) {
    fail(`certificates: serial ${serial} / ${entry.serial_no}`);
  }
  console.log(`ok certificates ${serial}`);

  // A forged signature is refused with a signed 401.
  const forged = await new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method: 'GET',
        path: '/v3/certificates',
        headers: { Authorization: authorization('GET', '/v3/certificates?tampered=1', '') },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  if (forged.status !== 401 || JSON.parse(forged.body.toString('utf8')).code !== 'SIGN_ERROR' || !verified(forged)) {
    fail(`forged: ${forged.status} ${forged.body}`);
  }
  console.log(`ok forged ${forged.status} SIGN_ERROR`);
}

main().catch((e) => fail(e.stack || String(e)));
