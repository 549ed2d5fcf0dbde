//! The exact strings WeChat Pay signs, and the random parts that go into them.

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
        Self::joined_by_line_feed(&[method.as_bytes(), uri.as_bytes(), ts.as_bytes(), nonce.as_bytes(), body])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_uses_every_symbol_and_only_those() {
        let sample: String = (0..200).map(|_| Formatter::nonce(32)).collect();
        let mut seen = [false; 62];
        for b in sample.bytes() {
            let i = NONCE_ALPHABET.iter().position(|&a| a == b).expect("nonce symbol in alphabet");
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s), "6400 symbols should cover all 62");
    }

    #[test]
    fn response_message_ends_each_line_with_lf() {
        assert_eq!(Formatter::response("1", "n", b"{}"), b"1\nn\n{}\n");
    }
}
