//! Runs Poller operation sequences outside libFuzzer: the files given
//! (crash artifacts, corpus entries), or `random N` sequences from a fixed
//! seed. Panics, as the fuzz target does, on the first disagreement.
//!
//!     cargo +nightly run --release --example poller_replay -- FILE...
//!     cargo +nightly run --release --example poller_replay -- random 1000

use iomux::Backend;
use iomux_fuzz::framing::Rng;
use iomux_fuzz::poller_model::Run;

fn run_all(ops: &[u8]) {
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
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("random") {
        let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
        let mut rng = Rng::from_bytes(b"poller");
        for i in 0..n {
            let ops: Vec<u8> = (0..2 * (1 + rng.below(40)))
                .map(|_| rng.below(256) as u8)
                .collect();
            eprintln!("sequence {i}: {ops:?}");
            run_all(&ops);
        }
        println!("{n} random sequences: no disagreement");
        return;
    }
    for path in &args {
        let ops = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        run_all(&ops);
        println!("{path}: no disagreement");
    }
}
