//! An fd registered with its runtime's driver for readiness, deregistered
//! before it closes: the readiness side of every socket type (streams,
//! listeners and UDP on the readiness drivers; UDP and a connect's
//! handshake on the completion driver too, as POLL_ADD requests).
//!
//! Not for: the completion driver's streams and listeners (`rt/uring`),
//! which need no readiness.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use crate::rt::readiness::{FdKind, Registration};

pub(crate) struct Registered {
    reg: Registration,
    /// Present until [`into_fd`](Registered::into_fd) or the drop.
    fd: Option<OwnedFd>,
}

impl Registered {
    /// Registers `fd` (non-blocking), of `kind`, with the current runtime.
    pub(crate) fn new(fd: OwnedFd, kind: FdKind) -> io::Result<Registered> {
        let reg = Registration::with_kind(fd.as_fd(), kind)?;
        Ok(Registered { reg, fd: Some(fd) })
    }

    pub(crate) fn reg(&self) -> &Registration {
        &self.reg
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("present until into_fd").as_fd()
    }

    /// Waits for `dir`, then runs `op` on the fd, until it does not say
    /// `WouldBlock` (see [`Registration::poll_io`]).
    pub(crate) fn poll_io<R>(
        &self,
        dir: u8,
        cx: &Context<'_>,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> Poll<io::Result<(R, u32)>> {
        let fd = self.fd();
        self.reg.poll_io(dir, fd, cx, || op(fd))
    }

    /// Runs `op` on the fd now, whatever the driver last said; a
    /// `WouldBlock` clears `dir` (unless an event came since the look),
    /// so that the next wait is for a real event. The `try_*` calls.
    pub(crate) fn try_io<R>(
        &self,
        dir: u8,
        op: impl FnOnce(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        let seen = self.reg.ready_now(dir);
        let done = op(self.fd());
        if let (Err(e), Some(seen)) = (&done, seen)
            && e.kind() == io::ErrorKind::WouldBlock
        {
            self.reg.clear(dir, seen);
        }
        done
    }

    /// Deregisters, and gives the fd back (still non-blocking).
    pub(crate) fn into_fd(mut self) -> OwnedFd {
        let fd = self.fd.take().expect("present until into_fd");
        self.reg.deregister(fd.as_fd());
        fd
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.reg.deregister(fd.as_fd());
        }
    }
}
