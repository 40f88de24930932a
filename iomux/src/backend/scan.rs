//! Pieces shared by the scanning backends (poll, select) and io_uring: the
//! notification eventfd that interrupts a wait when the interest set changes,
//! and the fd → dense-index map behind their swap-remove arrays.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use rustix::event::{EventfdFlags, eventfd};

/// An eventfd the backend watches besides the user's fds. Writing to it makes
/// a blocked wait return so that it picks up a changed interest set; this is
/// how a registration from another thread takes effect in the current wait.
pub(crate) struct Notify {
    fd: OwnedFd,
}

impl Notify {
    pub(crate) fn new() -> io::Result<Notify> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Notify { fd })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Wakes the waiter. EAGAIN means the counter is saturated: a wake-up is
    /// already pending, which is all we need.
    pub(crate) fn wake(&self) -> io::Result<()> {
        match rustix::io::write(self.fd.as_fd(), &1u64.to_ne_bytes()) {
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Resets the counter after a wake-up was seen.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 8];
        // Nothing to do on EAGAIN: another wait already drained it.
        let _ = rustix::io::read(self.fd.as_fd(), &mut buf);
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
