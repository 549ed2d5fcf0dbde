//! Trust: signing requests with the merchant key, checking answers against WeChat Pay's keys,
//! the store of those keys, and the pure checks of the certificate listing. Everything here is
//! a pure function of its inputs (time is a parameter), so fixed vectors test it. The public
//! paths are `wechatpay::sign`, `wechatpay::verify`, `wechatpay::PlatformKeys`,
//! `wechatpay::certificates` and `wechatpay::download`.

pub(crate) mod platform_certificates;
pub(crate) mod platform_keys;
pub mod sign;
pub(crate) mod unsigned;
pub mod verify;
