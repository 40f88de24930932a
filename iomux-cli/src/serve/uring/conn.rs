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

use iomux::reactor::{Action, Handler};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Receiving and answering.
    Open,
    /// The handler asked to close and the answer is sent: our side is shut
    /// down, and we read (and drop) until the peer closes too, so that
    /// unread input cannot turn our close into an RST that destroys the
    /// answer in flight.
    Lingering,
    /// Waiting for the kernel to finish with the fd, then close it.
    Closing,
}

pub(super) struct Conn {
    pub fd: OwnedFd,
    /// The socket is also in the ring's registered file table, at the
    /// connection's slot: requests name it by index (see the worker).
    pub fixed: bool,
    pub generation: u32,
    pub phase: Phase,
    handler: Box<dyn Handler>,
    /// Received bytes the handler has not consumed yet.
    input: Vec<u8>,
    /// Replies produced since the current send was submitted.
    pub output: Vec<u8>,
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
    /// The peer closed its side (recv returned 0).
    pub read_closed: bool,
    /// The handler asked to close once the output is sent.
    pub wants_close: bool,
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
            phase: Phase::Open,
            handler,
            input: Vec::new(),
            output: Vec::new(),
            sending: Vec::new(),
            sent: 0,
            recv_armed: false,
            recv_cancelling: false,
            send_inflight: false,
            send_cancelling: false,
            read_closed: false,
            wants_close: false,
            deadline: None,
            timer_at: None,
            sent_total: 0,
            swept_total: 0,
            stalled_since: None,
        }
    }

    /// Runs the handler over newly received bytes.
    pub(super) fn feed(&mut self, data: &[u8]) {
        if self.wants_close {
            return; // the handler is done; late input is dropped
        }
        if self.input.is_empty() {
            // The common case: hand the kernel's buffer to the handler
            // directly and keep only what it leaves.
            let used = self.process(data);
            self.input.extend_from_slice(&data[used..]);
        } else {
            self.input.extend_from_slice(data);
            let input = std::mem::take(&mut self.input);
            let used = self.process(&input);
            self.input = input;
            self.input.drain(..used);
        }
        self.deadline = self.handler.deadline();
    }

    /// Feeds `buf` to the handler until it stops consuming; returns how much
    /// it consumed.
    fn process(&mut self, buf: &[u8]) -> usize {
        let mut off = 0;
        while off < buf.len() && !self.wants_close {
            let (used, action) = self.handler.on_data(&buf[off..], &mut self.output);
            off += used.min(buf.len() - off);
            if action == Action::Close {
                self.wants_close = true;
            }
            if used == 0 {
                break;
            }
        }
        off
    }

    /// The peer closed its sending side.
    pub(super) fn eof(&mut self) {
        self.read_closed = true;
        if !self.wants_close {
            let input = std::mem::take(&mut self.input);
            // Whatever the handler says, there is nothing more to read: the
            // connection closes once the output is sent.
            let _ = self.handler.on_read_closed(&input, &mut self.output);
            self.wants_close = true;
        }
        self.deadline = None;
    }

    /// Unsent output, counting the send in flight.
    pub(super) fn backlog(&self) -> usize {
        self.sending.len() - self.sent + self.output.len()
    }

    /// Received bytes the handler has not consumed.
    pub(super) fn unconsumed(&self) -> usize {
        self.input.len()
    }

    /// Receiving is wanted (and a recv must be armed if none is). Above
    /// `high_water` bytes of unsent output, receiving stops until it drains,
    /// so a peer that sends without reading cannot grow our memory.
    pub(super) fn wants_recv(&self, high_water: usize) -> bool {
        match self.phase {
            Phase::Open => !self.read_closed && !self.wants_close && self.backlog() <= high_water,
            Phase::Lingering => !self.read_closed,
            Phase::Closing => false,
        }
    }

    /// Everything the handler produced has been sent.
    pub(super) fn flushed(&self) -> bool {
        !self.send_inflight && self.output.is_empty()
    }

    /// The kernel has no request left that names this fd.
    pub(super) fn quiescent(&self) -> bool {
        !self.recv_armed && !self.send_inflight
    }
}
