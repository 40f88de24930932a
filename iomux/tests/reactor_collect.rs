//! `Config::collect_interval` (libev's io_collect_interval): waits are at
//! least the interval apart, yet timers and queued work are not held back.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Echo;
use iomux::reactor::EventLoop;

const INTERVAL: Duration = Duration::from_millis(100);
/// Far longer than any test here may take: a sleep of this length is a bug.
const LONG: Duration = Duration::from_secs(10);

fn collecting(v: common::Variant, interval: Duration) -> EventLoop {
    EventLoop::new(v.config().with_collect_interval(interval)).unwrap()
}

#[test]
fn waits_are_spaced_by_the_interval() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        waits_are_spaced_by_the_interval_on(v);
    }
}

fn waits_are_spaced_by_the_interval_on(v: common::Variant) {
    const ROUNDS: u32 = 5;
    let mut el = collecting(v, INTERVAL);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    el.add_connection(server_side, Box::new(Echo)).unwrap();
    let handle = el.handle();
    let pinger = std::thread::spawn(move || {
        client.set_read_timeout(Some(LONG)).unwrap();
        for round in 0..ROUNDS {
            let byte = [b'a' + round as u8];
            client.write_all(&byte).unwrap();
            let mut back = [0u8];
            client
                .read_exact(&mut back)
                .unwrap_or_else(|e| panic!("round {round}: no echo within {LONG:?}: {e}"));
            assert_eq!(back, byte, "round {round}: wrong byte echoed");
        }
        handle.stop().unwrap();
    });
    let start = Instant::now();
    let turns_before = el.stats().turns;
    el.run().unwrap();
    let took = start.elapsed();
    pinger.join().expect("the client saw every echo");
    // Each round trip needs a wait of its own, and every wait after the
    // first comes at least an interval after the one before.
    let floor = INTERVAL * (ROUNDS - 1);
    assert!(
        took >= floor,
        "{ROUNDS} round trips took {took:?}: waits were not spaced by {INTERVAL:?}"
    );
    let turns = el.stats().turns - turns_before;
    let most = (took.as_millis() / INTERVAL.as_millis()) as u64 + 2;
    assert!(
        turns <= most,
        "{turns} turns in {took:?}: more than one wait per {INTERVAL:?}"
    );
}

#[test]
fn timers_are_not_held_back() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        timers_are_not_held_back_on(v);
    }
}

fn timers_are_not_held_back_on(v: common::Variant) {
    let mut el = collecting(v, LONG);
    // A first wait, so that the next turn has an interval to sleep off.
    el.turn(Some(Duration::ZERO)).unwrap();
    let start = Instant::now();
    let due = start + Duration::from_millis(50);
    let fired = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&fired);
    el.add_timer(due, move |lp| {
        flag.store(true, Ordering::SeqCst);
        lp.stop();
    });
    while !fired.load(Ordering::SeqCst) {
        el.turn(None).unwrap();
        assert!(
            start.elapsed() < LONG / 2,
            "the timer waited for the collect interval"
        );
    }
    assert!(Instant::now() >= due, "the timer fired early");
}

#[test]
fn queued_work_does_not_sleep() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        queued_work_does_not_sleep_on(v);
    }
}

fn queued_work_does_not_sleep_on(v: common::Variant) {
    let mut el = collecting(v, LONG);
    el.turn(Some(Duration::ZERO)).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    el.handle()
        .post(move |_| flag.store(true, Ordering::SeqCst))
        .unwrap();
    let start = Instant::now();
    el.turn(None).unwrap();
    assert!(ran.load(Ordering::SeqCst), "the posted task did not run");
    assert!(
        start.elapsed() < LONG / 2,
        "a turn with a task waiting slept for the collect interval ({:?})",
        start.elapsed()
    );
}
