//! Timers: user timers, and the deadlines of connections (header,
//! keep-alive, send, linger), on one heap.
//!
//! Not for: the heap itself (`crate::time::TimerHeap`) or the runtime's
//! timers (`rt::time`).

use std::time::Instant;

use super::{ConnId, EventLoop};
use crate::conn::CloseReason;

/// Stale heap entries tolerated beyond the live ones before a prune.
const PRUNE_SLACK: usize = 1024;

/// What a timer runs.
type TimerCallback = Box<dyn FnOnce(&mut EventLoop)>;

/// Names a timer of one loop, for [`EventLoop::cancel_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    index: u32,
    generation: u32,
}

/// What a heap entry stands for.
#[derive(Clone, Copy, Debug)]
pub(super) enum TimerKey {
    Conn(ConnId),
    User(TimerId),
    Listener(usize),
}

/// A timer added with `add_timer`: its callback until it fires or is
/// cancelled; the generation tells a reused slot from the old timer.
pub(super) struct UserTimer {
    generation: u32,
    callback: Option<TimerCallback>,
}

impl EventLoop {
    /// Calls `callback` on this thread once `at` has passed (never before).
    pub fn add_timer(
        &mut self,
        at: Instant,
        callback: impl FnOnce(&mut EventLoop) + 'static,
    ) -> TimerId {
        let index = match self.free_timers.pop() {
            Some(i) => i,
            None => {
                self.user_timers.push(UserTimer {
                    generation: 0,
                    callback: None,
                });
                (self.user_timers.len() - 1) as u32
            }
        };
        let slot = &mut self.user_timers[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.callback = Some(Box::new(callback));
        let id = TimerId {
            index,
            generation: slot.generation,
        };
        self.timers.push(at, TimerKey::User(id));
        id
    }

    /// Cancels a timer; false if it fired or was cancelled already.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        match self.user_timers.get_mut(id.index as usize) {
            Some(t) if t.generation == id.generation && t.callback.is_some() => {
                t.callback = None;
                self.free_timers.push(id.index);
                true
            }
            _ => false,
        }
    }

    /// Keeps one heap entry per connection, no later than its deadline.
    /// When the deadline moves later (the usual case: each request pushes
    /// the keep-alive deadline out), nothing is done now: the old entry
    /// comes due first, finds the connection's deadline still ahead, and
    /// re-schedules itself there.
    pub(super) fn update_timer(&mut self, id: ConnId) {
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        let Some(at) = conn.deadline() else {
            return;
        };
        if conn.timer_at.is_none_or(|t| at < t) {
            conn.timer_at = Some(at);
            self.timers.push(at, TimerKey::Conn(id));
        }
    }

    pub(super) fn run_timers(&mut self, now: Instant) {
        if self.timers.is_empty() {
            return;
        }
        while let Some(entry) = self.timers.pop_due(now) {
            match entry.key {
                TimerKey::Conn(id) => {
                    let Some(conn) = self.conn_mut(id) else {
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
                            self.timers.push(at, TimerKey::Conn(id));
                        }
                        None => {}
                    }
                }
                TimerKey::User(id) => {
                    let Some(t) = self.user_timers.get_mut(id.index as usize) else {
                        continue;
                    };
                    if t.generation != id.generation {
                        continue;
                    }
                    if let Some(callback) = t.callback.take() {
                        self.free_timers.push(id.index);
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
        self.timers.len()
    }

    /// Drops the stale entries once they outnumber the live ones (plus
    /// slack), so that churn (connections that close, timers cancelled
    /// long before they are due) cannot grow the heap without bound.
    /// Amortised O(1) per entry: a prune of n entries follows at least
    /// n / 2 stale ones.
    pub(super) fn prune_timers(&mut self) {
        let live_users = self.user_timers.len() - self.free_timers.len();
        let live = self.live + live_users + self.listeners.len();
        if self.timers.len() <= 2 * live + PRUNE_SLACK {
            return;
        }
        let (conns, users) = (&self.conns, &self.user_timers);
        self.timers.retain(|e| match e.key {
            TimerKey::Conn(id) => {
                let (index, generation) = id.split();
                conns.get(index).is_some_and(|slot| {
                    slot.generation == generation
                        && slot.conn.as_ref().is_some_and(|c| c.timer_at == Some(e.at))
                })
            }
            TimerKey::User(id) => users
                .get(id.index as usize)
                .is_some_and(|t| t.generation == id.generation && t.callback.is_some()),
            TimerKey::Listener(_) => true,
        });
    }
}
