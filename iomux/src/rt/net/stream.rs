//! A connected socket's I/O on either driver: readiness (try the syscall,
//! wait on `EAGAIN`) or io_uring completions (runtime-owned buffers).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use rustix::net::{SendFlags, Shutdown};

#[cfg(feature = "uring")]
use crate::rt::driver::Driver;
#[cfg(feature = "uring")]
use crate::rt::executor::Core;
use crate::rt::executor::coop;
use crate::rt::readiness::{FdKind, READ, Registration, WRITE};
#[cfg(feature = "uring")]
use crate::rt::uring::UringStream;

pub(crate) enum StreamIo {
    Ready {
        reg: Registration,
        fd: OwnedFd,
    },
    #[cfg(feature = "uring")]
    Uring(UringStream),
}

impl StreamIo {
    /// Takes a connected, non-blocking socket of `kind` into the current
    /// runtime.
    pub(crate) fn new(fd: OwnedFd, kind: FdKind) -> io::Result<StreamIo> {
        #[cfg(feature = "uring")]
        if let Some(core) = Core::current()
            && matches!(&*core.driver.borrow(), Driver::Uring(_))
        {
            return Ok(StreamIo::Uring(UringStream::new(core.clone(), fd)));
        }
        let reg = Registration::with_kind(fd.as_fd(), kind)?;
        Ok(StreamIo::Ready { reg, fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            StreamIo::Ready { fd, .. } => fd.as_fd(),
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.fd(),
        }
    }

    /// Reads into `buf`, which may be uninitialised: hyper's and tokio's
    /// read buffers are, and zeroing 8 KiB or more before every read cost
    /// more than the read's copy (perf: memset was the hottest libc symbol
    /// of hyper_hello).
    pub(crate) fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        coop(cx, |cx| match self {
            StreamIo::Ready { reg, fd } => {
                let len = buf.len();
                let polled = reg.poll_io(READ, fd.as_fd(), cx, || {
                    let (filled, _) = rustix::io::read(&*fd, &mut *buf)?;
                    Ok(filled.len())
                });
                // A short read emptied the socket, where the kernel promises
                // it (see `clear_after_short_read`): not ready until the
                // next edge (tokio's rule), which saves the EAGAIN read per
                // request.
                if let Poll::Ready(Ok((n, seen))) = polled
                    && n > 0
                    && n < len
                {
                    reg.clear_after_short_read(seen);
                }
                polled.map_ok(|(n, _)| n)
            }
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_read(cx, buf),
        })
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and
        // both drivers only ever write initialised bytes into the slice (a
        // read(2) or a copy), so `buf` stays initialised.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        self.poll_read_uninit(cx, uninit)
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        coop(cx, |cx| match self {
            StreamIo::Ready { reg, fd } => {
                let polled = reg.poll_io(WRITE, fd.as_fd(), cx, || {
                    Ok(rustix::net::send(&*fd, buf, SendFlags::NOSIGNAL)?)
                });
                // A short write filled the socket buffer: wait for the
                // next edge rather than try (and fail) once more.
                if let Poll::Ready(Ok((n, seen))) = polled
                    && n > 0
                    && n < buf.len()
                {
                    reg.clear(WRITE, seen);
                }
                polled.map_ok(|(n, _)| n)
            }
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_write(cx, buf),
        })
    }

    /// Readiness writes go straight to the kernel: nothing to flush. The
    /// completion driver's writes are in flight until their completions.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            StreamIo::Ready { .. } => {
                let _ = cx;
                Poll::Ready(Ok(()))
            }
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_flush(cx),
        }
    }

    /// Flushes, then shuts the writing side (the peer reads EOF).
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match rustix::net::shutdown(self.fd(), Shutdown::Write) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(rustix::io::Errno::NOTCONN) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }
}

impl Drop for StreamIo {
    #[allow(irrefutable_let_patterns)] // without `uring`, Ready is the only variant
    fn drop(&mut self) {
        if let StreamIo::Ready { reg, fd } = self {
            reg.deregister(fd.as_fd());
        }
    }
}
