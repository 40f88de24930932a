//! `Connection`: one non-blocking socket, its [`Session`] (buffers, phase,
//! deadlines) and its handler.
//!
//! A connection does the socket calls, moves its own session along, and
//! hands its handler out for a callback and takes it back; the loop
//! (`event_loop/driving.rs`) decides which callback runs when and keeps the
//! poller's interest in step, so the interest bookkeeping stays in one
//! place.
//!
//! Not for: touching the poller's interest (the loop's,
//! `event_loop/driving.rs`); nor for buffering rules, which are the
//! [`Session`]'s.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use rustix::buffer::spare_capacity;
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, Shutdown};

mod completion;

pub(crate) use completion::CompletionIo;

use super::event_loop::DrainNotice;
use crate::Interest;
use crate::conn::Limits;
use crate::conn::{CloseReason, Handler};
use crate::conn::{Phase, Session, Step};
use crate::socket::PeerAddr;

/// What one recv(2) found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// `n` bytes; `full`: they filled the room offered, more may wait.
    Data { n: usize, full: bool },
    /// The peer's FIN (not yet recorded in the session).
    Eof,
    /// Nothing to read now.
    Again,
}

/// What leaves a connection for an input callback: the handler and the
/// unconsumed input (from `start`), given back when it returns.
pub(crate) struct Taken {
    pub handler: Box<dyn Handler>,
    pub input: Vec<u8>,
    pub start: usize,
}

/// The stack buffer of a read by a connection without an input buffer.
const PROBE: usize = 2048;

pub(crate) struct Connection {
    sock: OwnedFd,
    pub session: Session,
    /// Out while one of its callbacks runs (`begin_callback`, and
    /// `EventLoop::call`), gone for good after it panicked.
    pub handler: Option<Box<dyn Handler>>,
    /// One of its callbacks is running: closing waits for it to return,
    /// and I/O on its behalf is left to the code that called it.
    pub in_callback: bool,
    pub peer: Option<PeerAddr>,
    /// The poller reported the peer's FIN (sticky): a short read then does
    /// not mean drained, the EOF is still to be read.
    pub fin_seen: bool,
    /// The peer closed first: the eventual close is `PeerClosed`.
    pub peer_closed_first: bool,
    /// A close asked for while a callback of this connection ran; done
    /// when it returns.
    pub doomed: Option<CloseReason>,
    /// The interest currently registered with the poller.
    pub registered: Interest,
    /// The deadline of this connection's live entry in the timer heap.
    pub timer_at: Option<Instant>,
    /// It did I/O since the last idle sweep (`event_loop/idle.rs`).
    pub busy: bool,
    /// The unsent count other threads last saw (`Shared::publish`).
    pub published: usize,
    /// Who waits for the output to drain (`EventLoop::when_drained`).
    pub drain_waiters: Vec<DrainNotice>,
    /// On the completion driver: its requests in the kernel and what they
    /// brought (`None` on the readiness driver).
    pub ring: Option<Box<CompletionIo>>,
}

impl Connection {
    pub fn new(
        sock: OwnedFd,
        handler: Box<dyn Handler>,
        peer: Option<PeerAddr>,
        registered: Interest,
    ) -> Connection {
        Connection {
            sock,
            session: Session::new(),
            handler: Some(handler),
            in_callback: false,
            peer,
            fin_seen: false,
            peer_closed_first: false,
            doomed: None,
            registered,
            timer_at: None,
            busy: true,
            published: 0,
            drain_waiters: Vec::new(),
            ring: None,
        }
    }

    pub fn sock(&self) -> &OwnedFd {
        &self.sock
    }

    /// Whether it reads now: not closing, not paused, below its limits
    /// (the high-water mark counting a send in flight).
    pub fn wants_read(&self, limits: &Limits) -> bool {
        self.doomed.is_none()
            && self.session.wants_read(limits)
            && (self.session.phase() != Phase::Open || self.unsent() < limits.high_water)
    }

    /// Output not yet taken by the kernel: the session's, and on the
    /// completion driver the send in flight.
    pub fn unsent(&self) -> usize {
        self.session.unsent() + self.ring.as_ref().map_or(0, |r| r.in_flight())
    }

    /// What the session wants once its output is out; while a send is in
    /// flight it is not out yet, so serving goes on.
    pub fn next_step(&self) -> Step {
        if self.ring.as_ref().is_some_and(|r| r.in_flight() > 0) {
            return Step::Serve;
        }
        self.session.next_step()
    }

