//! Watches: any fd (a pipe, an eventfd, a timerfd, a signalfd, a socket the
//! user drives itself) in the loop's poller, with a callback per event —
//! Redis's `aeCreateFileEvent`. The loop picks the tokens from a range no
//! connection uses, so a watch's events can never reach a connection.
//!
//! Not for: connections (they have handlers and sessions); a watch is an fd
//! and a callback, nothing read or written for it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::completion::Polling;
use super::{EventLoop, Io, token};
use crate::slab::Key;
use crate::{Event, Interest, Mode, Token};

/// Names a watch of one loop, for [`EventLoop::unwatch`]: its slab key,
/// so that a removed watch's id never names a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WatchId(pub(super) Key);

impl WatchId {
    fn token(self) -> Token {
        token::watch_token(self.0)
    }
}

/// A watched fd and its callback, behind one object-safe face.
pub(super) trait Watched {
    fn fd(&self) -> BorrowedFd<'_>;
    fn fire(&mut self, el: &mut EventLoop, ev: &Event);
}

struct Entry<F, C> {
    fd: F,
    callback: C,
}

impl<F: AsFd, C: FnMut(&mut EventLoop, &mut F, &Event)> Watched for Entry<F, C> {
    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
    fn fire(&mut self, el: &mut EventLoop, ev: &Event) {
        (self.callback)(el, &mut self.fd, ev)
    }
}

pub(super) struct WatchSlot {
    /// None while its callback runs.
    pub(super) entry: Option<Box<dyn Watched>>,
    mode: Mode,
    /// A `rewatch` asked for from the watch's own callback.
    rearm: Option<Interest>,
    /// On the completion driver: its POLL_ADD request.
    pub(super) ring: Polling,
}

impl EventLoop {
    /// Watches `fd` for `interest` in `mode`: each event calls `callback`
    /// on this thread with the loop, the fd and the event. The loop owns
    /// `fd` until [`unwatch`](Self::unwatch) (which closes it, if it is an
    /// owned fd) or the loop's end.
    pub fn watch<F, C>(
        &mut self,
        fd: F,
        interest: Interest,
        mode: Mode,
        callback: C,
    ) -> io::Result<WatchId>
    where
        F: AsFd + 'static,
        C: FnMut(&mut EventLoop, &mut F, &Event) + 'static,
    {
        let id = WatchId(self.watches.next_key());
        let mut ring = Polling::new(interest, mode);
        match &mut self.io {
            Io::Readiness(poller, _) => poller.register(&fd, id.token(), interest, mode)?,
            Io::Completion(u) => u.poll_watch(id.0, fd.as_fd(), &mut ring),
        }
        let inserted = self.watches.insert(WatchSlot {
            entry: Some(Box::new(Entry { fd, callback })),
            mode,
            rearm: None,
            ring,
        });
        debug_assert_eq!(inserted, id.0, "the token named the slot it got");
        Ok(id)
    }

    /// Changes what a watch waits for (and re-arms a oneshot watch).
    /// From the watch's own callback, the change is made as it returns.
    pub fn rewatch(&mut self, id: WatchId, interest: Interest) -> io::Result<()> {
        let slot = self.watches.get_mut(id.0).ok_or_else(no_watch)?;
        match (&slot.entry, &mut self.io) {
            (Some(entry), Io::Readiness(poller, _)) => {
                poller.modify(&entry.fd(), id.token(), interest, slot.mode)
            }
            (Some(entry), Io::Completion(u)) => {
                u.repoll_watch(id.0, entry.fd(), &mut slot.ring, interest);
                Ok(())
            }
            (None, _) => {
                slot.rearm = Some(interest);
                Ok(())
            }
        }
    }

    /// Stops watching and drops the fd. Fails with `NotFound` if the watch
    /// was removed already. From the watch's own callback, the fd is
    /// deregistered and dropped as the callback returns.
    pub fn unwatch(&mut self, id: WatchId) -> io::Result<()> {
        // Out of the slab: the slot's next occupant gets a new generation,
        // so events still queued for this one are stale.
        let slot = self.watches.remove(id.0).ok_or_else(no_watch)?;
        self.forget_watch(id.0, slot.entry.as_deref(), &slot.ring);
        // Else its callback runs: `watch_event` finishes the removal.
        Ok(())
    }

    /// Watches in place.
    pub fn watches(&self) -> usize {
        self.watches.len()
    }

    pub(super) fn watch_event(&mut self, id: WatchId, ev: &Event) {
        let Some(slot) = self.watches.get_mut(id.0) else {
            self.stats.stale_events += 1;
            return;
        };
        let Some(mut entry) = slot.entry.take() else {
            return;
        };
        let fired = catch_unwind(AssertUnwindSafe(|| entry.fire(self, ev)));
        if fired.is_err() {
            self.stats.panics += 1;
            log::error!("a watch callback panicked; the watch is removed");
            if let Some(slot) = self.watches.remove(id.0) {
                self.forget_watch(id.0, None, &slot.ring);
            }
        }
        // Gone if the callback unwatched it (or panicked).
        let Some(slot) = self.watches.get_mut(id.0) else {
            let polling = Polling::gone();
            self.forget_watch(id.0, Some(&*entry), &polling);
            return;
        };
        match &mut self.io {
            Io::Readiness(poller, _) => {
                if let Some(interest) = slot.rearm.take()
                    && let Err(e) = poller.modify(&entry.fd(), id.token(), interest, slot.mode)
                {
                    log::warn!("cannot re-arm watch {id:?}: {e}");
                }
            }
            Io::Completion(u) => match slot.rearm.take() {
                Some(interest) => u.repoll_watch(id.0, entry.fd(), &mut slot.ring, interest),
                // Level: polled again, so what is still ready reports again.
                None => u.poll_again(id.0, entry.fd(), &mut slot.ring),
            },
        }
        slot.entry = Some(entry);
    }

    /// Removes every watch (the loop is ending).
    pub(super) fn unwatch_all(&mut self) {
        for slot in self.watches.drain() {
            // A ring's polls go with the ring: every request of it is
            // cancelled at its shutdown.
            if let Io::Readiness(poller, _) = &self.io
                && let Some(entry) = slot.entry
            {
                let _ = poller.deregister(&entry.fd());
            }
        }
    }

    /// A watch is gone: its fd leaves the poller, or its poll the ring.
    fn forget_watch(&mut self, key: crate::slab::Key, entry: Option<&dyn Watched>, ring: &Polling) {
        match &mut self.io {
            Io::Readiness(poller, _) => {
                if let Some(entry) = entry {
                    let _ = poller.deregister(&entry.fd());
                }
            }
            Io::Completion(u) => u.unpoll_watch(key, ring),
        }
    }
}

fn no_watch() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such watch (removed already)")
}
