//! Answers through `verify::verify_response` and `certificates::decode`.
//! The input format is in `tests/invariants/targets.rs` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wechatpay_fuzz::invariants::targets::response(data));
