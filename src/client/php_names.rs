//! wechatpay-php's identifier rules, for porting property chains such as
//! `$instance->v3->marketing->membercardOpen->cards->_card_id_`.

/// Converts one PHP property name into a path segment, by wechatpay-php's rules: a leading
/// capital is lowered, every other capital becomes `-` and its lower case, and a whole
/// `_name_` becomes the placeholder `{name}`. A Rust raw-identifier prefix `r#` is dropped.
///
/// # Examples
/// ```
/// use wechatpay::segment_from_php;
/// assert_eq!(segment_from_php("membercardOpen"), "membercard-open");
/// assert_eq!(segment_from_php("V3"), "v3");
/// assert_eq!(segment_from_php("complaintsV2"), "complaints-v2");
/// assert_eq!(segment_from_php("_transaction_id_"), "{transaction_id}");
/// ```
pub fn segment_from_php(identifier: &str) -> String {
    let identifier = identifier.strip_prefix("r#").unwrap_or(identifier);
    let mut out = String::with_capacity(identifier.len() + 4);
    for (i, c) in identifier.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.strip_prefix('_').and_then(|s| s.strip_suffix('_')) {
        Some(name) if !name.is_empty() => format!("{{{name}}}"),
        _ => out,
    }
}

/// Builds a [`Chain`](crate::Chain) from a PHP-style property chain, applying
/// [`segment_from_php`] to each identifier.
///
/// ```no_run
/// # fn demo(wxpay: wechatpay::Client) -> wechatpay::Result<()> {
/// use wechatpay::{chain, json};
/// let chain = chain!(wxpay.v3.marketing.membercardOpen.cards._card_id_.codes._code_.unavailable);
/// assert_eq!(chain.path(), "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable");
/// chain.post(json!({"card_id": "c", "code": "1", "json": {"reason": "r"}}))?;
/// # Ok(()) }
/// ```
///
/// For a client that is not a plain variable, separate it with `=>`:
/// `chain!(self.wxpay => v3.pay.transactions.native)`.
#[macro_export]
macro_rules! chain {
    ($client:ident $(. $segment:ident)+) => {
        $client.chain_from_php(&[$(stringify!($segment)),+])
    };
    ($client:expr => $($segment:ident).+) => {
        ($client).chain_from_php(&[$(stringify!($segment)),+])
    };
}
