//! poll(2): a dense `pollfd` array handed whole to the kernel at every wait.
//!
//! The array is kept dense with an fd → index map and swap-remove, so adding
//! and removing are O(1) and the wait copies one contiguous block. Oneshot is
//! emulated: a fired entry gets a negative fd, which poll(2) skips (it would
//! otherwise keep reporting POLLHUP/POLLERR, which ignore the event mask).
//! Edge is delivered as level. The scan resumes where the last full batch
//! stopped, so fds at the front of the array cannot starve the rest.
//!
//! Not for: edge triggering (refused with `Unsupported`;
//! `Mode::EdgeOrLevel` asks for level) or large idle sets: every wait is
//! O(watched).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;

use rustix::time::Timespec;

use super::scan::{FdIndex, Notify};
use super::{Sys, flags_from_poll, poll_mask, whole_millis};
use crate::deliver::translate_one;
use crate::event::{Events, flags};
use crate::eventfd;
use crate::interest::{Interest, Mode};
use crate::table::{Table, already_exists, not_found};

#[derive(Default)]
struct Set {
    fds: Vec<libc::pollfd>,
    keys: Vec<u64>,
    oneshot: Vec<bool>,
    index: FdIndex,
    /// Oneshot entries in the set: with none, the scan skips that check.
    oneshots: usize,
    /// Bumped at every change, so that a wait copies the set only when it
    /// changed since the previous wait's copy.
    version: u64,
    /// A thread is inside ppoll with a copy of `fds`: changes must notify it.
    waiting: bool,
}

#[derive(Default)]
struct Scratch {
    /// The notify eventfd, then a copy of `Set::fds`.
    fds: Vec<libc::pollfd>,
    keys: Vec<u64>,
    /// `Set::version` of the copy; 0 = no copy yet.
    version: u64,
    /// Where the next scan starts (fairness).
    start: usize,
}

pub(crate) struct PollSys {
    set: Mutex<Set>,
    scratch: Mutex<Scratch>,
    notify: Notify,
    /// What an outer event loop watches (see `Sys::nest_fd`).
    always_readable: OwnedFd,
}

impl PollSys {
    pub(crate) fn new() -> io::Result<PollSys> {
        Ok(PollSys {
            set: Mutex::new(Set::default()),
            scratch: Mutex::new(Scratch::default()),
            notify: Notify::new()?,
            always_readable: eventfd::always_readable()?,
        })
    }

    fn changed(&self, waiting: bool) -> io::Result<()> {
        if waiting { self.notify.wake() } else { Ok(()) }
    }
}

