//! The eventfd operations under the Waker and the backends' internal
//! notification: one counter, written to signal, read to reset.
//!
//! Not for: a public waker (that is [`Waker`](crate::Waker), which adds
//! registration and never-lost wakes); these are the two bare syscalls.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd};

/// A new non-blocking, close-on-exec eventfd with its counter at zero.
pub(crate) fn new() -> io::Result<OwnedFd> {
    Ok(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?)
}

/// An eventfd that is readable for good: its counter is set and nobody
/// resets it. What a poller without one fd of its own gives to an outer
/// event loop (see `Poller`'s `AsFd`).
pub(crate) fn always_readable() -> io::Result<OwnedFd> {
    let fd = new()?;
    signal(fd.as_fd())?;
    Ok(fd)
}

/// Adds one to the counter, making the fd readable. EAGAIN means the
/// counter is saturated: a signal is pending already, which is all we need.
pub(crate) fn signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    match rustix::io::write(fd, &1u64.to_ne_bytes()) {
        Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Resets the counter. Nothing to do on EAGAIN: it was already zero.
pub(crate) fn reset(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 8];
    let _ = rustix::io::read(fd, &mut buf);
}

/// True when the counter is non-zero: a signal not yet reset.
pub(crate) fn is_signalled(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let zero = rustix::time::Timespec::default();
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}
