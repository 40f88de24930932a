//! `Limits`: how much one connection may buffer, and for how long.
//!
//! Not for: a protocol's limits (header sizes, request counts: the
//! handler's own); these bound buffers and time only.

use std::time::Duration;

/// The per-connection limits a [`Session`](super::Session) keeps to:
/// buffer sizes, back-pressure, and the send and linger timeouts. The
/// reactor's [`Config::limits`](crate::reactor::Config::limits) holds one
/// for all its connections; servers of other I/O models pass theirs to
/// the session calls. `Limits::default()` is the reactor's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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

/// Builder-style setters: the struct is `#[non_exhaustive]` (it will grow),
/// so outside the crate it is made from [`Default`] and these, e.g.
/// `Limits::default().with_initial_input(…)`. The fields stay public to read
/// and assign.
impl Limits {
    /// This with [`initial_input`](Self::initial_input) set to `initial_input`.
    #[must_use]
    pub fn with_initial_input(mut self, initial_input: usize) -> Self {
        self.initial_input = initial_input;
        self
    }

    /// This with [`read_chunk`](Self::read_chunk) set to `read_chunk`.
    #[must_use]
    pub fn with_read_chunk(mut self, read_chunk: usize) -> Self {
        self.read_chunk = read_chunk;
        self
    }

    /// This with [`max_input`](Self::max_input) set to `max_input`.
    #[must_use]
    pub fn with_max_input(mut self, max_input: usize) -> Self {
        self.max_input = max_input;
        self
    }

    /// This with [`high_water`](Self::high_water) set to `high_water`.
    #[must_use]
    pub fn with_high_water(mut self, high_water: usize) -> Self {
        self.high_water = high_water;
        self
    }

    /// This with [`send_timeout`](Self::send_timeout) set to `send_timeout`.
    #[must_use]
    pub fn with_send_timeout(mut self, send_timeout: Duration) -> Self {
        self.send_timeout = send_timeout;
        self
    }

    /// This with [`linger_timeout`](Self::linger_timeout) set to `linger_timeout`.
    #[must_use]
    pub fn with_linger_timeout(mut self, linger_timeout: Duration) -> Self {
        self.linger_timeout = linger_timeout;
        self
    }
}
