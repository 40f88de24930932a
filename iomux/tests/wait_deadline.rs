//! `Poller::wait_deadline`: a wait bounded by an `Instant`.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};
use std::time::{Duration, Instant};

fn deadline_passes_with_nothing_ready(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, _b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(8);
    let deadline = Instant::now() + Duration::from_millis(30);
    let n = p.wait_deadline(&mut events, deadline).unwrap();
    assert_eq!(n, 0, "{backend}: {events:?}");
    assert!(
        Instant::now() >= deadline,
        "{backend}: wait_deadline returned before its deadline"
    );
}
on_every_backend!(deadline_passes_with_nothing_ready);

fn deadline_in_the_past_only_looks(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(8);
    let past = Instant::now()
        .checked_sub(Duration::from_secs(1))
        .unwrap_or_else(Instant::now);
    assert_eq!(p.wait_deadline(&mut events, past).unwrap(), 0, "{backend}");
    send(&b, b"x");
    // Readiness already there is reported even with a past deadline
    // (the same look as a zero timeout).
    let mut got = 0;
    for _ in 0..1000 {
        got = p.wait_deadline(&mut events, past).unwrap();
        if got > 0 {
            break;
        }
    }
    assert_eq!(got, 1, "{backend}: ready fd not reported by a look");
    assert_eq!(events.iter().next().map(|e| e.token()), Some(Token(1)));
}
on_every_backend!(deadline_in_the_past_only_looks);

fn event_before_the_deadline_ends_the_wait(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(3), Interest::READABLE, Mode::Level)
        .unwrap();
    let writer = std::thread::spawn(move || {
        send(&b, b"x");
        b
    });
    let mut events = Events::with_capacity(8);
    let deadline = Instant::now() + MUST;
    let n = p.wait_deadline(&mut events, deadline).unwrap();
    assert_eq!(n, 1, "{backend}: no event before the deadline");
    assert!(Instant::now() < deadline, "{backend}: ran to the deadline");
    assert_eq!(events.iter().next().map(|e| e.token()), Some(Token(3)));
    drop(writer.join().unwrap());
}
on_every_backend!(event_before_the_deadline_ends_the_wait);
