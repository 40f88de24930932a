//! An fd closed behind the poller's back: at most one error event for its
//! token (exactly one on poll and select), no spinning, others keep working.
#[macro_use]
mod common;
use common::*;
use iomux::{Backend, Events, Interest, Mode, Token};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

fn closed_fd_yields_one_error_and_is_dropped(backend: iomux::Backend) {
    let _fds = fd_numbers(); // the closed number must stay free
    let p = poller(backend);
    let mut events = Events::with_capacity(16);
    let (a, _b) = pair();
    let (c, d) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    p.register(&c, Token(2), Interest::READABLE, Mode::Level)
        .unwrap();
    // Close the number without reuse: keep the slot empty by closing it
    // after taking it out of the UnixStream.
    let raw = a.into_raw_fd();
    // SAFETY: (test): `raw` came from into_raw_fd just above.
    drop(unsafe { OwnedFd::from_raw_fd(raw) });
    send(&d, b"x");
    let mut errors = 0;
    let mut live = 0;
    for _ in 0..10 {
        let evs = wait(&p, &mut events, MUST_NOT);
        for e in with_token(&evs, Token(1)) {
            assert!(
                e.is_error(),
                "{backend}: a closed fd must only report an error: {e:?}"
            );
            errors += 1;
        }
        live += with_token(&evs, Token(2)).len();
    }
    assert!(
        errors <= 1,
        "{backend}: closed fd reported {errors} times (spinning)"
    );
    if matches!(backend, Backend::Poll | Backend::Select) {
        assert_eq!(errors, 1, "{backend}: the closed fd must be reported once");
    }
    assert!(live >= 1, "{backend}: the live fd stopped working");
}
on_every_backend!(closed_fd_yields_one_error_and_is_dropped);
