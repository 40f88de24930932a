//! Graceful stop (nginx's graceful shutdown, bounded like its
//! `worker_shutdown_timeout`): stop accepting, answer what has already
//! arrived, send it, close each connection, and cut whatever is still open
//! when the deadline passes.
//!
//! Not for: signals (the caller decides when to stop; the command installs
//! the handlers) or the runtime's shutdown (`rt::shutdown`).

use std::io;
use std::time::Instant;

use super::{ConnId, EventLoop, Io, LoopHandle, Pass};
use crate::conn::CloseReason;
use crate::conn::Phase;

impl EventLoop {
    /// Starts a graceful stop: the listeners close at once (new
    /// connections are refused), every open connection reads what its
    /// socket already holds one last time and its handler answers it, the
    /// answers are sent, and each connection then closes (a lingering
    /// close, so the peer gets the answer rather than a reset). An idle
    /// connection, with nothing read and nothing to send, closes at once.
    /// [`run`](Self::run) returns when no connection is left, or when
    /// `deadline` passes: connections still open then are closed
    /// ([`CloseReason::Shutdown`]) and counted in [`Stats::cut`](super::Stats::cut).
    ///
    /// Connections added later (handed over by another loop) are drained
    /// as they arrive. Called again, the earlier deadline wins.
    pub fn shutdown_gracefully(&mut self, deadline: Instant) {
        if self.draining.is_some_and(|earlier| earlier <= deadline) {
            return;
        }
        let first = self.draining.is_none();
        self.draining = Some(deadline);
        self.add_timer(deadline, move |el| el.cut_at(deadline));
        if !first {
            return;
        }
        self.close_listeners();
        let ids: Vec<ConnId> = self.connection_ids().collect();
        for id in ids {
            self.drain_conn(id);
        }
        log::debug!(
            "event loop draining: {} connections left, deadline in {:?}",
            self.conns.len(),
            deadline.saturating_duration_since(Instant::now())
        );
    }

    /// Whether a graceful stop has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.is_some()
    }

    /// A drain is over once no connection is left.
    pub(super) fn drained(&self) -> bool {
        self.draining.is_some() && self.conns.len() == 0
    }

    /// The last read of one connection, its answers, then its close.
    pub(super) fn drain_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conn(id) else { return };
        if conn.in_callback || conn.session.phase() != Phase::Open {
            // Closing already: it finishes on its own, or at the deadline.
            return;
        }
        if let Some(step) = self.serve(id, Pass::Drain) {
            self.after_io(id, step);
        }
    }

    /// The drain's deadline: whatever is still open is cut.
    fn cut_at(&mut self, deadline: Instant) {
        if self.draining != Some(deadline) {
            return; // superseded by an earlier deadline
        }
        let ids: Vec<ConnId> = self.connection_ids().collect();
        if !ids.is_empty() {
            log::warn!(
                "shutdown deadline passed: closing {} connections still open",
                ids.len()
            );
        }
        for id in ids {
            if self.close_with(id, CloseReason::Shutdown) {
                self.stats.cut += 1;
            }
        }
    }

    pub(super) fn close_listeners(&mut self) {
        for (i, l) in self.listeners.drain(..).enumerate() {
            self.stats.shed += l.acceptor.shed();
            match &mut self.io {
                Io::Readiness(poller, _) => {
                    let _ = poller.deregister(&l.acceptor);
                }
                // Its accept (or poll) is cancelled; what it still brings
                // finds no listener and is closed.
                Io::Completion(u) => u.stop_listening(i, &l.ring),
            }
        }
    }
}

impl LoopHandle {
    /// Asks the loop for a graceful stop
    /// ([`EventLoop::shutdown_gracefully`]): it stops accepting, answers
    /// what has arrived, closes each connection once its answers are sent,
    /// and cuts what is still open at `deadline`; its
    /// [`run`](EventLoop::run) then returns. Fails (`NotConnected`) if the
    /// loop has exited. Taken even when the task queue is full.
    pub fn shutdown_gracefully(&self, deadline: Instant) -> io::Result<()> {
        self.post_always(move |l| l.shutdown_gracefully(deadline))
    }
}
