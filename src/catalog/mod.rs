//! The method-chain tree generated from WeChat Pay's endpoint catalog.
//!
//! Each node type offers exactly the segments that follow it in the catalog and dereferences
//! to [`Chain`](crate::Chain), so every node also has the verbs, `.chain(..)` and indexing.
//! See `docs/method-chain.md` for the naming rules.

mod nodes;

pub use nodes::*;
