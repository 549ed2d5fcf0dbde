//! The exact strings WeChat Pay signs, and the random parts that go into them.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// Builders for nonces, timestamps and signing messages (wechatpay-php's `Formatter`).
#[derive(Debug, Clone, Copy)]
pub struct Formatter;

const NONCE_ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Formatter {
    /// A random string of `len` characters from `0-9A-Za-z`, each equally likely.
    ///
    /// # Examples
    /// ```
    /// let nonce = wechatpay::crypto::Formatter::nonce(32);
    /// assert_eq!(nonce.len(), 32);
    /// assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    /// ```
    pub fn nonce(len: usize) -> String {
        let mut out = String::with_capacity(len);
        let mut buf = [0u8; 64];
        while out.len() < len {
            crate::crypto::fill_random(&mut buf);
            // Rejection sampling: 248 = 4 * 62, so bytes below it map onto the alphabet evenly.
            for &b in buf.iter().filter(|&&b| b < 248) {
                if out.len() == len {
                    break;
                }
                out.push(char::from(NONCE_ALPHABET[usize::from(b % 62)]));
            }
        }
        out
    }

    /// Seconds since the Unix epoch, now.
    pub fn timestamp() -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }

    /// The APIv3 request signing message: `METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n`.
    ///
    /// `uri` is the path with its query string exactly as sent, for example
    /// `/v3/certificates?a=1`.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::crypto::Formatter;
    /// let m = Formatter::request("GET", "/v3/certificates", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", b"");
    /// assert_eq!(m, b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n");
    /// ```
    pub fn request(method: &str, uri: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
        let ts = timestamp.to_string();
        Self::joined_by_line_feed(&[
            method.as_bytes(),
            uri.as_bytes(),
            ts.as_bytes(),
            nonce.as_bytes(),
            body,
        ])
    }

    /// The APIv3 response (and notification) signing message: `TIMESTAMP\nNONCE\nBODY\n`.
    pub fn response(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
        Self::joined_by_line_feed(&[timestamp.as_bytes(), nonce.as_bytes(), body])
    }

    /// Each piece followed by `\n`, concatenated (the form every WeChat Pay signature uses).
    pub fn joined_by_line_feed(pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(pieces.iter().map(|p| p.len() + 1).sum());
        for piece in pieces {
            out.extend_from_slice(piece);
            out.push(b'\n');
        }
        out
    }

    /// The `Authorization` header value of a signed APIv3 request.
    pub fn authorization(
        mchid: &str,
        nonce: &str,
        signature: &str,
        timestamp: i64,
        serial: &str,
    ) -> String {
        format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{mchid}\",serial_no=\"{serial}\",timestamp=\"{timestamp}\",nonce_str=\"{nonce}\",signature=\"{signature}\""
        )
    }
}

/// A value that can appear in an APIv2 signing string (see
/// [`Formatter::query_string_like`]).
///
/// `None` means "leave the field out": nulls and empty strings are never signed, as WeChat
/// Pay's rules say (参数的值为空不参与签名).
pub trait SignValue {
    /// The text that goes after `key=`, or `None` to skip the field.
    fn sign_text(&self) -> Option<Cow<'_, str>>;
}

impl SignValue for str {
    fn sign_text(&self) -> Option<Cow<'_, str>> {
        (!self.is_empty()).then_some(Cow::Borrowed(self))
    }
}

impl SignValue for String {
    fn sign_text(&self) -> Option<Cow<'_, str>> {
        self.as_str().sign_text()
    }
}

impl SignValue for Cow<'_, str> {
    fn sign_text(&self) -> Option<Cow<'_, str>> {
        self.as_ref().sign_text()
    }
}

impl<T: SignValue + ?Sized> SignValue for &T {
    fn sign_text(&self) -> Option<Cow<'_, str>> {
        (**self).sign_text()
    }
}

