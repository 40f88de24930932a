//! Edge triggering: once per edge on epoll; never fewer events than edges
//! on backends that deliver Edge as level.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};

fn edge_once_per_edge_where_native(backend: iomux::Backend) {
    assert!(
        backend.supports_edge(),
        "{backend} is listed as native edge"
    );
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Edge)
        .unwrap();
    let mut events = Events::with_capacity(16);
    send(&b, b"one");
    let evs = wait(&p, &mut events, MUST);
    assert_eq!(
        with_token(&evs, Token(1)).len(),
        1,
        "{backend}: first edge: {evs:?}"
    );
    // Data is still unread, but there was no new edge.
    let evs = wait(&p, &mut events, MUST_NOT);
    assert!(evs.is_empty(), "{backend}: no new edge, yet {evs:?}");
    send(&b, b"two");
    let evs = wait(&p, &mut events, MUST);
    assert_eq!(
        with_token(&evs, Token(1)).len(),
        1,
        "{backend}: second edge: {evs:?}"
    );
    assert_eq!(drain(&a), 6);
}
on_backends!(edge_once_per_edge_where_native: epoll = Epoll, io_uring = IoUring);

fn edge_never_loses_a_wakeup(backend: iomux::Backend) {
    // The contract for a caller that reads until EAGAIN, on every backend.
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Edge)
        .unwrap();
    let mut events = Events::with_capacity(16);
    for round in 0..20 {
        send(&b, &[round as u8; 100]);
        let evs = wait(&p, &mut events, MUST);
        let mine = with_token(&evs, Token(1));
        assert_eq!(
            mine.len(),
            1,
            "{backend}: round {round}: lost wake-up: {evs:?}"
        );
        assert_eq!(drain(&a), 100, "{backend}: round {round}");
    }
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: event with nothing to read"
    );
}
on_every_backend!(edge_never_loses_a_wakeup);

fn edge_capability_matches_behaviour(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Edge)
        .unwrap();
    let mut events = Events::with_capacity(16);
    send(&b, b"x");
    assert_eq!(wait(&p, &mut events, MUST).len(), 1, "{backend}");
    let again = wait(&p, &mut events, MUST_NOT).len();
    if backend.supports_edge() {
        assert_eq!(
            again, 0,
            "{backend} claims native edges but repeated the event"
        );
    } else {
        assert_eq!(
            again, 1,
            "{backend} claims level delivery of Edge but did not repeat"
        );
    }
}
on_every_backend!(edge_capability_matches_behaviour);
