//! A Poller nests in another event loop through its `AsFd`: on epoll the
//! epoll fd, readable exactly when a wait would report something; on the
//! other backends an always-readable fd, so that an outer loop watching it
//! level-triggered looks at the inner poller at every turn and misses
//! nothing. `pollable_fd` gives only a real one.
mod common;
use common::*;
use iomux::{Backend, Events, Interest, Mode, Poller, Token};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// An inner poller watching one end of a socket pair (Token 5), registered
/// level-triggered in an outer poller (Token 1).
fn nested(inner: Backend, outer: Backend) -> (Poller, Poller, UnixStream, UnixStream) {
    let (inner, outer) = (poller(inner), poller(outer));
    let (a, b) = pair();
    inner
        .register(&a, Token(5), Interest::READABLE, Mode::Level)
        .unwrap();
    outer
        .register(&inner, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    (inner, outer, a, b)
}

#[test]
fn epoll_poller_nests_in_every_backend() {
    for outer_backend in BACKENDS {
        let (inner, outer, a, b) = nested(Backend::Epoll, outer_backend);
        let mut events = Events::with_capacity(8);
        assert!(
            wait(&outer, &mut events, MUST_NOT).is_empty(),
            "{outer_backend}: inner poller reported with nothing ready"
        );
        send(&b, b"x");
        let evs = wait(&outer, &mut events, MUST);
        assert_eq!(
            evs.iter().map(|e| e.token()).collect::<Vec<_>>(),
            vec![Token(1)],
            "{outer_backend}: outer did not see the inner poller turn ready"
        );
        let evs = wait(&inner, &mut events, Duration::ZERO);
        assert_eq!(with_token(&evs, Token(5)).len(), 1, "inner: {evs:?}");
        assert_eq!(drain(&a), 1);
        // Drained: the inner poller has nothing, and the outer sees that.
        assert!(
            wait(&outer, &mut events, MUST_NOT).is_empty(),
            "{outer_backend}: inner poller still reported after the drain"
        );
        outer.deregister(&inner).unwrap();
    }
}

#[test]
fn pollable_fd_only_where_the_backend_is_one_fd() {
    for backend in BACKENDS {
        let p = poller(backend);
        assert_eq!(
            p.pollable_fd().is_some(),
            backend.supports_nesting(),
            "{backend}"
        );
    }
    assert!(Backend::Epoll.supports_nesting());
}

#[test]
fn pollers_without_one_fd_nest_as_always_readable() {
    for inner_backend in BACKENDS.into_iter().filter(|b| !b.supports_nesting()) {
        let (inner, outer, _a, b) = nested(inner_backend, Backend::Epoll);
        let mut events = Events::with_capacity(8);
        let mut inner_events = Events::with_capacity(8);
        // Always reported: the outer loop looks at the inner poller each
        // turn, which then says whether anything is there.
        for round in 0..3 {
            let evs = wait(&outer, &mut events, MUST);
            assert_eq!(
                with_token(&evs, Token(1)).len(),
                1,
                "{inner_backend}: {round}"
            );
            assert!(wait(&inner, &mut inner_events, Duration::ZERO).is_empty());
        }
        send(&b, b"x");
        let mut seen = false;
        for _ in 0..100 {
            assert_eq!(
                with_token(&wait(&outer, &mut events, MUST), Token(1)).len(),
                1
            );
            if !with_token(&wait(&inner, &mut inner_events, Duration::ZERO), Token(5)).is_empty() {
                seen = true;
                break;
            }
        }
        assert!(
            seen,
            "{inner_backend}: nested poller never showed its event"
        );
        outer.deregister(&inner).unwrap();
    }
}
