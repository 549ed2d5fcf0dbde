//! APIv2 (the XML protocol) pieces that stand alone: the XXE-safe XML <-> map
//! [`Transformer`], the `sign` calculation, the [`RequestFields`] of a call, and the list of
//! endpoints whose answers are unsigned.
//!
//! APIv2 bodies are flat XML documents, `<xml><field><![CDATA[value]]></field>...</xml>`,
//! signed with MD5 or HMAC-SHA256 over the key-sorted fields plus `&key=` and the APIv2 key
//! (<https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3>).
//!
//! Calls go through the same chain as APIv3 ones; a `v2/` path selects the APIv2 layers
//! (`transform_request`, `transform_response`). `docs/apiv2.md` walks through them.

mod fields;
mod sign;
mod transformer;
mod unsigned;

pub use fields::{NotAnObject, RequestFields};
pub use sign::{algorithm_of, sign, verify};
pub use transformer::{Transformer, XmlError};
pub use unsigned::{is_unsigned_answer, UNSIGNED_ANSWERS};

/// True when `template` (a path template, `CallInfo::template`) is an APIv2 path: it starts
/// with `v2/` (a leading `/` allowed).
///
/// # Examples
/// ```
/// assert!(wechatpay::v2::is_v2_path("v2/pay/micropay"));
/// assert!(!wechatpay::v2::is_v2_path("v3/pay/transactions/native"));
/// ```
pub fn is_v2_path(template: &str) -> bool {
    template.trim_start_matches('/').starts_with("v2/")
}
