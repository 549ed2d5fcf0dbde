//! Key sources through `crypto::Rsa` and `crypto::PemUtil`.
//! The input format is in `tests/invariants/targets.rs` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wechatpay_fuzz::invariants::targets::keys(data));
