//! A local WeChat Pay simulator on loopback (cargo feature `mock`).
//!
//! [`MockServer`] checks each request as WeChat Pay does (the `Authorization` signature with
//! the merchant's public key, the timestamp, the nonce), answers in WeChat Pay's error format,
//! and signs every answer with its platform key. The five seed endpoints keep state; every
//! other APIv3 endpoint of the catalog answers with its documented response kind, and a JSON
//! answer holds every documented field with a value of its documented type (the catalog's
//! example where it has one), echoing the caller's values of the same name. Its demo merchant
//! and keys are fixed and public ([`demo`]): a new machine needs no WeChat Pay account.
//!
//! ```
//! use wechatpay::{json, mock::MockServer};
//!
//! let mock = MockServer::start_blocking()?;
//! let wxpay = mock.client_builder().build()?;
//! let r = wxpay["v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable"].post(json!({
//!     "card_id": "pbLatjvWOibDc5-TBnbUk1pD12o0",
//!     "code": "478515832665",
//!     "json": { "reason": "用户违反会员条例" },
//! }))?;
//! assert_eq!(r.status(), 204);
//! # Ok::<(), wechatpay::Error>(())
//! ```
//!
//! So a typed `struct` can be tested against it:
//!
//! ```
//! use serde::Deserialize;
//! use wechatpay::{json, mock::MockServer};
//!
//! #[derive(Deserialize)]
//! struct Transaction {
//!     transaction_id: String,
//!     trade_state: String,
//!     amount: Amount,
//! }
//!
//! #[derive(Deserialize)]
//! struct Amount {
//!     total: i64,
//! }
//!
//! let mock = MockServer::start_blocking()?;
//! let wxpay = mock.client_builder().build()?;
//! let t: Transaction = wxpay["v3/pay/transactions/id/{transaction_id}"]
//!     .get(json!({"transaction_id": "4200000000202611300000000001", "query": {"mchid": "1900000001"}}))?
//!     .json()?;
//! assert_eq!(t.transaction_id, "4200000000202611300000000001"); // echoed
//! assert_eq!(t.trade_state, "SUCCESS"); // the first documented value
//! assert_eq!(t.amount.total, 100); // the catalog's example
//! # Ok::<(), wechatpay::Error>(())
//! ```
//!
//! How the parts fit (after wiremock's `mock_server/`):
//! - `server.rs`: the thread, its current-thread runtime, the hyper accept loop, and the
//!   dispatch of a request through the checks below;
//! - `auth.rs`: WeChat Pay's checks on `Authorization`;
//! - `catalog.rs`: routing by the vendored catalog, parameter checks and the answers of the
//!   documented kinds; `schema.rs`: the catalog's typed response schemas; `sample.rs`: a JSON
//!   value of a schema's documented types;
//! - `seeds.rs`: the stateful seed endpoints; `certificates.rs`: `GET /v3/certificates`;
//! - `reply.rs`: answers and their signatures; `credentials.rs`: the demo keys;
//! - `v2.rs`: the APIv2 endpoints (XML, `sign`), checked by `v2_sign.rs`, the simulator's own
//!   `sign` code; `tls.rs`: the HTTPS side of the same port, which asks for the merchant's
//!   certificate (mutual TLS).
//!
//! APIv2 calls work against the same simulator, over plain HTTP, or over HTTPS with mutual TLS
//! for `secapi/` endpoints (`docs/apiv2.md`):
//!
//! ```
//! use wechatpay::{json, mock::MockServer, Error};
//!
//! let mock = MockServer::start_blocking()?;
//! let wxpay = mock.client_builder().base_uri(mock.https_base_uri()).build()?;
//! let refund = wxpay.v2().secapi().pay().refund().post(json!({
//!     "security": true,
//!     "xml": {
//!         "appid": "wxd678efh567hg6787",
//!         "mch_id": "1900000001",
//!         "out_trade_no": "1217752501201407033233368018",
//!         "out_refund_no": "R20261130001",
//!         "total_fee": 100,
//!         "refund_fee": 100,
//!     },
//! }))?.xml()?;
//! assert_eq!(refund["result_code"], "SUCCESS");
//! # Ok::<(), wechatpay::Error>(())
//! ```
//!
//! `docs/simulator.md` lists every check, the seed state and the error codes.

