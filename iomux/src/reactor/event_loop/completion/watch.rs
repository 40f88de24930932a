//! Watches on the completion driver: a POLL_ADD request per watch.
//!
//! The watch's mode picks the request: a level watch is polled once per
//! report and polled again after its callback (so what is still ready
//! reports again, as level does); an edge watch keeps one multishot poll
//! (a report per wake-up of the file); a oneshot watch is polled once and
//! again only on `rewatch`. A change of interest removes the poll and adds
//! another; the op code's low bit tells the two apart, so a report of the
//! removed one is not taken for the new one's.
//!
//! Not for: the callbacks (`watch.rs`, shared with readiness).

use std::os::fd::{AsRawFd, BorrowedFd};

use super::{Uring, ops, user_data};
use crate::backend::{flags_from_poll, poll_mask};
use crate::reactor::event_loop::{EventLoop, Io, WatchId};
use crate::reactor::token;
use crate::slab::Key;
use crate::uring::{Completion, op};
use crate::{Event, Interest, Mode};

/// A watch's poll on the ring.
#[derive(Debug)]
pub(in crate::reactor) struct Polling {
    interest: Interest,
    mode: Mode,
    /// The low bit of the current poll's op code.
    parity: u8,
    /// A poll is in the kernel.
    armed: bool,
}

impl Polling {
    pub(in crate::reactor) fn new(interest: Interest, mode: Mode) -> Polling {
        Polling {
            interest,
            mode,
            parity: 0,
            armed: false,
        }
    }

    /// The polling of a watch already forgotten: nothing to remove.
    pub(in crate::reactor) fn gone() -> Polling {
        Polling::new(Interest::READABLE, Mode::Oneshot)
    }

    fn op(&self) -> u8 {
        ops::WATCH | self.parity
    }
}

impl Uring {
    /// Polls watch `key`'s fd for its interest.
    pub(in crate::reactor) fn poll_watch(&mut self, key: Key, fd: BorrowedFd<'_>, p: &mut Polling) {
        let mask = poll_mask(p.interest) as u16 as u32;
        // Edge: one report per wake-up, from one request.
        let multishot = p.mode.is_edge() && !p.mode.is_oneshot();
        let e = op::poll(fd.as_raw_fd(), mask, multishot, user_data(p.op(), key));
        p.armed = true;
        self.push(e);
    }

    /// Polls again after a report, unless the mode says only `rewatch`
    /// does (oneshot) or the multishot poll is still armed (edge).
    pub(in crate::reactor) fn poll_again(&mut self, key: Key, fd: BorrowedFd<'_>, p: &mut Polling) {
        if !p.armed && !p.mode.is_oneshot() {
            self.poll_watch(key, fd, p);
        }
    }

    /// A new interest (or a oneshot watch re-armed): the old poll goes,
    /// a new one comes.
    pub(in crate::reactor) fn repoll_watch(
        &mut self,
        key: Key,
        fd: BorrowedFd<'_>,
        p: &mut Polling,
        interest: Interest,
    ) {
        self.unpoll_watch(key, p);
        p.parity ^= 1;
        p.interest = interest;
        self.poll_watch(key, fd, p);
    }

    /// Removes watch `key`'s poll, if one is armed.
    pub(in crate::reactor) fn unpoll_watch(&mut self, key: Key, p: &Polling) {
        if p.armed {
            let e = op::poll_remove(user_data(p.op(), key), user_data(ops::CANCEL, 0));
            self.push(e);
        }
    }
}

impl EventLoop {
    /// A report of watch `key`'s poll (`op` with its arming's bit).
    pub(super) fn on_watch(&mut self, key: Key, op: u8, cqe: &Completion) {
        let Some(slot) = self.watches.get_mut(key) else {
            self.stats.stale_events += 1;
            return;
        };
        if slot.ring.op() != op {
            return; // the poll a rewatch removed
        }
        if !cqe.more() {
            slot.ring.armed = false;
        }
        let res = cqe.result();
        if res < 0 {
            if res != -libc::ECANCELED
                && let Some(entry) = slot.entry.as_ref()
                && let Io::Completion(u) = &mut self.io
            {
                log::warn!("reactor: a watch's poll failed ({res}); polling again");
                u.poll_again(key, entry.fd(), &mut slot.ring);
            }
            return;
        }
        let ev = Event::new(token::watch_token(key), flags_from_poll(res as i16));
        self.watch_event(WatchId(key), &ev);
    }
}
