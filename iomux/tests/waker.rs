//! A Waker woken from another thread ends an untimed wait with its token.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Token, Waker};
use std::sync::mpsc;
use std::thread;

fn waker_from_another_thread(backend: iomux::Backend) {
    let p = poller(backend);
    let waker = Waker::new(&p, Token(usize::MAX)).unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let p = p.clone();
        thread::spawn(move || {
            let mut events = Events::with_capacity(8);
            p.wait(&mut events, None).expect("wait");
            tx.send(events.iter().map(|e| e.token()).collect::<Vec<_>>())
                .unwrap();
        })
    };
    let wakers = thread::spawn(move || {
        waker.wake().unwrap();
        waker
    });
    let tokens = rx
        .recv_timeout(MUST)
        .unwrap_or_else(|_| panic!("{backend}: wake did not end the wait"));
    assert_eq!(tokens, vec![Token(usize::MAX)], "{backend}");
    waiter.join().unwrap();
    let waker = wakers.join().unwrap();
    // Delivered once: the poller reset it.
    let mut events = Events::with_capacity(8);
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: waker repeated"
    );
    waker.wake().unwrap();
    waker.wake().unwrap();
    assert_eq!(
        wait(&p, &mut events, MUST).len(),
        1,
        "{backend}: two wakes, one event expected"
    );
    drop(waker);
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: dropped waker still reports"
    );
}
on_every_backend!(waker_from_another_thread);

#[test]
fn waker_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Waker>();
    check::<iomux::Poller>();
}
