//! `rt::signal`: one signal reaches every runtime that listens (one per
//! driver), `ctrl_c`, the `Stream`, a signal sent to a thread that does not
//! block it (made before any listener) still reaches the listeners and
//! kills nothing, and the signals that cannot be caught are refused.
//!
//! Each test uses a signal of its own, and raises it only once its
//! listener exists (before that its default action would end the process).

#[macro_use]
mod common;

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Barrier, mpsc};
use std::task::Poll;

use iomux::rt::signal::{self, SignalKind};
use iomux::rt::{self, DriverKind, Runtime};

fn raise(kind: SignalKind) {
    rustix::process::kill_process(
        rustix::process::getpid(),
        rustix::process::Signal::from_named_raw(kind.as_raw()).expect("a named signal"),
    )
    .expect("kill");
}

#[test]
fn every_runtime_hears_the_signal() {
    common::bounded(60, "a signal to every runtime", || {
        let ready = Arc::new(Barrier::new(DriverKind::ALL.len() + 1));
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = DriverKind::ALL
            .into_iter()
            .map(|driver| {
                let (ready, tx) = (Arc::clone(&ready), tx.clone());
                std::thread::spawn(move || {
                    let rt = Runtime::with_driver(driver).expect("runtime");
                    let heard = rt.block_on(async {
                        let mut usr1 = signal::signal(SignalKind::user_defined1())?;
                        ready.wait();
                        rt::time::timeout(common::MUST, usr1.recv())
                            .await
                            .map_err(|_| io::Error::other("no SIGUSR1 within MUST"))
                    });
                    tx.send((driver, heard)).expect("test alive");
                })
            })
            .collect();
        ready.wait();
        raise(SignalKind::user_defined1());
        for _ in DriverKind::ALL {
            let (driver, heard) = rx
                .recv_timeout(common::MUST * 2)
                .expect("a runtime answers");
            heard.unwrap_or_else(|e| panic!("{driver}: {e}"));
        }
        for t in threads {
            t.join().expect("runtime thread");
        }
    });
}

fn ctrl_c_resolves(driver: DriverKind) {
    common::bounded(30, "ctrl_c", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            // The listener exists once `ctrl_c` has returned.
            let interrupted = signal::ctrl_c();
            raise(SignalKind::interrupt());
            rt::time::timeout(common::MUST, interrupted)
                .await
                .expect("SIGINT seen within MUST")
                .expect("ctrl_c");
        });
    });
}
on_every_driver!(ctrl_c_resolves);

#[test]
fn a_stream_of_hangups() {
    common::bounded(30, "SIGHUP stream", || {
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut hup = signal::signal(SignalKind::hangup()).expect("listen");
            assert_eq!(hup.kind(), SignalKind::hangup());
            for round in 0..3 {
                raise(SignalKind::hangup());
                let next = poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut hup), cx));
                let item = rt::time::timeout(common::MUST, next)
                    .await
                    .unwrap_or_else(|_| panic!("round {round}: no SIGHUP within MUST"));
                assert_eq!(item, Some(()));
            }
            // Nothing more is pending.
            let more =
                poll_fn(|cx| Poll::Ready(futures_core::Stream::poll_next(Pin::new(&mut hup), cx)))
                    .await;
            assert!(more.is_pending(), "a delivery with no signal");
        });
    });
}

#[test]
fn a_thread_that_does_not_block_it_is_not_killed() {
    common::bounded(30, "thread-directed signal", || {
        // A thread made before the first SIGUSR2 listener, with SIGUSR2
        // unblocked: the signal sent to it must reach the listener.
        let (tid_tx, tid_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let bystander = std::thread::spawn(move || {
            tid_tx.send(rustix::thread::gettid()).expect("test alive");
            done_rx.recv_timeout(common::MUST * 2).ok();
        });
        let tid = tid_rx.recv_timeout(common::MUST).expect("bystander starts");
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut usr2 = signal::signal(SignalKind::user_defined2()).expect("listen");
            // SAFETY: (test) tgkill with plain integers, to a live thread
            // of this process.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_tgkill,
                    libc::getpid(),
                    tid.as_raw_nonzero().get(),
                    libc::SIGUSR2,
                )
            };
            assert_eq!(r, 0, "tgkill: {}", io::Error::last_os_error());
            rt::time::timeout(common::MUST, usr2.recv())
                .await
                .expect("the signal sent to another thread reached the listener");
        });
        done_tx.send(()).expect("bystander alive");
        bystander.join().expect("bystander");
    });
}

#[test]
fn uncatchable_signals_are_refused() {
    for kind in [
        SignalKind::from_raw(libc::SIGKILL),
        SignalKind::from_raw(libc::SIGSTOP),
        SignalKind::from_raw(libc::SIGSEGV),
        SignalKind::from_raw(0),
        SignalKind::from_raw(1000),
    ] {
        let err = signal::signal(kind).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{kind:?}: {err}");
    }
}
