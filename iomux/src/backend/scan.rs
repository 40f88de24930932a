//! Pieces shared by the scanning backends (poll, select) and io_uring: the
//! notification eventfd that interrupts a wait when the interest set changes,
//! and the fd → dense-index map behind their swap-remove arrays.
//!
//! Not for: the scan itself or any syscall beyond the eventfd's; each
//! backend keeps its own arrays.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::eventfd;

/// An eventfd the backend watches besides the user's fds. Writing to it makes
/// a blocked wait return so that it picks up a changed interest set; this is
/// how a registration from another thread takes effect in the current wait.
pub(crate) struct Notify {
    fd: OwnedFd,
}

impl Notify {
    pub(crate) fn new() -> io::Result<Notify> {
        Ok(Notify {
            fd: eventfd::new()?,
        })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Wakes the waiter.
    pub(crate) fn wake(&self) -> io::Result<()> {
        eventfd::signal(self.fd.as_fd())
    }

    /// Resets the counter after a wake-up was seen (perhaps by another wait).
    pub(crate) fn drain(&self) {
        eventfd::reset(self.fd.as_fd());
    }
}

/// fd → position in a dense array. A `Vec` indexed by fd: fds are small and
/// dense (the kernel hands out the lowest free number), so this is one load,
/// with no hashing and no tree walk.
#[derive(Default)]
pub(crate) struct FdIndex {
    pos: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl FdIndex {
    pub(crate) fn get(&self, fd: RawFd) -> Option<usize> {
        match self.pos.get(fd as usize) {
            Some(&p) if p != NONE => Some(p as usize),
            _ => None,
        }
    }

    pub(crate) fn set(&mut self, fd: RawFd, at: usize) {
        let fd = fd as usize;
        if fd >= self.pos.len() {
            self.pos.resize(fd + 1, NONE);
        }
        self.pos[fd] = at as u32;
    }

    pub(crate) fn clear(&mut self, fd: RawFd) {
        if let Some(p) = self.pos.get_mut(fd as usize) {
            *p = NONE;
        }
    }
}
