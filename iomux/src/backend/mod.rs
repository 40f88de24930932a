//! The mechanisms under the Poller, one file each, behind one small trait
//! (as in Redis' `ae_*.c`: a backend is a handful of functions).
//!
//! Not for: deciding what to deliver (stale keys, oneshot bookkeeping,
//! tokens: `deliver.rs`, `table.rs`) or anything the caller sees; a backend
//! reports (key, flags) and nothing more. Nor is it the io_uring core: the
//! io_uring backend is one user of [`crate::uring`].

use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rustix::time::Timespec;

use crate::event::{Events, flags};
use crate::interest::{Interest, Mode};
use crate::name::ParseNameError;
use crate::table::Table;

pub(crate) mod epoll;
pub(crate) mod poll;
pub(crate) mod scan;
pub(crate) mod select;
#[cfg(feature = "uring")]
pub(crate) mod uring;

/// The kernel mechanism a [`Poller`](crate::Poller) runs on.
///
/// Non-exhaustive: a mechanism may be added; a `match` needs a wildcard
/// arm (the capability queries below say what a backend can do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// epoll(7): persistent interest set in the kernel, O(ready) waits.
    Epoll,
    /// poll(2): the whole set is passed and scanned at every wait.
    Poll,
    /// select(2): bitmaps sized to the highest fd (no FD_SETSIZE limit here).
    Select,
    /// io_uring with IORING_OP_POLL_ADD.
    IoUring,
}

impl Backend {
    /// Every backend, best first.
    pub const ALL: [Backend; 4] = [
        Backend::Epoll,
        Backend::IoUring,
        Backend::Poll,
        Backend::Select,
    ];

