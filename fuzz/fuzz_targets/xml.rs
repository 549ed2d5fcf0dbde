//! APIv2 XML through `v2::Transformer::to_map`, and back through `to_xml`.
//! The input format is in `tests/invariants/targets.rs` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wechatpay_fuzz::invariants::targets::xml(data));
