//! `Waker`: wakes a thread blocked in `Poller::wait`, from any thread.
//!
//! Not for: waking a task (that is `std::task::Waker`, which the runtime
//! builds on this for cross-thread wakes).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use crate::event::Token;
use crate::eventfd;
use crate::interest::{Interest, Mode};
use crate::poller::{Inner, Poller};

/// An eventfd registered with a poller: the user-space counterpart of
/// `ep_poll_callback` waking the process asleep on the epoll wait queue.
/// `wake` makes the poller's `wait` return an event with the waker's token;
/// the poller resets the eventfd when it delivers that event, so each burst
/// of wakes gives at least one event and a quiet waker gives none.
///
/// A wake is never lost: a `Waker` dropped right after `wake` still makes
/// the wait return its event (the poller keeps the eventfd until that event
/// is delivered, then closes it). A poller may have any number of wakers,
/// each with its own token.
pub struct Waker {
    poller: Arc<Inner>,
    /// `None` only while `drop` hands the fd over to the poller.
    fd: Option<OwnedFd>,
}

impl Waker {
    /// Registers a new waker with `poller` under `token`.
    pub fn new(poller: &Poller, token: Token) -> io::Result<Waker> {
        let fd = eventfd::new()?;
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
            fd: Some(fd),
        })
    }

    /// Wakes the poller. Cheap, callable from any thread, never blocks.
    pub fn wake(&self) -> io::Result<()> {
        match &self.fd {
            Some(fd) => eventfd::signal(fd.as_fd()),
            None => Ok(()),
        }
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        // The poller deregisters the eventfd before it closes, so its number
        // cannot be reused while the poller still thinks it is ours; if a
        // wake is pending it first lets a wait deliver it.
        if let Some(fd) = self.fd.take() {
            self.poller.retire_waker(fd);
        }
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").field("fd", &self.fd).finish()
    }
}
