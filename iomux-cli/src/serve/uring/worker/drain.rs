//! The graceful stop of one ring (SIGINT/SIGTERM): stop accepting, read
//! what each socket already holds once more and let the handler answer it,
//! send, close; cut what is still open at the deadline.
//!
//! The last read is a plain recv(2) beside the connection's multishot
//! recv. It cannot race it: it runs after every completion of the batch
//! was handled, and with DEFER_TASKRUN the kernel does a multishot recv's
//! work only inside our own io_uring_enter (on the older kernels without
//! it, a recv finishing meanwhile would still be delivered in order, only
//! perhaps after the close began, and so discarded).

use std::os::fd::AsFd;
use std::time::Instant;

use rustix::io::Errno;
use rustix::net::{RecvFlags, Shutdown};

use super::Worker;
use crate::serve::uring::conn::Conn;
use crate::serve::uring::ops::{Op, encode};

impl Worker {
    /// Starts the graceful stop, to end by `deadline`.
    pub(super) fn begin_drain(&mut self, deadline: Instant) {
        if self.draining.is_some() {
            return;
        }
        self.draining = Some(deadline);
        // A listening socket shut down is unhashed: new connections are
        // refused, and the multishot accept ends.
        let _ = rustix::net::shutdown(&self.listener, Shutdown::Both);
        if self.accept_armed {
            self.cancel(encode(Op::Accept, 0, 0));
        }
        self.accept_retry = None;
        for slot in 0..self.slots.len() {
            if let Some(mut c) = self.slots[slot].take() {
                self.drain_conn(&mut c);
                self.settle(slot, c);
            }
        }
    }

    /// One connection's last read, then its close: at once when idle
    /// (nothing arrived, nothing to send), once its answers are out
    /// otherwise.
    pub(super) fn drain_conn(&mut self, c: &mut Conn) {
        if c.teardown || !c.is_open() {
            return;
        }
        let mut arrived = c.has_input();
        let mut budget = iomux::reactor::Config::default().edge_budget;
        let mut buf = vec![0u8; self.limits.read_chunk];
        while budget > 0 && !c.teardown && c.wants_recv(self.limits.high_water) {
            match rustix::net::recv(c.fd.as_fd(), &mut buf[..], RecvFlags::DONTWAIT) {
                Ok((0, _)) => {
                    arrived = true;
                    c.eof();
                    break;
                }
                Ok((n, _)) => {
                    arrived = true;
                    c.feed(&buf[..n], &self.limits);
                    budget = budget.saturating_sub(n);
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => break,
                Err(_) => c.teardown = true,
            }
        }
        if c.teardown {
            return;
        }
        if !arrived && c.flushed() {
            c.teardown = true; // idle: nothing in flight
        } else {
            c.close_when_sent();
        }
    }

    /// At the deadline, every connection still open is torn down.
    pub(super) fn cut_if_due(&mut self, now: Instant) {
        if self.draining.is_none_or(|d| now < d) {
            return;
        }
        for slot in 0..self.slots.len() {
            if let Some(mut c) = self.slots[slot].take() {
                if !c.teardown {
                    c.teardown = true;
                    self.stats.cut += 1;
                }
                self.settle(slot, c);
            }
        }
    }
}
