//! Sending from outside a read: to any connection of the loop on its
//! thread, or from another thread through a [`LoopHandle`] (muduo's
//! run-in-loop). Both go through the connection's output buffer, so the
//! back-pressure and high-water rules are those of replies, and both are
//! refused past the high-water mark ([`Backpressure`]). Who sent can learn
//! when the output has drained ([`LoopHandle::when_drained`]).
//!
//! Other threads see each connection's unsent count without a round trip:
//! the loop publishes it after every step of I/O (`after_io`), and a sender
//! adds what it sends to the slot's in-flight count before posting it
//! (`Shared::reserve`), so that a burst of sends is held to the mark before
//! the loop has queued any of it.
//!
//! Not for: writes from inside a callback (those go to the handler's output
//! and are flushed by `driving.rs`).

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{ConnId, EventLoop, LoopHandle, Pass};
use crate::conn::Phase;

pub(super) fn gone_conn() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "the connection is closed")
}

/// The error of posting to a loop that has exited.
pub(super) fn gone_loop() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the event loop has exited")
}

/// What a drain notice says of a connection that closed first.
pub(super) fn closed_undrained() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "the connection closed before its output drained",
    )
}

/// Why a send or a post was refused for now: the payload of the
/// `WouldBlock` errors of [`EventLoop::send`], [`LoopHandle::send`],
/// [`LoopHandle::post`] and [`LoopHandle::when_drained`]. Read it with
/// [`Backpressure::of`]. Nothing was queued; the caller retries later
/// (after [`LoopHandle::when_drained`] for `HighWater`), drops the message,
/// or slows its source down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backpressure {
    /// The connection has `unsent` bytes not yet written (from another
    /// thread: counting those still on their way to the loop), at or past
    /// [`Limits::high_water`](crate::conn::Limits::high_water).
    HighWater {
        /// The connection's unsent bytes when the send was refused.
        unsent: usize,
        /// The loop's high-water mark.
        high_water: usize,
    },
    /// The loop's queue of posted tasks is full
    /// ([`Config::max_posted_tasks`](crate::reactor::Config::max_posted_tasks)).
    QueueFull {
        /// The bound that was reached.
        limit: usize,
    },
}

impl Backpressure {
    /// The back-pressure that refused a send or post, if `err` is such a
    /// refusal (kind `WouldBlock`).
    pub fn of(err: &io::Error) -> Option<Backpressure> {
        err.get_ref()?.downcast_ref::<Backpressure>().copied()
    }
}

impl std::fmt::Display for Backpressure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backpressure::HighWater { unsent, high_water } => write!(
                f,
                "the connection has {unsent} bytes unsent (high-water mark {high_water})"
            ),
            Backpressure::QueueFull { limit } => {
                write!(f, "the event loop has {limit} posted tasks waiting already")
            }
        }
    }
}

impl std::error::Error for Backpressure {}

impl From<Backpressure> for io::Error {
    fn from(b: Backpressure) -> io::Error {
        io::Error::new(io::ErrorKind::WouldBlock, b)
    }
}

type DrainFn = Box<dyn FnOnce(io::Result<()>) + Send>;

/// A callback waiting for a connection's output to drain; called exactly
/// once (dropped unfired, it says the loop has exited).
pub(crate) struct DrainNotice(Option<DrainFn>);

impl DrainNotice {
    fn new(f: impl FnOnce(io::Result<()>) + Send + 'static) -> DrainNotice {
        DrainNotice(Some(Box::new(f)))
    }

    /// Calls the callback with `outcome`, containing a panic there; false
    /// if it panicked.
    fn fire(mut self, outcome: io::Result<()>) -> bool {
        let Some(f) = self.0.take() else {
            return true;
        };
        if std::thread::panicking() {
            // The loop's thread is unwinding: a second panic would abort.
            std::mem::forget(f);
            return true;
        }
        let told = catch_unwind(AssertUnwindSafe(move || f(outcome)));
        if told.is_err() {
            log::error!("a drain callback panicked");
        }
        told.is_ok()
    }

