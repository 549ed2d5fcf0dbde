//! The invariants the fuzz targets check, shared with the property tests of the library:
//! `../tests/invariants/` is compiled here as it is there, so both check the same things.

#[path = "../../tests/invariants/mod.rs"]
pub mod invariants;
