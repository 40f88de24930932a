//! `Registered<T>`: a registration that owns its source, so it cannot be
//! forgotten.
//!
//! Why a guard rather than an `unsafe` register (smol-rs/polling 3.x makes
//! `Poller::add` unsafe, with the contract "delete before the source is
//! closed"): forgetting to deregister is not undefined behaviour here. The
//! Poller tags each registration with a generation, drops stale events and
//! tells a reused fd number from a duplicate, so the plain `register` stays
//! safe (mio's `Registry::register` is safe too, and its docs say a source
//! dropped without deregister leaks resources, since a drop cannot reach the
//! registry). What a forgotten deregister costs here is a logic error, and on
//! io_uring a file kept open; a guard that owns the source and holds the
//! poller rules both out, which an `unsafe` contract would only document.
//!
//! Not for: `&mut T` (that could swap the fd out from under the poller) or
//! async readiness (that is `rt::AsyncFd`).

use std::fmt;
use std::io;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::event::Token;
use crate::interest::{Interest, Mode};
use crate::poller::Poller;

/// A source registered with a [`Poller`], owned by the registration: when
/// it is dropped the source is deregistered first, then dropped (closed).
/// Made by [`Poller::register_owned`] or [`Registered::new`].
///
/// It gives shared access to the source (`&T`, also through `Deref`), which
/// is enough to read and write sockets, pipes and files (`Read` and `Write`
/// are implemented for `&TcpStream`, `&UnixStream`, `&File`). It gives no
/// `&mut T`: that would let the source be replaced, closing the registered
/// fd behind the poller's back. [`into_inner`](Registered::into_inner)
/// deregisters and gives the source back.
pub struct Registered<T: AsFd> {
    // Declared first, so dropped first: the source's fd is still open when
    // the guard deregisters it.
    guard: Deregister,
    source: T,
}

/// Deregisters an fd number when dropped, unless disarmed.
struct Deregister {
    poller: Poller,
    fd: RawFd,
    armed: bool,
}

impl Poller {
    /// Registers `source` and hands back a guard that owns it and
    /// deregisters it when dropped (before the fd closes), so that a
    /// registration cannot outlive its file. Errors as [`register`](Poller::register).
    pub fn register_owned<T: AsFd>(
        &self,
        source: T,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<Registered<T>> {
        Registered::new(self, source, token, interest, mode)
    }
}

impl<T: AsFd> Registered<T> {
    /// Registers `source` with `poller` (as [`Poller::register`]) and keeps it.
    pub fn new(
        poller: &Poller,
        source: T,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<Registered<T>> {
        poller.register(&source, token, interest, mode)?;
        let fd = source.as_fd().as_raw_fd();
        Ok(Registered {
            guard: Deregister {
                poller: poller.clone(),
                fd,
                armed: true,
            },
            source,
        })
    }

    /// The source.
    pub fn get(&self) -> &T {
        &self.source
    }

    /// The poller it is registered with.
    pub fn poller(&self) -> &Poller {
        &self.guard.poller
    }

    /// Changes the token, interest or mode, as [`Poller::modify`].
    pub fn modify(&self, token: Token, interest: Interest, mode: Mode) -> io::Result<()> {
        self.guard
            .poller
            .modify(&self.source, token, interest, mode)
    }

    /// Deregisters the source and gives it back. A failure to deregister
    /// (the registration was already removed through
    /// [`Poller::deregister`]) is ignored: the source is not registered
    /// either way.
    pub fn into_inner(self) -> T {
        let Registered { mut guard, source } = self;
        guard.armed = false;
        let _ = guard.poller.deregister(&source);
        source
    }
}

impl Drop for Deregister {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // SAFETY: a `Deregister` lives only in a `Registered`, declared
        // before the source that owns this fd, so the source (and its fd)
        // is dropped after this runs: the fd is open for the whole call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        if let Err(e) = self.poller.deregister(&fd) {
            log::debug!("iomux: deregistering fd {} on drop: {e}", self.fd);
        }
    }
}

impl<T: AsFd> Deref for Registered<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.source
    }
}

impl<T: AsFd> AsFd for Registered<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.as_fd()
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Registered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("source", &self.source)
            .field("poller", &self.guard.poller)
            .finish()
    }
}
