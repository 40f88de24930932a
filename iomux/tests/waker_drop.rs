//! A wake is never lost, even when its Waker is dropped at once; several
//! Wakers on one poller each report their own token.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Token, Waker};
use std::thread;

fn waker_dropped_right_after_wake_still_ends_the_wait(backend: iomux::Backend) {
    let p = poller(backend);
    let mut events = Events::with_capacity(8);
    // Even rounds wake and drop before the wait starts; odd ones race
    // with it (the wake may land while the wait sleeps).
    for round in 0..50 {
        let waker = Waker::new(&p, Token(7)).unwrap();
        let other = thread::spawn(move || {
            waker.wake().unwrap();
            drop(waker);
        });
        let mut other = Some(other);
        if round % 2 == 0
            && let Some(t) = other.take()
        {
            // Wake and drop done before the wait starts.
            t.join().unwrap();
        }
        // Bounded: a lost wake fails here instead of hanging.
        let evs = wait(&p, &mut events, MUST);
        assert_eq!(
            with_token(&evs, Token(7)).len(),
            1,
            "{backend}: round {round}: the wake of a dropped waker was lost: {evs:?}"
        );
        if let Some(t) = other.take() {
            t.join().unwrap();
        }
        // Delivered once, and the dropped waker's eventfd is gone.
        let evs = wait(&p, &mut events, std::time::Duration::ZERO);
        assert!(evs.is_empty(), "{backend}: round {round}: {evs:?}");
    }
    let evs = wait(&p, &mut events, MUST_NOT);
    assert!(
        evs.is_empty(),
        "{backend}: a dropped waker reported: {evs:?}"
    );
}
on_every_backend!(waker_dropped_right_after_wake_still_ends_the_wait);

fn waker_dropped_after_wake_ends_an_untimed_wait(backend: iomux::Backend) {
    let p = poller(backend);
    let waker = Waker::new(&p, Token(1)).unwrap();
    waker.wake().unwrap();
    drop(waker);
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let p = p.clone();
        thread::spawn(move || {
            let mut events = Events::with_capacity(8);
            let n = p.wait(&mut events, None).expect("wait");
            tx.send((n, events.iter().map(|e| e.token()).collect::<Vec<_>>()))
                .unwrap();
        })
    };
    let (n, tokens) = rx
        .recv_timeout(MUST)
        .unwrap_or_else(|_| panic!("{backend}: wait(None) slept through a wake"));
    assert_eq!((n, tokens), (1, vec![Token(1)]), "{backend}");
    waiter.join().unwrap();
}
on_every_backend!(waker_dropped_after_wake_ends_an_untimed_wait);

fn a_quiet_waker_dropped_is_gone_at_once(backend: iomux::Backend) {
    let p = poller(backend);
    let waker = Waker::new(&p, Token(1)).unwrap();
    drop(waker);
    let mut events = Events::with_capacity(8);
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: a waker that never woke reported"
    );
    // Its fd number is free and registers like any other.
    let (a, b) = pair();
    p.register(&a, Token(2), iomux::Interest::READABLE, iomux::Mode::Level)
        .unwrap();
    send(&b, b"x");
    let evs = wait(&p, &mut events, MUST);
    assert_eq!(
        evs.iter().map(|e| e.token()).collect::<Vec<_>>(),
        vec![Token(2)],
        "{backend}"
    );
}
on_every_backend!(a_quiet_waker_dropped_is_gone_at_once);

fn several_wakers_report_their_own_tokens(backend: iomux::Backend) {
    let p = poller(backend);
    let wakers: Vec<Waker> = (0..3)
        .map(|i| Waker::new(&p, Token(100 + i)).unwrap())
        .collect();
    let mut events = Events::with_capacity(8);
    wakers[1].wake().unwrap();
    let evs = wait(&p, &mut events, MUST);
    let tokens: Vec<Token> = evs.iter().map(|e| e.token()).collect();
    assert_eq!(tokens, vec![Token(101)], "{backend}: only the woken one");
    for w in &wakers {
        w.wake().unwrap();
    }
    let mut seen: Vec<Token> = wait(&p, &mut events, MUST)
        .iter()
        .map(|e| e.token())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![Token(100), Token(101), Token(102)],
        "{backend}: every woken waker"
    );
    // Dropping one leaves the others working.
    let mut wakers = wakers;
    wakers.remove(0);
    wakers[1].wake().unwrap();
    let tokens: Vec<Token> = wait(&p, &mut events, MUST)
        .iter()
        .map(|e| e.token())
        .collect();
    assert_eq!(tokens, vec![Token(102)], "{backend}");
    assert!(wait(&p, &mut events, MUST_NOT).is_empty(), "{backend}");
}
on_every_backend!(several_wakers_report_their_own_tokens);