impl<T: SignValue> SignValue for Option<T> {
    fn sign_text(&self) -> Option<Cow<'_, str>> {
        self.as_ref().and_then(SignValue::sign_text)
    }
}

macro_rules! sign_value_by_display {
    ($($t:ty),*) => {$(
        impl SignValue for $t {
            fn sign_text(&self) -> Option<Cow<'_, str>> {
                Some(Cow::Owned(self.to_string()))
            }
        }
    )*};
}
sign_value_by_display!(i32, i64, u32, u64, usize);

/// JSON values sign as PHP would implode them: strings as they are, numbers in their JSON
/// text, booleans as `true`/`false`; `null` and `""` are skipped; arrays and objects as compact
/// JSON text (APIv2 fields such as `detail` carry JSON as a string).
impl SignValue for serde_json::Value {
    fn sign_text(&self) -> Option<Cow<'_, str>> {
        match self {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => s.as_str().sign_text(),
            other => Some(Cow::Owned(other.to_string())),
        }
    }
}

impl Formatter {
    /// Sorts key-value pairs by key, byte by byte (ASCII order: upper case before lower case,
    /// `_` between them), as WeChat Pay's APIv2 signing rule requires (参数名ASCII码从小到大排序)
    /// and as current wechatpay-php does with `ksort($thing, SORT_STRING)`.
    ///
    /// Takes any map or list of pairs (a `BTreeMap`, a `HashMap`, a `serde_json::Map`, ...).
    /// Equal keys keep their input order.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::crypto::Formatter;
    /// let sorted = Formatter::ksort([("remark", 1), ("RE_OPENID", 2), ("re_openid", 3), ("REMARK", 4)]);
    /// let keys: Vec<_> = sorted.iter().map(|(k, _)| *k).collect();
    /// assert_eq!(keys, ["REMARK", "RE_OPENID", "re_openid", "remark"]);
    /// ```
    pub fn ksort<K: AsRef<str>, V>(thing: impl IntoIterator<Item = (K, V)>) -> Vec<(K, V)> {
        let mut pairs: Vec<(K, V)> = thing.into_iter().collect();
        pairs.sort_by(|a, b| a.0.as_ref().as_bytes().cmp(b.0.as_ref().as_bytes()));
        pairs
    }

    /// Joins pairs as `k=v&k=v`, in the order given, leaving out the `sign` field, nulls and
    /// empty strings (wechatpay-php's `Formatter::queryStringLike`). Values are not
    /// URL-encoded: this is a signing string, not a query string.
    ///
    /// # Examples
    /// ```
    /// use wechatpay::{crypto::Formatter, json};
    /// let fields = json!({"b": 2, "a": 1, "sign": "x", "e": "", "n": null, "z": "0", "A": "u", "a_b": "w"});
    /// let fields = fields.as_object().unwrap();
    /// assert_eq!(Formatter::query_string_like(Formatter::ksort(fields)), "A=u&a=1&a_b=w&b=2&z=0");
    /// ```
    pub fn query_string_like<K: AsRef<str>, V: SignValue>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> String {
        let mut out = String::new();
        for (key, value) in pairs {
            let key = key.as_ref();
            if key == "sign" {
                continue;
            }
            let Some(text) = value.sign_text() else {
                continue;
            };
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(key);
            out.push('=');
            out.push_str(&text);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    #[test]
    fn nonce_uses_every_symbol_and_only_those() {
        let sample: String = (0..200).map(|_| Formatter::nonce(32)).collect();
        let mut seen = [false; 62];
        for b in sample.bytes() {
            let i = NONCE_ALPHABET
                .iter()
                .position(|&a| a == b)
                .expect("nonce symbol in alphabet");
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s), "6400 symbols should cover all 62");
    }

    #[test]
    fn response_message_ends_each_line_with_lf() {
        assert_eq!(Formatter::response("1", "n", b"{}"), b"1\nn\n{}\n");
    }
}
