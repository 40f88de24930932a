//! Misuse gives the documented error kinds, with the errno (EEXIST, ENOENT)
//! on every backend; OS errors keep their code.
#[macro_use]
mod common;
use common::*;
use iomux::{Backend, Interest, Mode, Token};
use std::io::ErrorKind;

fn misuse_errors(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let e = p
        .register(&a, Token(2), Interest::READABLE, Mode::Level)
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::AlreadyExists,
        "{backend}: double register: {e}"
    );
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "{backend}: {e}");
    let e = p
        .modify(&b, Token(2), Interest::READABLE, Mode::Level)
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::NotFound,
        "{backend}: modify unknown: {e}"
    );
    assert_eq!(
        e.raw_os_error(),
        Some(libc::ENOENT),
        "{backend}: modify unknown: {e}"
    );
    let e = p.deregister(&b).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::NotFound,
        "{backend}: deregister unknown: {e}"
    );
    assert_eq!(
        e.raw_os_error(),
        Some(libc::ENOENT),
        "{backend}: deregister unknown: {e}"
    );
    p.deregister(&a).unwrap();
    let e = p.deregister(&a).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::NotFound,
        "{backend}: deregister twice: {e}"
    );
    assert_eq!(
        e.raw_os_error(),
        Some(libc::ENOENT),
        "{backend}: deregister twice: {e}"
    );
    let e = p
        .register_exclusive(&a, Token(1), Interest::READABLE, Mode::Oneshot)
        .unwrap_err();
    let want = if backend.supports_exclusive() {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Unsupported
    };
    assert_eq!(e.kind(), want, "{backend}: exclusive + oneshot: {e}");
}
on_every_backend!(misuse_errors);

#[test]
fn os_errors_keep_their_code() {
    // epoll refuses regular files with EPERM.
    let p = poller(Backend::Epoll);
    let f = std::fs::File::open("/proc/self/status")
        .or_else(|_| std::fs::File::open("Cargo.toml"))
        .unwrap();
    let e = p
        .register(&f, Token(1), Interest::READABLE, Mode::Level)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
}

#[test]
fn exclusive_registration_on_epoll() {
    let p1 = poller(Backend::Epoll);
    let p2 = poller(Backend::Epoll);
    let (a, b) = pair();
    p1.register_exclusive(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    p2.register_exclusive(&a, Token(2), Interest::READABLE, Mode::Level)
        .unwrap();
    // modify keeps working (DEL + ADD under the hood).
    p1.modify(&a, Token(3), Interest::READABLE, Mode::Edge)
        .unwrap();
    send(&b, b"x");
    let mut events = iomux::Events::with_capacity(4);
    let evs = wait(&p1, &mut events, MUST);
    assert_eq!(with_token(&evs, Token(3)).len(), 1, "{evs:?}");
}