    /// The lower-case name used on command lines: `epoll`, `poll`, `select`, `uring`.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::Poll => "poll",
            Backend::Select => "select",
            Backend::IoUring => "uring",
        }
    }

    /// True when [`Mode::Edge`] is a real edge trigger. When false,
    /// registering with `Edge` or `EdgeOneshot` fails with `Unsupported`,
    /// and [`Mode::EdgeOrLevel`] is delivered as level.
    /// io_uring's multishot poll reports each wake-up of the fd's wait queue,
    /// as epoll's ET does, so it counts as a real edge trigger.
    pub const fn supports_edge(self) -> bool {
        matches!(self, Backend::Epoll | Backend::IoUring)
    }

    /// The mode a registration asking for `mode` gets on this backend:
    /// `mode` itself, except that [`Mode::EdgeOrLevel`] becomes `Edge` or
    /// `Level`. `Unsupported` for `Edge` and `EdgeOneshot` on a backend
    /// without native edges ([`supports_edge`](Backend::supports_edge)).
    pub fn effective_mode(self, mode: Mode) -> io::Result<Mode> {
        match mode {
            Mode::EdgeOrLevel if self.supports_edge() => Ok(Mode::Edge),
            Mode::EdgeOrLevel => Ok(Mode::Level),
            Mode::Edge | Mode::EdgeOneshot if !self.supports_edge() => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "the {self} backend has no edge triggering: ask for Mode::EdgeOrLevel \
                     to accept level delivery, or use Mode::Level / Mode::Oneshot"
                ),
            )),
            other => Ok(other),
        }
    }

    /// True when the poller itself is one fd that turns readable when a
    /// wait would report something, so that it can be watched by another
    /// event loop ([`Poller::pollable_fd`](crate::Poller::pollable_fd)):
    /// epoll only. Elsewhere the `AsFd` of a `Poller` is always readable.
    pub const fn supports_nesting(self) -> bool {
        matches!(self, Backend::Epoll)
    }

    /// True when oneshot is native in the kernel. Where it is not, the
    /// Poller disarms the registration itself; the semantics are the same.
    pub const fn supports_native_oneshot(self) -> bool {
        matches!(self, Backend::Epoll | Backend::IoUring)
    }

    /// True when [`Poller::register_exclusive`](crate::Poller::register_exclusive)
    /// works (EPOLLEXCLUSIVE). Elsewhere it fails with `Unsupported`.
    pub const fn supports_exclusive(self) -> bool {
        matches!(self, Backend::Epoll)
    }

    /// True when peer half-close is reported as
    /// [`Event::is_read_closed`](crate::Event::is_read_closed). select cannot
    /// see it: the fd turns readable and `read` returns 0.
    pub const fn reports_read_closed(self) -> bool {
        !matches!(self, Backend::Select)
    }

    /// True when an fd closed behind the poller's back (closed without
    /// `deregister`) is noticed: one error event for its token, then the
    /// registration is dropped (poll's POLLNVAL, select's EBADF). epoll
    /// forgets such an fd silently. io_uring notices it only when a poll is
    /// submitted after the close (a level registration that already fired);
    /// an armed poll holds its own reference to the file, so the close
    /// neither completes it nor closes the file until `deregister`,
    /// [`Poller::purge_closed`](crate::Poller::purge_closed), or until the
    /// fd number is registered again (the last two log a warning).
    pub const fn notices_closed_fd(self) -> bool {
        matches!(self, Backend::Poll | Backend::Select)
    }

    /// True when a registration keeps the open file alive in the kernel, so
    /// that closing a registered fd without `deregister` does not close the
    /// file (a socket sends no FIN): io_uring's poll requests hold a file
    /// reference. [`Registered`](crate::Registered) rules this out;
    /// [`Poller::purge_closed`](crate::Poller::purge_closed) repairs it.
    pub const fn pins_registered_files(self) -> bool {
        matches!(self, Backend::IoUring)
    }

    /// True when a level-triggered event always reflects the fd's state at
    /// the time of the wait: epoll re-checks each ready fd inside
    /// `epoll_wait`, poll and select look at call time. io_uring reports
    /// what held when a poll request completed, so an fd drained after
    /// that (but before the wait that reaps the completion) is still
    /// reported once: a spurious event, never a lost one.
    pub const fn level_checked_at_wait(self) -> bool {
        !matches!(self, Backend::IoUring)
    }

    /// True when the cost of a wait grows with the number of watched fds
    /// rather than with the number of ready ones.
    pub const fn scans_interest_set(self) -> bool {
        matches!(self, Backend::Poll | Backend::Select)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses [`Backend::name`]; `io_uring` and `iouring` are taken for
/// `uring` too.
impl FromStr for Backend {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Backend, ParseNameError> {
        match s {
            "epoll" => Ok(Backend::Epoll),
            "poll" => Ok(Backend::Poll),
            "select" => Ok(Backend::Select),
            "uring" | "io_uring" | "iouring" => Ok(Backend::IoUring),
            _ => Err(ParseNameError::new(
                "backend",
                s,
                &["epoll", "poll", "select", "uring"],
            )),
        }
    }
}

/// What one backend does. `key` is `generation << 32 | fd`; the Poller
/// checks it against its interest table, so a backend never needs to know
/// about tokens or stale registrations.
pub(crate) trait Sys: Send + Sync {
    /// Starts watching `fd`.
    fn add(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        mode: Mode,
        exclusive: bool,
    ) -> io::Result<()>;
    /// Changes what `fd` is watched for; re-arms a oneshot registration.
    fn modify(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        mode: Mode,
        exclusive: bool,
    ) -> io::Result<()>;
    /// Stops watching `fd`.
    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()>;
    /// Stops watching an fd number whose file was closed (or replaced)
    /// behind the Poller's back, without touching the number itself.
    fn forget(&self, fd: RawFd) -> io::Result<()>;
    /// Blocks until something is ready or `timeout` passes, and delivers at
    /// most `events.capacity()` reports: either finished events straight
    /// into the list, checked against `table` with
    /// `deliver::translate_one` as the backend reads its kernel's output
    /// (epoll, poll, select: one pass over the batch), or raw reports into
    /// `events.ready`, which the Poller then translates (io_uring). EINTR
    /// comes back as an `Interrupted` error; the Poller retries with the
    /// time left.
    ///
    /// Lock order: `table` before the backend's own locks, as in
    /// registration.
    fn wait(
        &self,
        events: &mut Events,
        timeout: Option<&Timespec>,
        table: &Mutex<Table>,
    ) -> io::Result<()>;
    /// True when the kernel itself rejects a second registration of the same
    /// open file (epoll's EEXIST). Otherwise the Poller compares file
    /// identities to tell a duplicate from an fd number reused after close.
    fn kernel_rejects_duplicates(&self) -> bool;
    /// The fd an outer event loop watches: for epoll its own fd, which
    /// turns readable when a wait would report something; for the others,
    /// which have no such fd, one that is always readable.
    fn nest_fd(&self) -> BorrowedFd<'_>;
}

/// Converts a timeout for the kernel. `None` blocks forever; huge values are
/// clamped (the Poller loops until its own deadline anyway).
pub(crate) fn timespec(d: Duration) -> Timespec {
    // A year per call is plenty: the Poller re-waits with the time left.
    const MAX_SECS: u64 = 365 * 24 * 3600;
    Timespec {
        tv_sec: d.as_secs().min(MAX_SECS) as i64,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// The timeout in whole milliseconds for the int-timeout syscalls
/// (epoll_wait, poll; -1: forever), or `None` when it has a sub-millisecond
/// part or does not fit. The timespec variants (epoll_pwait2, ppoll) read
/// the clock to build a deadline even for a zero timeout; the int ones
/// do not, which is measurable in a bare wait.
pub(crate) fn whole_millis(timeout: Option<&Timespec>) -> Option<i32> {
    let Some(t) = timeout else { return Some(-1) };
    if t.tv_nsec % 1_000_000 != 0 {
        return None;
    }
    let ms = t
        .tv_sec
        .checked_mul(1000)?
        .checked_add(t.tv_nsec / 1_000_000)?;
    i32::try_from(ms).ok()
}

/// Our flags for each combination of poll(2)'s six low revents bits
/// (IN, PRI, OUT, ERR, HUP, NVAL), built at compile time so that the scan
/// of a large ready set does one load per fd instead of seven branches.
const POLL_FLAGS: [u8; 64] = {
    let mut table = [0u8; 64];
    let mut bits = 0;
    while bits < 64 {
        let r = bits as i16;
        let mut f = 0;
        if r & libc::POLLIN != 0 {
            f |= flags::READABLE;
        }
        if r & libc::POLLOUT != 0 {
            f |= flags::WRITABLE;
        }
        if r & libc::POLLPRI != 0 {
            f |= flags::PRIORITY;
        }
        if r & libc::POLLHUP != 0 {
            f |= flags::READ_CLOSED | flags::WRITE_CLOSED;
        }
        if r & libc::POLLERR != 0 {
            f |= flags::ERROR | flags::WRITE_CLOSED;
        }
        if r & libc::POLLNVAL != 0 {
            f |= flags::INVALID;
        }
        table[bits] = f;
        bits += 1;
    }
    table
};

/// Translates poll(2) revents into our flags (shared by poll and io_uring).
#[inline]
pub(crate) fn flags_from_poll(revents: i16) -> u8 {
    let rdhup = if revents & libc::POLLRDHUP != 0 {
        flags::READ_CLOSED
    } else {
        0
    };
    POLL_FLAGS[(revents & 0x3f) as usize] | rdhup
}

/// The poll(2) event mask for an interest (shared by poll and io_uring).
pub(crate) fn poll_mask(interest: Interest) -> i16 {
    let mut m = 0;
    if interest.is_readable() {
        m |= libc::POLLIN | libc::POLLRDHUP;
    }
    if interest.is_writable() {
        m |= libc::POLLOUT;
    }
    if interest.is_priority() {
        m |= libc::POLLPRI;
    }
    m
}
