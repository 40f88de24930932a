//! One connection of the completion-based server: its handler, its buffers,
//! and which of its requests are in the kernel.
//!
//! The rule that makes closing safe: the fd is closed only once no request
//! naming it is left in the kernel (`recv_armed` and `send_inflight` both
//! false, i.e. the multishot recv has posted its final completion and the
//! send has completed). A recv can therefore never complete on a number the
//! kernel has since handed to a new connection.

use std::os::fd::OwnedFd;
use std::time::Instant;

use iomux::conn::{Handler, Limits, Phase, Session, Step};

pub(super) struct Conn {
    pub fd: OwnedFd,
    /// The socket is also in the ring's registered file table, at the
    /// connection's slot: requests name it by index (see the worker).
    pub fixed: bool,
    pub generation: u32,
    handler: Box<dyn Handler>,
    /// Input, replies produced since the current send was submitted, and
    /// the open / closing / lingering phase: the library's sans-IO session,
    /// as in every other model.
    session: Session,
    /// Torn down: waiting for the kernel to finish with the fd, then
    /// close it (no more sends or receives are started).
    pub teardown: bool,
    /// The bytes of the send in flight. The kernel reads them until the
    /// send completes, so they are not touched while `send_inflight`.
    pub sending: Vec<u8>,
    /// How much of `sending` the kernel has taken.
    pub sent: usize,
    /// A multishot recv is in the kernel (until its final completion).
    pub recv_armed: bool,
    /// An ASYNC_CANCEL for the recv has been submitted.
    pub recv_cancelling: bool,
    pub send_inflight: bool,
    /// An ASYNC_CANCEL for the send has been submitted.
    pub send_cancelling: bool,
    /// When the connection is closed if nothing more happens.
    pub deadline: Option<Instant>,
    /// The deadline last entered in the worker's timer heap.
    pub timer_at: Option<Instant>,
    /// Bytes sent so far, and what the last sweep saw: a send in flight
    /// that makes no progress for the send timeout closes the connection.
    pub sent_total: u64,
    pub swept_total: u64,
    pub stalled_since: Option<Instant>,
}

impl Conn {
    pub(super) fn new(fd: OwnedFd, generation: u32, handler: Box<dyn Handler>) -> Conn {
        Conn {
            fd,
            fixed: false,
            generation,
            handler,
            session: Session::new(),
            teardown: false,
            sending: Vec::new(),
            sent: 0,
            recv_armed: false,
            recv_cancelling: false,
            send_inflight: false,
            send_cancelling: false,
            deadline: None,
            timer_at: None,
            sent_total: 0,
            swept_total: 0,
            stalled_since: None,
        }
    }

    /// Runs the handler over newly received bytes (dropped once closing).
    /// A handler that leaves more than `limits.max_input` unconsumed gets its
    /// connection torn down: it enforces its own limits, this only guards
    /// against one that does not.
    pub(super) fn feed(&mut self, data: &[u8], limits: &Limits) {
        if self
            .session
            .feed_from(data, &mut *self.handler, limits)
            .is_err()
        {
            self.teardown = true;
            return;
        }
        if self.session.phase() == Phase::Open {
            self.deadline = self.handler.deadline();
        }
    }

    /// The peer closed its sending side.
    pub(super) fn eof(&mut self) {
        let lingering = self.session.phase() == Phase::Lingering;
        // Whatever the handler says, there is nothing more to read: the
        // connection closes once the output is sent.
        self.session.feed_eof(&mut *self.handler);
        if !lingering {
            self.deadline = None;
        }
    }

    /// Moves the replies made since the last send into `sending`, if no
    /// send is in flight and the last one is done.
    pub(super) fn take_replies(&mut self) {
        if self.sent == self.sending.len() && !self.session.pending().is_empty() {
            self.sent = 0;
            self.sending.clear();
            // The session's output has never been partly written (sends go
            // from `sending`), so the whole buffer is pending.
            std::mem::swap(&mut self.sending, self.session.output());
        }
    }

    /// Once everything is sent: what the session wants next, done here —
    /// shut down the write half and linger (deadline: the linger timeout),
    /// or tear down.
    pub(super) fn advance_close(&mut self, limits: &Limits) {
        if self.teardown || !self.flushed() {
            return;
        }
        match self.session.next_step() {
            Step::Serve => {}
            Step::Close => self.teardown = true,
            Step::ShutdownWrite => {
                // Lingering close: FIN now, read until the peer's FIN.
                let _ = rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Write);
                let now = Instant::now();
                self.session.lingering(now, limits);
                self.deadline = Some(now + limits.linger_timeout);
            }
        }
    }

    /// Unsent output, counting the send in flight.
    pub(super) fn backlog(&self) -> usize {
        self.sending.len() - self.sent + self.session.pending().len()
    }

    /// Receiving is wanted (and a recv must be armed if none is). Above
    /// `high_water` bytes of unsent output, receiving stops until it drains,
    /// so a peer that sends without reading cannot grow our memory.
    pub(super) fn wants_recv(&self, high_water: usize) -> bool {
        if self.teardown {
            return false;
        }
        match self.session.phase() {
            Phase::Open => self.backlog() <= high_water,
            Phase::Lingering => !self.session.read_closed(),
            Phase::Closing => false,
        }
    }

    /// Serving (not closing or lingering).
    pub(super) fn is_open(&self) -> bool {
        self.session.phase() == Phase::Open
    }

    /// Input the handler has not consumed (a request begun).
    pub(super) fn has_input(&self) -> bool {
        !self.session.input().is_empty()
    }

    /// Closes once the output is sent (a lingering close), as a handler's
    /// `Close` does.
    pub(super) fn close_when_sent(&mut self) {
        if self.is_open() {
            self.session.close();
        }
    }

    /// Everything the handler produced has been sent.
    pub(super) fn flushed(&self) -> bool {
        !self.send_inflight && self.backlog() == 0
    }

    /// The kernel has no request left that names this fd.
    pub(super) fn quiescent(&self) -> bool {
        !self.recv_armed && !self.send_inflight
    }
}
