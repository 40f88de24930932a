//! Poller operation sequences against a model of the semantics, on every
//! backend in turn (see `iomux_fuzz::poller_model`).
#![no_main]

use iomux::Backend;
use iomux_fuzz::poller_model::Run;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: &[u8]| {
    for backend in Backend::ALL {
        let mut run = match Run::new(backend) {
            Ok(run) => run,
            // io_uring frees a ring's memory after the ring is closed, so a
            // ring per input can exhaust it on a busy host: not a finding.
            Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => continue,
            // A kernel or sandbox without io_uring.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => continue,
            Err(e) => panic!("{backend}: no poller: {e}"),
        };
        run.run(ops);
    }
});
