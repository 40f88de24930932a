//! `Waker`: wakes a thread blocked in `Poller::wait`, from any thread.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use rustix::event::{EventfdFlags, eventfd};

use crate::event::Token;
use crate::interest::{Interest, Mode};
use crate::poller::{Inner, Poller};

/// An eventfd registered with a poller: the user-space counterpart of
/// `ep_poll_callback` waking the process asleep on the epoll wait queue.
/// `wake` makes the poller's `wait` return an event with the waker's token;
/// the poller resets the eventfd when it delivers that event, so each burst
/// of wakes gives at least one event and a quiet waker gives none.
pub struct Waker {
    poller: Arc<Inner>,
    fd: OwnedFd,
}

impl Waker {
    /// Registers a new waker with `poller` under `token`.
    pub fn new(poller: &Poller, token: Token) -> io::Result<Waker> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        poller.inner.add(
            fd.as_fd(),
            token,
            Interest::READABLE,
            Mode::Level,
            false,
            true,
        )?;
        Ok(Waker {
            poller: Arc::clone(&poller.inner),
            fd,
        })
    }

    /// Wakes the poller. Cheap, callable from any thread, never blocks.
    pub fn wake(&self) -> io::Result<()> {
        match rustix::io::write(&self.fd, &1u64.to_ne_bytes()) {
            // EAGAIN: the counter is full, so a wake-up is pending already.
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        // Deregister before the fd closes, so its number cannot be reused
        // while the poller still thinks it is ours.
        let _ = self.poller.remove(self.fd.as_fd());
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").field("fd", &self.fd).finish()
    }
}

/// Resets a waker's eventfd. Called by the poller with its table locked:
/// a waker deregisters (under the same lock) before it closes the fd, so the
/// fd is open here.
pub(crate) fn drain(fd: RawFd) {
    // SAFETY: see above; the table lock held by the caller keeps the waker's
    // eventfd registered, and thus open, for the duration of this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut buf = [0u8; 8];
    let _ = rustix::io::read(fd, &mut buf);
}
