//! The chain on polling 3.x (epoll, level-triggered: `PollMode::Level`).

use std::num::NonZeroUsize;
use std::time::Instant;

use chain_peers::{Args, Chain, Timings, open_pairs};
use polling::{Event, Events, PollMode, Poller};

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let pairs = open_pairs(args.pairs)?;
    let poller = Poller::new()?;
    let mut events = Events::with_capacity(NonZeroUsize::new(1024).expect("non-zero"));
    let mut timings = Timings::default();
    let mut registered = false;
    for _ in 0..args.runs {
        let t0 = Instant::now();
        for (i, p) in pairs.iter().enumerate() {
            if registered {
                poller.delete(&p.read)?;
            }
            // SAFETY: every read end is deleted from the poller (above, or
            // when the poller is dropped with the pairs at the end of main)
            // before it is closed: `pairs` outlives `poller` in this scope.
            unsafe { poller.add_with_mode(&p.read, Event::readable(i), PollMode::Level)? };
        }
        registered = true;
        let mut chain = Chain::start(&pairs, args.active, args.writes)?;
        let t1 = Instant::now();
        while !chain.done() {
            events.clear();
            poller.wait(&mut events, None)?;
            for ev in events.iter() {
                chain.on_readable(&pairs, ev.key)?;
            }
        }
        timings.record(t0, t1, chain.count);
    }
    timings.report("polling", &args);
    Ok(())
}
