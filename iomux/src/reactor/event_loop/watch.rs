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

use super::EventLoop;
use crate::{Event, Interest, Mode, Token};

const WATCH_BIT: usize = 1 << 63;
const WATCH_GEN_LIMIT: u32 = 1 << 30;

/// Names a watch of one loop, for [`EventLoop::unwatch`]. A removed
/// watch's id never names a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WatchId {
    index: u32,
    generation: u32,
}

impl WatchId {
    fn token(self) -> Token {
        Token(WATCH_BIT | ((self.generation as usize) << 32) | self.index as usize)
    }

    /// The watch a token stands for, if it is in the watch range.
    pub(super) fn of(token: Token) -> Option<WatchId> {
        let t = token.0;
        let generation = ((t >> 32) & 0x7fff_ffff) as u32;
        (t & WATCH_BIT != 0 && generation != 0 && generation < WATCH_GEN_LIMIT).then_some(WatchId {
            index: (t & 0xffff_ffff) as u32,
            generation,
        })
    }
}

/// A watched fd and its callback, behind one object-safe face.
trait Watched {
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
    generation: u32,
    /// None while free, or while its callback runs.
    entry: Option<Box<dyn Watched>>,
    mode: Mode,
    /// A `rewatch` asked for from the watch's own callback.
    rearm: Option<Interest>,
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
        let index = match self.free_watches.pop() {
            Some(i) => i,
            None => {
                self.watches.push(WatchSlot {
                    generation: 0,
                    entry: None,
                    mode,
                    rearm: None,
                });
                (self.watches.len() - 1) as u32
            }
        };
        let slot = &mut self.watches[index as usize];
        slot.generation = if slot.generation + 1 >= WATCH_GEN_LIMIT {
            1
        } else {
            slot.generation + 1
        };
        let id = WatchId {
            index,
            generation: slot.generation,
        };
        if let Err(e) = self.poller.register(&fd, id.token(), interest, mode) {
            self.free_watches.push(index);
            return Err(e);
        }
        let slot = &mut self.watches[index as usize];
        slot.entry = Some(Box::new(Entry { fd, callback }));
        slot.mode = mode;
        slot.rearm = None;
        Ok(id)
    }

    /// Changes what a watch waits for (and re-arms a oneshot watch).
    /// From the watch's own callback, the change is made as it returns.
    pub fn rewatch(&mut self, id: WatchId, interest: Interest) -> io::Result<()> {
        self.watch_slot(id)?;
        let slot = &mut self.watches[id.index as usize];
        let mode = slot.mode;
        match &slot.entry {
            Some(entry) => self.poller.modify(&entry.fd(), id.token(), interest, mode),
            None => {
                slot.rearm = Some(interest);
                Ok(())
            }
        }
    }

    /// Stops watching and drops the fd. Fails with `NotFound` if the watch
    /// was removed already. From the watch's own callback, the fd is
    /// deregistered and dropped as the callback returns.
    pub fn unwatch(&mut self, id: WatchId) -> io::Result<()> {
        let slot = self.watch_slot(id)?;
        // A new generation: events still queued for the old one are stale.
        slot.generation = if slot.generation + 1 >= WATCH_GEN_LIMIT {
            1
        } else {
            slot.generation + 1
        };
        if let Some(entry) = slot.entry.take() {
            let _ = self.poller.deregister(&entry.fd());
            self.free_watches.push(id.index);
        }
        // Else its callback runs: `watch_event` finishes the removal.
        Ok(())
    }

    /// Watches in place.
    pub fn watches(&self) -> usize {
        self.watches.len() - self.free_watches.len()
    }

    fn watch_slot(&mut self, id: WatchId) -> io::Result<&mut WatchSlot> {
        match self.watches.get_mut(id.index as usize) {
            Some(slot) if slot.generation == id.generation => Ok(slot),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such watch (removed already)",
            )),
        }
    }

    pub(super) fn watch_event(&mut self, id: WatchId, ev: &Event) {
        let Ok(slot) = self.watch_slot(id) else {
            self.stats.stale_events += 1;
            return;
        };
        let Some(mut entry) = slot.entry.take() else {
            return;
        };
        let fired = catch_unwind(AssertUnwindSafe(|| entry.fire(self, ev)));
        let slot = &mut self.watches[id.index as usize];
        let removed = slot.generation != id.generation;
        if fired.is_err() {
            self.stats.panics += 1;
            log::error!("a watch callback panicked; the watch is removed");
        }
        if removed || fired.is_err() {
            if !removed {
                slot.generation = if slot.generation + 1 >= WATCH_GEN_LIMIT {
                    1
                } else {
                    slot.generation + 1
                };
            }
            let _ = self.poller.deregister(&entry.fd());
            self.free_watches.push(id.index);
            return;
        }
        if let Some(interest) = slot.rearm.take() {
            let mode = slot.mode;
            if let Err(e) = self.poller.modify(&entry.fd(), id.token(), interest, mode) {
                log::warn!("cannot re-arm watch {id:?}: {e}");
            }
        }
        self.watches[id.index as usize].entry = Some(entry);
    }

    /// Removes every watch (the loop is ending).
    pub(super) fn unwatch_all(&mut self) {
        for slot in &mut self.watches {
            if let Some(entry) = slot.entry.take() {
                let _ = self.poller.deregister(&entry.fd());
            }
        }
        self.watches.clear();
        self.free_watches.clear();
    }
}
