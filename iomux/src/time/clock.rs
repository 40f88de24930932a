//! A clock read once per loop turn, for handlers.
//!
//! A handler that stamps every request (deadlines, the HTTP Date header)
//! would read the clock once or twice per request; the loop reads it once
//! per turn instead and handlers on its thread use that reading. On a
//! thread without an event loop the functions read the real clock.
//!
//! The cached instant is never later than the real one, so a deadline
//! computed from it can only come sooner by the length of one turn, and
//! the loop's timers themselves still compare with the real clock.
//!
//! Not for: deadlines that must not be late by a turn (read
//! `Instant::now()`); the cached reading lags by at most one turn.

use std::cell::Cell;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

thread_local! {
    static TURN: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
}

fn unix_secs_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The current instant: the loop's reading for this turn, or the real
/// clock on a thread without a loop.
pub fn now() -> Instant {
    TURN.with(|t| t.get())
        .map_or_else(Instant::now, |(at, _)| at)
}

/// Seconds since the Unix epoch, read with [`now`].
pub fn unix_secs() -> u64 {
    TURN.with(|t| t.get())
        .map_or_else(unix_secs_now, |(_, secs)| secs)
}

/// Takes this turn's reading. Called by the loop after each wait.
pub(crate) fn tick() -> Instant {
    let at = Instant::now();
    TURN.with(|t| t.set(Some((at, unix_secs_now()))));
    at
}

/// Forgets the reading when the thread's loop goes away.
pub(crate) fn clear() {
    TURN.with(|t| t.set(None));
}
