//! `Registered<T>`: a registration that owns its source and deregisters it
//! on drop, before the fd closes.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Registered, Token};
use std::io::{ErrorKind, Read};
use std::time::Duration;

fn guard_reports_and_gives_access_to_the_source(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    let reg = p
        .register_owned(a, Token(4), Interest::READABLE, Mode::Level)
        .unwrap();
    send(&b, b"hi");
    let mut events = Events::with_capacity(8);
    let evs = wait(&p, &mut events, MUST);
    assert_eq!(with_token(&evs, Token(4)).len(), 1, "{backend}: {evs:?}");
    let mut buf = [0u8; 8];
    assert_eq!((&*reg).read(&mut buf).unwrap(), 2, "{backend}");
    reg.modify(Token(9), Interest::READABLE, Mode::Level)
        .unwrap();
    send(&b, b"x");
    let evs = wait(&p, &mut events, MUST);
    assert_eq!(with_token(&evs, Token(9)).len(), 1, "{backend}: {evs:?}");
    assert_eq!(drain(reg.get()), 1);
    // The guard holds the registration: registering the fd again fails.
    let e = p
        .register(&*reg, Token(1), Interest::READABLE, Mode::Level)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{backend}");
}
on_every_backend!(guard_reports_and_gives_access_to_the_source);

fn dropping_the_guard_deregisters_then_closes(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    let reg = Registered::new(&p, a, Token(4), Interest::READABLE, Mode::Level).unwrap();
    drop(reg);
    // Closed for real (no registration pins the file): the peer sees EOF.
    assert!(peer_sees_close(&b), "{backend}: peer did not see the close");
    // Nothing registered is left behind for that token or fd number.
    let mut events = Events::with_capacity(8);
    assert!(wait(&p, &mut events, MUST_NOT).is_empty(), "{backend}");
    assert!(p.purge_closed().is_empty(), "{backend}");
}
on_every_backend!(dropping_the_guard_deregisters_then_closes);

fn into_inner_deregisters_and_returns_the_source(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    let reg = p
        .register_owned(a, Token(4), Interest::READABLE, Mode::Level)
        .unwrap();
    let a = reg.into_inner();
    send(&b, b"x");
    let mut events = Events::with_capacity(8);
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: reported after into_inner"
    );
    // Free to register again, as any fd.
    p.register(&a, Token(6), Interest::READABLE, Mode::Level)
        .unwrap();
    let evs = wait(&p, &mut events, Duration::from_secs(5));
    assert_eq!(with_token(&evs, Token(6)).len(), 1, "{backend}: {evs:?}");
    p.deregister(&a).unwrap();
}
on_every_backend!(into_inner_deregisters_and_returns_the_source);
