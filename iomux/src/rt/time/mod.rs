//! Timers: `sleep`, `timeout`, `interval`, driven by the runtime's loop.
//!
//! A timer never fires early: the loop fires a timer only once the clock
//! has reached its deadline, and a `Sleep` checks the clock itself when
//! polled. Timers with the same deadline fire in the order they were set.
//!
//! Not for: the reactor's timers (`crate::reactor`, on
//! [`crate::time::TimerHeap`]) or a wall clock: deadlines are `Instant`s.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::executor::Core;

/// The runtime's timers, ordered by deadline, then by the order they were set.
#[derive(Default)]
pub(crate) struct Timers {
    map: BTreeMap<(Instant, u64), Waker>,
    seq: u64,
}

impl Timers {
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.map.keys().next().map(|k| k.0)
    }

    fn insert(&mut self, deadline: Instant, waker: Waker) -> (Instant, u64) {
        self.seq += 1;
        let key = (deadline, self.seq);
        self.map.insert(key, waker);
        key
    }

    fn remove(&mut self, key: (Instant, u64)) {
        self.map.remove(&key);
    }

    /// Moves the wakers of every timer due at `now` into `out`, in order.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<Waker>) {
        while let Some(entry) = self.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
        }
    }
}

/// A future that completes at a deadline; made by [`sleep`] and
/// [`sleep_until`]. `Send + Sync + Unpin`: it can be boxed as hyper's
/// `Sleep`. It must be polled on the thread of the runtime that runs it.
pub struct Sleep {
    deadline: Instant,
    /// The timer's key in the runtime that polled it, and that runtime.
    entry: Option<((Instant, u64), u64)>,
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
            && let Some(w) = timers.map.get_mut(&key)
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
