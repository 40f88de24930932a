//! Sending from outside a read: to any connection of the loop on its
//! thread, or from another thread through a [`LoopHandle`] (muduo's
//! run-in-loop). Both go through the connection's output buffer, so the
//! back-pressure and high-water rules are those of replies.

use std::io;

use super::{ConnId, EventLoop, LoopHandle};
use crate::reactor::session::Phase;

fn gone_conn() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "the connection is closed")
}

/// The error of posting to a loop that has exited.
pub(super) fn gone_loop() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the event loop has exited")
}

impl EventLoop {
    /// Queues `bytes` on connection `id` and writes what the socket takes
    /// now. Returns the bytes still unsent on that connection: at or above
    /// [`Config::high_water`](crate::reactor::Config::high_water) the
    /// connection has stopped reading its own peer, and a caller relaying
    /// into it should slow its source down (see [`pause_reading`](Self::pause_reading)).
    ///
    /// Fails with `NotFound` if the connection is gone, `BrokenPipe` if it
    /// is closing (its handler asked to close, or its peer did).
    pub fn send(&mut self, id: ConnId, bytes: &[u8]) -> io::Result<usize> {
        let conn = self.conn_mut(id).ok_or_else(gone_conn)?;
        if conn.doomed.is_some() || conn.session.phase() != Phase::Open {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the connection is closing",
            ));
        }
        conn.session.output().extend_from_slice(bytes);
        if conn.in_callback {
            // Sent from the connection's own callback: written when it returns.
            return Ok(conn.session.unsent());
        }
        let edge = self.edge_reads;
        let step = self
            .flush_conn(id)
            .and_then(|()| self.settle_conn(id, edge));
        let unsent = self.unsent(id);
        self.after_io(id, step);
        unsent.ok_or_else(gone_conn)
    }

    /// Closes connection `id` once its output is sent (a lingering close).
    /// Fails with `NotFound` if it is gone.
    pub fn close_when_sent(&mut self, id: ConnId) -> io::Result<()> {
        let conn = self.conn_mut(id).ok_or_else(gone_conn)?;
        conn.session.close();
        if !conn.in_callback {
            let step = self.settle_conn(id, self.edge_reads);
            self.after_io(id, step);
        }
        Ok(())
    }

    /// Stops reading from connection `id` (its input stays in the socket,
    /// and TCP's window slows the peer down) until
    /// [`resume_reading`](Self::resume_reading).
    pub fn pause_reading(&mut self, id: ConnId) -> io::Result<()> {
        self.set_reading(id, false)
    }

    /// Reads from connection `id` again after [`pause_reading`](Self::pause_reading).
    pub fn resume_reading(&mut self, id: ConnId) -> io::Result<()> {
        self.set_reading(id, true)
    }

    fn set_reading(&mut self, id: ConnId, on: bool) -> io::Result<()> {
        let edge = self.edge_reads;
        let conn = self.conn_mut(id).ok_or_else(gone_conn)?;
        let was_paused = conn.session.paused();
        conn.session.set_paused(!on);
        // Data that came while paused raised its edge then: read it on the
        // loop's next pass rather than wait for an edge that will not come.
        let reread = on && was_paused && edge;
        if conn.in_callback {
            // Its own callback: interest is brought up to date on return.
            if reread {
                self.pending.push(id);
            }
            return Ok(());
        }
        self.after_io(id, Ok(reread));
        Ok(())
    }
}

impl LoopHandle {
    /// Sends `bytes` to connection `id` of this loop, from any thread: the
    /// loop queues them as [`EventLoop::send`] does, at the end of its
    /// current or next turn. Fails with `NotConnected` if the loop has
    /// exited, `NotFound` if the connection is closed already; one that
    /// closes before the loop gets to the bytes drops them (logged at
    /// debug level).
    pub fn send(&self, id: ConnId, bytes: impl Into<Vec<u8>>) -> io::Result<()> {
        if !self.is_alive() {
            return Err(gone_loop());
        }
        if !self.is_open(id) {
            return Err(gone_conn());
        }
        let bytes = bytes.into();
        self.post(move |el| {
            if let Err(e) = el.send(id, &bytes) {
                log::debug!("{} bytes for {id:?} dropped: {e}", bytes.len());
            }
        })
    }
}
