//! Deadlines for event loops: one timer heap, and one clock reading per
//! loop turn.
//!
//! - [`TimerHeap`]: a 4-ary min-heap of deadlines with lazy cancellation,
//!   for a loop that owns its timers (the reactor; the command's io_uring
//!   server).
//! - [`now`], [`unix_secs`]: the clock, read once per turn by the loop
//!   that turns on this thread, for handlers that stamp every request.
//!
//! What it is not: no futures, no sleeping. The runtime's `sleep`,
//! `timeout` and `interval` are `iomux::rt::time`. It imports neither the
//! reactor nor the runtime (`tests/module_layers.rs`).

mod clock;
mod heap;

pub(crate) use clock::{clear, tick};
pub use clock::{now, unix_secs};
pub use heap::{Deadline, TimerHeap};
