//! The fields of an APIv2 call on their way from the options to the wire.

use serde_json::{Map, Value};

use super::sign::sign;
use crate::crypto::{ApiV2Key, HashAlgorithm, UnknownHashAlgorithm};

/// The fields of an APIv2 call, as request assembly leaves them in the request's extensions:
/// from the `xml` option, or for a `GET` without it, from the query. The `transform_request`
/// layer reads them, adds `nonce_str` and `sign` ([`signed`](Self::signed)) and writes the
/// XML body (or, for a `GET`, the query); a layer that replaces it reads them here.
///
/// # Examples
/// ```
/// use wechatpay::crypto::ApiV2Key;
/// use wechatpay::v2::RequestFields;
///
/// let fields = RequestFields::from_json(&wechatpay::json!({"mch_id": 1900000001, "body": "x"}))?;
/// let sent = fields.signed(&ApiV2Key::new("key"), "NONCE")?;
/// let names: Vec<&str> = sent.iter().map(|(k, _)| k.as_str()).collect();
/// assert_eq!(names, ["mch_id", "body", "nonce_str", "sign"]);
/// assert_eq!(sent[0].1, "1900000001"); // numbers are sent, and signed, as their text
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RequestFields {
    /// The fields in the caller's order, each value as the text that is sent and signed.
    pub fields: Vec<(String, String)>,
    /// The `nonceless` option: add no `nonce_str` (a caller's own `nonce_str` is kept either
    /// way).
    pub nonceless: bool,
}

/// The `xml` option is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("APIv2 fields must be a JSON object, not {0}")]
pub struct NotAnObject(pub &'static str);

impl RequestFields {
    /// Fields from pairs of text.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            fields: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            nonceless: false,
        }
    }

    /// Fields from a JSON object: strings as they are, numbers and booleans as their JSON
    /// text (`1`, `true`), `null` left out, arrays and objects as compact JSON (fields such as
    /// `detail` and `scene_info` carry JSON inside the XML).
    ///
    /// # Errors
    /// [`NotAnObject`] naming what `value` is instead.
    pub fn from_json(value: &Value) -> Result<Self, NotAnObject> {
        match value {
            Value::Object(map) => Ok(Self::from_object(map)),
            Value::Null => Err(NotAnObject("null")),
            Value::Bool(_) => Err(NotAnObject("a boolean")),
            Value::Number(_) => Err(NotAnObject("a number")),
            Value::String(_) => Err(NotAnObject("a string")),
            Value::Array(_) => Err(NotAnObject("an array")),
        }
    }

    pub(crate) fn from_object(map: &Map<String, Value>) -> Self {
        let fields = map
            .iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    Value::Null => return None,
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((key.clone(), text))
            })
            .collect();
        Self {
            fields,
            nonceless: false,
        }
    }

    /// The value of field `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The signature algorithm the fields ask for: their `sign_type`, `MD5` when absent or
    /// empty.
    ///
    /// # Errors
    /// [`UnknownHashAlgorithm`] when `sign_type` is neither `MD5` nor `HMAC-SHA256`.
    pub fn algorithm(&self) -> Result<HashAlgorithm, UnknownHashAlgorithm> {
        match self.get("sign_type").map(str::trim) {
            None | Some("") => Ok(HashAlgorithm::Md5),
            Some(name) => name.parse(),
        }
    }

    /// The fields as they are sent: the caller's, in order, then `nonce_str` (set to
    /// `nonce` unless the caller gave one or [`nonceless`](Self::nonceless) is set), then
    /// `sign` under `key` with [`algorithm`](Self::algorithm). A `sign` among the caller's
    /// fields is replaced.
    ///
    /// # Errors
    /// [`UnknownHashAlgorithm`] when `sign_type` is neither `MD5` nor `HMAC-SHA256`.
    pub fn signed(
        &self,
        key: &ApiV2Key,
        nonce: &str,
    ) -> Result<Vec<(String, String)>, UnknownHashAlgorithm> {
        let algorithm = self.algorithm()?;
        let mut out: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|(k, _)| k != "sign")
            .cloned()
            .collect();
        if !self.nonceless && self.get("nonce_str").is_none() {
            out.push(("nonce_str".into(), nonce.into()));
        }
        let sign = sign(out.iter().map(|(k, v)| (k, v)), key, algorithm);
        out.push(("sign".into(), sign));
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_become_their_text() {
        let f = RequestFields::from_json(&json!({
            "s": "a", "n": 1, "f": 1.5, "t": true, "null": null, "empty": "", "o": {"k": [1]}
        }))
        .unwrap();
        assert_eq!(
            f.fields,
            vec![
                ("s".to_string(), "a".to_string()),
                ("n".into(), "1".into()),
                ("f".into(), "1.5".into()),
                ("t".into(), "true".into()),
                ("empty".into(), String::new()),
                ("o".into(), r#"{"k":[1]}"#.into()),
            ]
        );
        assert_eq!(
            RequestFields::from_json(&json!([1]))
                .unwrap_err()
                .to_string(),
            "APIv2 fields must be a JSON object, not an array"
        );
    }

    #[test]
    fn signing_keeps_a_given_nonce_and_honours_nonceless() {
        let key = ApiV2Key::new("key");
        let given = RequestFields::new([("a", "1"), ("nonce_str", "MINE"), ("sign", "OLD")]);
        let sent = given.signed(&key, "NEW").unwrap();
        assert_eq!(sent[1], ("nonce_str".into(), "MINE".into()));
        assert_eq!(sent.len(), 3);
        assert_ne!(sent[2].1, "OLD");

        let mut bare = RequestFields::new([("a", "1")]);
        bare.nonceless = true;
        let sent = bare.signed(&key, "NEW").unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[1].1,
            crate::v2::sign([("a", "1")], &key, HashAlgorithm::Md5)
        );
    }

    #[test]
    fn sign_type_picks_the_algorithm() {
        let key = ApiV2Key::new("key");
        let hmac = RequestFields::new([("a", "1"), ("sign_type", "HMAC-SHA256")]);
        let sent = hmac.signed(&key, "N").unwrap();
        assert_eq!(sent.last().unwrap().1.len(), 64);
        let md5 = RequestFields::new([("a", "1"), ("sign_type", "MD5")]);
        assert_eq!(md5.signed(&key, "N").unwrap().last().unwrap().1.len(), 32);
        let bad = RequestFields::new([("sign_type", "SHA1")]);
        assert!(bad.signed(&key, "N").is_err());
    }
}
