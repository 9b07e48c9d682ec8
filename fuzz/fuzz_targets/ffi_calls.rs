//! Sequences of C calls on model handles: see harness.rs. Any input must give a result or an error, never a crash.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::ffi_calls(data));
