//! Accepting: a multishot accept, and what to do when fds run out.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use iomux::uring::op;
use rustix::net::sockopt;

use super::Worker;
use crate::serve::uring::conn::Conn;
use crate::serve::uring::ops::{Op, encode};

/// How long to wait before accepting again after running out of fds.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

impl Worker {
    pub(super) fn arm_accept(&mut self) {
        let e = op::accept_multi(self.listener.as_raw_fd(), encode(Op::Accept, 0, 0));
        self.accept_armed = true;
        self.push(e);
    }

    pub(super) fn on_accept(&mut self, res: i32, more: bool) {
        if !more {
            self.accept_armed = false;
        }
        if res >= 0 {
            // SAFETY: a successful accept's result is a new fd owned by no one else.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            let _ = sockopt::set_tcp_nodelay(&fd, true);
            self.open(fd);
        } else if matches!(-res, libc::EMFILE | libc::ENFILE) {
            self.shed();
            if more {
                self.cancel(encode(Op::Accept, 0, 0));
            }
            if !self.listen_polled {
                let e = op::poll(
                    self.listener.as_raw_fd(),
                    libc::POLLIN as u32,
                    false,
                    encode(Op::Listen, 0, 0),
                );
                self.listen_polled = true;
                self.push(e);
            }
        } else if matches!(-res, libc::ENOMEM | libc::ENOBUFS) && !more {
            // Out of memory: the connection waits in the backlog; accept
            // again shortly rather than spin on the same error.
            self.accept_retry = Some(Instant::now() + ACCEPT_RETRY);
        }
        if self.draining.is_some() {
            return; // the listener is shut down: accept no more
        }
        if !self.accept_armed && self.accept_retry.is_none() && !self.listen_polled {
            self.arm_accept();
        }
    }

    /// Out of fds: the waiting connections would stay in the backlog, and
    /// the accept would fail again at each new one. So they are shed with
    /// the spare fd ([`SpareFd::shed`](iomux::socket::SpareFd::shed): each accepted into its number and
    /// closed at once, the peer seeing a clean close rather than a hang),
    /// as the reactor's `Acceptor` does.
    fn shed(&mut self) {
        self.stats.shed += self.spare.shed(&self.listener, usize::MAX).unwrap_or(0);
    }

    fn open(&mut self, fd: OwnedFd) {
        let slot = match self.free.pop() {
            Some(s) => s,
            None if self.slots.len() < 1 << 24 => {
                self.slots.push(None);
                self.generations.push(0);
                self.slots.len() - 1
            }
            None => return, // no slot: dropping `fd` closes it
        };
        self.live += 1;
        self.stats.accepted += 1;
        let raw = fd.as_raw_fd();
        let mut c = Conn::new(fd, self.generations[slot], (self.factory)());
        c.fixed = (slot as u32) < self.fixed_files && self.ring.set_file(slot as u32, raw).is_ok();
        self.stats.fixed += u64::from(c.fixed);
        if self.draining.is_some() {
            // Accepted just before the listener shut: drained like the rest.
            self.drain_conn(&mut c);
        }
        self.settle(slot, c);
    }
}
