//! A signal during a wait: EINTR is retried with the time left, never
//! returned, and the timeout is not cut short.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

static HITS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    HITS.fetch_add(1, Ordering::Relaxed);
}

fn install_handler() {
    // SAFETY: (test): a plain handler that only touches an atomic; no
    // SA_RESTART, so blocking calls fail with EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

fn signals_during_wait_are_retried(backend: iomux::Backend) {
    install_handler();
    const TIMEOUT: Duration = Duration::from_millis(300);
    let p = poller(backend);
    let (a, _b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    let before = HITS.load(Ordering::Relaxed);
    let waiter = thread::spawn(move || {
        // SAFETY: (test): pthread_self has no preconditions.
        tid_tx
            .send(unsafe { libc::pthread_self() } as usize)
            .unwrap();
        let mut events = Events::with_capacity(8);
        let start = Instant::now();
        let r = p.wait(&mut events, Some(TIMEOUT));
        (r.map_err(|e| e.to_string()), start.elapsed())
    });
    let tid = tid_rx.recv_timeout(MUST).expect("waiter started") as libc::pthread_t;
    // Keep interrupting until the waiter is done: a stimulus, not a sync.
    let deadline = Instant::now() + MUST;
    while !waiter.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{backend}: wait never returned under signals"
        );
        // SAFETY: (test): the thread is alive until is_finished() is true.
        unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
        thread::sleep(Duration::from_millis(5));
    }
    let (r, took) = waiter.join().unwrap();
    assert_eq!(r, Ok(0), "{backend}: EINTR must not be returned");
    assert!(
        took >= TIMEOUT,
        "{backend}: signals cut the timeout short: {took:?}"
    );
    assert!(
        HITS.load(Ordering::Relaxed) > before + 5,
        "{backend}: signals were not delivered"
    );
}
on_every_backend!(signals_during_wait_are_retried);
