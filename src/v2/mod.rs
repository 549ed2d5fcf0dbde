//! APIv2 (the XML protocol) pieces that stand alone: the XXE-safe XML <-> map
//! [`Transformer`] and the `sign` calculation.
//!
//! APIv2 bodies are flat XML documents, `<xml><field><![CDATA[value]]></field>...</xml>`,
//! signed with MD5 or HMAC-SHA256 over the key-sorted fields plus `&key=` and the APIv2 key
//! (<https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3>).

mod sign;
mod transformer;

pub use sign::{sign, verify};
pub use transformer::{Transformer, XmlError};
