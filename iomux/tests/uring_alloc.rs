//! `Poller::wait` on io_uring allocates nothing: not when it re-arms Level
//! polls, not when multishot Edge polls complete, not when more is ready
//! than `Events` holds, not when a waker fires.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use iomux::{Backend, Events, Interest, Mode, Poller, Token, Waker};

/// Counts allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const
// thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

#[test]
fn wait_allocates_nothing() {
    let p = Poller::with_backend(Backend::IoUring).unwrap();
    // 200 level fds, always readable (never drained), through a 16-event
    // buffer: every wait re-arms the polls it reported and leaves the rest
    // in the CQ. Plus 50 edge fds that get new data in each round, and a
    // waker woken each round.
    let mut level = Vec::new();
    for i in 0..200 {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"x").unwrap();
        p.register(&a, Token(i), Interest::READABLE, Mode::Level)
            .unwrap();
        level.push((a, b));
    }
    let mut edge = Vec::new();
    for i in 0..50 {
        let (a, b) = UnixStream::pair().unwrap();
        p.register(&a, Token(1000 + i), Interest::READABLE, Mode::Edge)
            .unwrap();
        edge.push((a, b));
    }
    let waker = Waker::new(&p, Token(9999)).unwrap();
    let mut events = Events::with_capacity(16);
    let round = |events: &mut Events, edge: &mut Vec<(UnixStream, UnixStream)>| {
        for (_, b) in edge.iter_mut() {
            b.write_all(b"y").unwrap();
        }
        waker.wake().unwrap();
        let mut seen = 0;
        for _ in 0..40 {
            seen += p.wait(events, Some(Duration::from_secs(1))).unwrap();
        }
        seen
    };
    // Warm up: internal lists reach their working size.
    for _ in 0..5 {
        round(&mut events, &mut edge);
    }
    let before = allocs();
    let mut seen = 0;
    for _ in 0..20 {
        seen += round(&mut events, &mut edge);
    }
    let made = allocs() - before;
    assert!(seen >= 20 * 40, "the waits delivered too little: {seen}");
    // write_all on a UnixStream and wake() allocate nothing either, so
    // every allocation here would be the poller's.
    assert_eq!(made, 0, "{made} allocations in 800 waits");
}
