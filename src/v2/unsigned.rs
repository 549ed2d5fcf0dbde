//! The APIv2 endpoints whose answers WeChat Pay does not sign.

/// APIv2 paths (without the `v2/` prefix, as sent) whose answers carry no `sign`:
/// wechatpay-php's `noneSignatureRespond` list, with the bank transfers at
/// `mmpaysptrans/pay_bank` and `mmpaysptrans/query_bank`, where WeChat Pay serves them
/// (企业付款到银行卡; wechatpay-php lists them under `mmpaymkttransfers/`, where no such
/// endpoint exists), plus the sandbox's bill download and key.
///
/// `transform_response` skips the `sign` check for these paths; a `return_code` or
/// `result_code` that is not `SUCCESS` in an XML answer is still an
/// [`Error::Api`](crate::Error::Api).
pub const UNSIGNED_ANSWERS: &[&str] = &[
    "mchrisk/querymchrisk",
    "mchrisk/setmchriskcallback",
    "mchrisk/syncmchriskresult",
    "mmpaymkttransfers/gethbinfo",
    "mmpaymkttransfers/gettransferinfo",
    "mmpaymkttransfers/promotion/paywwsptrans2pocket",
    "mmpaymkttransfers/promotion/querywwsptrans2pocket",
    "mmpaymkttransfers/promotion/transfers",
    "mmpaymkttransfers/sendgroupredpack",
    "mmpaymkttransfers/sendminiprogramhb",
    "mmpaymkttransfers/sendredpack",
    "mmpaysptrans/pay_bank",
    "mmpaysptrans/query_bank",
    "papay/entrustweb",
    "papay/h5entrustweb",
    "papay/partner/entrustweb",
    "papay/partner/h5entrustweb",
    "pay/downloadbill",
    "pay/downloadfundflow",
    "payitil/report",
    "risk/getpublickey",
    "risk/getviolation",
    "sandboxnew/pay/downloadbill",
    "sandboxnew/pay/getsignkey",
    "secapi/mch/submchmanage",
    "xdc/apiv2getsignkey/sign/getsignkey",
];

/// True when answers to `path` are unsigned ([`UNSIGNED_ANSWERS`]). `path` may be the path
/// as sent (`/pay/downloadbill`), the template (`v2/pay/downloadbill`) or either with a query;
/// a base URI's own path prefix in front is allowed.
///
/// # Examples
/// ```
/// use wechatpay::v2::is_unsigned_answer;
/// assert!(is_unsigned_answer("/pay/downloadbill"));
/// assert!(is_unsigned_answer("v2/mmpaysptrans/pay_bank"));
/// assert!(!is_unsigned_answer("/pay/micropay"));
/// assert!(!is_unsigned_answer("/pay/downloadbillx"));
/// ```
pub fn is_unsigned_answer(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_end_matches('/');
    UNSIGNED_ANSWERS.iter().any(|unsigned| {
        path.strip_suffix(unsigned)
            .is_some_and(|before| before.is_empty() || before.ends_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_unique_and_relative() {
        let mut sorted = UNSIGNED_ANSWERS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, UNSIGNED_ANSWERS);
        assert!(UNSIGNED_ANSWERS
            .iter()
            .all(|p| !p.starts_with('/') && !p.starts_with("v2/")));
    }

    #[test]
    fn the_bank_transfers_are_where_wechat_pay_serves_them() {
        assert!(is_unsigned_answer("/mmpaysptrans/pay_bank"));
        assert!(is_unsigned_answer("/mmpaysptrans/query_bank"));
        assert!(!is_unsigned_answer("/mmpaymkttransfers/pay_bank"));
    }

    #[test]
    fn only_whole_segments_match() {
        assert!(is_unsigned_answer("/hk/pay/downloadbill?x=1"));
        assert!(!is_unsigned_answer("/xpay/downloadbill"));
        assert!(!is_unsigned_answer("/pay/downloadbill/extra"));
    }
}
