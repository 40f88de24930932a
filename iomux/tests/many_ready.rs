//! 5,000 ready fds through a 64-event buffer: successive waits deliver all
//! of them (no starvation of fds at the back of the set).
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};
use rustix::event::{EventfdFlags, eventfd};
use std::collections::HashSet;
use std::os::fd::OwnedFd;

fn five_thousand_ready_through_capacity_64(backend: iomux::Backend) {
    let _fds = fd_numbers(); // 5,000 eventfds per backend
    const N: usize = 5000;
    let p = poller(backend);
    let fds: Vec<OwnedFd> = (0..N)
        .map(|_| eventfd(1, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC).expect("eventfd"))
        .collect();
    for (i, fd) in fds.iter().enumerate() {
        p.register(fd, Token(i), Interest::READABLE, Mode::Level)
            .unwrap();
    }
    let mut events = Events::with_capacity(64);
    let mut seen = HashSet::new();
    let mut waits = 0;
    // Level-triggered and never drained: every wait could return the same
    // 64. A fair poller covers all N in about N/64 waits.
    while seen.len() < N {
        waits += 1;
        assert!(
            waits <= 3 * N / 64,
            "{backend}: only {} of {N} seen after {waits} waits",
            seen.len()
        );
        let evs = wait(&p, &mut events, MUST);
        assert!(evs.len() <= 64, "{backend}: more events than capacity");
        assert!(!evs.is_empty(), "{backend}: no events with {N} ready");
        seen.extend(evs.iter().map(|e| e.token().0));
    }
}
on_every_backend!(five_thousand_ready_through_capacity_64);