mod auth;
mod bills;
mod catalog;
mod certificates;
mod credentials;
mod media;
mod notification;
mod reply;
mod sample;
mod schema;
mod seeds;
mod server;
mod time;
mod tls;
mod v2;
mod v2_sign;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use credentials::{demo, Credentials, CREDENTIALS_FILE};
pub use seeds::CardLink;

use crate::error::{Error, Result};
use crate::sync::lock;
use crate::ClientBuilder;
use server::{Running, Shared};

/// Which key the simulator signs its answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// WeChat Pay public key mode (微信支付公钥): `Wechatpay-Serial` is
    /// [`demo::PLATFORM_PUBLIC_KEY_ID`]. The default.
    #[default]
    PublicKey,
    /// Platform certificate mode (平台证书): `Wechatpay-Serial` is
    /// [`demo::PLATFORM_CERTIFICATE_SERIAL`].
    PlatformCertificate,
}

impl Mode {
    /// `"public_key"` or `"platform_certificate"`, as in `credentials.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::PublicKey => "public_key",
            Mode::PlatformCertificate => "platform_certificate",
        }
    }
}

/// A running simulator on `127.0.0.1`, serving until dropped.
///
/// It runs on its own thread with its own runtime, so it works the same under any executor,
/// or none. See the [module documentation](self).
#[derive(Debug)]
pub struct MockServer {
    address: SocketAddr,
    state: State,
    // Dropped last: stops the thread after everything else is gone.
    _running: Running,
}

/// Configures a [`MockServer`] before it starts.
#[derive(Debug, Default)]
#[must_use]
pub struct MockServerBuilder {
    mode: Mode,
    listener: Option<TcpListener>,
    public_base_uri: Option<String>,
}

impl MockServerBuilder {
    /// Signs answers in `mode` (public-key mode by default).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Serves on `listener` instead of a fresh one on `127.0.0.1:0`.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The base URI clients reach the simulator at, when it is not its own address (behind a
    /// TLS front or a port mapping): the `download_url` of bills and the `media_url` of
    /// uploads are built on it. [`MockServer::base_uri`] still gives its own address.
    pub fn public_base_uri(mut self, uri: impl Into<String>) -> Self {
        let mut uri = uri.into();
        if !uri.ends_with('/') {
            uri.push('/');
        }
        self.public_base_uri = Some(uri);
        self
    }

    /// Starts the simulator.
    ///
    /// # Errors
    /// [`Error::Transport`] when no port can be bound or the thread cannot start;
    /// [`Error::Key`] if the embedded demo keys were damaged.
    pub fn start_blocking(self) -> Result<MockServer> {
        let keys = credentials::demo_keys()?;
        catalog::catalog().map_err(|e| Error::transport(format!("mock: {e}")))?;
        let listener = match self.listener {
            Some(l) => l,
            None => TcpListener::bind(("127.0.0.1", 0))
                .map_err(|e| Error::transport(format!("mock: bind: {e}")))?,
        };
        let address = listener
            .local_addr()
            .map_err(|e| Error::transport(format!("mock: local address: {e}")))?;
        let public_base = self
            .public_base_uri
            .unwrap_or_else(|| format!("http://{address}/"));
        let shared = Arc::new(Shared::new(keys, self.mode, public_base));
        let running = server::spawn(listener, Arc::clone(&shared))
            .map_err(|e| Error::transport(format!("mock: cannot start the server thread: {e}")))?;
        Ok(MockServer {
            address,
            state: State { shared },
            _running: running,
        })
    }

    /// Starts the simulator. The same as [`start_blocking`](Self::start_blocking): the port
    /// is bound before this returns and nothing needs awaiting; it is `async` so that code
    /// written for wiremock reads the same.
    ///
    /// # Errors
    /// As [`start_blocking`](Self::start_blocking).
    pub async fn start(self) -> Result<MockServer> {
        self.start_blocking()
    }
}

impl MockServer {
    /// A builder, to choose the [`Mode`] or the listener.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// Starts a simulator in public-key mode on a free port of `127.0.0.1`.
    ///
    /// # Errors
    /// [`Error::Transport`] when no port can be bound or the thread cannot start.
    ///
    /// # Examples
    /// ```
    /// # async fn demo() -> wechatpay::Result<()> {
    /// let mock = wechatpay::mock::MockServer::start().await?;
    /// let wxpay = mock.client_builder().build()?;
    /// # Ok(()) }
    /// ```
    pub async fn start() -> Result<MockServer> {
        Self::builder().start_blocking()
    }

