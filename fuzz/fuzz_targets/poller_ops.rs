//! Poller operation sequences against a model of the semantics, on every
//! backend in turn (see `iomux_fuzz::poller_model`).
#![no_main]

use iomux::Backend;
use iomux_fuzz::poller_model::Run;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: &[u8]| {
    for backend in Backend::ALL {
        let mut run = Run::new(backend).unwrap_or_else(|e| panic!("{backend}: no poller: {e}"));
        run.run(ops);
    }
});