    /// Takes the handler out for one of its callbacks (`EventLoop::call`).
    pub fn begin_callback(&mut self) -> Box<dyn Handler> {
        let handler = self
            .handler
            .take()
            .expect("callbacks of one connection do not nest");
        self.in_callback = true;
        handler
    }

    /// The handler is back from a callback that returned `returned`; a
    /// close asked for meanwhile turns it into the reason to close.
    pub fn end_callback<R>(
        &mut self,
        handler: Box<dyn Handler>,
        returned: R,
    ) -> Result<R, CloseReason> {
        self.in_callback = false;
        self.handler = Some(handler);
        match self.doomed {
            Some(reason) => Err(reason),
            None => Ok(returned),
        }
    }

    /// Its callback panicked (the handler was dropped): it closes.
    pub fn callback_panicked(&mut self) -> CloseReason {
        self.in_callback = false;
        let reason = CloseReason::Error(libc::ECANCELED);
        self.doomed = Some(reason);
        reason
    }

    /// The handler and the unconsumed input, for `on_message` or
    /// `on_peer_closed`; `None` once the session no longer takes input
    /// (closing or lingering: input is discarded).
    pub fn begin_input(&mut self) -> Option<Taken> {
        if self.session.phase() != Phase::Open {
            return None;
        }
        let (input, start) = self.session.take_input();
        Some(Taken {
            handler: self.begin_callback(),
            input,
            start,
        })
    }

    /// [`flush`](Self::flush); when that emptied output that had to wait,
    /// and none of its callbacks runs, the handler is taken out for its
    /// `on_write_complete` (which the loop calls).
    pub fn write(&mut self, limits: &Limits) -> Result<Option<Box<dyn Handler>>, CloseReason> {
        Ok((self.flush(limits)? && !self.in_callback).then(|| self.begin_callback()))
    }

    /// When the connection must be closed if nothing happens before.
    pub fn deadline(&self) -> Option<Instant> {
        let handler = self.handler.as_deref();
        let Some(ring) = self.ring.as_deref() else {
            return self.session.deadline(|| handler.and_then(|h| h.deadline()));
        };
        // A send in flight is output waiting for the peer, as unsent output
        // is: its timeout governs, not the protocol's.
        let sending = ring.in_flight() > 0;
        let own = self
            .session
            .deadline(|| handler.filter(|_| !sending).and_then(|h| h.deadline()));
        own.into_iter().chain(ring.send_deadline).min()
    }

    /// One recv(2) into the session's input buffer. A connection without
    /// one (new, or idle and freed: `Session::release_idle_buffers`) reads
    /// into a buffer on the stack instead, so that a read finding nothing
    /// allocates nothing, and what came is copied into an input buffer of
    /// its own size: idle connections cost no buffer memory, not even in
    /// the heap the allocator keeps after a free.
    ///
    /// On the completion driver it gives what the multishot recv brought
    /// (already in the session's input) instead, and makes the system call
    /// only when `direct` (a graceful stop's last read: what the socket
    /// holds that no completion has announced yet).
    pub fn recv(&mut self, limits: &Limits, direct: bool) -> Result<Received, CloseReason> {
        if let Some(ring) = self.ring.as_deref_mut() {
            if let Some(got) = ring.take_received() {
                return Ok(got);
            }
            if !direct {
                return Ok(Received::Again);
            }
        }
        loop {
            let unbuffered = !self.session.holds_input();
            let got = if unbuffered {
                // Uninitialised: the busy path never pays for it, and this
                // one not for a memset.
                let mut probe = [MaybeUninit::<u8>::uninit(); PROBE];
                match rustix::net::recv(&self.sock, &mut probe, RecvFlags::empty()) {
                    Ok(((data, _), _)) => {
                        self.session
                            .extend_input(data, limits)
                            .map_err(|_| CloseReason::Error(libc::ENOBUFS))?;
                        Ok(data.len())
                    }
                    Err(e) => Err(e),
                }
            } else {
                let buf = self
                    .session
                    .read_buffer(limits)
                    .map_err(|_| CloseReason::Error(libc::ENOBUFS))?;
                rustix::net::recv(&self.sock, spare_capacity(buf), RecvFlags::empty())
                    .map(|(n, _)| n)
            };
            match got {
                Ok(0) => {
                    // The session learns of it once the handler has seen
                    // what is left of the input (the `Eof` arm of the
                    // loop's pass, `event_loop/driving.rs`).
                    if self.session.phase() == Phase::Open {
                        self.peer_closed_first = true;
                    }
                    return Ok(Received::Eof);
                }
                Ok(n) if unbuffered => {
                    let full = n == PROBE;
                    return Ok(Received::Data { n, full });
                }
                Ok(n) => {
                    let full = self.session.received(n);
                    return Ok(Received::Data { n, full });
                }
                Err(Errno::AGAIN) => return Ok(Received::Again),
                Err(Errno::INTR) => {}
                Err(e) => return Err(CloseReason::from_errno(e.raw_os_error())),
            }
        }
    }