    /// [`start`](Self::start) without `.await`, for code with no runtime.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_blocking() -> Result<MockServer> {
        Self::builder().start_blocking()
    }

    /// The address served, `127.0.0.1:<port>`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URI to give a client, `http://127.0.0.1:<port>/`.
    pub fn base_uri(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// The same port over HTTPS, `https://127.0.0.1:<port>/`: what a mutual-TLS call
    /// (`"security": true`) needs. The server certificate is issued by
    /// [`demo::TLS_CA_PEM`] for `127.0.0.1`, `::1` and `localhost`, which
    /// [`client_builder`](Self::client_builder) trusts; a listener on another address is
    /// served over HTTPS too, but its name is not in the certificate.
    ///
    /// Every TLS client is asked for a certificate and may present none; the `secapi/`
    /// endpoints then answer `FAIL`. A certificate not issued to the demo merchant fails the
    /// handshake.
    pub fn https_base_uri(&self) -> String {
        format!("https://{}/", self.address)
    }

    /// A [`ClientBuilder`] set up as the demo merchant: mchid, serial and private key for
    /// APIv3, the APIv2 key ([`secret`](ClientBuilder::secret)) and the merchant certificate
    /// for mutual TLS ([`merchant_cert`](ClientBuilder::merchant_cert)); trusting the key the
    /// simulator signs with in its current [`Mode`] and the CA of its HTTPS side, with
    /// [`base_uri`](Self::base_uri). Add settings before `build()`; for mutual-TLS calls set
    /// `.base_uri(mock.https_base_uri())`.
    pub fn client_builder(&self) -> ClientBuilder {
        let builder = crate::Client::builder()
            .mchid(demo::MCHID)
            .serial(demo::MERCHANT_SERIAL)
            .private_key(demo::MERCHANT_PRIVATE_KEY_PEM)
            .secret(demo::APIV2_KEY)
            .merchant_cert(
                demo::MERCHANT_CERTIFICATE_PEM,
                demo::MERCHANT_PRIVATE_KEY_PEM,
            )
            .root_certificate(demo::TLS_CA_PEM)
            .base_uri(self.base_uri());
        match self.mode() {
            Mode::PublicKey => {
                builder.cert(demo::PLATFORM_PUBLIC_KEY_ID, demo::PLATFORM_PUBLIC_KEY_PEM)
            }
            Mode::PlatformCertificate => builder.cert(
                demo::PLATFORM_CERTIFICATE_SERIAL,
                demo::PLATFORM_CERTIFICATE_PEM,
            ),
        }
    }

    /// The mode answers are signed in.
    pub fn mode(&self) -> Mode {
        self.state.shared.mode()
    }

    /// Switches the signing key at once, as when WeChat Pay migrates a merchant; clients
    /// built before keep trusting the old key only.
    pub fn set_mode(&self, mode: Mode) {
        self.state.shared.set_mode(mode);
    }

    /// The seed endpoints' state, to add or inspect records.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// How many requests reached the simulator, answered or refused.
    pub fn request_count(&self) -> u64 {
        self.state
            .shared
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A v3 notification as WeChat Pay would POST it to a merchant's `notify_url`: the
    /// headers and the raw body, with `resource` encrypted under the demo APIv3 key
    /// ([`demo::APIV3_KEY`], associated data `original_type`) and the body signed with the
    /// current mode's key. Use it to test a notification handler without WeChat Pay.
    ///
    /// # Errors
    /// Only if the simulator's own keys fail, which is a bug.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::crypto::ApiV3Key;
    /// use wechatpay::mock::{demo, MockServer};
    /// use wechatpay::{json, notify};
    ///
    /// let mock = MockServer::start_blocking()?;
    /// let (headers, body) = mock.notification(
    ///     "TRANSACTION.SUCCESS",
    ///     "transaction",
    ///     &json!({"out_trade_no": "1217752501201407033233368018", "trade_state": "SUCCESS"}),
    /// )?;
    ///
    /// // What a merchant's handler does with it:
    /// let client = mock.client_builder().build()?;
    /// let verifier = notify::Verifier::new(client.platform_keys().clone(), ApiV3Key::new(demo::APIV3_KEY)?);
    /// let notification = verifier.verify_and_decrypt_now(&headers, &body).map_err(wechatpay::Error::from)?;
    /// assert_eq!(notification.resource["trade_state"], "SUCCESS");
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn notification(
        &self,
        event_type: &str,
        original_type: &str,
        resource: &serde_json::Value,
    ) -> Result<(http::HeaderMap, bytes::Bytes)> {
        notification::build(&self.state.shared, event_type, original_type, resource)
    }

    /// What `credentials.json` holds for this server.
    pub fn credentials(&self) -> Credentials {
        Credentials::new(self.base_uri(), self.https_base_uri(), self.mode())
    }

    /// Writes the demo merchant's private key (`apiclient_key.pem`) and API certificate
    /// (`apiclient_cert.pem`, for mutual TLS), the platform public key (`pub_key.pem`), the
    /// platform certificate (`wechatpay_platform_cert.pem`), the CA of the simulator's HTTPS
    /// certificate (`mock_tls_ca.pem`) and `credentials.json` (which also holds the APIv3 and
    /// APIv2 keys) into `dir`, so that a client in any language can call the simulator.
    /// Returns the path of `credentials.json`.
    ///
    /// # Errors
    /// Any I/O error creating `dir` or writing the files.
    pub fn write_credentials(&self, dir: impl AsRef<Path>) -> std::io::Result<PathBuf> {
        self.credentials().write(dir.as_ref())
    }
}

/// The state behind the seed endpoints and the merchants the simulator knows. Changes take
/// effect for the next request.
///
/// The simulator starts with the seed documents' sample values (see `docs/simulator.md`).
#[derive(Clone)]
pub struct State {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl State {
    /// Restores the sample state the simulator started with (forgetting added records, but
    /// not added merchants or remembered nonces).
    pub fn reset(&self) {
        *lock(&self.shared.seeds) = seeds::SeedData::samples(demo::MCHID);
        *lock(&self.shared.v2) = v2::V2State::samples();
    }

    /// Forgets every seed record, samples included.
    pub fn clear(&self) {
        *lock(&self.shared.seeds) = seeds::SeedData::default();
    }

    /// Sets the demo merchant's red-packet balance (in fen; 100000, 1000 yuan, at the start)
    /// that `mmpaymkttransfers/sendredpack` draws on: a red packet over it answers
    /// `NOTENOUGH`.
    pub fn set_redpack_balance(&self, fen: u64) {
        lock(&self.shared.v2).redpack_balance = fen;
    }

    /// The demo merchant's red-packet balance, in fen.
    pub fn redpack_balance(&self) -> u64 {
        lock(&self.shared.v2).redpack_balance
    }

    /// Accepts requests from another merchant, whose API certificate has serial `serial` and
    /// whose public key (or certificate) is `public_key` (any form [`Rsa::from_public`]
    /// takes).
    ///
    /// # Errors
    /// [`Error::Key`] when `public_key` cannot be loaded.
    ///
    /// [`Rsa::from_public`]: crate::crypto::Rsa::from_public
    pub fn add_merchant(&self, mchid: &str, serial: &str, public_key: &str) -> Result<()> {
        let public_key = crate::crypto::Rsa::from_public(public_key)?;
        let mut merchants = self
            .shared
            .merchants
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        merchants.retain(|m| m.mchid != mchid);
        merchants.push(auth::Merchant {
            mchid: mchid.into(),
            serial: serial.into(),
            public_key,
        });
        Ok(())
    }

    /// Sets the size, in bytes, of the bill and statement files issued from now on (4 KiB
    /// until set; at most 64 GiB). Files are generated while they are sent, in constant
    /// memory, with exactly this many bytes (before gzip) from about 1 KiB up; their
    /// `hash_value` is computed by generating them once when the bill is asked for.
    /// Sub-merchant bills, which are encrypted whole, are refused above 64 MiB.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::{download::BillKind, json, mock::MockServer};
    ///
    /// let mock = MockServer::start_blocking()?;
    /// mock.state().set_bill_size(3 * 1024 * 1024);
    /// let wxpay = mock.client_builder().build()?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let opts = json!({"query": {"bill_date": "2026-11-29"}});
    /// let saved = wxpay.download_bill(BillKind::Trade, &opts, dir.path().join("t.csv"))?;
    /// assert_eq!(saved.bytes, 3 * 1024 * 1024);
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn set_bill_size(&self, bytes: u64) {
        self.shared.bills.set_size(bytes);
    }

    /// Corrupts the bill and statement files issued from now on: the byte at `offset` of the
    /// file as sent is flipped on the way out, while `hash_value` (or a statement's signed
    /// SHA-1) stays that of the true file, as when a network or proxy damages a download.
    /// `None` stops it.
    pub fn set_bill_corruption(&self, offset: Option<u64>) {
        self.shared.bills.set_corruption(offset);
    }

    /// The bytes of an upload the simulator holds under `media_id`, as it received them.
    pub fn uploaded(&self, media_id: &str) -> Option<bytes::Bytes> {
        lock(&self.shared.media)
            .get(media_id)
            .map(|(_, bytes)| bytes)
    }

    /// Adds an effective card link for `unbind-card-link` (replacing one for the same brand
    /// and scene).
    pub fn add_card_link(&self, link: CardLink) {
        lock(&self.shared.seeds).add_card_link(link);
    }

    /// Whether the card link of `brand_id` for `payment_scene` is still effective; `None`
    /// when there is none.
    pub fn card_link_effective(&self, brand_id: &str, payment_scene: &str) -> Option<bool> {
        lock(&self.shared.seeds).card_link_effective(brand_id, payment_scene)
    }

    /// Adds a busifavor coupon associated with order `out_trade_no`, for `coupons/disassociate`.
    pub fn add_busifavor_coupon(&self, stock_id: &str, coupon_code: &str, out_trade_no: &str) {
        lock(&self.shared.seeds).add_coupon(stock_id, coupon_code, out_trade_no);
    }

    /// The order a busifavor coupon is associated with: `None` when the coupon does not
    /// exist, `Some(None)` once it was disassociated.
    pub fn busifavor_coupon_order(
        &self,
        stock_id: &str,
        coupon_code: &str,
    ) -> Option<Option<String>> {
        lock(&self.shared.seeds).coupon_order(stock_id, coupon_code)
    }

    /// Adds an available member card code, for `codes/{code}/unavailable`.
    pub fn add_member_card_code(&self, card_id: &str, code: &str) {
        lock(&self.shared.seeds).add_member_code(card_id, code);
    }

    /// Whether a member card code is still available; `None` when it does not exist.
    pub fn member_card_code_available(&self, card_id: &str, code: &str) -> Option<bool> {
        lock(&self.shared.seeds).member_code_available(card_id, code)
    }

    /// Binds recipient `mchid` to brand store `store_id` of brand `brand_id` (creating the
    /// store, or moving it to `brand_id`), for `unbindrecipient`.
    pub fn add_store_recipient(&self, store_id: &str, brand_id: &str, mchid: &str) {
        lock(&self.shared.seeds).add_store_recipient(store_id, brand_id, mchid);
    }

    /// Whether `mchid` is still bound to brand store `store_id`; `None` when it never was.
    pub fn store_recipient_bound(&self, store_id: &str, mchid: &str) -> Option<bool> {
        lock(&self.shared.seeds).store_recipient_bound(store_id, mchid)
    }

    /// Adds an effective password-exempt contract of the demo merchant, for `terminate`.
    pub fn add_password_exempt_contract(&self, service_id: &str, out_contract_code: &str) {
        lock(&self.shared.seeds).add_contract(demo::MCHID, service_id, out_contract_code);
    }

    /// Adds an effective password-exempt contract of merchant `mchid`.
    pub fn add_password_exempt_contract_for(
        &self,
        mchid: &str,
        service_id: &str,
        out_contract_code: &str,
    ) {
        lock(&self.shared.seeds).add_contract(mchid, service_id, out_contract_code);
    }

    /// Whether a contract was terminated; `None` when it does not exist.
    pub fn password_exempt_contract_terminated(
        &self,
        service_id: &str,
        out_contract_code: &str,
    ) -> Option<bool> {
        lock(&self.shared.seeds).contract_terminated(service_id, out_contract_code)
    }
}
