//! poll(2): a dense `pollfd` array handed whole to the kernel at every wait.
//!
//! The array is kept dense with an fd → index map and swap-remove, so adding
//! and removing are O(1) and the wait copies one contiguous block. Oneshot is
//! emulated: a fired entry gets a negative fd, which poll(2) skips (it would
//! otherwise keep reporting POLLHUP/POLLERR, which ignore the event mask).
//! Edge is delivered as level. The scan resumes where the last full batch
//! stopped, so fds at the front of the array cannot starve the rest.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Mutex;

use rustix::time::Timespec;

use super::scan::{FdIndex, Notify, already_registered, not_registered};
use super::{Sys, flags_from_poll, poll_mask, whole_millis};
use crate::event::{Events, Ready, flags};
use crate::interest::{Interest, Mode};

#[derive(Default)]
struct Set {
    fds: Vec<libc::pollfd>,
    keys: Vec<u64>,
    oneshot: Vec<bool>,
    index: FdIndex,
    /// A thread is inside ppoll with a copy of `fds`: changes must notify it.
    waiting: bool,
}

#[derive(Default)]
struct Scratch {
    fds: Vec<libc::pollfd>,
    keys: Vec<u64>,
    oneshot: Vec<bool>,
    start: usize,
}

pub(crate) struct PollSys {
    set: Mutex<Set>,
    scratch: Mutex<Scratch>,
    notify: Notify,
}

impl PollSys {
    pub(crate) fn new() -> io::Result<PollSys> {
        Ok(PollSys {
            set: Mutex::new(Set::default()),
            scratch: Mutex::new(Scratch::default()),
            notify: Notify::new()?,
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
            return Err(already_registered());
        }
        let at = set.fds.len();
        set.fds.push(libc::pollfd {
            fd,
            events: poll_mask(interest),
            revents: 0,
        });
        set.keys.push(key);
        set.oneshot.push(mode.is_oneshot());
        set.index.set(fd, at);
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
        let at = set.index.get(fd).ok_or_else(not_registered)?;
        set.fds[at] = libc::pollfd {
            fd, // re-arms a fired oneshot entry
            events: poll_mask(interest),
            revents: 0,
        };
        set.keys[at] = key;
        set.oneshot[at] = mode.is_oneshot();
        let waiting = set.waiting;
        drop(set);
        self.changed(waiting)
    }

    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut set = self.set.lock().unwrap();
        remove(&mut set, fd.as_raw_fd())?;
        let waiting = set.waiting;
        drop(set);
        self.changed(waiting)
    }

    fn wait(&self, events: &mut Events, timeout: Option<&Timespec>) -> io::Result<()> {
        events.ready.clear();
        let mut scratch = self.scratch.lock().unwrap();
        let s = &mut *scratch;
        {
            let mut set = self.set.lock().unwrap();
            s.fds.clear();
            s.fds.push(libc::pollfd {
                fd: self.notify.raw(),
                events: libc::POLLIN,
                revents: 0,
            });
            s.fds.extend_from_slice(&set.fds);
            s.keys.clear();
            s.keys.extend_from_slice(&set.keys);
            s.oneshot.clear();
            s.oneshot.extend_from_slice(&set.oneshot);
            set.waiting = true;
        }
        let len = s.fds.len() as libc::nfds_t;
        let r = if let Some(ms) = whole_millis(timeout) {
            // SAFETY: `s.fds` is a live, exclusively borrowed array of `len`
            // pollfds.
            unsafe { libc::poll(s.fds.as_mut_ptr(), len, ms) }
        } else {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.tv_sec,
                tv_nsec: t.tv_nsec as _,
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: as above; `ts_ptr` is null or points at `ts`, alive for
            // the call; a null sigmask leaves the signal mask alone.
            unsafe { libc::ppoll(s.fds.as_mut_ptr(), len, ts_ptr, std::ptr::null()) }
        };
        let err = io::Error::last_os_error();
        let mut set = self.set.lock().unwrap();
        set.waiting = false;
        if r < 0 {
            return Err(err);
        }
        let mut remaining = r as usize;
        if remaining == 0 {
            return Ok(());
        }
        if s.fds[0].revents != 0 {
            self.notify.drain();
            remaining -= 1;
        }
        let n = s.fds.len() - 1;
        let capacity = events.ready.capacity();
        let start = if n == 0 { 0 } else { s.start % n };
        // Two plain ranges instead of `(start + i) % n`: no division per fd.
        for j in (start..n).chain(0..start) {
            if remaining == 0 {
                break;
            }
            let revents = s.fds[1 + j].revents;
            if revents == 0 {
                continue;
            }
            remaining -= 1;
            if events.ready.len() == capacity {
                // Full: the next wait resumes here (fairness).
                s.start = j;
                break;
            }
            let key = s.keys[j];
            let f = flags_from_poll(revents);
            if s.oneshot[j] || f & flags::INVALID != 0 {
                settle(&mut set, key, f);
            }
            events.ready.push(Ready { key, flags: f });
        }
        Ok(())
    }

    fn kernel_rejects_duplicates(&self) -> bool {
        false
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
    }
}

fn remove(set: &mut Set, fd: RawFd) -> io::Result<()> {
    let at = set.index.get(fd).ok_or_else(not_registered)?;
    set.fds.swap_remove(at);
    set.keys.swap_remove(at);
    set.oneshot.swap_remove(at);
    set.index.clear(fd);
    if at < set.fds.len() {
        let moved = set.keys[at] as u32 as RawFd;
        set.index.set(moved, at);
    }
    Ok(())
}
