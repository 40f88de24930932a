//! The interest table: what the Poller knows about each registered fd.
//!
//! The kernel keeps epoll's interest set in a red-black tree keyed by
//! (file, fd), because it must serve any process with any fds. We know more:
//! fds are small integers handed out lowest-free-first and bounded by
//! RLIMIT_NOFILE, so a `Vec` indexed by fd is a perfect hash — one bounds
//! check and one load per lookup, no hashing, no pointer chasing, and it is
//! cache-friendly when a batch of events is translated (libev does the same).
//!
//! Not for: the kernel's state (epoll keeps its own tree; poll and select
//! their arrays); this is what the Poller itself knows, to filter and
//! translate.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::event::epoll;

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
    /// How to tell whether each registered fd number still names the
    /// registered open file (see `Identity`).
    identities: Vec<Identity>,
    /// The eventfds of dropped wakers whose last wake is not delivered yet.
    pub orphans: Vec<OwnedFd>,
}

impl Table {
    /// The slot for `fd` and its file identity, growing the table on first
    /// use of a high fd.
    pub fn slot_and_identity_mut(&mut self, fd: RawFd) -> (&mut Slot, &mut Identity) {
        let i = fd as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Slot::default());
            self.identities.resize(i + 1, Identity::Kernel);
        }
        (&mut self.slots[i], &mut self.identities[i])
    }

    /// The slot for `fd` if it is registered.
    pub fn registered_mut(&mut self, fd: RawFd) -> Option<&mut Slot> {
        self.slots.get_mut(fd as usize).filter(|s| s.registered)
    }

    /// The slot for `fd` and the identity of its file, if it is registered.
    pub fn registered_with_identity_mut(&mut self, fd: RawFd) -> Option<(&mut Slot, Identity)> {
        let i = fd as usize;
        let slot = self.slots.get_mut(i).filter(|s| s.registered)?;
        Some((slot, self.identities[i]))
    }

    /// The slot at a raw index, registered or not.
    pub fn get_mut(&mut self, fd: usize) -> Option<&mut Slot> {
        self.slots.get_mut(fd)
    }

    /// Every registered slot with its fd number and the identity of its file.
    pub fn registered(&self) -> impl Iterator<Item = (RawFd, &Slot, Identity)> {
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

/// How the Poller tells whether a registered fd number still names the open
/// file that was registered, or was closed and handed out again (epoll
/// keys its interest set by open file and fd number, so there a stale
/// `modify` fails with ENOENT; the other backends only know numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// The backend's kernel keys registrations by open file (epoll): it
    /// answers itself.
    Kernel,
    /// Entered in the poller's `Files`: the kernel tells.
    Files,
    /// (st_dev, st_ino), for a file `Files` refuses (a regular file, which
    /// epoll cannot watch). Two opens of one inode look alike here.
    Stat(u64, u64),
}

/// The open files registered in a poller whose backend keys registrations
/// by fd number only (poll, select, io_uring), held as the entries of an
/// epoll instance of their own that nobody waits on.
///
/// epoll keys an entry by (open file, fd number) and drops it when the file
/// is released, so asking it about `fd` tells whether the number still
/// names the file entered for it: a new file at a reused number, or a
/// number closed, is unknown to it (ENOENT). This is the comparison of open
/// files that (st_dev, st_ino) cannot make: every eventfd, timerfd or
/// signalfd shares one anonymous inode, and two opens of a tty share the
/// device's. An entry holds no reference to its file (the file still
/// closes when its last descriptor does), watches no event, and is entered
/// with EPOLLEXCLUSIVE, for which `EPOLL_CTL_MOD` is refused (EINVAL) once
/// the entry is found, before any work: the question costs one cheap
/// syscall, under that of re-arming a oneshot epoll registration.
pub(crate) struct Files {
    epfd: OwnedFd,
}

impl Files {
    pub fn new() -> io::Result<Files> {
        Ok(Files {
            epfd: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Enters the open file at `fd`. Returns how it will be recognised,
    /// and whether this (file, number) pair was entered already: a
    /// duplicate registration, if the number's slot is registered as
    /// `Identity::Files`.
    pub fn enter(&self, fd: BorrowedFd<'_>) -> io::Result<(Identity, bool)> {
        let data = epoll::EventData::new_u64(0);
        let mut r = epoll::add(&self.epfd, fd, data, epoll::EventFlags::EXCLUSIVE);
        if r == Err(rustix::io::Errno::INVAL) {
            // An epoll instance (a nested poller) cannot be entered
            // exclusively; a plain entry answers `EPOLL_CTL_MOD` with
            // success instead of EINVAL.
            r = epoll::add(&self.epfd, fd, data, epoll::EventFlags::empty());
        }
        match r {
            Ok(()) => Ok((Identity::Files, false)),
            Err(rustix::io::Errno::EXIST) => Ok((Identity::Files, true)),
            // EPERM: a file epoll cannot watch (regular files, directories);
            // ENOSPC: fs.epoll.max_user_watches reached; ELOOP: nesting too
            // deep. The inode has to do.
            Err(_) => {
                let st = rustix::fs::fstat(fd)?;
                Ok((Identity::Stat(st.st_dev as u64, st.st_ino as u64), false))
            }
        }
    }

    /// Whether the number `fd` still names the file registered under it.
    /// `Ok(false)` if it is closed or names another file.
    #[inline]
    pub fn same(&self, fd: RawFd, identity: Identity) -> io::Result<bool> {
        match identity {
            Identity::Kernel => Ok(true),
            Identity::Files => match self.ctl(libc::EPOLL_CTL_MOD, fd) {
                // EINVAL: found, and exclusive; success: found (a plain entry).
                Ok(()) => Ok(true),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINVAL) => Ok(true),
                    Some(libc::ENOENT | libc::EBADF) => Ok(false),
                    _ => Err(e),
                },
            },
            Identity::Stat(dev, ino) => Ok(stat_identity(fd) == Some((dev, ino))),
        }
    }

    /// Removes the entry of the file at `fd`, if it is the one entered
    /// (a number that names another file now has none).
    pub fn leave(&self, fd: RawFd, identity: Identity) {
        if identity == Identity::Files {
            let _ = self.ctl(libc::EPOLL_CTL_DEL, fd);
        }
    }

    /// `epoll_ctl` with no event on a raw number, which may be closed.
    fn ctl(&self, op: libc::c_int, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: epoll_ctl reads `ev`, a valid epoll_event, and only looks
        // up the number `fd` (a number that is not open yields EBADF); our
        // epoll fd is owned and open.
        let r = unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// (st_dev, st_ino) of whatever file the number `fd` names now, or `None`
/// if it is closed.
pub(crate) fn stat_identity(fd: RawFd) -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat only reads the number and writes `st`, a valid buffer;
    // a number that is not open yields EBADF and touches nothing.
    let r = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    if r < 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some((st.st_dev, st.st_ino))
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
