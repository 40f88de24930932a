//! The service interface: one handler per connection.
//!
//! Two levels. The common case is bytes in, bytes out: implement
//! [`Handler::on_data`] (and perhaps `on_read_closed`, `deadline`,
//! `on_drained`) and the connection does the rest. A handler that needs
//! more — to speak first, to push to other connections, to arm timers, to
//! learn why its connection ended — overrides the callbacks that take a
//! [`Context`]; their defaults call the simple ones.
//!
//! Not for: I/O or buffering (the [`Session`](super::Session) and its
//! driver do both); a handler sees bytes and a [`Context`], never a socket.

use std::sync::Arc;
use std::time::Instant;

use super::context::Context;

/// What a connection does after its handler has consumed input.
///
/// Non-exhaustive: handlers return it and the drivers act on it, so an
/// action may be added (to pause reading, say) without breaking them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Keep the connection open.
    Continue,
    /// Send what is in the output buffer, then close (a lingering close, so
    /// that the last answer reaches the peer).
    Close,
}

/// Why a connection ended, as told to [`Handler::on_close`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its side (EOF), and whatever was owed it was sent.
    PeerClosed,
    /// The peer reset the connection (ECONNRESET, or EPIPE on a send).
    Reset,
    /// A deadline passed: the handler's, the send timeout or the linger
    /// timeout.
    TimedOut,
    /// A socket error other than a reset; the errno.
    Error(i32),
    /// This side closed it: the handler's [`Action::Close`] or
    /// [`Context::close`] once the output was out, or
    /// [`EventLoop::close`](crate::reactor::EventLoop::close).
    Closed,
    /// The loop stopped with the connection still open.
    Shutdown,
}

impl CloseReason {
    /// The reason a failed socket call with `errno` means.
    pub fn from_errno(errno: i32) -> CloseReason {
        match errno {
            libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED => CloseReason::Reset,
            libc::ETIMEDOUT => CloseReason::TimedOut,
            e => CloseReason::Error(e),
        }
    }
}

/// Makes a handler for each accepted connection (on the thread that will
/// serve it).
pub type HandlerFactory = Arc<dyn Fn() -> Box<dyn Handler> + Send + Sync>;

/// A protocol, per connection. The same handlers serve every I/O model, so
/// the models differ only in how bytes reach them.
///
/// Every method has a default, so a handler implements only what it
/// needs; most implement just [`on_data`](Self::on_data).
pub trait Handler: Send + 'static {
    /// The connection is open and registered; nothing has been read yet.
    /// A server that speaks first (a greeting, a banner) sends here with
    /// [`Context::send`]. The default does nothing.
    fn on_open(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// New input arrived. `input` holds every byte not consumed so far;
    /// return how many of them were consumed (the rest is offered again
    /// with more data). The default calls [`on_data`](Self::on_data) with
    /// the connection's output buffer and closes on [`Action::Close`].
    fn on_message(&mut self, cx: &mut Context<'_>, input: &[u8]) -> usize {
        let (used, action) = self.on_data(input, cx.output());
        if action == Action::Close {
            cx.close();
        }
        used
    }

    /// Bytes in, bytes out: consumes bytes from the front of `input` and
    /// appends replies to `output`. Returns how many bytes of `input` were
    /// consumed and what to do next. The default consumes and drops
    /// everything.
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
        let _ = output;
        (input.len(), Action::Continue)
    }

    /// The peer closed its sending side; `input` holds what was not
    /// consumed. Whatever is sent now still goes out before the connection
    /// closes. The default calls [`on_read_closed`](Self::on_read_closed).
    fn on_peer_closed(&mut self, cx: &mut Context<'_>, input: &[u8]) {
        let _ = self.on_read_closed(input, cx.output());
    }

    /// The simple form of [`on_peer_closed`](Self::on_peer_closed). Nothing
    /// more will arrive, so the connection closes once its output is sent,
    /// whatever is returned.
    fn on_read_closed(&mut self, input: &[u8], output: &mut Vec<u8>) -> Action {
        let _ = (input, output);
        Action::Close
    }

    /// Output that had to wait for the peer (a short write) is now all
    /// sent. A proxy resumes reading the other side here. The default calls
    /// [`on_drained`](Self::on_drained).
    fn on_write_complete(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
        self.on_drained();
    }

    /// The simple form of [`on_write_complete`](Self::on_write_complete).
    /// Lets a handler start its idle clock when its answer has really
    /// left, as nginx's keep-alive timeout does. Not called when answers
    /// leave at once. The default does nothing.
    fn on_drained(&mut self) {}

    /// A timer armed with [`Context::set_timer`] came due; `key` is the one
    /// given there. The default does nothing.
    fn on_timer(&mut self, cx: &mut Context<'_>, key: u64) {
        let _ = (cx, key);
    }

    /// When the connection should be closed if nothing more happens (the
    /// header timeout in the middle of a request head, the keep-alive
    /// timeout between requests). `None`: no deadline.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The connection is closed (its socket is gone), and why. Called
    /// exactly once per opened connection, except after the handler
    /// panicked. The default does nothing.
    fn on_close(&mut self, reason: CloseReason) {
        let _ = reason;
    }
}
