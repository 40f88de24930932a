//! What a connection on the completion driver keeps beside its session:
//! which of its requests are in the kernel, the bytes of its send in
//! flight, and what its recv brought that the loop has not yet read.
//!
//! The rule that makes closing safe: the socket is closed only once no
//! request naming it is left in the kernel (`recv_armed` and
//! `send_inflight` both false), so a completion can never land on an fd
//! number the kernel has since handed to a new connection, and the kernel
//! never reads `sending` after it is freed (`event_loop/completion/conn.rs`).
//!
//! Not for: submitting anything (the loop's, which owns the ring).

use std::time::Instant;

use super::Received;

/// A connection's side of the completion driver.
#[derive(Debug, Default)]
pub(crate) struct CompletionIo {
    /// Its slot in the ring's fixed-file table, if it got one: requests
    /// then name the socket by index and the kernel skips the fd lookup.
    pub fixed: Option<u32>,
    /// The bytes of the send in flight (moved out of the session's output
    /// whole). The kernel reads them until the send completes, so they are
    /// not touched while `send_inflight`.
    pub sending: Vec<u8>,
    /// How much of `sending` the kernel has taken.
    pub sent: usize,
    pub send_inflight: bool,
    /// A multishot recv is in the kernel (until its final completion).
    pub recv_armed: bool,
    /// An ASYNC_CANCEL for the recv has been submitted.
    pub recv_cancelling: bool,
    /// Bytes arrived (already in the session's input) that the handler has
    /// not been offered.
    pub data: usize,
    /// The peer's FIN arrived and has not been read yet.
    pub eof: bool,
    /// A send was short: the output had to wait for the peer, so the
    /// handler hears `on_write_complete` once all of it is out.
    pub stuck: bool,
    /// When a send in flight that has made no progress closes the
    /// connection (the send timeout).
    pub send_deadline: Option<Instant>,
}

impl CompletionIo {
    /// Output handed to the kernel and not yet taken by it.
    pub fn in_flight(&self) -> usize {
        self.sending.len() - self.sent
    }

    /// What the recv brought, once: data first, then the FIN; `None` when
    /// nothing waits. `full` says a FIN follows, so a reader goes on.
    pub fn take_received(&mut self) -> Option<Received> {
        let n = std::mem::take(&mut self.data);
        if n > 0 {
            return Some(Received::Data { n, full: self.eof });
        }
        std::mem::take(&mut self.eof).then_some(Received::Eof)
    }

    /// Nothing of this connection is left in the kernel.
    pub fn quiescent(&self) -> bool {
        !self.recv_armed && !self.send_inflight
    }
}
