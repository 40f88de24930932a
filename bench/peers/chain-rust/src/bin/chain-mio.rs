//! The chain on mio 1.x (epoll, edge-triggered: mio has no level mode).

use std::os::fd::AsRawFd;
use std::time::Instant;

use chain_peers::{Args, Chain, Timings, open_pairs};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let pairs = open_pairs(args.pairs)?;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut timings = Timings::default();
    let mut registered = false;
    for _ in 0..args.runs {
        let t0 = Instant::now();
        for (i, p) in pairs.iter().enumerate() {
            let fd = p.read.as_raw_fd();
            if registered {
                poll.registry().deregister(&mut SourceFd(&fd))?;
            }
            poll.registry()
                .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)?;
        }
        registered = true;
        let mut chain = Chain::start(&pairs, args.active, args.writes)?;
        let t1 = Instant::now();
        while !chain.done() {
            poll.poll(&mut events, None)?;
            for ev in events.iter() {
                chain.on_readable(&pairs, ev.token().0)?;
            }
        }
        timings.record(t0, t1, chain.count);
    }
    timings.report("mio", &args);
    Ok(())
}
