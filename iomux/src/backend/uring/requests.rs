//! The poll requests the backend has in the kernel, one record per fd, and
//! the `user_data` that ties each completion back to its request.
//!
//! Every POLL_ADD gets a fresh sequence number, the generation of the
//! core's `UserData` (op `POLL`, slot = the fd). A completion whose number
//! is not the record's current one belongs to a request that was replaced
//! (modify), removed (deregister) or superseded by a new registration of the
//! same fd number, and is dropped here, before the Poller's own generation
//! check ever sees it.
//!
//! Not for: the Poller's own stale-event filter (`deliver.rs`), which still
//! runs after this one.

use std::os::fd::RawFd;

use crate::interest::Mode;
use crate::uring::{Sqe, UserData, op};

/// The op of a registration's POLL_ADD (slot: the fd).
pub(super) const POLL: u8 = 1;
/// The op of the multishot poll on the backend's notification eventfd.
pub(super) const NOTIFY: u8 = 2;
/// The op of POLL_REMOVE requests, whose completions say nothing we need.
const REMOVAL: u8 = 3;

/// How a registration's poll requests are armed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Kind {
    /// Single-shot polls, re-armed at the next wait after each completion.
    /// The re-armed poll checks readiness when it is issued, so an fd that
    /// is still ready completes again at once (level), and one the caller
    /// drained stays quiet: no stale report left over from before the read.
    #[default]
    Level,
    /// One multishot poll: a completion per wake-up of the fd's wait queue,
    /// which is what epoll's edge triggering reports. Re-armed only if the
    /// kernel ends it (CQ overflow, error).
    Edge,
    /// A single-shot poll, re-armed only by `modify`.
    Oneshot,
}

impl Kind {
    pub(super) fn of(mode: Mode) -> Kind {
        match mode {
            Mode::Level => Kind::Level,
            Mode::Edge | Mode::EdgeOrLevel => Kind::Edge,
            Mode::Oneshot | Mode::EdgeOneshot => Kind::Oneshot,
        }
    }
}

/// What the backend knows about one fd.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Request {
    /// The Poller's key (`generation << 32 | fd`), reported with each event.
    pub key: u64,
    /// Sequence number (a 24-bit generation) of the newest POLL_ADD for
    /// this fd.
    pub seq: u32,
    /// poll(2) event mask.
    pub mask: u32,
    pub kind: Kind,
    pub registered: bool,
    /// The newest POLL_ADD is queued or in the kernel and has not ended.
    pub in_flight: bool,
    /// The fd is in the re-arm list.
    pub queued: bool,
    /// The wait (see `State::batch`) that last reported this fd, and where
    /// in that wait's `Events` its report is: a second completion for the
    /// fd in the same wait is merged into that report.
    pub batch: u32,
    pub batch_index: u32,
}

impl Request {
    fn user_data(&self, fd: RawFd) -> UserData {
        UserData::new(POLL, fd as u32, self.seq)
    }

    /// Starts a new poll request: a new sequence number, so that whatever
    /// the previous request still completes with is recognised as stale.
    pub(super) fn arm(&mut self, fd: RawFd) -> Sqe {
        self.seq = UserData::next_generation(self.seq);
        self.in_flight = true;
        op::poll(fd, self.mask, self.kind == Kind::Edge, self.user_data(fd))
    }

    /// Cancels the request in flight. Its last completion (ECANCELED, or a
    /// readiness report that raced the removal) carries the old sequence
    /// number and is dropped.
    pub(super) fn disarm(&mut self, fd: RawFd) -> Sqe {
        self.in_flight = false;
        op::poll_remove(self.user_data(fd), UserData::new(REMOVAL, 0, 0))
    }
}

/// Records indexed by fd, like the Poller's own table (see table.rs for why
/// a `Vec` beats a tree or a hash here).
#[derive(Default)]
pub(super) struct Requests {
    slots: Vec<Request>,
}

impl Requests {
    pub(super) fn slot_mut(&mut self, fd: RawFd) -> &mut Request {
        let i = fd as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Request::default());
        }
        &mut self.slots[i]
    }

    pub(super) fn get_mut(&mut self, fd: usize) -> Option<&mut Request> {
        self.slots.get_mut(fd)
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }
}
