//! Level triggering: reported at every wait while the condition holds.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};

fn level_repeats_while_readable(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(16);
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: event before any data"
    );
    send(&b, b"x");
    for round in 0..3 {
        let evs = wait(&p, &mut events, MUST);
        let mine = with_token(&evs, Token(1));
        assert_eq!(
            mine.len(),
            1,
            "{backend}: round {round}: expected one event, got {evs:?}"
        );
        assert!(
            mine[0].is_readable(),
            "{backend}: not readable: {:?}",
            mine[0]
        );
    }
    drain(&a);
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: event after draining"
    );
}
on_every_backend!(level_repeats_while_readable);

fn level_writable_and_read_closed(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(2), Interest::WRITABLE, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(16);
    for _ in 0..2 {
        let evs = wait(&p, &mut events, MUST);
        assert!(
            with_token(&evs, Token(2)).iter().any(|e| e.is_writable()),
            "{backend}: a fresh socket must be writable: {evs:?}"
        );
    }
    p.modify(&a, Token(2), Interest::READABLE, Mode::Level)
        .unwrap();
    drop(b);
    let evs = wait(&p, &mut events, MUST);
    let e = with_token(&evs, Token(2));
    assert_eq!(
        e.len(),
        1,
        "{backend}: peer close must be reported: {evs:?}"
    );
    assert!(
        e[0].is_readable() || e[0].is_read_closed(),
        "{backend}: {:?}",
        e[0]
    );
    if backend.reports_read_closed() {
        assert!(
            e[0].is_read_closed(),
            "{backend}: read_closed expected: {:?}",
            e[0]
        );
    }
}
on_every_backend!(level_writable_and_read_closed);

/// Readiness that ended before the wait: epoll, poll and select check at
/// wait time and report nothing; io_uring (`level_checked_at_wait` false)
/// may report what its completed poll saw, once, and then nothing.
fn level_drained_before_the_wait(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    send(&b, b"x");
    p.register(&a, Token(3), Interest::READABLE, Mode::Level)
        .unwrap();
    drain(&a);
    let mut events = Events::with_capacity(16);
    let first = wait(&p, &mut events, MUST_NOT);
    let allowed = usize::from(!backend.level_checked_at_wait());
    assert!(
        first.len() <= allowed,
        "{backend}: {} event(s) for an fd drained before the wait (allowed {allowed}): {first:?}",
        first.len()
    );
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: a drained fd reported again"
    );
}
on_every_backend!(level_drained_before_the_wait);
