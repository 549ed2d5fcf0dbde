#!/usr/bin/env node
// Regenerates the seed corpora in this folder (one folder per fuzz target) from the
// repository's real inputs: catalog paths and their documented examples
// (src/catalog/endpoints.jsonl), the test fixtures (tests/fixtures/), the simulator's demo keys,
// and the notification, XML and answer shapes the tests use. Signatures and ciphertexts are
// made here with Node's crypto, as WeChat Pay makes them, so the seeds start where the checks
// pass. The first byte of a notify, keys or response seed picks the target's mode (see
// ../README.md). Usage: node fuzz/seeds/make.js
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const read = (p) => fs.readFileSync(path.join(root, p), 'utf8');

// The constants of tests/invariants/mod.rs and src/mock/credentials.rs.
const NOW = 1700000000;
const PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000';
const APIV3_KEY = 'DemoOnlyAPIv3KeyOfWechatpayMock3';
const APIV2_KEY = 'DemoOnlyAPIv2KeyOfWechatpayMock2';
const platformPrivate = read('tests/fixtures/platform_private.pem');

const seeds = {};
function seed(target, name, content) {
  (seeds[target] = seeds[target] || []).push([name, Buffer.from(content)]);
}

// -- template and options: catalog paths with their documented examples -------------------

const endpoints = read('src/catalog/endpoints.jsonl')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));

function example(field) {
  if (field.example !== undefined) return field.example;
  if (field.enum) return field.enum[0];
  return field.type === 'integer' ? 1 : 'x';
}

const placeholders = (p) => [...p.matchAll(/\{\+?([^}]+)\}/g)].map((m) => m[1]);

const seenPaths = new Set();
endpoints.forEach((e, i) => {
  if (seenPaths.has(e.path)) return;
  seenPaths.add(e.path);
  const names = placeholders(e.path);
  // A spread of the catalog: every fourth path with placeholders, every thirtieth without.
  if (names.length ? seenPaths.size % 4 !== 0 : seenPaths.size % 30 !== 0) return;
  const details = Object.fromEntries((e.path_param_details || []).map((d) => [d.name, d]));
  const values = names.map((n) => String(details[n] ? example(details[n]) : 'x'));
  seed('template', `catalog-${i}`, [e.path, ...values].join('\n'));
});

endpoints.forEach((e, i) => {
  if (i % 8 !== 0) return;
  const opts = {};
  const details = Object.fromEntries((e.path_param_details || []).map((d) => [d.name, d]));
  for (const n of placeholders(e.path)) opts[n] = details[n] ? example(details[n]) : 'x';
  if (e.query_params.length) {
    opts.query = Object.fromEntries(e.query_params.map((q) => [q.name, example(q)]));
  }
  const props = e.body && e.body.schema && e.body.schema.properties;
  if (e.body.kind === 'json' && props) {
    opts.json = Object.fromEntries(
      Object.entries(props).map(([k, v]) => [k, v.example !== undefined ? v.example : 'x']),
    );
  }
  seed('options', `catalog-${i}`, `${e.path}\n${JSON.stringify(opts)}`);
});

// Shapes the catalog lacks: reserved expansion, PHP names, literal queries, absolute URLs.
[
  ['reserved', 'v3/merchant-service/images/{+media_slug}\nmedia/2021/a.png'],
  ['reserved-triplets', 'v3/files/{+path}\na%2Fb/c%20d'],
  ['two-in-a-segment', 'v3/a/{x}-{y}\n1\n2'],
  ['literal-query', 'v3/bill/tradebill?bill_date={date}\n2024-01-01'],
  ['v2', 'v2/pay/micropay'],
  ['absolute', 'https://api.mch.weixin.qq.com/v3/billdownload/file?token=6XIv5TUPto7pByrTZKsB%2FA'],
  ['php', 'v3.marketing.membercardOpen.cards._card_id_.codes._code_.unavailable\npbLatjvWOibDc5-TBnbUk1pD12o0\n478515832665'],
  ['php-raw', 'V3.ecommerce.subsidies.r#return'],
  ['unicode', 'v3/中文/{x}\n值 a+b'],
].forEach(([name, text]) => seed('template', name, text));

[
  ['everything', 'v3/pay/transactions/id/{transaction_id}\n' + JSON.stringify({
    transaction_id: '4200000000000000', query: { mchid: '1900000001', limit: [1, 2] },
    headers: { 'Idempotency-Key': 'k', 'X-A': ['1', '2'] }, timeout: 2.5,
    response_timeout: 1, read_timeout: 0.5, http_errors: false,
  })],
  ['body', 'v3/merchant/media/upload\n' + JSON.stringify({ body: '--boundary\r\n', headers: { 'Content-Type': 'multipart/form-data; boundary=boundary' } })],
  ['base-uri', 'v3/pay/transactions/native\n' + JSON.stringify({ base_uri: 'https://api2.mch.weixin.qq.com/hk/', json: { appid: 'wx' } })],
  ['raw-query', 'v3/x?a=1\n' + JSON.stringify({ query: 'b=2&c=%2F' })],
  ['typo', 'v3/cards/{card_id}\n' + JSON.stringify({ 'card-id': 'c', jsom: {} })],
  ['unsupported', 'v3/x\n' + JSON.stringify({ form_params: {}, connect_timeout: 1 })],
  ['absolute', 'https://api.mch.weixin.qq.com/v3/billdownload/file?token=t\n' + JSON.stringify({ query: { tar_type: 'GZIP' } })],
  ['null', 'v3/x\nnull'],
].forEach(([name, text]) => seed('options', name, text));