    /// Drops the callback uncalled (its request was refused, and the caller
    /// told so).
    fn defuse(mut self) {
        self.0 = None;
    }
}

impl Drop for DrainNotice {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            DrainNotice(Some(f)).fire(Err(gone_loop()));
        }
    }
}

impl EventLoop {
    /// Queues `bytes` on connection `id` and writes what the socket takes
    /// now. Returns the bytes still unsent on that connection: at or above
    /// [`Limits::high_water`](crate::conn::Limits::high_water) the
    /// connection has stopped reading its own peer, and a caller relaying
    /// into it should slow its source down (see [`pause_reading`](Self::pause_reading)).
    ///
    /// Refused, with nothing queued, while the connection already has
    /// `high_water` bytes or more unsent ([`unsent`](Self::unsent)):
    /// `WouldBlock`, with [`Backpressure::HighWater`] saying how many
    /// ([`Backpressure::of`]). Below the mark the bytes are taken whole.
    /// [`when_drained`](Self::when_drained) (or the connection's
    /// [`on_write_complete`](crate::conn::Handler::on_write_complete))
    /// tells when to send again. Fails with `NotFound` if the connection is
    /// gone (or of another loop), `BrokenPipe` if it is closing (its handler
    /// asked to close, or its peer did).
    pub fn send(&mut self, id: ConnId, bytes: &[u8]) -> io::Result<usize> {
        let high_water = self.cfg.limits.high_water;
        let conn = self.conn(id).ok_or_else(gone_conn)?;
        let unsent = conn.unsent();
        if conn.doomed.is_none() && conn.session.phase() == Phase::Open && unsent >= high_water {
            return Err(Backpressure::HighWater { unsent, high_water }.into());
        }
        self.queue_bytes(id, bytes)
    }

