//! After deregister nothing arrives under the old token, not even an event
//! that was already pending when deregister was called.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};

fn silent_after_deregister(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    let (c, d) = pair();
    p.register(
        &a,
        Token(1),
        Interest::READABLE | Interest::WRITABLE,
        Mode::Level,
    )
    .unwrap();
    p.register(&c, Token(2), Interest::READABLE, Mode::Level)
        .unwrap();
    send(&b, b"pending");
    p.deregister(&a).unwrap();
    let mut events = Events::with_capacity(16);
    for _ in 0..3 {
        let evs = wait(&p, &mut events, MUST_NOT);
        assert!(
            with_token(&evs, Token(1)).is_empty(),
            "{backend}: event after deregister: {evs:?}"
        );
    }
    // The poller still works for others, and the fd can come back.
    send(&d, b"x");
    let evs = wait(&p, &mut events, MUST);
    assert_eq!(with_token(&evs, Token(2)).len(), 1, "{backend}: {evs:?}");
    p.register(&a, Token(5), Interest::READABLE, Mode::Level)
        .unwrap();
    let evs = wait(&p, &mut events, MUST);
    assert_eq!(
        with_token(&evs, Token(5)).len(),
        1,
        "{backend}: re-registered: {evs:?}"
    );
    assert!(
        with_token(&evs, Token(1)).is_empty(),
        "{backend}: old token: {evs:?}"
    );
}
on_every_backend!(silent_after_deregister);
