//! `Context`: what a handler can do from inside one of its callbacks.
//!
//! The context is the driver's, seen through [`Host`]: this module knows
//! the connection-level calls (send, close, pause) and nothing of the
//! loop behind them. The reactor adds the calls that name its own types
//! (timers, its handle, the loop itself) in an `impl Context` of its own
//! (`reactor/context.rs`).
//!
//! Not for: the reactor's timers, handle or loop (`reactor/context.rs` adds
//! those); nothing here makes a system call.

use std::any::Any;

use super::id::ConnId;
use crate::socket::PeerAddr;

/// What a driver does, during a callback, for the connection `id` whose
/// handler runs. Implemented by the reactor's event loop; `Any`, so that
/// the reactor can reach its loop again from a [`Context`].
pub(crate) trait Host: Any {
    /// The peer's address, if the socket said.
    fn peer_addr(&self, id: ConnId) -> Option<&PeerAddr>;
    /// The connection's output buffer.
    fn output(&mut self, id: ConnId) -> &mut Vec<u8>;
    /// Bytes queued and not yet written.
    fn unsent(&self, id: ConnId) -> usize;
    /// Close once the output is sent.
    fn close_when_sent(&mut self, id: ConnId);
    /// Close when the callback returns, dropping unsent output.
    fn abort(&mut self, id: ConnId);
    /// Stop or resume reading.
    fn set_reading_paused(&mut self, id: ConnId, paused: bool);
}

/// A handler's view of its connection and loop, during a callback.
///
/// Output written here ([`send`](Self::send), [`output`](Self::output)) is
/// flushed when the callback returns, under the connection's
/// back-pressure rules. The reactor's contexts also reach the rest of the
/// loop: [`event_loop`](Self::event_loop) (other connections, watches),
/// [`set_timer`](Self::set_timer), [`handle`](Self::handle).
pub struct Context<'a> {
    pub(crate) host: &'a mut dyn Host,
    pub(crate) id: ConnId,
}

impl Context<'_> {
    /// This connection's id (stable for its whole life, never reused).
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Who is at the other end, if the socket could say.
    pub fn peer_addr(&self) -> Option<&PeerAddr> {
        self.host.peer_addr(self.id)
    }

    /// Queues `bytes` for the peer.
    pub fn send(&mut self, bytes: &[u8]) {
        self.output().extend_from_slice(bytes);
    }

    /// The connection's output buffer, to append replies to.
    pub fn output(&mut self) -> &mut Vec<u8> {
        self.host.output(self.id)
    }

    /// Bytes queued for the peer and not yet written (this callback's
    /// included).
    pub fn unsent(&self) -> usize {
        self.host.unsent(self.id)
    }

    /// Closes once the output is sent (a lingering close: the answer
    /// reaches the peer). Input after this is dropped.
    pub fn close(&mut self) {
        self.host.close_when_sent(self.id);
    }

    /// Closes at once when the callback returns, dropping unsent output.
    pub fn abort(&mut self) {
        self.host.abort(self.id);
    }

    /// Stops reading from this connection (on top of the high-water rule)
    /// until [`resume_reading`](Self::resume_reading).
    pub fn pause_reading(&mut self) {
        self.host.set_reading_paused(self.id, true);
    }

    /// Reads again after [`pause_reading`](Self::pause_reading).
    pub fn resume_reading(&mut self) {
        self.host.set_reading_paused(self.id, false);
    }

    /// The driver behind this context, for the driver's own calls.
    pub(crate) fn host_any(&self) -> &dyn Any {
        &*self.host
    }

    /// The driver behind this context, for the driver's own calls.
    pub(crate) fn host_any_mut(&mut self) -> &mut dyn Any {
        self.host
    }
}