    /// [`send`](Self::send) without the high-water check (the bytes of a
    /// [`LoopHandle::send`] were admitted by their sender).
    fn queue_bytes(&mut self, id: ConnId, bytes: &[u8]) -> io::Result<usize> {
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
            return Ok(conn.unsent());
        }
        let step = self.serve(id, Pass::Flush).ok_or_else(gone_conn)?;
        let unsent = self.unsent(id);
        self.after_io(id, step);
        unsent.ok_or_else(gone_conn)
    }

    /// Calls `f` once connection `id` has nothing unsent — every byte
    /// queued on it handed to the kernel — with `Ok(())`: at once if that
    /// is so now, else on the loop's thread when a write empties its
    /// output. (The connection's handler hears of the same moment in
    /// [`on_write_complete`](crate::conn::Handler::on_write_complete);
    /// this is for the code that sent from outside it.) If the connection closes first, `f` gets `NotFound`. Fails
    /// (and drops `f` uncalled) with `NotFound` if it is gone already.
    pub fn when_drained(
        &mut self,
        id: ConnId,
        f: impl FnOnce(io::Result<()>) + Send + 'static,
    ) -> io::Result<()> {
        self.conn(id).ok_or_else(gone_conn)?;
        self.await_drain(id, DrainNotice::new(f));
        Ok(())
    }

    fn await_drain(&mut self, id: ConnId, notice: DrainNotice) {
        match self.conn_mut(id) {
            None => self.notify(notice, Err(closed_undrained())),
            Some(conn) if conn.unsent() == 0 => self.notify(notice, Ok(())),
            Some(conn) => conn.drain_waiters.push(notice),
        }
    }

    /// Fires a drain notice; a panic in it counts in [`Stats::panics`](super::Stats::panics).
    pub(super) fn notify(&mut self, notice: DrainNotice, outcome: io::Result<()>) {
        if !notice.fire(outcome) {
            self.stats.panics += 1;
        }
    }

    /// Closes connection `id` once its output is sent (a lingering close).
    /// Fails with `NotFound` if it is gone.
    pub fn close_when_sent(&mut self, id: ConnId) -> io::Result<()> {
        let conn = self.conn_mut(id).ok_or_else(gone_conn)?;
        conn.session.close();
        if !conn.in_callback
            && let Some(step) = self.serve(id, Pass::Settle)
        {
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
        // On the completion driver what came is in the session already.
        let arrived = conn.ring.as_ref().is_some_and(|r| r.data > 0 || r.eof);
        let reread = on && was_paused && (edge || arrived);
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
    /// current or next turn. Returns the connection's backlog with these
    /// bytes: its unsent output as the loop last published it, plus what
    /// senders have posted and the loop not yet queued.
    ///
    /// Back-pressure: once that backlog has reached
    /// [`Limits::high_water`](crate::conn::Limits::high_water), the send
    /// is refused with `WouldBlock` and nothing is queued;
    /// [`Backpressure::of`] on the error gives
    /// [`Backpressure::HighWater`] with the count, and [`unsent`](Self::unsent)
    /// reads it at any time. Below the mark the bytes are taken whole. Learn
    /// when to send again with [`when_drained`](Self::when_drained). A full
    /// task queue refuses the same way ([`Backpressure::QueueFull`]).
    ///
    /// Fails with `NotConnected` if the loop has exited, `NotFound` if the
    /// connection is closed already (or of another loop); one that closes
    /// before the loop gets to the bytes drops them (logged at debug level).
    pub fn send(&self, id: ConnId, bytes: impl Into<Vec<u8>>) -> io::Result<usize> {
        if !self.is_alive() {
            return Err(gone_loop());
        }
        let bytes = bytes.into();
        let n = bytes.len();
        let backlog = self.shared.reserve(id, n)?;
        let queued = self.shared.admit(bytes, true, move |bytes, el| {
            let sent = el.queue_bytes(id, &bytes);
            // Queued (or dropped) now: no longer in flight.
            el.shared.release(id.split().0, n);
            if let Err(e) = sent {
                log::debug!("{n} bytes for {id} dropped: {e}");
            }
        });
        match queued {
            Ok(()) => Ok(backlog),
            Err((_, e)) => {
                self.shared.release(id.split().0, n);
                Err(e)
            }
        }
    }

    /// Connection `id`'s backlog, as [`send`](Self::send) counts it: the
    /// unsent output the loop last published plus the bytes sent from other
    /// threads and not yet queued. `None` if the connection is not open.
    /// Read without a round trip to the loop.
    pub fn unsent(&self, id: ConnId) -> Option<usize> {
        self.shared.backlog(id)
    }

    /// Calls `f` on the loop's thread once connection `id` has nothing
    /// unsent — every byte queued on it, the sends this thread made before
    /// this call included (tasks run in order), handed to the kernel —
    /// with `Ok(())`: on the loop's next turn if it has nothing unsent then,
    /// else when a write empties its output (bytes queued meanwhile, by
    /// its handler or other senders, have to leave too). `f` is called exactly once: with `NotFound` if the
    /// connection closes first, `NotConnected` if the loop exits first.
    /// Send it a channel's sender, a waker, or a [`post`](Self::post) to
    /// another loop.
    ///
    /// Refused (and `f` dropped uncalled) as [`post`](Self::post) is, and
    /// with `NotFound` if the connection is closed already.
    pub fn when_drained(
        &self,
        id: ConnId,
        f: impl FnOnce(io::Result<()>) + Send + 'static,
    ) -> io::Result<()> {
        if !self.is_alive() {
            return Err(gone_loop());
        }
        if !self.is_open(id) {
            return Err(gone_conn());
        }
        self.shared
            .admit(DrainNotice::new(f), true, move |notice, el| {
                el.await_drain(id, notice)
            })
            .map_err(|(notice, e)| {
                notice.defuse();
                e
            })
    }
}
