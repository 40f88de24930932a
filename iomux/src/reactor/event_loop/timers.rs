//! Timers: user timers, and the deadlines of connections (header,
//! keep-alive, send, linger), on one heap.
//!
//! Not for: the heap itself (`crate::time::TimerHeap`) or the runtime's
//! timers (`rt::time`).

use std::time::Instant;

use super::{ConnId, EventLoop, lookup, token};
use crate::conn::CloseReason;
use crate::reactor::connection::Connection;
use crate::slab::{Key, Slab};
use crate::time::TimerHeap;

/// Stale heap entries tolerated beyond the live ones before a prune.
const PRUNE_SLACK: usize = 1024;

/// What a timer runs.
type TimerCallback = Box<dyn FnOnce(&mut EventLoop)>;

/// Names a timer of one loop, for [`EventLoop::cancel_timer`]: its slab
/// key, so that a fired or cancelled timer's id never names a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(Key);

/// What a heap entry stands for.
#[derive(Clone, Copy, Debug)]
pub(super) enum TimerKey {
    Conn(ConnId),
    User(TimerId),
    Listener(usize),
}

/// The loop's timers: one heap of deadlines, and the callbacks of the
/// timers added with `add_timer` until they fire or are cancelled.
#[derive(Default)]
pub(super) struct Timers {
    pub(super) heap: TimerHeap<TimerKey>,
    user: Slab<TimerCallback>,
}

impl Timers {
    /// Keeps one heap entry per connection, no later than its deadline.
    /// When the deadline moves later (the usual case: each request pushes
    /// the keep-alive deadline out), nothing is done now: the old entry
    /// comes due first, finds the connection's deadline still ahead, and
    /// re-schedules itself there.
    pub(super) fn schedule(&mut self, id: ConnId, conn: &mut Connection) {
        let Some(at) = conn.deadline() else {
            return;
        };
        if conn.timer_at.is_none_or(|t| at < t) {
            conn.timer_at = Some(at);
            self.heap.push(at, TimerKey::Conn(id));
        }
    }
}

impl EventLoop {
    /// Calls `callback` on this thread once `at` has passed (never before).
    pub fn add_timer(
        &mut self,
        at: Instant,
        callback: impl FnOnce(&mut EventLoop) + 'static,
    ) -> TimerId {
        let id = TimerId(self.timers.user.insert(Box::new(callback)));
        self.timers.heap.push(at, TimerKey::User(id));
        id
    }

    /// Cancels a timer; false if it fired or was cancelled already.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.timers.user.remove(id.0).is_some()
    }

    /// Brings connection `id`'s heap entry up to date with its deadline.
    pub(super) fn update_timer(&mut self, id: ConnId) {
        if let Some(conn) = lookup(&mut self.conns, self.shared.id, id) {
            self.timers.schedule(id, conn);
        }
    }

    pub(super) fn run_timers(&mut self, now: Instant) {
        if self.timers.heap.is_empty() {
            return;
        }
        while let Some(entry) = self.timers.heap.pop_due(now) {
            match entry.key {
                TimerKey::Conn(id) => {
                    let Some(conn) = lookup(&mut self.conns, self.shared.id, id) else {
                        continue;
                    };
                    if conn.timer_at != Some(entry.at) {
                        continue; // superseded by an earlier entry
                    }
                    conn.timer_at = None;
                    match conn.deadline() {
                        Some(at) if at <= now => {
                            self.stats.timed_out += 1;
                            self.close_with(id, CloseReason::TimedOut);
                        }
                        Some(at) => {
                            conn.timer_at = Some(at);
                            self.timers.heap.push(at, TimerKey::Conn(id));
                        }
                        None => {}
                    }
                }
                TimerKey::User(id) => {
                    if let Some(callback) = self.timers.user.remove(id.0) {
                        callback(self);
                    }
                }
                TimerKey::Listener(i) => self.listen_again(i),
            }
        }
    }

    /// Entries in the timer heap: live timers and deadlines, plus entries
    /// left behind by cancelled timers, closed connections and deadlines
    /// that moved. The loop prunes those in bulk, so this stays below
    /// twice the live entries plus a constant.
    pub fn pending_timers(&self) -> usize {
        self.timers.heap.len()
    }

    /// Drops the stale entries once they outnumber the live ones (plus
    /// slack), so that churn (connections that close, timers cancelled
    /// long before they are due) cannot grow the heap without bound.
    /// Amortised O(1) per entry: a prune of n entries follows at least
    /// n / 2 stale ones.
    pub(super) fn prune_timers(&mut self) {
        let Timers { heap, user } = &mut self.timers;
        let live = self.conns.len() + user.len() + self.listeners.len();
        if heap.len() <= 2 * live + PRUNE_SLACK {
            return;
        }
        let conns = &self.conns;
        heap.retain(|e| match e.key {
            TimerKey::Conn(id) => conns
                .get(token::conn_key(id))
                .is_some_and(|c| c.timer_at == Some(e.at)),
            TimerKey::User(id) => user.get(id.0).is_some(),
            TimerKey::Listener(_) => true,
        });
    }
}
