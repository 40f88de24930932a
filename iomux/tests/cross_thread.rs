//! A registration made from another thread during an untimed wait takes
//! effect in that wait.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};
use std::sync::mpsc;
use std::thread;

fn register_during_untimed_wait(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, b) = pair();
    send(&b, b"ready before registration");
    let (started_tx, started_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let p = p.clone();
        thread::spawn(move || {
            let mut events = Events::with_capacity(8);
            started_tx.send(()).unwrap();
            p.wait(&mut events, None).expect("wait");
            tx.send(events.iter().map(|e| e.token()).collect::<Vec<_>>())
                .unwrap();
        })
    };
    started_rx
        .recv_timeout(MUST)
        .expect("waiter thread started");
    // Whether the waiter is already blocked or about to block, the
    // registration must reach it.
    p.register(&a, Token(9), Interest::READABLE, Mode::Level)
        .unwrap();
    let tokens = rx
        .recv_timeout(MUST)
        .unwrap_or_else(|_| panic!("{backend}: the untimed wait never saw the new registration"));
    assert_eq!(tokens, vec![Token(9)], "{backend}");
    waiter.join().unwrap();
}
on_every_backend!(register_during_untimed_wait);

fn modify_during_untimed_wait(backend: iomux::Backend) {
    let p = poller(backend);
    let (a, _b) = pair();
    // Registered for reading (nothing to read); switching to WRITABLE
    // from another thread must wake the wait.
    p.register(&a, Token(4), Interest::READABLE, Mode::Level)
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let waiter = {
        let p = p.clone();
        thread::spawn(move || {
            let mut events = Events::with_capacity(8);
            started_tx.send(()).unwrap();
            p.wait(&mut events, None).expect("wait");
            tx.send(events.iter().collect::<Vec<_>>()).unwrap();
        })
    };
    started_rx
        .recv_timeout(MUST)
        .expect("waiter thread started");
    p.modify(&a, Token(4), Interest::WRITABLE, Mode::Level)
        .unwrap();
    let evs = rx
        .recv_timeout(MUST)
        .unwrap_or_else(|_| panic!("{backend}: the untimed wait never saw the modification"));
    assert!(!evs.is_empty(), "{backend}: the wait returned no event");
    assert!(
        evs.iter().all(|e| e.token() == Token(4) && e.is_writable()),
        "{backend}: {evs:?}"
    );
    waiter.join().unwrap();
}
on_every_backend!(modify_during_untimed_wait);
