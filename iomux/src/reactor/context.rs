//! The reactor's side of a handler's [`Context`]: the calls that name the
//! loop's own types (timers, its handle, the loop itself), and the loop as
//! the context's [`Host`].
//!
//! Not for: the connection-level calls (send, close, pause), which are
//! `conn::Context`'s and the same for every driver.

use std::time::Instant;

use super::event_loop::{EventLoop, LoopHandle, TimerId};
use crate::conn::{ConnId, Context, Host};
use crate::socket::PeerAddr;

impl Context<'_> {
    /// The loop behind a context the reactor made (every context is).
    fn el(&mut self) -> &mut EventLoop {
        self.host_any_mut()
            .downcast_mut::<EventLoop>()
            .expect("the reactor is the only driver that makes contexts")
    }

    /// Calls this handler's [`on_timer`](crate::conn::Handler::on_timer)
    /// with `key` once `at` has passed, if the connection is still open
    /// then.
    pub fn set_timer(&mut self, at: Instant, key: u64) -> TimerId {
        let id = self.id;
        self.el()
            .add_timer(at, move |el: &mut EventLoop| el.fire_conn_timer(id, key))
    }

    /// Cancels a timer; false if it fired or was cancelled already.
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.el().cancel_timer(timer)
    }

    /// A thread-safe handle of this connection's loop, for other threads
    /// to send to this connection ([`LoopHandle::send`]) or post work.
    pub fn handle(&self) -> LoopHandle {
        self.host_any()
            .downcast_ref::<EventLoop>()
            .expect("the reactor is the only driver that makes contexts")
            .handle()
    }

    /// The loop itself: send to other connections, watch fds, add timers.
    pub fn event_loop(&mut self) -> &mut EventLoop {
        self.el()
    }
}

impl Host for EventLoop {
    fn peer_addr(&self, id: ConnId) -> Option<&PeerAddr> {
        EventLoop::peer_addr(self, id)
    }

    fn output(&mut self, id: ConnId) -> &mut Vec<u8> {
        self.conn_in_callback(id).session.output()
    }

    fn unsent(&self, id: ConnId) -> usize {
        EventLoop::unsent(self, id).unwrap_or(0)
    }

    fn close_when_sent(&mut self, id: ConnId) {
        self.conn_in_callback(id).session.close();
    }

    fn abort(&mut self, id: ConnId) {
        self.close(id);
    }

    fn set_reading_paused(&mut self, id: ConnId, paused: bool) {
        let _ = if paused {
            self.pause_reading(id)
        } else {
            self.resume_reading(id)
        };
    }
}
