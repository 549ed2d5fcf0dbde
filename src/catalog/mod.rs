//! The method-chain tree generated from WeChat Pay's endpoint catalog.
//!
//! Each node type offers exactly the segments that follow it in the catalog and dereferences
//! to [`Chain`](crate::Chain), so every node also has the verbs, `.chain(..)` and indexing.
//! The tree is `nodes.rs`, generated from `endpoints.jsonl` by `tests/codegen/mod.rs`; see
//! `docs/method-chain.md` for how to regenerate it.
//!
//! # Naming rule
//!
//! One method per child segment, named from the segment alone:
//!
//! - a literal segment gives its text with `-` replaced by `_`, case kept
//!   (`membercard-open` → `membercard_open()`, `addInstitutionsub` → `addInstitutionsub()`);
//! - a placeholder `{name}` gives `_name_` (`{card_id}` → `_card_id_()`);
//! - a Rust keyword becomes a raw identifier (`r#return()`, `r#use()`, `r#try()`).
//!   `self`, `super`, `crate` and `Self` cannot be raw; no catalog segment is one of them.
//!
//! One collision rule: if the name is already taken on that node, `_` is appended. A name is
//! taken when it is a method every node already has (`get put post patch delete get_async
//! put_async post_async patch_async delete_async send send_async build chain path clone`, plus
//! `deref`, `to_owned`, `fmt`), or when a sibling segment's own text is exactly that name. So
//! `…/receivers/delete` is `.delete_()`, and under `v3/papay/insurance-sign` the segment
//! `policy_periods` is `.policy_periods()` while `policy-periods` is `.policy_periods_()`.
//!
//! Type names are the CamelCase of all segments of the path (placeholders contribute their
//! name: `V3MarketingMembercardOpenCardsCardId`); when a name is already used by a node that
//! sorts earlier by path, a number from 2 is appended at that segment
//! (`V3PapayInsuranceSignPolicyPeriods2` for `…/policy_periods`).
//!
//! The two catalog paths that end in `/` (`v3/applyment4sub/applyment/`,
//! `v3/ecommerce/applyments/`) belong to the node of the path without the `/`, whose
//! `.path()` keeps the `/`.
//!
//! ```no_run
//! # fn demo(wxpay: &wechatpay::Client) -> wechatpay::Result<()> {
//! use wechatpay::json;
//! let opts = json!({"card_id": "c", "code": "1", "json": {"reason": "r"}});
//! wxpay.v3().marketing().membercard_open().cards()._card_id_().codes()._code_().unavailable().post(&opts)?;
//! wxpay.v3().marketing().busifavor().coupons().r#use().post(json!({"json": {}}))?;
//! wxpay.v3().ecommerce().profitsharing().receivers().delete_().post(json!({"json": {}}))?;
//! assert_eq!(wxpay.v3().applyment4sub().applyment().path(), "v3/applyment4sub/applyment/");
//! # Ok(()) }
//! ```

mod nodes;

pub use nodes::*;