// -- xml ----------------------------------------------------------------------------------

const cdata = (fields) =>
  '<xml>' + Object.entries(fields).map(([k, v]) => `<${k}><![CDATA[${v}]]></${k}>`).join('') + '</xml>';
const v2Fields = {
  appid: 'wxd930ea5d5a258f4f', mch_id: '10000100', device_info: '1000', body: 'test',
  nonce_str: 'ibuaiVcKdpRxkhJA',
};
[
  ['published-example', cdata({ ...v2Fields, sign: '9A0A8659F005D6984697E2CA0A9CF3B7' })],
  ['plain-text', '<xml><return_code>SUCCESS</return_code><total_fee>1</total_fee><b/></xml>'],
  ['entities', '<xml><a>x &amp; y &#20320;&#x597D; &lt;&gt;&quot;&apos;</a></xml>'],
  ['split-cdata', '<xml><k><![CDATA[a]]]]><![CDATA[>b]]></k></xml>'],
  ['declaration', '<?xml version="1.0" encoding="UTF-8"?>\r\n<root>\n  <a attr="1">v</a>\n  <!-- c -->\n</root>'],
  ['doctype', '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>'],
  ['carriage-return', '<xml><a>line\r\nnext&#13;</a><b><![CDATA[x\ry]]></b></xml>'],
  ['names', '<xml><a.b>1</a.b><c:d>2</c:d><_e-f>3</_e-f><中>4</中></xml>'],
].forEach(([name, text]) => seed('xml', name, text));

// -- notify -------------------------------------------------------------------------------

function gcm(plaintext, nonce, aad) {
  const cipher = crypto.createCipheriv('aes-256-gcm', Buffer.from(APIV3_KEY), Buffer.from(nonce));
  cipher.setAAD(Buffer.from(aad));
  const sealed = Buffer.concat([cipher.update(Buffer.from(plaintext)), cipher.final(), cipher.getAuthTag()]);
  return sealed.toString('base64');
}

function signedHeaders(body, nonce = 'fdasflkja484w', timestamp = String(NOW)) {
  const signature = crypto
    .sign('sha256', Buffer.from(`${timestamp}\n${nonce}\n${body}\n`), platformPrivate)
    .toString('base64');
  return [
    `Wechatpay-Timestamp: ${timestamp}`,
    `Wechatpay-Nonce: ${nonce}`,
    `Wechatpay-Serial: ${PUB_KEY_ID}`,
    `Wechatpay-Signature: ${signature}`,
    'Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048',
    'Content-Type: application/json',
  ].join('\n');
}

const transaction = JSON.stringify({
  mchid: '1900000001', appid: 'wxd678efh567hg6787', out_trade_no: '1217752501201407033233368018',
  transaction_id: '4200000000000000', trade_state: 'SUCCESS',
  amount: { total: 100, currency: 'CNY' }, payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
});
const envelope = (resource) => JSON.stringify({
  id: 'EV-2018022511223320873', create_time: '2015-05-20T13:29:35+08:00',
  resource_type: 'encrypt-resource', event_type: 'TRANSACTION.SUCCESS', summary: '支付成功',
  resource,
});
const genuine = envelope({
  original_type: 'transaction', algorithm: 'AEAD_AES_256_GCM',
  ciphertext: gcm(transaction, '0123456789ab', 'transaction'),
  associated_data: 'transaction', nonce: '0123456789ab',
});
seed('notify', 'v3-genuine', `R${signedHeaders(genuine)}\n\n${genuine}`);
seed('notify', 'v3-signed-body', `S${genuine}`);
seed('notify', 'v3-long-nonce', `S${envelope({
  original_type: 'refund', algorithm: 'AEAD_AES_256_GCM',
  ciphertext: gcm('{"refund_status":"SUCCESS"}', '0123456789abcdef', ''), associated_data: null,
  nonce: '0123456789abcdef',
})}`);
seed('notify', 'v3-other-algorithm', `S${envelope({ algorithm: 'AEAD_SM4_GCM', ciphertext: '', nonce: 'n' })}`);
seed('notify', 'v3-sealed-transaction', `E0123456789ab\ntransaction\n${transaction}`);
seed('notify', 'v3-sealed-short-nonce', 'Ea\n\n{"a":[1,2.5,null,true,"中"]}');
seed('notify', 'v3-sealed-not-json', 'E0123456789abcdef0123456789abcdef\nrefund\n{"a":');

