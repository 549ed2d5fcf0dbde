//! The simulator's own APIv2 `sign`, written apart from the client's (`v2::sign`,
//! `Hash::sign`) so that each checks the other: only the digests themselves are shared.
//!
//! WeChat Pay's rule (安全规范, 签名算法): the fields but `sign`, with empty values left out,
//! sorted by name in byte order, joined as `k=v&...`, then `&key=<APIv2 key>`; MD5, or
//! HMAC-SHA256 keyed with the APIv2 key; upper-case hex.

use std::collections::BTreeMap;

use crate::crypto::Hash;

/// The `sign_type` values WeChat Pay accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignType {
    Md5,
    HmacSha256,
}

impl SignType {
    /// The request's `sign_type`: absent or empty is MD5; `None` for an unknown name.
    pub(crate) fn of(fields: &BTreeMap<String, String>) -> Option<Self> {
        match fields.get("sign_type").map(String::as_str) {
            None | Some("" | "MD5") => Some(SignType::Md5),
            Some("HMAC-SHA256") => Some(SignType::HmacSha256),
            Some(_) => None,
        }
    }
}

/// The `sign` of `fields` under `key`.
pub(crate) fn sign(fields: &BTreeMap<String, String>, key: &str, sign_type: SignType) -> String {
    // A BTreeMap of Strings iterates in byte order of the names, the order the rule asks for.
    let mut text = String::new();
    for (name, value) in fields {
        if name == "sign" || value.is_empty() {
            continue;
        }
        text.push_str(name);
        text.push('=');
        text.push_str(value);
        text.push('&');
    }
    text.push_str("key=");
    text.push_str(key);
    let hex = match sign_type {
        SignType::Md5 => Hash::md5(text.as_bytes()),
        SignType::HmacSha256 => Hash::hmac_sha256(text.as_bytes(), key.as_bytes()),
    };
    hex.to_ascii_uppercase()
}

/// Whether `fields` carry the right `sign` for `sign_type`.
pub(crate) fn is_signed(fields: &BTreeMap<String, String>, key: &str, sign_type: SignType) -> bool {
    fields
        .get("sign")
        .is_some_and(|given| Hash::equals(&sign(fields, key, sign_type), given))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// WeChat Pay's published example (安全规范, 签名算法 第二步).
    #[test]
    fn wechat_pays_published_example() {
        let fields: BTreeMap<String, String> = [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let key = "192006250b4c09247ec02edce69f6a2d";
        assert_eq!(
            sign(&fields, key, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign(&fields, key, SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }
}
