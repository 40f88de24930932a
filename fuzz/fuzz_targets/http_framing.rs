//! HTTP framing: no panic; the same answers, close and consumption whether
//! the bytes arrive at once, a byte per read, cut at each offset or at
//! random points; nothing behind a close (refused or not) ever runs.
//! The first four bytes choose the limits (often tiny, to reach them).
#![no_main]

use iomux_fuzz::framing::{check, limits_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (params, input) = data.split_at(4);
    check(
        limits_from([params[0], params[1], params[2], params[3]]),
        input,
    );
});
