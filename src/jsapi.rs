//! Signatures the front end needs: the parameters of `WeixinJSBridge.invoke('getBrandWCPayRequest')`
//! / `wx.requestPayment` (JSAPI and mini-program payments), of APP payments, and the `sign` of
//! the coupon-sending plugin (小程序发券插件) and H5 coupon links.
//!
//! Sign on the server only: the merchant private key and the APIv2 key must never reach a
//! browser or an app.
//!
//! - JSAPI / mini program (JSAPI调起支付, 小程序调起支付): RSA (SHA256withRSA) over `appId\ntimeStamp\nnonceStr\npackage\n`, `signType` `RSA`.
//! - APP: RSA over `appid\ntimestamp\nnoncestr\nprepayid\n`.
//! - Coupon plugin: HMAC-SHA256 (APIv2 rules) over `send_coupon_merchant` and the
//!   `send_coupon_params` flattened with their index (`stock_id0`, `out_request_no0`, ...).

use serde::Serialize;

use crate::crypto::{ApiV2Key, Formatter, HashAlgorithm, SignValue};
use crate::error::KeyError;
use crate::sign::Signer;

/// What `wx.requestPayment` / `getBrandWCPayRequest` takes. Serialises with the exact
/// camel-case names the front end expects (`appId`, `timeStamp`, `nonceStr`, `package`,
/// `signType`, `paySign`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PayParams {
    /// The AppID the order was placed with.
    #[serde(rename = "appId")]
    pub app_id: String,
    /// Seconds since the Unix epoch, as text.
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    /// A random string.
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=...`.
    pub package: String,
    /// Always `RSA`.
    #[serde(rename = "signType")]
    pub sign_type: String,
    /// Base64 SHA256withRSA signature by the merchant key.
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

impl PayParams {
    /// Signs the JSAPI / mini-program payment parameters for `prepay_id` (the value returned
    /// by the order API; a `prepay_id=` prefix is accepted too), with the current time and a
    /// fresh nonce.
    ///
    /// # Errors
    /// [`KeyError::Operation`] when the signer fails.
    ///
    /// # Examples
    /// ```no_run
    /// use wechatpay::{crypto::Rsa, jsapi::PayParams};
    /// let key = Rsa::from_private("file:///path/to/apiclient_key.pem")?;
    /// let params = PayParams::new("wx8888888888888888", "wx201410272009395522657a690389285100", &key)?;
    /// let for_the_page = serde_json::to_string(&params).unwrap();
    /// # Ok::<(), wechatpay::error::KeyError>(())
    /// ```
    pub fn new(app_id: &str, prepay_id: &str, signer: &dyn Signer) -> Result<Self, KeyError> {
        Self::with(
            app_id,
            prepay_id,
            Formatter::timestamp(),
            &Formatter::nonce(32),
            signer,
        )
    }

    /// As [`PayParams::new`] with a given timestamp and nonce (pure, for tests).
    ///
    /// # Errors
    /// [`KeyError::Operation`] when the signer fails.
    pub fn with(
        app_id: &str,
        prepay_id: &str,
        timestamp: i64,
        nonce: &str,
        signer: &dyn Signer,
    ) -> Result<Self, KeyError> {
        let package = if prepay_id.starts_with("prepay_id=") {
            prepay_id.to_string()
        } else {
            format!("prepay_id={prepay_id}")
        };
        let time_stamp = timestamp.to_string();
        let message = Formatter::joined_by_line_feed(&[
            app_id.as_bytes(),
            time_stamp.as_bytes(),
            nonce.as_bytes(),
            package.as_bytes(),
        ]);
        Ok(Self {
            app_id: app_id.to_string(),
            time_stamp,
            nonce_str: nonce.to_string(),
            package,
            sign_type: "RSA".to_string(),
            pay_sign: sign_base64(signer, &message)?,
        })
    }
}

