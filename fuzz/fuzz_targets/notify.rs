//! APIv3 and APIv2 notifications through `notify::Verifier` and `notify::V2Verifier`.
//! The input format is in `tests/invariants/targets.rs` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wechatpay_fuzz::invariants::targets::notify(data));
