//! `Limits`: how much one connection may buffer, and for how long.

use std::time::Duration;

/// The per-connection limits a [`Session`](super::Session) keeps to:
/// buffer sizes, back-pressure, and the send and linger timeouts. The
/// reactor's [`Config::limits`](crate::reactor::Config::limits) holds one
/// for all its connections; servers of other I/O models pass theirs to
/// the session calls. `Limits::default()` is the reactor's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Input buffer of a new connection. Small, so that ten thousand idle
    /// connections do not hold ten thousand large buffers; it doubles
    /// whenever a read fills it, up to `read_chunk` of room.
    pub initial_input: usize,
    /// Most bytes asked for per read once the input buffer has grown.
    pub read_chunk: usize,
    /// Unconsumed input above which a connection is closed: the handler
    /// enforces its own limits, this only guards against one that does not.
    pub max_input: usize,
    /// Unsent output at which a connection stops reading (back-pressure);
    /// it reads again once its output has drained. In the reactor, sends
    /// from outside the connection's callbacks are held to it too: at or
    /// past it, [`EventLoop::send`](crate::reactor::EventLoop::send) and
    /// [`LoopHandle::send`](crate::reactor::LoopHandle::send) refuse with
    /// `WouldBlock`
    /// ([`Backpressure::HighWater`](crate::reactor::Backpressure::HighWater))
    /// rather than queue more; below it a send is taken whole, so a
    /// connection holds at most this plus one message (per sending thread).
    pub high_water: usize,
    /// How long unsent output may stay stuck before the connection is closed.
    pub send_timeout: Duration,
    /// After a handler's `Close`, how long the connection keeps reading (and
    /// discarding) so that the peer gets the answer rather than a reset.
    pub linger_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            initial_input: 4 * 1024,
            read_chunk: 64 * 1024,
            max_input: 64 * 1024 * 1024,
            high_water: 1024 * 1024,
            send_timeout: Duration::from_secs(60),
            linger_timeout: Duration::from_secs(5),
        }
    }
}
