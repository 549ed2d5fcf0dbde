//! The method-chain tree generated from WeChat Pay's endpoint catalog.
//!
//! Each node type offers exactly the segments that follow it in the catalog and dereferences
//! to [`Chain`](crate::Chain), so every node also has the verbs (`get`, `post_async`, ...),
//! `.build(..)`, `.chain(..)`, `.path()` and indexing. The tree is `nodes.rs`, generated from
//! `endpoints.jsonl` by `tests/codegen/mod.rs`; see `docs/method-chain.md` for how to
//! regenerate it.
//!
//! # Where the nodes are documented
//!
//! On this page: [Every node](#every-node) below lists each node type with its path, the method
//! that reaches it and the operations at that path, grouped by area (the sidebar lists the
//! areas). The node types themselves are `#[doc(hidden)]`, so they have no page of their own
//! and do not show in the search: a page per type would repeat all of `Chain` and the standard
//! trait impls, thousands of pages and over 100 MB. Their public API is unchanged: an editor
//! completes their segment methods and shows each one's doc comment (its path and, at an
//! endpoint, the verbs with their titles), and code can name them, for example to keep a node
//! in a struct:
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use wechatpay::{catalog::V3RefundDomesticRefunds, json};
//!
//! struct Refunds {
//!     node: V3RefundDomesticRefunds,
//! }
//!
//! let mock = wechatpay::mock::MockServer::start_blocking()?;
//! let wxpay = mock.client_builder().build()?;
//! let refunds = Refunds { node: wxpay.v3().refund().domestic().refunds() };
//! let one = refunds.node.clone()._out_refund_no_();
//! assert_eq!(one.path(), "v3/refund/domestic/refunds/{out_refund_no}");
//! let opts = json!({"out_refund_no": "1217752501201407033233368018"});
//! assert_eq!(one.get(&opts)?.status(), 200);
//! # }
//! # Ok::<(), wechatpay::Error>(())
//! ```
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
//! put_async post_async patch_async delete_async send send_async download download_async
//! build chain path clone`, plus `deref`, `to_owned`, `fmt`), or when a sibling segment's own
//! text is exactly that name. So
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
#![doc = include_str!("index.md")]

mod nodes;

pub use nodes::*;
