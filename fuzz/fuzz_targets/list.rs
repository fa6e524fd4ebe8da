//! Fuzzes the `list` consent-cookie reader: see `consentry_fuzz::check`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| consentry_fuzz::check("list", data));
