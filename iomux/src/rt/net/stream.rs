//! A connected socket's I/O on either driver: readiness (try the syscall,
//! wait on `EAGAIN`) or io_uring completions (runtime-owned buffers).
//!
//! Every operation takes `&self`: a stream's two directions are waited on
//! apart (a reader and a writer waker each), so the halves of
//! [`into_split`](super::TcpStream::into_split) may be used by two tasks.
//!
//! Not for: the public stream types (`tcp.rs`, `unix.rs`) or their trait
//! impls (`io_impls.rs`).

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use rustix::net::{RecvFlags, SendFlags, Shutdown};

use super::registered::Registered;
#[cfg(feature = "uring")]
use crate::rt::driver::Driver;
#[cfg(feature = "uring")]
use crate::rt::executor::Core;
use crate::rt::executor::coop;
use crate::rt::readiness::{FdKind, READ, WRITE};
#[cfg(feature = "uring")]
use crate::rt::uring::UringStream;

pub(crate) enum StreamIo {
    Ready(Registered),
    #[cfg(feature = "uring")]
    Uring(UringStream),
}

/// Views initialised bytes as possibly uninitialised ones, for a read
/// that only ever writes initialised bytes into them.
pub(crate) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and
    // every caller's read only writes initialised bytes into the slice (a
    // read(2) or a copy), so `buf` stays initialised.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
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
        Ok(StreamIo::Ready(Registered::new(fd, kind)?))
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            StreamIo::Ready(r) => r.fd(),
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.fd(),
        }
    }

    /// Reads into `buf`, which may be uninitialised: hyper's and tokio's
    /// read buffers are, and zeroing 8 KiB or more before every read cost
    /// more than the read's copy (perf: memset was the hottest libc symbol
    /// of hyper_hello).
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        coop(cx, |cx| match self {
            StreamIo::Ready(r) => {
                let len = buf.len();
                let polled = r.poll_io(READ, cx, |fd| {
                    let (filled, _) = rustix::io::read(fd, &mut *buf)?;
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
                    r.reg().clear_after_short_read(seen);
                }
                polled.map_ok(|(n, _)| n)
            }
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_read(cx, buf),
        })
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_uninit(cx, as_uninit(buf))
    }

    /// Like a read, but the bytes stay to be read again.
    pub(crate) fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        coop(cx, |cx| match self {
            StreamIo::Ready(r) => r
                .poll_io(READ, cx, |fd| {
                    Ok(rustix::net::recv(fd, &mut *buf, RecvFlags::PEEK)?.0)
                })
                .map_ok(|(n, _)| n),
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_peek(cx, buf),
        })
    }

    /// Reads what is there now, or says `WouldBlock`.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StreamIo::Ready(r) => r.try_io(READ, |fd| Ok(rustix::io::read(fd, &mut *buf)?)),
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.try_read(as_uninit(buf)),
        }
    }

    /// Ready when a read may find something (data, the end, an error).
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            StreamIo::Ready(r) => r.reg().poll_ready(READ, r.fd(), cx).map_ok(|_| ()),
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_read_ready(cx),
        }
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        coop(cx, |cx| match self {
            StreamIo::Ready(r) => {
                let polled = r.poll_io(WRITE, cx, send_now(buf));
                // A short write filled the socket buffer: wait for the
                // next edge rather than try (and fail) once more.
                if let Poll::Ready(Ok((n, seen))) = polled
                    && n > 0
                    && n < buf.len()
                {
                    r.reg().clear(WRITE, seen);
                }
                polled.map_ok(|(n, _)| n)
            }
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_write(cx, buf),
        })
    }

    /// Writes the slices as one: a sendmsg(2) on the readiness drivers, one
    /// copy into the send queue on the completion driver (a TLS record's
    /// header and body, hyper's head and body: one send, not one each).
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        coop(cx, |cx| match self {
            StreamIo::Ready(r) => {
                let total: usize = bufs.iter().map(|b| b.len()).sum();
                let polled = r.poll_io(WRITE, cx, |fd| {
                    Ok(rustix::net::sendmsg(
                        fd,
                        bufs,
                        &mut rustix::net::SendAncillaryBuffer::default(),
                        SendFlags::NOSIGNAL,
                    )?)
                });
                if let Poll::Ready(Ok((n, seen))) = polled
                    && n > 0
                    && n < total
                {
                    r.reg().clear(WRITE, seen);
                }
                polled.map_ok(|(n, _)| n)
            }
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_write_vectored(cx, bufs),
        })
    }

    /// Writes what fits now, or says `WouldBlock`.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StreamIo::Ready(r) => r.try_io(WRITE, send_now(buf)),
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.try_write(buf),
        }
    }

    /// Ready when a write may take something (or report an error).
    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            StreamIo::Ready(r) => r.reg().poll_ready(WRITE, r.fd(), cx).map_ok(|_| ()),
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_write_ready(cx),
        }
    }

    /// Readiness writes go straight to the kernel: nothing to flush. The
    /// completion driver's writes are in flight until their completions.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            StreamIo::Ready(_) => {
                let _ = cx;
                Poll::Ready(Ok(()))
            }
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.poll_flush(cx),
        }
    }

    /// Flushes, then shuts the writing side (the peer reads EOF).
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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

    /// Takes the socket out of the runtime, non-blocking still. On the
    /// completion driver nothing may be in flight on it nor held in its
    /// buffers (see [`UringStream::into_fd`]); else the stream comes back
    /// with the reason.
    pub(crate) fn into_fd(self) -> Result<OwnedFd, (StreamIo, io::Error)> {
        match self {
            StreamIo::Ready(r) => Ok(r.into_fd()),
            #[cfg(feature = "uring")]
            StreamIo::Uring(s) => s.into_fd().map_err(|(s, e)| (StreamIo::Uring(s), e)),
        }
    }
}

/// One non-blocking send of `buf` (no SIGPIPE: a closed peer is `EPIPE`).
pub(crate) fn send_now(buf: &[u8]) -> impl FnMut(BorrowedFd<'_>) -> io::Result<usize> + '_ {
    move |fd| Ok(rustix::net::send(fd, buf, SendFlags::NOSIGNAL)?)
}

/// A stream's `into_std` could not hand the socket over: the error says
/// why (on the completion driver: bytes received but not yet read, or
/// written but not yet flushed, or a request that would not end), and the
/// stream comes back intact, so that nothing is lost
/// ([`into_stream`](IntoStdError::into_stream), read or flush, try again).
pub struct IntoStdError<S> {
    stream: S,
    error: io::Error,
}

impl<S> IntoStdError<S> {
    pub(crate) fn new(stream: S, error: io::Error) -> IntoStdError<S> {
        IntoStdError { stream, error }
    }

    /// Why the socket could not be handed over.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The stream, as it was.
    pub fn into_stream(self) -> S {
        self.stream
    }

    /// The stream and the error.
    pub fn into_parts(self) -> (S, io::Error) {
        (self.stream, self.error)
    }
}

impl<S> fmt::Debug for IntoStdError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoStdError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Display for IntoStdError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot take the socket out of the runtime: {}",
            self.error
        )
    }
}

impl<S> std::error::Error for IntoStdError<S> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<S> From<IntoStdError<S>> for io::Error {
    fn from(e: IntoStdError<S>) -> io::Error {
        io::Error::new(e.error.kind(), e.to_string())
    }
}
