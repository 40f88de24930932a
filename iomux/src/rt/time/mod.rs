//! Timers: `sleep`, `timeout`, `interval`, driven by the runtime's loop.
//!
//! A timer never fires early: the loop fires a timer only once the clock
//! has reached its deadline, and a `Sleep` checks the clock itself when
//! polled. Timers with the same deadline fire in the order they were set.
//! The deadlines live in the library's one timer heap
//! ([`crate::time::TimerHeap`]), as the reactor's do.
//!
//! Not for: the reactor's timers (`crate::reactor`, on the same heap) or a
//! wall clock: deadlines are `Instant`s.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::executor::Core;
use crate::slab::{Key, Slab};
use crate::time::TimerHeap;

/// The runtime's timers: the library's one timer heap ([`TimerHeap`],
/// ordered by deadline, then by the order they were set) over a slab of
/// the live timers' wakers. A cancel removes the slab entry at once (the
/// waker goes with it); its heap entry, which then names nothing, is
/// dropped when it reaches the top, or in a bulk prune once the stale
/// entries outnumber the live ones.
#[derive(Default)]
pub(crate) struct Timers {
    heap: TimerHeap<Key>,
    live: Slab<Waker>,
}

impl Timers {
    /// The earliest live deadline (stale entries at the top are dropped on
    /// the way, so the loop never wakes for a cancelled timer).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        loop {
            let first = *self.heap.first()?;
            if self.live.get(first.key).is_some() {
                return Some(first.at);
            }
            self.heap.pop_due(first.at);
        }
    }

    fn insert(&mut self, deadline: Instant, waker: Waker) -> Key {
        let key = self.live.insert(waker);
        self.heap.push(deadline, key);
        key
    }

    fn remove(&mut self, key: Key) {
        if self.live.remove(key).is_some() && self.heap.len() > 2 * self.live.len() + 64 {
            let live = &self.live;
            self.heap.retain(|d| live.get(d.key).is_some());
        }
    }

    /// Moves the wakers of every timer due at `now` into `out`, in order.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<Waker>) {
        while let Some(due) = self.heap.pop_due(now) {
            out.extend(self.live.remove(due.key));
        }
    }
}

/// A future that completes at a deadline; made by [`sleep`] and
/// [`sleep_until`]. `Send + Sync + Unpin`: it can be boxed as hyper's
/// `Sleep`. It must be polled on the thread of the runtime that runs it.
pub struct Sleep {
    deadline: Instant,
    /// The timer's key in the runtime that polled it, and that runtime.
    entry: Option<(Key, u64)>,
}

/// Completes after `duration` (at least: never early).
pub fn sleep(duration: Duration) -> Sleep {
    let deadline = Instant::now()
        .checked_add(duration)
        .unwrap_or_else(far_future);
    sleep_until(deadline)
}

/// Completes once the clock reaches `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        entry: None,
    }
}

/// An instant about thirty years away: "never", as an `Instant`.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl Sleep {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later); the sleep may be polled again
    /// even after it completed.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some((key, runtime)) = self.entry.take()
            && let Some(core) = Core::current()
            && core.id() == runtime
        {
            core.timers.borrow_mut().remove(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let core = Core::expect_current("polling an iomux::rt::time::Sleep");
        let mut timers = core.timers.borrow_mut();
        if let Some((key, runtime)) = self.entry
            && runtime == core.id()
            && let Some(w) = timers.live.get_mut(key)
        {
            if !w.will_wake(cx.waker()) {
                *w = cx.waker().clone();
            }
            return Poll::Pending;
        }
        // Not armed here yet, or fired (spuriously early is impossible: the
        // loop fires at the deadline; this is a wake before the check above
        // saw the clock pass it): arm again.
        let key = timers.insert(self.deadline, cx.waker().clone());
        drop(timers);
        self.entry = Some((key, core.id()));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The error of a [`timeout`] whose time ran out first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// `future`, or [`Elapsed`] if it has not completed after `duration`. The
/// future is polled first, so one that is ready completes even with a zero
/// duration.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        sleep: sleep(duration),
    }
}

/// The future of [`timeout`].
pub struct Timeout<F: Future> {
    future: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ticks every `period`, the first tick at once. A tick that is late by
/// more than a period is not made up for: the next one is a period after
/// the late one (no burst of catch-up ticks after a stall).
pub fn interval(period: Duration) -> Interval {
    assert!(
        period > Duration::ZERO,
        "an interval's period must be positive"
    );
    Interval {
        period,
        sleep: sleep_until(Instant::now()),
    }
}

/// The ticker made by [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// The poll form of [`tick`](Interval::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => {
                let at = self.sleep.deadline();
                let now = Instant::now();
                let mut next = at + self.period;
                if next <= now {
                    next = now + self.period;
                }
                self.sleep.reset(next);
                Poll::Ready(at)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_timer_neither_wakes_the_loop_nor_piles_up() {
        let mut t = Timers::default();
        let now = Instant::now();
        let early = t.insert(now + Duration::from_millis(10), Waker::noop().clone());
        t.insert(now + Duration::from_millis(20), Waker::noop().clone());
        t.remove(early);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(20)));
        // Churn: set and cancel many; the heap keeps at most about twice
        // the live timers (plus a constant) of stale entries.
        for i in 0..10_000u64 {
            let k = t.insert(now + Duration::from_millis(i), Waker::noop().clone());
            t.remove(k);
        }
        assert!(
            t.heap.len() <= 2 * t.live.len() + 65,
            "{} entries",
            t.heap.len()
        );
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(20)));
    }

    #[test]
    fn timers_due_together_all_fire_and_leave_nothing() {
        let mut t = Timers::default();
        let at = Instant::now();
        let wakers: Vec<Waker> = (0..3).map(|_| Waker::noop().clone()).collect();
        let keys: Vec<Key> = wakers.iter().map(|w| t.insert(at, w.clone())).collect();
        let mut out = Vec::new();
        t.expire(at, &mut out);
        assert_eq!(out.len(), 3);
        assert!(keys.iter().all(|k| t.live.get(*k).is_none()));
        assert_eq!(t.next_deadline(), None);
    }
}
