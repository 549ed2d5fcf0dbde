//! Request assembly: per-call options, RFC 6570 path templates, the assembled unsigned
//! `http::Request`, and the `Response` a call returns. Pure: no I/O, no clock, no randomness.

pub(crate) mod assemble;
pub(crate) mod options;
pub(crate) mod response;
pub(crate) mod template;

pub use assemble::CallInfo;
pub(crate) use assemble::{apply_headers, assemble, BaseUri};