impl Sys for PollSys {
    fn add(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        mode: Mode,
        _exclusive: bool,
    ) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let mut set = self.set.lock().unwrap();
        if set.index.get(fd).is_some() {
            return Err(already_exists());
        }
        let at = set.fds.len();
        set.fds.push(libc::pollfd {
            fd,
            events: poll_mask(interest),
            revents: 0,
        });
        set.keys.push(key);
        set.oneshot.push(mode.is_oneshot());
        set.oneshots += usize::from(mode.is_oneshot());
        set.index.set(fd, at);
        set.version += 1;
        let waiting = set.waiting;
        drop(set);
        self.changed(waiting)
    }

    fn modify(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        mode: Mode,
        _exclusive: bool,
    ) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let mut set = self.set.lock().unwrap();
        let at = set.index.get(fd).ok_or_else(not_found)?;
        set.fds[at] = libc::pollfd {
            fd, // re-arms a fired oneshot entry
            events: poll_mask(interest),
            revents: 0,
        };
        set.keys[at] = key;
        set.oneshots = set.oneshots - usize::from(set.oneshot[at]) + usize::from(mode.is_oneshot());
        set.oneshot[at] = mode.is_oneshot();
        set.version += 1;
        let waiting = set.waiting;
        drop(set);
        self.changed(waiting)
    }

    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.forget(fd.as_raw_fd())
    }

    fn forget(&self, fd: RawFd) -> io::Result<()> {
        let mut set = self.set.lock().unwrap();
        remove(&mut set, fd)?;
        let waiting = set.waiting;
        drop(set);
        self.changed(waiting)
    }

    fn wait(
        &self,
        events: &mut Events,
        timeout: Option<&Timespec>,
        table: &Mutex<Table>,
    ) -> io::Result<()> {
        let mut scratch = self.scratch.lock().unwrap();
        let s = &mut *scratch;
        {
            let mut set = self.set.lock().unwrap();
            // Recopy only what changed since the last wait's copy (an empty
            // scratch has not even the notify entry yet).
            if s.version != set.version || s.fds.is_empty() {
                s.fds.clear();
                s.fds.push(libc::pollfd {
                    fd: self.notify.raw(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                s.fds.extend_from_slice(&set.fds);
                s.keys.clear();
                s.keys.extend_from_slice(&set.keys);
                s.version = set.version;
            }
            set.waiting = true;
        }
        // A wait that only looks cannot be blocked, so nobody needs to wake
        // it: leave the notify entry out (one fd less for the kernel to poll).
        let only_look = timeout.is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0);
        let first = usize::from(only_look);
        let polled = &mut s.fds[first..];
        let len = polled.len() as libc::nfds_t;
        let r = if let Some(ms) = whole_millis(timeout) {
            // SAFETY: `polled` is a live, exclusively borrowed array of `len`
            // pollfds.
            unsafe { libc::poll(polled.as_mut_ptr(), len, ms) }
        } else {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.tv_sec,
                tv_nsec: t.tv_nsec as _,
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: as above; `ts_ptr` is null or points at `ts`, alive for
            // the call; a null sigmask leaves the signal mask alone.
            unsafe { libc::ppoll(polled.as_mut_ptr(), len, ts_ptr, std::ptr::null()) }
        };
        let err = io::Error::last_os_error();
        // Lock order: the Poller's table, then the set.
        let mut table = table.lock().unwrap();
        let mut set = self.set.lock().unwrap();
        set.waiting = false;
        if r < 0 {
            return Err(err);
        }
        let mut remaining = r as usize;
        if remaining == 0 {
            return Ok(());
        }
        if !only_look && s.fds[0].revents != 0 {
            self.notify.drain();
            remaining -= 1;
        }
        let (fds, keys) = (&s.fds[1..], &s.keys[..]);
        let start = if fds.is_empty() {
            0
        } else {
            s.start % fds.len()
        };
        let mut scan = Scan {
            table: &mut table,
            set: &mut set,
            remaining,
            events,
        };
        // Two plain ranges instead of `(start + i) % n`: no division per fd.
        let stop = scan
            .range(fds, keys, start)
            .or_else(|| scan.range(&fds[..start], keys, 0));
        if let Some(j) = stop {
            // Full: the next wait resumes at this fd (fairness).
            s.start = j;
        }
        Ok(())
    }

    fn kernel_rejects_duplicates(&self) -> bool {
        false
    }

    fn nest_fd(&self) -> BorrowedFd<'_> {
        self.always_readable.as_fd()
    }
}

/// One pass over the result of a poll(2) call, turning ready entries
/// straight into events.
struct Scan<'a> {
    table: &'a mut Table,
    set: &'a mut Set,
    /// Ready entries not found yet (poll's return value): the scan stops
    /// at the last one instead of running to the end of the array.
    remaining: usize,
    events: &'a mut Events,
}

impl Scan<'_> {
    /// Scans `fds[from..]` (whose keys are `keys[from..]`). Returns the
    /// index of the first ready entry that did not fit.
    #[inline(always)]
    fn range(&mut self, fds: &[libc::pollfd], keys: &[u64], from: usize) -> Option<usize> {
        let (list, mut n) = self.events.parts();
        let mut left = self.remaining;
        let mut stop = None;
        let has_oneshots = self.set.oneshots > 0;
        for (j, (p, &key)) in fds[from..].iter().zip(&keys[from..]).enumerate() {
            if left == 0 {
                break;
            }
            if p.revents == 0 {
                continue;
            }
            let Some(out) = list.get_mut(n) else {
                stop = Some(from + j);
                break;
            };
            left -= 1;
            let f = flags_from_poll(p.revents);
            if has_oneshots || f & flags::INVALID != 0 {
                settle(self.set, key, f);
            }
            let Some(ev) = translate_one(self.table, key, f) else {
                continue;
            };
            *out = ev;
            n += 1;
        }
        self.events.set_len(n);
        self.remaining = left;
        stop
    }
}

/// After reporting `key`: drop an fd found closed, disarm a oneshot entry.
/// Only if the entry is still the registration the copy was taken from.
fn settle(set: &mut Set, key: u64, f: u8) {
    let fd = key as u32 as RawFd;
    let Some(at) = set.index.get(fd) else { return };
    if set.keys[at] != key {
        return;
    }
    if f & flags::INVALID != 0 {
        let _ = remove(set, fd);
    } else if set.oneshot[at] {
        set.fds[at].fd = -1;
        set.version += 1;
    }
}

fn remove(set: &mut Set, fd: RawFd) -> io::Result<()> {
    let at = set.index.get(fd).ok_or_else(not_found)?;
    set.fds.swap_remove(at);
    set.keys.swap_remove(at);
    set.oneshots -= usize::from(set.oneshot.swap_remove(at));
    set.version += 1;
    set.index.clear(fd);
    if at < set.fds.len() {
        let moved = set.keys[at] as u32 as RawFd;
        set.index.set(moved, at);
    }
    Ok(())
}
