//! `Poller::wait` allocates nothing, on every backend: not when more is
//! ready than `Events` holds (poll and select resume their scan, io_uring
//! leaves completions in the CQ and re-arms Level polls), not when edge
//! registrations fire (multishot polls on io_uring), not when a waker fires.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use iomux::{Events, Interest, Mode, Token, Waker};

#[macro_use]
mod common;
mod counting_alloc;
use common::poller;
use counting_alloc::allocs;

on_every_backend!(wait_allocates_nothing);

fn wait_allocates_nothing(backend: iomux::Backend) {
    let p = poller(backend);
    // 200 level fds, always readable (never drained), through a 16-event
    // buffer: every wait re-arms the polls it reported and leaves the rest
    // in the CQ. Plus 50 edge fds that get new data in each round, and a
    // waker woken each round.
    let mut level = Vec::new();
    for i in 0..200 {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"x").unwrap();
        p.register(&a, Token(i), Interest::READABLE, Mode::Level)
            .unwrap();
        level.push((a, b));
    }
    let mut edge = Vec::new();
    for i in 0..50 {
        let (a, b) = UnixStream::pair().unwrap();
        p.register(&a, Token(1000 + i), Interest::READABLE, Mode::EdgeOrLevel)
            .unwrap();
        edge.push((a, b));
    }
    let waker = Waker::new(&p, Token(9999)).unwrap();
    let mut events = Events::with_capacity(16);
    let round = |events: &mut Events, edge: &mut Vec<(UnixStream, UnixStream)>| {
        for (_, b) in edge.iter_mut() {
            b.write_all(b"y").unwrap();
        }
        waker.wake().unwrap();
        let mut seen = 0;
        for _ in 0..40 {
            seen += p.wait(events, Some(Duration::from_secs(1))).unwrap();
        }
        seen
    };
    // Warm up: internal lists reach their working size.
    for _ in 0..5 {
        round(&mut events, &mut edge);
    }
    let before = allocs();
    let mut seen = 0;
    for _ in 0..20 {
        seen += round(&mut events, &mut edge);
    }
    let made = allocs() - before;
    assert!(
        seen >= 20 * 40,
        "{backend}: the waits delivered too little: {seen}"
    );
    // write_all on a UnixStream and wake() allocate nothing either, so
    // every allocation here would be the poller's.
    assert_eq!(made, 0, "{backend}: {made} allocations in 800 waits");
}
