//! What a registration asks for (`Interest`) and how it is reported (`Mode`).
//!
//! Not for: what was delivered (that is [`Event`](crate::Event)); these are
//! the caller's requests only.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The readiness a registration waits for. Combine with `|`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Data can be read (or the peer closed, or an error is pending).
    pub const READABLE: Interest = Interest(1);
    /// Data can be written without blocking.
    pub const WRITABLE: Interest = Interest(2);
    /// Out-of-band / priority data (POLLPRI; select's exceptfds).
    pub const PRIORITY: Interest = Interest(4);

    /// True when `READABLE` is part of this interest.
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// True when `WRITABLE` is part of this interest.
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
    /// True when `PRIORITY` is part of this interest.
    pub const fn is_priority(self) -> bool {
        self.0 & 4 != 0
    }
    /// Both interests together.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
    /// This interest without `other`, or `None` when nothing would be left.
    pub const fn remove(self, other: Interest) -> Option<Interest> {
        let left = self.0 & !other.0;
        if left == 0 {
            None
        } else {
            Some(Interest(left))
        }
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        self.add(rhs)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, rhs: Interest) {
        *self = self.add(rhs);
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [(1, "READABLE"), (2, "WRITABLE"), (4, "PRIORITY")];
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// How readiness is reported: level-triggered, edge-triggered or oneshot
/// (epoll's default, EPOLLET and EPOLLONESHOT).
///
/// Exhaustive on purpose: how a caller must read depends on the mode (until
/// EAGAIN on an edge, re-arming after a oneshot), so a new mode has to fail
/// to compile where a `match` would otherwise fall into a wrong default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Reported at every wait while the condition holds (epoll's default, LT).
    Level,
    /// Reported when the condition becomes true (EPOLLET). A backend without
    /// native edges (poll, select: see
    /// [`Backend::supports_edge`](crate::Backend::supports_edge)) refuses it
    /// with `ErrorKind::Unsupported`; ask for [`Mode::EdgeOrLevel`] to accept
    /// level delivery there.
    Edge,
    /// At most one event, then silent until [`Poller::modify`](crate::Poller::modify) re-arms.
    Oneshot,
    /// Edge and oneshot together (EPOLLET | EPOLLONESHOT). Like `Edge`,
    /// `Unsupported` on a backend without native edges.
    EdgeOneshot,
    /// Edge where the backend has native edges, level where it has not (the
    /// explicit fallback). Level delivery never gives fewer events than edge
    /// triggering would to a caller that reads until `EAGAIN`, possibly more.
    /// [`Backend::effective_mode`](crate::Backend::effective_mode) tells
    /// which one a backend gives.
    EdgeOrLevel,
}

impl Mode {
    /// True for the modes that disarm after one event.
    pub const fn is_oneshot(self) -> bool {
        matches!(self, Mode::Oneshot | Mode::EdgeOneshot)
    }
    /// True for the modes that ask for edge triggering (`EdgeOrLevel` too).
    pub const fn is_edge(self) -> bool {
        matches!(self, Mode::Edge | Mode::EdgeOneshot | Mode::EdgeOrLevel)
    }
}
