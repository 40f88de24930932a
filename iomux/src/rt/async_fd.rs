//! `AsyncFd`: any fd (a pipe, an eventfd, a timerfd, a device, a socket of
//! another kind) in the runtime, by readiness — on the completion driver
//! too, where it is a POLL_ADD request.
//!
//! Not for: regular files (always "ready", refused: see [`fs`](super::fs))
//! or the runtime's own sockets, which have their own types in
//! [`net`](super::net).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use super::readiness::{READ, Registration, WRITE};

/// Wraps `T` (which must be non-blocking) so that tasks can wait until it
/// is readable or writable. The guard of a wait says "ready"; an operation
/// that then finds `WouldBlock` clears it ([`ReadyGuard::clear_ready`],
/// or [`ReadyGuard::try_io`] which does it for you).
pub struct AsyncFd<T: AsFd> {
    reg: Registration,
    inner: Option<T>,
}

impl<T: AsFd> AsyncFd<T> {
    /// Registers `inner` with the current runtime.
    ///
    /// A regular file or a directory is refused, on every driver, with an
    /// error (kind `PermissionDenied`, epoll's `EPERM`) that says to use
    /// [`rt::fs`](super::fs): such a file is always "ready", so waiting
    /// for readiness would not keep a slow read off the runtime's thread.
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        refuse_files(inner.as_fd())?;
        let reg = Registration::new(inner.as_fd())?;
        Ok(AsyncFd {
            reg,
            inner: Some(inner),
        })
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("present until into_inner")
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("present until into_inner")
    }

    /// Deregisters and gives the value back.
    pub fn into_inner(mut self) -> T {
        let inner = self.inner.take().expect("present until into_inner");
        self.reg.deregister(inner.as_fd());
        inner
    }

    /// Waits until the fd may be readable.
    pub async fn readable(&self) -> io::Result<ReadyGuard<'_, T>> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the fd may be writable.
    pub async fn writable(&self) -> io::Result<ReadyGuard<'_, T>> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// The poll form of [`readable`](AsyncFd::readable).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyGuard<'_, T>>> {
        self.poll_dir(READ, cx)
    }

    /// The poll form of [`writable`](AsyncFd::writable).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyGuard<'_, T>>> {
        self.poll_dir(WRITE, cx)
    }

    fn poll_dir(&self, dir: u8, cx: &mut Context<'_>) -> Poll<io::Result<ReadyGuard<'_, T>>> {
        match self.reg.poll_ready(dir, self.get_ref().as_fd(), cx) {
            Poll::Ready(Ok(seen)) => Poll::Ready(Ok(ReadyGuard {
                fd: self,
                dir,
                seen,
            })),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsFd> Drop for AsyncFd<T> {
    fn drop(&mut self) {
        if let Some(inner) = &self.inner {
            self.reg.deregister(inner.as_fd());
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd")
            .field("inner", &self.inner)
            .finish()
    }
}

/// Proof that an [`AsyncFd`] was seen ready in one direction.
pub struct ReadyGuard<'a, T: AsFd> {
    fd: &'a AsyncFd<T>,
    dir: u8,
    /// The driver's tick when readiness was seen: a clear does not wipe an
    /// event that came after it (a guard may be held across an `.await`).
    seen: u32,
}

impl<T: AsFd> ReadyGuard<'_, T> {
    /// The fd is not ready after all (an operation said `WouldBlock`): the
    /// next wait parks until the driver reports it again. An event that
    /// came after this guard was made is kept: the next wait sees it.
    pub fn clear_ready(&mut self) {
        self.fd.reg.clear(self.dir, self.seen);
    }

    /// Runs `op`; a `WouldBlock` from it clears readiness and comes back as
    /// `Err(WouldBlock)` (wait again), anything else is its result.
    pub fn try_io<R>(
        &mut self,
        op: impl FnOnce(&T) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match op(self.fd.get_ref()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            other => Ok(other),
        }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.fd.get_ref()
    }
}

/// Regular files and directories have no readiness to wait for.
fn refuse_files(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    let kind = match rustix::fs::fstat(fd) {
        Ok(st) => rustix::fs::FileType::from_raw_mode(st.st_mode),
        // Not ours to judge: registration reports what is wrong.
        Err(_) => return Ok(()),
    };
    let what = match kind {
        rustix::fs::FileType::RegularFile => "a regular file",
        rustix::fs::FileType::Directory => "a directory",
        _ => return Ok(()),
    };
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "AsyncFd cannot watch {what}: it is always ready for reading and writing \
             (epoll refuses it with EPERM), so waiting for readiness would not keep a \
             slow disk off the runtime's thread; use iomux::rt::fs (File, read, write), \
             which runs file operations on the blocking pool"
        ),
    ))
}

/// [`ReadyGuard::try_io`]'s operation would have blocked: wait again.
///
/// An error (`?` works on it); as an `io::Error` its kind is `WouldBlock`.
#[derive(Debug)]
pub struct TryIoError(());

impl fmt::Display for TryIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation would block: the fd was not ready after all, wait again")
    }
}

impl std::error::Error for TryIoError {}

impl From<TryIoError> for io::Error {
    fn from(e: TryIoError) -> io::Error {
        io::Error::new(io::ErrorKind::WouldBlock, e)
    }
}
