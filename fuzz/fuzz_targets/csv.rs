//! The .csv reader: see harness.rs. Any input must give a result or an error, never a crash.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::csv(data));
