//! The interest table: what the Poller knows about each registered fd.
//!
//! The kernel keeps epoll's interest set in a red-black tree keyed by
//! (file, fd), because it must serve any process with any fds. We know more:
//! fds are small integers handed out lowest-free-first and bounded by
//! RLIMIT_NOFILE, so a `Vec` indexed by fd is a perfect hash — one bounds
//! check and one load per lookup, no hashing, no pointer chasing, and it is
//! cache-friendly when a batch of events is translated (libev does the same).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

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
    /// (st_dev, st_ino) of the file, for the backends where the kernel cannot
    /// tell a duplicate registration from an fd number reused after close.
    pub identity: (u64, u64),
}

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
            identity: (0, 0),
        }
    }
}

impl Slot {
    /// The key the backend reports with every event of this registration.
    pub fn key(&self, fd: RawFd) -> u64 {
        ((self.generation as u64) << 32) | fd as u32 as u64
    }
}

/// Splits a key back into (fd, generation).
pub(crate) fn split_key(key: u64) -> (usize, u32) {
    (key as u32 as usize, (key >> 32) as u32)
}

#[derive(Default)]
pub(crate) struct Table {
    slots: Vec<Slot>,
}

impl Table {
    /// The slot for `fd`, growing the table on first use of a high fd.
    pub fn slot_mut(&mut self, fd: RawFd) -> &mut Slot {
        let i = fd as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Slot::default());
        }
        &mut self.slots[i]
    }

    /// The slot for `fd` if it is registered.
    pub fn registered_mut(&mut self, fd: RawFd) -> Option<&mut Slot> {
        self.slots.get_mut(fd as usize).filter(|s| s.registered)
    }

    /// The slot at a raw index, registered or not.
    pub fn get_mut(&mut self, fd: usize) -> Option<&mut Slot> {
        self.slots.get_mut(fd)
    }
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
