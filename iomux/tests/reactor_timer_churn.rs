//! Churn cannot grow the timer heap without bound. Timers cancelled long
//! before they are due, and connections closed long before their deadline,
//! leave lazy entries behind; the loop prunes them in bulk, and a prune
//! never loses a live timer or deadline.

#[macro_use]
mod common;

use std::cell::Cell;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use iomux::conn::{Action, Handler};
use iomux::reactor::EventLoop;

/// Stale entries made by each test; unpruned, the heap would hold them all.
const CHURN: usize = 50_000;
/// What "bounded" means here: far below CHURN (the loop promises about
/// twice the live entries plus a constant).
const BOUND: usize = 5_000;
const LIMIT: Duration = Duration::from_secs(10);

/// A connection that wants closing at `at` if nothing happens.
struct Idle {
    at: Instant,
}

impl Handler for Idle {
    fn on_data(&mut self, input: &[u8], _output: &mut Vec<u8>) -> (usize, Action) {
        (input.len(), Action::Continue)
    }
    fn deadline(&self) -> Option<Instant> {
        Some(self.at)
    }
}

/// Runs turns until `done`, failing after LIMIT.
fn turn_until(l: &mut EventLoop, what: &str, mut done: impl FnMut(&EventLoop) -> bool) {
    let end = Instant::now() + LIMIT;
    while !done(l) {
        assert!(Instant::now() < end, "{what}: not within {LIMIT:?}");
        l.turn(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn cancelled_timers_are_pruned_and_live_ones_still_fire() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        cancelled_timers_are_pruned_and_live_ones_still_fire_on(v);
    }
}

fn cancelled_timers_are_pruned_and_live_ones_still_fire_on(v: common::Variant) {
    let mut l = EventLoop::new(v.config()).unwrap();
    let due = Instant::now() + Duration::from_millis(300);
    let fired_at = Rc::new(Cell::new(None));
    let f = Rc::clone(&fired_at);
    l.add_timer(due, move |_| f.set(Some(Instant::now())));
    let far = Instant::now() + Duration::from_secs(3600);
    let kept = l.add_timer(far, |_| panic!("a far timer fired"));

    let mut worst = 0;
    for i in 0..CHURN {
        let id = l.add_timer(far, |_| panic!("a cancelled timer fired"));
        assert!(l.cancel_timer(id));
        if i % 100 == 99 {
            l.turn(Some(Duration::ZERO)).unwrap();
            worst = worst.max(l.pending_timers());
        }
    }
    assert!(
        worst < BOUND,
        "{worst} heap entries for 2 live timers after {CHURN} cancels"
    );

    turn_until(&mut l, "the live timer", |_| fired_at.get().is_some());
    assert!(fired_at.get().unwrap() >= due, "fired early");
    assert!(l.cancel_timer(kept), "the far timer is still live");
}

#[test]
fn closed_connections_are_pruned_and_live_deadlines_still_close() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        closed_connections_are_pruned_and_live_deadlines_still_close_on(v);
    }
}

fn closed_connections_are_pruned_and_live_deadlines_still_close_on(v: common::Variant) {
    let mut l = EventLoop::new(v.config()).unwrap();
    let (mine, _peer) = UnixStream::pair().unwrap();
    let soon = Instant::now() + Duration::from_millis(300);
    let live = l.add_connection(mine, Box::new(Idle { at: soon })).unwrap();

    let far = Instant::now() + Duration::from_secs(3600);
    let mut worst = 0;
    for i in 0..CHURN {
        let (a, _b) = UnixStream::pair().unwrap();
        let id = l.add_connection(a, Box::new(Idle { at: far })).unwrap();
        assert!(l.close(id));
        if i % 100 == 99 {
            l.turn(Some(Duration::ZERO)).unwrap();
            worst = worst.max(l.pending_timers());
        }
    }
    assert!(
        worst < BOUND,
        "{worst} heap entries for 1 live connection after {CHURN} closes"
    );

    turn_until(&mut l, "the live connection's deadline", |l| {
        l.stats().timed_out == 1
    });
    assert!(Instant::now() >= soon, "closed before its deadline");
    assert!(!l.close(live), "closed by its deadline");
    assert_eq!(l.connections(), 0);
}
