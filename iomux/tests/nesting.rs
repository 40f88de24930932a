//! A Poller nests in another event loop through `Poller::as_fd`, where the
//! backend is one fd (epoll); the others say they cannot.
mod common;
use common::*;
use iomux::{Backend, Events, Interest, Mode, Token};

#[test]
fn epoll_poller_nests_in_every_backend() {
    for outer_backend in BACKENDS {
        let inner = poller(Backend::Epoll);
        let outer = poller(outer_backend);
        let (a, b) = pair();
        inner
            .register(&a, Token(5), Interest::READABLE, Mode::Level)
            .unwrap();
        let fd = inner.as_fd().expect("epoll has one fd to watch");
        outer
            .register(&fd, Token(1), Interest::READABLE, Mode::Level)
            .unwrap();
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
        let evs = wait(&inner, &mut events, std::time::Duration::ZERO);
        assert_eq!(with_token(&evs, Token(5)).len(), 1, "inner: {evs:?}");
        assert_eq!(drain(&a), 1);
        outer.deregister(&fd).unwrap();
    }
}

#[test]
fn backends_without_one_fd_say_so() {
    for backend in BACKENDS {
        let p = poller(backend);
        assert_eq!(p.as_fd().is_some(), backend.supports_nesting(), "{backend}");
    }
    assert!(Backend::Epoll.supports_nesting());
}
