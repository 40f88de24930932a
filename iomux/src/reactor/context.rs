//! `Context`: what a handler can do from inside one of its callbacks.

use std::time::Instant;

use super::event_loop::{ConnId, EventLoop, LoopHandle, TimerId};
use super::peer::PeerAddr;

/// A handler's view of its connection and loop, during a callback.
///
/// Output written here ([`send`](Self::send), [`output`](Self::output)) is
/// flushed when the callback returns, under the connection's
/// back-pressure rules. [`event_loop`](Self::event_loop) reaches the rest
/// of the loop: other connections ([`EventLoop::send`]), watches, timers.
pub struct Context<'a> {
    pub(super) el: &'a mut EventLoop,
    pub(super) id: ConnId,
}

impl Context<'_> {
    /// This connection's id (stable for its whole life, never reused).
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Who is at the other end, if the socket could say.
    pub fn peer_addr(&self) -> Option<&PeerAddr> {
        self.el.peer_addr(self.id)
    }

    /// Queues `bytes` for the peer.
    pub fn send(&mut self, bytes: &[u8]) {
        self.output().extend_from_slice(bytes);
    }

    /// The connection's output buffer, to append replies to.
    pub fn output(&mut self) -> &mut Vec<u8> {
        self.el.conn_in_callback(self.id).session.output()
    }

    /// Bytes queued for the peer and not yet written (this callback's
    /// included).
    pub fn unsent(&self) -> usize {
        self.el.unsent(self.id).unwrap_or(0)
    }

    /// Closes once the output is sent (a lingering close: the answer
    /// reaches the peer). Input after this is dropped.
    pub fn close(&mut self) {
        self.el.conn_in_callback(self.id).session.close();
    }

    /// Closes at once when the callback returns, dropping unsent output.
    pub fn abort(&mut self) {
        self.el.close(self.id);
    }

    /// Stops reading from this connection (on top of the high-water rule)
    /// until [`resume_reading`](Self::resume_reading).
    pub fn pause_reading(&mut self) {
        let _ = self.el.pause_reading(self.id);
    }

    /// Reads again after [`pause_reading`](Self::pause_reading).
    pub fn resume_reading(&mut self) {
        let _ = self.el.resume_reading(self.id);
    }

    /// Calls this handler's [`on_timer`](super::Handler::on_timer) with
    /// `key` once `at` has passed, if the connection is still open then.
    pub fn set_timer(&mut self, at: Instant, key: u64) -> TimerId {
        let id = self.id;
        self.el
            .add_timer(at, move |el: &mut EventLoop| el.fire_conn_timer(id, key))
    }

    /// Cancels a timer; false if it fired or was cancelled already.
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.el.cancel_timer(timer)
    }

    /// A thread-safe handle of this connection's loop, for other threads
    /// to send to this connection ([`LoopHandle::send`]) or post work.
    pub fn handle(&self) -> LoopHandle {
        self.el.handle()
    }

    /// The loop itself: send to other connections, watch fds, add timers.
    pub fn event_loop(&mut self) -> &mut EventLoop {
        self.el
    }
}
