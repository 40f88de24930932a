//! The event loop's own services: one loop per thread, timers that never
//! fire early and can be cancelled, tasks posted from other threads.

#[macro_use]
mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use iomux::reactor::EventLoop;

#[test]
fn one_loop_per_thread() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        one_loop_per_thread_on(v);
    }
}

fn one_loop_per_thread_on(v: common::Variant) {
    let first = EventLoop::new(v.config()).unwrap();
    let second = EventLoop::new(v.config());
    assert_eq!(
        second.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::AlreadyExists)
    );
    drop(first);
    EventLoop::new(v.config()).expect("a new loop once the first is gone");
}

#[test]
fn timers_fire_in_order_never_early_and_cancel() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        timers_fire_in_order_never_early_and_cancel_on(v);
    }
}

fn timers_fire_in_order_never_early_and_cancel_on(v: common::Variant) {
    let mut el = EventLoop::new(v.config()).unwrap();
    let fired: Rc<RefCell<Vec<(u32, Instant)>>> = Rc::default();
    let start = Instant::now();
    let mut due = Vec::new();
    for (i, ms) in [(0u32, 30u64), (1, 5), (2, 60), (3, 15)] {
        let at = start + Duration::from_millis(ms);
        due.push((i, at));
        let f = Rc::clone(&fired);
        el.add_timer(at, move |_| f.borrow_mut().push((i, Instant::now())));
    }
    let cancelled = el.add_timer(start + Duration::from_millis(20), |_| {
        panic!("cancelled timer ran")
    });
    assert!(el.cancel_timer(cancelled));
    assert!(!el.cancel_timer(cancelled));
    let end = Instant::now() + Duration::from_secs(5);
    while fired.borrow().len() < 4 {
        assert!(Instant::now() < end, "timers did not fire");
        el.turn(None).unwrap();
    }
    let fired = fired.borrow();
    let order: Vec<u32> = fired.iter().map(|f| f.0).collect();
    assert_eq!(order, vec![1, 3, 0, 2]);
    for (i, when) in fired.iter() {
        let at = due.iter().find(|d| d.0 == *i).unwrap().1;
        assert!(*when >= at, "timer {i} fired {:?} early", at - *when);
    }
}

#[test]
fn tasks_from_other_threads_wake_the_loop() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        tasks_from_other_threads_wake_the_loop_on(v);
    }
}

fn tasks_from_other_threads_wake_the_loop_on(v: common::Variant) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut el = EventLoop::new(v.config()).unwrap();
    let handle = el.handle();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let poster = std::thread::spawn(move || {
        handle
            .post(move |_| flag.store(true, Ordering::SeqCst))
            .unwrap();
    });
    let start = Instant::now();
    // Without the wake-up each turn would sleep for the full 10 s.
    while !ran.load(Ordering::SeqCst) {
        el.turn(Some(Duration::from_secs(10))).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the post did not wake the loop"
        );
    }
    poster.join().unwrap();
    // run() returns once a posted stop is seen.
    el.handle().stop().unwrap();
    el.run().unwrap();
}
