//! Timeouts: never early, sub-millisecond not rounded to zero, Duration::MAX
//! does not overflow.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};
use std::time::{Duration, Instant};

fn assert_waits(backend: iomux::Backend, timeout: Duration) {
    let p = poller(backend);
    let (a, _b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(8);
    for _ in 0..5 {
        let start = Instant::now();
        let n = p.wait(&mut events, Some(timeout)).unwrap();
        let took = start.elapsed();
        assert_eq!(n, 0, "{backend}: nothing is ready");
        assert!(
            took >= timeout,
            "{backend}: {timeout:?} timeout ended early, after {took:?}"
        );
        assert!(
            took < timeout + Duration::from_secs(1),
            "{backend}: {timeout:?} took {took:?}"
        );
    }
}

fn timeout_500us_is_not_rounded_to_zero(backend: iomux::Backend) {
    assert_waits(backend, Duration::from_micros(500));
}
on_every_backend!(timeout_500us_is_not_rounded_to_zero);

fn timeout_50ms(backend: iomux::Backend) {
    assert_waits(backend, Duration::from_millis(50));
}
on_every_backend!(timeout_50ms);

fn zero_and_max_timeouts(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(8);
    let start = Instant::now();
    assert_eq!(
        p.wait(&mut events, Some(Duration::ZERO)).unwrap(),
        0,
        "{backend}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{backend}: zero timeout blocked"
    );
    send(&b, b"x");
    let n = p.wait(&mut events, Some(Duration::MAX)).unwrap();
    assert_eq!(n, 1, "{backend}: Duration::MAX with a ready fd");
}
on_every_backend!(zero_and_max_timeouts);
