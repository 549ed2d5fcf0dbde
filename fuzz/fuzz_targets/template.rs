//! Path templates and their variables through `Client::chain(..).build(..)` and `Client::chain_from_php`.
//! The input format is in `tests/invariants/targets.rs` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wechatpay_fuzz::invariants::targets::template(data));
