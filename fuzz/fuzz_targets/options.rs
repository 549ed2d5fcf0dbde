//! JSON options through `RequestOptions::from_value` and `Chain::build`.
//! The input format is in `tests/invariants/targets.rs` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wechatpay_fuzz::invariants::targets::options(data));