const md5Sign = (fields) =>
  crypto.createHash('md5')
    .update(Object.keys(fields).sort().filter((k) => k !== 'sign' && fields[k] !== '')
      .map((k) => `${k}=${fields[k]}`).join('&') + `&key=${APIV2_KEY}`)
    .digest('hex').toUpperCase();
seed('notify', 'v2-signed', `X${cdata({ ...v2Fields, sign: md5Sign(v2Fields) })}`);
seed('notify', 'v2-to-sign', `Y${cdata({ ...v2Fields, sign_type: 'HMAC-SHA256' })}`);
seed('notify', 'v2-to-sign-md5', `Y${cdata(v2Fields)}`);
const refundInner = '<root><out_refund_no><![CDATA[131811191610442717309]]></out_refund_no>' +
  '<refund_status><![CDATA[SUCCESS]]></refund_status><refund_fee>3960</refund_fee></root>';
seed('notify', 'v2-refund-inner', `F${refundInner}`);
const refundKey = crypto.createHash('md5').update(APIV2_KEY).digest('hex');
const ecb = crypto.createCipheriv('aes-256-ecb', Buffer.from(refundKey), null);
const reqInfo = Buffer.concat([ecb.update(refundInner), ecb.final()]).toString('base64');
seed('notify', 'v2-refund', `X${cdata({ return_code: 'SUCCESS', mch_id: '10000100', req_info: reqInfo })}`);

// -- keys ---------------------------------------------------------------------------------

const pemFiles = [
  'tests/fixtures/merchant_pkcs1.pem', 'tests/fixtures/merchant_pkcs8.pem',
  'tests/fixtures/merchant_encrypted.pem', 'tests/fixtures/merchant_spki.pem',
  'tests/fixtures/merchant_pkcs1_public.pem', 'tests/fixtures/merchant_cert.pem',
  'tests/fixtures/platform_cert.pem', 'tests/fixtures/genpkey_private.pem',
  'src/mock/demo/platform_certificate.pem',
];
const derOf = (pem) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
for (const file of pemFiles) {
  const name = path.basename(file, '.pem');
  const pem = read(file);
  seed('keys', `${name}`, `T${pem}`);
  seed('keys', `${name}-der`, Buffer.concat([Buffer.from('D'), derOf(pem)]));
}
const pseudo = [
  ['private.pkcs1://', 'merchant_pkcs1'], ['private.pkcs8://', 'merchant_pkcs8'],
  ['public.pkcs1://', 'merchant_pkcs1_public'], ['public.spki://', 'merchant_spki'],
];
for (const [prefix, name] of pseudo) {
  seed('keys', `pseudo-${name}`, `T${prefix}${derOf(read(`tests/fixtures/${name}.pem`)).toString('base64')}`);
}
seed('keys', 'chain', `T${read('tests/fixtures/merchant_cert.pem')}${read('tests/fixtures/platform_cert.pem')}`);
seed('keys', 'legacy-encrypted', 'T-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n');

// -- response -----------------------------------------------------------------------------

const answer = '{"trade_state":"SUCCESS","amount":{"total":100}}';
seed('response', 'genuine', `R${signedHeaders(answer, 'n0nce')}\nRequest-ID: 08F78BB5AF0110\n\n${answer}`);
seed('response', 'duplicated-serial', `R${signedHeaders(answer, 'n0nce')}\nWechatpay-Serial: ${PUB_KEY_ID}\n\n${answer}`);
seed('response', 'empty-body', `R${signedHeaders('')}\n\n`);
const listing = JSON.stringify({ data: [{
  serial_no: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1',
  effective_time: '2023-11-14T22:13:20+08:00', expire_time: '2043-11-14T22:13:20+08:00',
  encrypt_certificate: {
    algorithm: 'AEAD_AES_256_GCM', nonce: '0123456789ab', associated_data: 'certificate',
    ciphertext: gcm(read('tests/fixtures/platform_cert.pem'), '0123456789ab', 'certificate'),
  },
}] });
seed('response', 'certificate-listing', `R${signedHeaders(listing)}\n\n${listing}`);
seed('response', 'to-sign', `SWechatpay-Timestamp: ${NOW}\nWechatpay-Nonce: n0nce\n\n${answer}`);
seed('response', 'to-sign-stale', `SWechatpay-Timestamp: ${NOW - 301}\nWechatpay-Nonce: n\n\n{}`);
for (const file of ['tests/fixtures/platform_cert.pem', 'tests/fixtures/merchant_cert.pem', 'src/mock/demo/platform_certificate.pem']) {
  seed('response', `sealed-${path.basename(file, '.pem')}`, `C${read(file)}`);
}

// -- write --------------------------------------------------------------------------------

for (const [target, files] of Object.entries(seeds)) {
  const dir = path.join(__dirname, target);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of files) fs.writeFileSync(path.join(dir, name), content);
  console.log(`${target}: ${files.length} seeds`);
}
