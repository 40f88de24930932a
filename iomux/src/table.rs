//! The interest table: what the Poller knows about each registered fd.
//!
//! The kernel keeps epoll's interest set in a red-black tree keyed by
//! (file, fd), because it must serve any process with any fds. We know more:
//! fds are small integers handed out lowest-free-first and bounded by
//! RLIMIT_NOFILE, so a `Vec` indexed by fd is a perfect hash — one bounds
//! check and one load per lookup, no hashing, no pointer chasing, and it is
//! cache-friendly when a batch of events is translated (libev does the same).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::event::Token;
use crate::interest::{Interest, Mode};

/// One registration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub token: Token,
    pub interest: Interest,
    pub mode: Mode,
    /// Bumped at every registration of this fd number. It travels with each
    /// event in the upper 32 bits of the key (epoll_data), so an event queued
    /// for an earlier registration of the same number is recognised and
    /// dropped (libev's trick against stale epoll events).
    pub generation: u32,
    pub registered: bool,
    /// False once a oneshot registration has fired, until `modify`.
    pub armed: bool,
    pub exclusive: bool,
    /// The slot belongs to a `Waker`'s eventfd: drain it on delivery.
    pub waker: bool,
    /// A waker slot whose `Waker` was dropped with a wake not yet delivered:
    /// the Poller owns its eventfd until that wake is delivered.
    pub orphan: bool,
    /// `key(fd)` while the slot is registered as a plain level or edge
    /// registration (not oneshot, not a waker), else `NO_KEY`: one compare
    /// then accepts the common event (see `refresh`).
    pub plain_key: u64,
}

/// A key no event carries (fd numbers are below 2^31).
pub(crate) const NO_KEY: u64 = u64::MAX;

impl Default for Slot {
    fn default() -> Slot {
        Slot {
            token: Token(0),
            interest: Interest::READABLE,
            mode: Mode::Level,
            generation: 0,
            registered: false,
            armed: false,
            exclusive: false,
            waker: false,
            orphan: false,
            plain_key: NO_KEY,
        }
    }
}

impl Slot {
    /// The key the backend reports with every event of this registration.
    pub fn key(&self, fd: RawFd) -> u64 {
        ((self.generation as u64) << 32) | fd as u32 as u64
    }

    /// Recomputes `plain_key`; call after any change of the fields it sums up.
    pub fn refresh(&mut self, fd: RawFd) {
        let plain = self.registered && !self.waker && !self.mode.is_oneshot();
        self.plain_key = if plain { self.key(fd) } else { NO_KEY };
    }
}

/// Splits a key back into (fd, generation).
pub(crate) fn split_key(key: u64) -> (usize, u32) {
    (key as u32 as usize, (key >> 32) as u32)
}

/// The slots, and beside them what only registration needs: kept apart so
/// that a slot stays 24 bytes and the translation of a large batch of events
/// touches as few cache lines as possible.
#[derive(Default)]
pub(crate) struct Table {
    slots: Vec<Slot>,
    /// (st_dev, st_ino) of each registered file, for the backends where the
    /// kernel cannot tell a duplicate registration from an fd number reused
    /// after close.
    identities: Vec<(u64, u64)>,
    /// The eventfds of dropped wakers whose last wake is not delivered yet.
    pub orphans: Vec<OwnedFd>,
}

impl Table {
    /// The slot for `fd` and its file identity, growing the table on first
    /// use of a high fd.
    pub fn slot_and_identity_mut(&mut self, fd: RawFd) -> (&mut Slot, &mut (u64, u64)) {
        let i = fd as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Slot::default());
            self.identities.resize(i + 1, (0, 0));
        }
        (&mut self.slots[i], &mut self.identities[i])
    }

    /// The slot for `fd` if it is registered.
    pub fn registered_mut(&mut self, fd: RawFd) -> Option<&mut Slot> {
        self.slots.get_mut(fd as usize).filter(|s| s.registered)
    }

    /// The slot at a raw index, registered or not.
    pub fn get_mut(&mut self, fd: usize) -> Option<&mut Slot> {
        self.slots.get_mut(fd)
    }

    /// Every registered slot with its fd number and recorded file identity
    /// ((0, 0) where the backend's kernel checks duplicates itself).
    pub fn registered(&self) -> impl Iterator<Item = (RawFd, &Slot, (u64, u64))> {
        self.slots
            .iter()
            .zip(&self.identities)
            .enumerate()
            .filter(|(_, (s, _))| s.registered)
            .map(|(fd, (s, id))| (fd as RawFd, s, *id))
    }
}

/// `AlreadyExists`, with EEXIST as its OS error on every backend.
pub(crate) fn already_exists() -> io::Error {
    io::Error::from_raw_os_error(libc::EEXIST)
}

/// `NotFound`, with ENOENT as its OS error on every backend.
pub(crate) fn not_found() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

/// The identity of the open file behind `fd`.
pub(crate) fn identity(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// Rejects fd numbers no kernel would hand out.
pub(crate) fn check_fd(fd: BorrowedFd<'_>) -> io::Result<RawFd> {
    let raw = fd.as_raw_fd();
    if raw < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "negative file descriptor",
        ));
    }
    Ok(raw)
}