    /// Sends pending output with one send(2); on a short write the rest
    /// waits for writability. Never raises SIGPIPE. Returns true when this
    /// emptied output that had been waiting for the peer.
    ///
    /// On the completion driver it only moves the output into the send the
    /// loop submits next (`CompletionIo::sending`), if none is in flight:
    /// what is written meanwhile joins the following one. The loop learns
    /// of the drain from the send's completion.
    pub fn flush(&mut self, limits: &Limits) -> Result<bool, CloseReason> {
        if let Some(ring) = self.ring.as_deref_mut() {
            if ring.in_flight() == 0 && self.session.wants_write() {
                ring.sending.clear();
                ring.sent = 0;
                // The session's output is never partly written on this
                // driver (sends go from `sending`), so all of it is pending.
                std::mem::swap(&mut ring.sending, self.session.output());
            }
            return Ok(false);
        }
        let mut drained = false;
        while self.session.wants_write() {
            match rustix::net::send(&self.sock, self.session.pending(), SendFlags::NOSIGNAL) {
                Ok(n) => {
                    drained = self.session.wrote(n);
                    if self.session.wants_write() {
                        // Short write: the socket buffer is full, a retry
                        // would only say EAGAIN.
                        self.session.write_short(Instant::now(), limits);
                        break;
                    }
                }
                Err(Errno::AGAIN) => {
                    self.session.write_blocked(Instant::now(), limits);
                    break;
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(CloseReason::from_errno(e.raw_os_error())),
            }
        }
        Ok(drained)
    }

    /// Shuts down the write half (all output is sent) and starts lingering.
    pub fn shutdown_write(&mut self, limits: &Limits) -> Result<(), CloseReason> {
        rustix::net::shutdown(&self.sock, Shutdown::Write)
            .map_err(|e| CloseReason::from_errno(e.raw_os_error()))?;
        self.session.lingering(Instant::now(), limits);
        Ok(())
    }

    /// Closes the socket and gives the handler back (for its `on_close`).
    pub fn into_handler(self) -> Option<Box<dyn Handler>> {
        self.handler
    }

    /// The socket, the handler and the completion state, apart: on the
    /// completion driver the socket outlives the connection until the
    /// kernel is done with it.
    pub fn into_parts(self) -> (OwnedFd, Option<Box<dyn Handler>>, Option<Box<CompletionIo>>) {
        (self.sock, self.handler, self.ring)
    }

    /// Frees the buffers of an idle connection
    /// ([`Session::release_idle_buffers`]), and the completion driver's
    /// send buffer when no send is in flight.
    pub fn release_idle_buffers(&mut self) {
        self.session.release_idle_buffers();
        if let Some(ring) = self.ring.as_deref_mut()
            && !ring.send_inflight
            && ring.in_flight() == 0
        {
            ring.sending = Vec::new();
            ring.sent = 0;
        }
    }

    /// Whether any buffer of it holds memory.
    pub fn holds_buffers(&self) -> bool {
        self.session.holds_buffers() || self.ring.as_ref().is_some_and(|r| r.sending.capacity() > 0)
    }

    /// The pending socket error (SO_ERROR) as a close reason.
    pub fn socket_error(&self) -> CloseReason {
        match rustix::net::sockopt::socket_error(&self.sock) {
            Ok(Err(e)) => CloseReason::from_errno(e.raw_os_error()),
            Ok(Ok(())) => CloseReason::Reset,
            Err(e) => CloseReason::from_errno(e.raw_os_error()),
        }
    }

    /// Why the connection ends now that its session says it is done.
    pub fn done_reason(&self) -> CloseReason {
        if self.peer_closed_first {
            CloseReason::PeerClosed
        } else {
            CloseReason::Closed
        }
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.as_fd()
    }
}
