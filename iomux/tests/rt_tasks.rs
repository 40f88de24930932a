//! iomux::rt tasks on every driver: 10,000 at once, join and abort, a panic
//! that does not take the runtime down, wakes and spawns from other threads.

#[macro_use]
mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use iomux::rt::{self, DriverKind, Runtime};

const TASKS: usize = 10_000;

/// Resolves once `open` is set; whoever sets it wakes the parked wakers.
#[derive(Default)]
struct Gate {
    open: bool,
    waiting: Vec<Waker>,
}

fn ten_thousand_tasks(driver: DriverKind) {
    common::bounded(60, "10,000 concurrent tasks", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let gate = Rc::new(std::cell::RefCell::new(Gate::default()));
            let alive = Rc::new(Cell::new(0usize));
            let peak = Rc::new(Cell::new(0usize));
            let handles: Vec<_> = (0..TASKS)
                .map(|i| {
                    let (gate, alive, peak) = (gate.clone(), alive.clone(), peak.clone());
                    rt::spawn_local(async move {
                        alive.set(alive.get() + 1);
                        peak.set(peak.get().max(alive.get()));
                        std::future::poll_fn(|cx| {
                            let mut g = gate.borrow_mut();
                            if g.open {
                                Poll::Ready(())
                            } else {
                                g.waiting.push(cx.waker().clone());
                                Poll::Pending
                            }
                        })
                        .await;
                        rt::time::sleep(Duration::from_micros((i % 7) as u64)).await;
                        alive.set(alive.get() - 1);
                        i * 2
                    })
                })
                .collect();
            // Let every task start and park at the gate.
            while alive.get() < TASKS {
                rt::yield_now().await;
            }
            let waiting = {
                let mut g = gate.borrow_mut();
                g.open = true;
                std::mem::take(&mut g.waiting)
            };
            assert_eq!(waiting.len(), TASKS, "every task parked at the gate");
            waiting.into_iter().for_each(Waker::wake);
            let mut sum = 0;
            for h in handles {
                sum += h.await.expect("task output");
            }
            assert_eq!(sum, (0..TASKS).map(|i| i * 2).sum::<usize>());
            assert_eq!(peak.get(), TASKS, "all tasks were alive at once");
            assert_eq!(alive.get(), 0);
        });
    });
}
on_every_driver!(ten_thousand_tasks);

/// Sets its flag when dropped: tells that an aborted task's future went.
struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn abort_and_panic(driver: DriverKind) {
    common::bounded(30, "abort and panic", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let dropped = Rc::new(Cell::new(false));
            let flag = DropFlag(dropped.clone());
            let forever = rt::spawn_local(async move {
                let _flag = flag;
                std::future::pending::<()>().await;
            });
            rt::yield_now().await;
            assert!(!forever.is_finished());
            forever.abort();
            let err = forever.await.expect_err("an aborted task has no output");
            assert!(err.is_cancelled(), "{err}");
            assert!(dropped.get(), "the aborted task's future was dropped");

            let boom = rt::spawn_local(async {
                rt::yield_now().await;
                panic!("task panics on purpose");
            });
            let survivor = rt::spawn_local(async {
                rt::time::sleep(Duration::from_millis(5)).await;
                42
            });
            let err = boom.await.expect_err("a panicking task has no output");
            assert!(err.is_panic(), "{err}");
            assert!(err.to_string().contains("task panics on purpose"), "{err}");
            assert_eq!(survivor.await.expect("the other task runs on"), 42);

            // A detached task still runs.
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            drop(rt::spawn_local(async move { r.set(true) }));
            rt::yield_now().await;
            rt::yield_now().await;
            assert!(ran.get(), "a detached task ran");
        });
        // The runtime is still usable after the panic.
        assert_eq!(
            rt.block_on(async { rt::spawn(async { 7 }).await.expect("after") }),
            7
        );
    });
}
on_every_driver!(abort_and_panic);

fn wakes_and_spawns_from_other_threads(driver: DriverKind) {
    common::bounded(20, "cross-thread wake", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        let handle = rt.handle();
        let outer = handle.clone();
        rt.block_on(async move {
            // A waker carried to another thread wakes the task here.
            for round in 0..50 {
                let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
                let s = slot.clone();
                let waker_thread = thread::spawn(move || {
                    loop {
                        let mut g = s.lock().unwrap();
                        if let Some(w) = g.1.take() {
                            g.0 = true;
                            drop(g);
                            w.wake();
                            return;
                        }
                        drop(g);
                        thread::yield_now();
                    }
                });
                std::future::poll_fn(|cx| {
                    let mut g = slot.lock().unwrap();
                    if g.0 {
                        Poll::Ready(())
                    } else {
                        g.1 = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
                .await;
                waker_thread
                    .join()
                    .unwrap_or_else(|_| panic!("waker thread, round {round}"));
            }
            // Spawn through the handle from other threads, and await there.
            let spawners: Vec<_> = (0..4)
                .map(|t| {
                    let handle = handle.clone();
                    thread::spawn(move || {
                        let jobs: Vec<_> = (0..100)
                            .map(|i| handle.spawn(async move { t * 1000 + i }))
                            .collect();
                        let rt2 = Runtime::new().expect("a second runtime");
                        rt2.block_on(async {
                            let mut sum = 0;
                            for j in jobs {
                                sum += j.await.expect("job");
                            }
                            sum
                        })
                    })
                })
                .collect();
            // Keep this runtime turning while the other threads wait.
            let mut sums = Vec::new();
            for s in spawners {
                while !s.is_finished() {
                    rt::time::sleep(Duration::from_millis(1)).await;
                }
                sums.push(s.join().expect("spawner thread"));
            }
            for (t, sum) in sums.into_iter().enumerate() {
                assert_eq!(sum, (0..100).map(|i| t * 1000 + i).sum::<usize>());
            }
        });
        // After the runtime is gone, a spawn through its handle is cancelled.
        drop(rt);
        let orphan = outer.spawn(async { 1 });
        let out = Runtime::new().expect("runtime").block_on(orphan);
        assert!(out.expect_err("no runtime to run it").is_cancelled());
    });
}
on_every_driver!(wakes_and_spawns_from_other_threads);

#[test]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| drop(rt::spawn_local(async {}))).expect_err("must panic");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("inside an iomux::rt runtime"), "{msg}");
}

#[test]
fn nested_block_on_panics_instead_of_deadlocking() {
    let rt = Runtime::new().expect("runtime");
    let inner = Runtime::new().expect("inner runtime");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { inner.block_on(async {}) })
    }));
    assert!(r.is_err(), "nested block_on must panic");
    // Both runtimes still work afterwards.
    assert_eq!(rt.block_on(async { 1 }), 1);
    assert_eq!(inner.block_on(async { 2 }), 2);
}
