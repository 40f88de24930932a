//! Edge triggering: once per edge where native (epoll, io_uring);
//! `Unsupported` elsewhere unless the caller asks for the level fallback
//! (`Mode::EdgeOrLevel`), which never gives fewer events than edges.
#[macro_use]
mod common;
use common::*;
use std::io::ErrorKind;

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
    p.register(&a, Token(1), Interest::READABLE, Mode::EdgeOrLevel)
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
    p.register(&a, Token(1), Interest::READABLE, Mode::EdgeOrLevel)
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
            "{backend} claims level delivery of EdgeOrLevel but did not repeat"
        );
    }
}
on_every_backend!(edge_capability_matches_behaviour);

fn edge_without_native_edges_is_unsupported(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, _b) = pair();
    for mode in [Mode::Edge, Mode::EdgeOneshot] {
        let r = p.register(&a, Token(1), Interest::READABLE, mode);
        if backend.supports_edge() {
            r.unwrap_or_else(|e| panic!("{backend} {mode:?}: {e}"));
            p.deregister(&a).unwrap();
        } else {
            let e = r.expect_err(&format!("{backend} accepted {mode:?}"));
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{backend} {mode:?}: {e}");
            assert!(e.to_string().contains("EdgeOrLevel"), "{backend}: {e}");
        }
    }
    // A refused registration left nothing behind: the fd registers anew,
    // and modify refuses a native edge the same way.
    p.register(&a, Token(2), Interest::READABLE, Mode::Level)
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
    let r = p.modify(&a, Token(2), Interest::READABLE, Mode::Edge);
    assert_eq!(
        r.err().map(|e| e.kind()),
        (!backend.supports_edge()).then_some(ErrorKind::Unsupported),
        "{backend}: modify to Edge"
    );
    p.modify(&a, Token(2), Interest::READABLE, Mode::EdgeOrLevel)
        .unwrap_or_else(|e| panic!("{backend}: modify to EdgeOrLevel: {e}"));
}
on_every_backend!(edge_without_native_edges_is_unsupported);

fn effective_mode_names_the_fallback(backend: iomux::Backend) {
    let fallback = backend.effective_mode(Mode::EdgeOrLevel).unwrap();
    let expected = if backend.supports_edge() {
        Mode::Edge
    } else {
        Mode::Level
    };
    assert_eq!(fallback, expected, "{backend}");
    for mode in [Mode::Level, Mode::Oneshot] {
        assert_eq!(backend.effective_mode(mode).unwrap(), mode, "{backend}");
    }
    assert_eq!(
        backend.effective_mode(Mode::Edge).is_ok(),
        backend.supports_edge(),
        "{backend}"
    );
}
on_every_backend!(effective_mode_names_the_fallback);
