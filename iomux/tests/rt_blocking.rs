//! `rt::spawn_blocking` and the blocking pool: output, panics, the bound on
//! threads, idle threads exiting, and a runtime's shutdown waiting for the
//! jobs it started (or saying which it left).
//!
//! The pool is one per process: every test here takes `pool_lock`, so that
//! one test's bounds and jobs do not meet another's.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use iomux::rt::{self, DriverKind, Runtime, blocking};

fn pool_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits (bounded) until `cond` holds, looking every few milliseconds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + common::MUST;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {:?}",
            common::MUST
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn output_and_panic(driver: DriverKind) {
    let _pool = pool_lock();
    common::bounded(30, "spawn_blocking output", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let here = std::thread::current().id();
            let (v, thread, name) = rt::spawn_blocking(move || {
                let t = std::thread::current();
                (6 * 7, t.id(), t.name().map(str::to_owned))
            })
            .await
            .expect("the job's output");
            assert_eq!(v, 42);
            assert_ne!(thread, here, "the job ran on the runtime's thread");
            assert_eq!(name.as_deref(), Some("iomux-blocking"));

            let err = rt::spawn_blocking(|| -> u32 { panic!("a blocking job panics") })
                .await
                .expect_err("a panicking job gives an error");
            assert!(err.is_panic(), "{err}");
            assert!(err.to_string().contains("a blocking job panics"), "{err}");

            // The pool goes on after a panic, and a handle awaited on
            // another runtime (any thread) works too.
            let h = rt::spawn_blocking(|| "still here");
            let other = std::thread::spawn(move || {
                Runtime::new()
                    .expect("runtime")
                    .block_on(h)
                    .expect("output")
            });
            assert_eq!(other.join().expect("other thread"), "still here");
        });
    });
}
on_every_driver!(output_and_panic);

#[test]
fn threads_are_bounded() {
    let _pool = pool_lock();
    common::bounded(60, "pool bound", || {
        blocking::set_max_threads(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let release = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (started_tx, started) = mpsc::channel();
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..6 {
                let (running, most, release, started_tx) = (
                    Arc::clone(&running),
                    Arc::clone(&most),
                    Arc::clone(&release),
                    started_tx.clone(),
                );
                handles.push(rt::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    started_tx.send(i).expect("test alive");
                    let (lock, cond) = &*release;
                    let released = cond
                        .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(20), |r| !*r)
                        .unwrap();
                    assert!(*released.0, "job {i}: never released");
                    running.fetch_sub(1, Ordering::SeqCst);
                }));
            }
            for _ in 0..2 {
                started
                    .recv_timeout(common::MUST)
                    .expect("two jobs start on the two threads");
            }
            // Two are blocked on the two threads: the other four wait.
            assert!(
                started.recv_timeout(common::MUST_NOT).is_err(),
                "a third job started beyond the bound of 2 threads"
            );
            let s = blocking::stats();
            assert_eq!(s.queued, 4, "{s:?}");
            assert!(s.threads <= 2, "{s:?}");
            *release.0.lock().unwrap() = true;
            release.1.notify_all();
            for h in handles {
                rt::time::timeout(common::MUST, h)
                    .await
                    .expect("every job ends once released")
                    .expect("job");
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2, "jobs at once");
        blocking::set_max_threads(blocking::DEFAULT_MAX_THREADS);
    });
}

#[test]
fn idle_threads_exit() {
    let _pool = pool_lock();
    common::bounded(60, "idle threads exit", || {
        blocking::set_keep_alive(Duration::from_millis(20));
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let hs: Vec<_> = (0..4).map(|i| rt::spawn_blocking(move || i)).collect();
            for h in hs {
                h.await.expect("job");
            }
        });
        assert!(blocking::stats().threads >= 1);
        eventually("every idle pool thread exits", || {
            blocking::stats().threads == 0
        });
        // And the next job starts a thread again.
        let v = rt
            .block_on(rt::spawn_blocking(|| 7))
            .expect("job after exit");
        assert_eq!(v, 7);
        blocking::set_keep_alive(blocking::DEFAULT_KEEP_ALIVE);
    });
}

/// Sends on drop: a task holding one tells a blocking job that the
/// runtime's shutdown has begun (it drops the tasks first).
struct OnDrop(mpsc::Sender<()>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn shutdown_waits_for_the_pool(driver: DriverKind) {
    let _pool = pool_lock();
    common::bounded(60, "shutdown waits", move || {
        let done = Arc::new(AtomicBool::new(false));
        let rt = Runtime::with_driver(driver).expect("runtime");
        let (tx, rx) = mpsc::channel::<()>();
        let job_done = Arc::clone(&done);
        rt.block_on(async {
            // The job can only finish once the shutdown has begun.
            let _detached = rt::spawn_blocking(move || {
                rx.recv_timeout(Duration::from_secs(20))
                    .expect("the shutdown drops the task");
                // The job's work, which takes a while after the shutdown
                // has begun (not a synchronisation: the shutdown must wait
                // however long it takes).
                std::thread::sleep(Duration::from_millis(200));
                job_done.store(true, Ordering::SeqCst);
            });
            rt::spawn_local(async move {
                let _guard = OnDrop(tx);
                std::future::pending::<()>().await;
            });
            rt::yield_now().await;
        });
        drop(rt);
        assert!(
            done.load(Ordering::SeqCst),
            "the runtime's drop returned before the blocking job it started ended"
        );
    });
}
on_every_driver!(shutdown_waits_for_the_pool);

fn shutdown_says_what_it_left(driver: DriverKind) {
    let _pool = pool_lock();
    common::bounded(60, "shutdown report", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        let (tx, rx) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel::<()>();
        // Started inside the runtime (so that it is the runtime's job),
        // its handle kept for later (in a Vec: not awaited here).
        let mut stuck = rt.block_on(async move {
            vec![rt::spawn_blocking(move || {
                started_tx.send(()).expect("test alive");
                rx.recv_timeout(Duration::from_secs(20)).expect("released");
            })]
        });
        let stuck = stuck.pop().expect("the handle");
        started.recv_timeout(common::MUST).expect("the job starts");
        let left = rt.shutdown_timeout(Duration::from_millis(50));
        assert_eq!(left.jobs.len(), 1, "{left}");
        assert!(
            left.jobs[0].contains("shutdown_says_what_it_left"),
            "the report names the closure: {left}"
        );
        assert!(
            left.to_string().contains("1 blocking job(s) left running"),
            "{left}"
        );
        tx.send(()).expect("the job waits");
        // It runs on, detached, and its handle still gets the output.
        let out = Runtime::new().expect("runtime").block_on(stuck);
        assert!(out.is_ok(), "{out:?}");
    });
}
on_every_driver!(shutdown_says_what_it_left);