/// What the APP SDK's `PayReq` takes (`appid`, `partnerid`, `prepayid`, `package`,
/// `noncestr`, `timestamp`, `sign`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AppPayParams {
    /// The mobile application's AppID.
    pub appid: String,
    /// The merchant id.
    pub partnerid: String,
    /// The prepay id returned by the APP order API.
    pub prepayid: String,
    /// Always `Sign=WXPay`.
    pub package: String,
    /// A random string.
    pub noncestr: String,
    /// Seconds since the Unix epoch, as text.
    pub timestamp: String,
    /// Base64 SHA256withRSA signature over `appid\ntimestamp\nnoncestr\nprepayid\n`.
    pub sign: String,
}

impl AppPayParams {
    /// Signs APP payment parameters with the current time and a fresh nonce.
    ///
    /// # Errors
    /// [`KeyError::Operation`] when the signer fails.
    pub fn new(
        appid: &str,
        mchid: &str,
        prepay_id: &str,
        signer: &dyn Signer,
    ) -> Result<Self, KeyError> {
        Self::with(
            appid,
            mchid,
            prepay_id,
            Formatter::timestamp(),
            &Formatter::nonce(32),
            signer,
        )
    }

    /// As [`AppPayParams::new`] with a given timestamp and nonce.
    ///
    /// # Errors
    /// [`KeyError::Operation`] when the signer fails.
    pub fn with(
        appid: &str,
        mchid: &str,
        prepay_id: &str,
        timestamp: i64,
        nonce: &str,
        signer: &dyn Signer,
    ) -> Result<Self, KeyError> {
        let timestamp = timestamp.to_string();
        let message = Formatter::joined_by_line_feed(&[
            appid.as_bytes(),
            timestamp.as_bytes(),
            nonce.as_bytes(),
            prepay_id.as_bytes(),
        ]);
        Ok(Self {
            appid: appid.to_string(),
            partnerid: mchid.to_string(),
            prepayid: prepay_id.to_string(),
            package: "Sign=WXPay".to_string(),
            noncestr: nonce.to_string(),
            timestamp,
            sign: sign_base64(signer, &message)?,
        })
    }
}

fn sign_base64(signer: &dyn Signer, message: &[u8]) -> Result<String, KeyError> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::STANDARD.encode(signer.sign(message)?))
}

/// The `sign` of the mini-program coupon plugin (`<send-coupon>`): HMAC-SHA256 with the APIv2
/// key over `send_coupon_merchant` and each coupon's fields suffixed with its index, as
/// wechatpay-php's README shows.
///
/// # Examples
/// ```
/// use wechatpay::crypto::{ApiV2Key, Formatter, Hash, HashAlgorithm};
/// use wechatpay::jsapi::send_coupon_sign;
/// let key = ApiV2Key::new("key");
/// let sign = send_coupon_sign(
///     "10016226",
///     [[("out_request_no", "1234567"), ("stock_id", "abc123")]],
///     &key,
/// );
/// let text = "out_request_no0=1234567&send_coupon_merchant=10016226&stock_id0=abc123";
/// assert_eq!(sign, Hash::sign(HashAlgorithm::HmacSha256, text, "key"));
/// ```
pub fn send_coupon_sign<P, K, V>(
    send_coupon_merchant: &str,
    send_coupon_params: impl IntoIterator<Item = P>,
    key: &ApiV2Key,
) -> String
where
    P: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: SignValue,
{
    let mut fields: Vec<(String, String)> = vec![(
        "send_coupon_merchant".to_string(),
        send_coupon_merchant.to_string(),
    )];
    for (index, coupon) in send_coupon_params.into_iter().enumerate() {
        for (k, v) in coupon {
            if let Some(text) = v.sign_text() {
                fields.push((format!("{}{index}", k.as_ref()), text.into_owned()));
            }
        }
    }
    crate::v2::sign(fields, key, HashAlgorithm::HmacSha256)
}
