//! select(2) without the FD_SETSIZE limit.
//!
//! glibc's `fd_set` is a fixed 1024-bit array and its FD_SET macro aborts
//! above 1023, but the kernel reads `nfds` bits from whatever memory it is
//! given. So the bitmaps here are `Vec<u64>` sized to the highest fd, set and
//! tested with our own bit arithmetic; fds of 1500 or 19000 work.
//!
//! Master bitmaps are kept up to date on every change and copied (one memcpy
//! per set) into scratch bitmaps at each wait, as a hand-written select loop
//! would. Oneshot is emulated by clearing the entry's bits when it fires;
//! edge is delivered as level; select cannot see a peer's half-close, which
//! shows up as readable with `read` returning 0. When the call fails with
//! EBADF (an fd closed behind our back), each fd is checked with fcntl, the
//! closed ones get one error event and are dropped, and the rest carry on.
//!
//! Not for: `libc::fd_set` or FD_SET (they cap at 1023 and abort above it);
//! not for edges, exclusive wake-ups or seeing a peer's half-close.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;

use rustix::time::Timespec;

use super::Sys;
use super::scan::{FdIndex, Notify};
use crate::deliver::translate_one;
use crate::event::{Events, Ready, flags};
use crate::eventfd;
use crate::interest::{Interest, Mode};
use crate::table::{NO_KEY, Table, already_exists, not_found};

const BITS: usize = 64;

fn set_bit(words: &mut Vec<u64>, fd: RawFd, on: bool) {
    let (w, b) = (fd as usize / BITS, fd as usize % BITS);
    if w >= words.len() {
        if !on {
            return;
        }
        words.resize(w + 1, 0);
    }
    if on {
        words[w] |= 1 << b;
    } else {
        words[w] &= !(1 << b);
    }
}

fn has_bit(words: &[u64], fd: RawFd) -> bool {
    let (w, b) = (fd as usize / BITS, fd as usize % BITS);
    words.get(w).is_some_and(|x| x & (1 << b) != 0)
}

#[derive(Default)]
struct Set {
    fds: Vec<RawFd>,
    keys: Vec<u64>,
    interest: Vec<Interest>,
    oneshot: Vec<bool>,
    armed: Vec<bool>,
    /// Oneshot entries: with none, the scan skips the `armed` check.
    oneshots: usize,
    index: FdIndex,
    /// The key of each registered fd, indexed by fd: the scan turns a set
    /// bit into a report with one load.
    key_of: Vec<u64>,
    read: Vec<u64>,
    write: Vec<u64>,
    except: Vec<u64>,
    max_fd: RawFd,
    waiting: bool,
}

impl Set {
    fn set_key(&mut self, fd: RawFd, key: u64) {
        let i = fd as usize;
        if i >= self.key_of.len() {
            self.key_of.resize(i + 1, NO_KEY);
        }
        self.key_of[i] = key;
    }

    fn paint(&mut self, fd: RawFd, interest: Interest, on: bool) {
        set_bit(&mut self.read, fd, on && interest.is_readable());
        set_bit(&mut self.write, fd, on && interest.is_writable());
        set_bit(&mut self.except, fd, on && interest.is_priority());
    }

    fn remove(&mut self, fd: RawFd) -> io::Result<()> {
        let at = self.index.get(fd).ok_or_else(not_found)?;
        self.paint(fd, self.interest[at], false);
        self.fds.swap_remove(at);
        self.keys.swap_remove(at);
        self.interest.swap_remove(at);
        self.oneshots -= usize::from(self.oneshot.swap_remove(at));
        self.armed.swap_remove(at);
        self.index.clear(fd);
        self.set_key(fd, NO_KEY);
        if at < self.fds.len() {
            self.index.set(self.fds[at], at);
        }
        if fd == self.max_fd {
            self.max_fd = self.fds.iter().copied().max().unwrap_or(-1);
        }
        Ok(())
    }
}

#[derive(Default)]
struct Scratch {
    read: Vec<u64>,
    write: Vec<u64>,
    except: Vec<u64>,
    /// The bit the next scan starts at: a full batch resumes here.
    start_bit: usize,
}

pub(crate) struct SelectSys {
    set: Mutex<Set>,
    scratch: Mutex<Scratch>,
    notify: Notify,
    /// What an outer event loop watches (see `Sys::nest_fd`).
    always_readable: OwnedFd,
}

impl SelectSys {
    pub(crate) fn new() -> io::Result<SelectSys> {
        Ok(SelectSys {
            set: Mutex::new(Set {
                max_fd: -1,
                ..Set::default()
            }),
            scratch: Mutex::new(Scratch::default()),
            notify: Notify::new()?,
            always_readable: eventfd::always_readable()?,
        })
    }

    fn changed(&self, waiting: bool) -> io::Result<()> {
        if waiting { self.notify.wake() } else { Ok(()) }
    }

    /// After EBADF: report and drop every registered fd that is closed.
    fn drop_closed(&self, events: &mut Events) {
        let mut set = self.set.lock().unwrap();
        let mut at = 0;
        while at < set.fds.len() {
            let fd = set.fds[at];
            // SAFETY: F_GETFD only reads the descriptor flags of a number;
            // an fd that is not open yields EBADF and touches nothing.
            let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
            // One that does not fit is reported by the next wait's EBADF.
            let reported = closed
                && events.ready.push(Ready {
                    key: set.keys[at],
                    flags: flags::INVALID | flags::ERROR,
                });
            if reported {
                let _ = set.remove(fd);
            } else {
                at += 1;
            }
        }
    }
}

impl Sys for SelectSys {
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
        set.fds.push(fd);
        set.keys.push(key);
        set.interest.push(interest);
        set.oneshot.push(mode.is_oneshot());
        set.oneshots += usize::from(mode.is_oneshot());
        set.armed.push(true);
        set.index.set(fd, at);
        set.set_key(fd, key);
        set.paint(fd, interest, true);
        set.max_fd = set.max_fd.max(fd);
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
        let old = set.interest[at];
        set.paint(fd, old, false);
        set.paint(fd, interest, true);
        set.keys[at] = key;
        set.set_key(fd, key);
        set.interest[at] = interest;
        set.oneshots = set.oneshots - usize::from(set.oneshot[at]) + usize::from(mode.is_oneshot());
        set.oneshot[at] = mode.is_oneshot();
        set.armed[at] = true;
        let waiting = set.waiting;
        drop(set);
        self.changed(waiting)
    }

    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.forget(fd.as_raw_fd())
    }

    fn forget(&self, fd: RawFd) -> io::Result<()> {
        let mut set = self.set.lock().unwrap();
        set.remove(fd)?;
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
        // A wait that only looks cannot be blocked, so nobody needs to wake
        // it: leave the notify fd out (one fd less for the kernel to poll).
        let only_look = timeout.is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0);
        let notify = self.notify.raw();
        let nfds = {
            let mut set = self.set.lock().unwrap();
            let top = if only_look {
                set.max_fd
            } else {
                set.max_fd.max(notify)
            };
            let nfds = top + 1;
            let words = (nfds as usize).div_ceil(BITS);
            for (dst, src) in [
                (&mut s.read, &set.read),
                (&mut s.write, &set.write),
                (&mut s.except, &set.except),
            ] {
                dst.clear();
                dst.extend_from_slice(&src[..words.min(src.len())]);
                dst.resize(words, 0);
            }
            if !only_look {
                set_bit(&mut s.read, notify, true);
            }
            set.waiting = true;
            nfds
        };
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.tv_sec,
            tv_nsec: t.tv_nsec as _,
        });
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        // An empty set is passed as null: the kernel then neither copies it
        // in nor writes it back (most loops watch no fd for writing).
        let set_ptr = |words: &mut Vec<u64>| -> *mut libc::fd_set {
            if words.iter().all(|&w| w == 0) {
                std::ptr::null_mut()
            } else {
                words.as_mut_ptr().cast()
            }
        };
        let (read, write, except) = (
            set_ptr(&mut s.read),
            set_ptr(&mut s.write),
            set_ptr(&mut s.except),
        );
        // SAFETY: each non-null set points at ceil(nfds / 64) u64 words,
        // which is the memory the kernel reads and writes for `nfds` bits
        // (fd_set is only a bit array); `ts_ptr` is null or points at `ts`;
        // a null sigmask leaves the signal mask alone.
        let r =
            unsafe { libc::pselect(nfds.max(0), read, write, except, ts_ptr, std::ptr::null()) };
        let err = io::Error::last_os_error();
        // Lock order: the Poller's table, then the set.
        let mut table = table.lock().unwrap();
        let mut set = self.set.lock().unwrap();
        set.waiting = false;
        if r < 0 {
            drop(set);
            drop(table);
            if err.raw_os_error() == Some(libc::EBADF) {
                self.drop_closed(events);
                return Ok(());
            }
            return Err(err);
        }
        if r == 0 {
            return Ok(());
        }
        if !only_look && has_bit(&s.read, notify) {
            self.notify.drain();
            set_bit(&mut s.read, notify, false);
        }
        let words = s.read.len();
        if words == 0 {
            return Ok(());
        }
        let start = s.start_bit % (words * BITS);
        let (w0, b0) = (start / BITS, start % BITS);
        // words + 1 steps: the first word from bit b0 up, then the others
        // in turn, the last step the first word's bits below b0.
        let mut stop = None;
        for i in 0..=words {
            let w = if w0 + i >= words {
                w0 + i - words
            } else {
                w0 + i
            };
            let mask = if i == 0 {
                !0u64 << b0
            } else if i == words {
                (1u64 << b0) - 1
            } else {
                !0u64
            };
            let word = (s.read[w] & mask, s.write[w] & mask, s.except[w] & mask);
            stop = if set.oneshots == 0 {
                scan_word(&mut table, &set.key_of, word, w, events)
            } else {
                scan_word_oneshot(&mut table, &mut set, word, w, events)
            };
            if stop.is_some() {
                break;
            }
        }
        if let Some(fd) = stop {
            // Full: the next wait starts at this fd (fairness).
            s.start_bit = fd;
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

/// Reports the fds whose bits are set in one word of the result sets
/// (read, write, except) as events. Returns the fd that did not fit, if the
/// list filled up. The master sets hold only what each entry asked for, so
/// the result bits need no masking by interest; every set bit is a
/// registered fd (the notify fd's bit is cleared before the scan).
#[inline(always)]
fn scan_word(
    table: &mut Table,
    key_of: &[u64],
    (rw, ww, ew): (u64, u64, u64),
    w: usize,
    events: &mut Events,
) -> Option<usize> {
    let (list, mut n) = events.parts();
    let mut bits = rw | ww | ew;
    let mut stop = None;
    while bits != 0 {
        let b = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let fd = w * BITS + b;
        let Some(&key) = key_of.get(fd) else { continue };
        let Some(out) = list.get_mut(n) else {
            stop = Some(fd);
            break;
        };
        let Some(ev) = translate_one(table, key, word_flags(rw, ww, ew, b)) else {
            continue;
        };
        *out = ev;
        n += 1;
    }
    events.set_len(n);
    stop
}

/// `scan_word` for a set with oneshot entries: a fired one is disarmed (its
/// bits cleared) and a disarmed one skipped.
fn scan_word_oneshot(
    table: &mut Table,
    set: &mut Set,
    (rw, ww, ew): (u64, u64, u64),
    w: usize,
    events: &mut Events,
) -> Option<usize> {
    let mut bits = rw | ww | ew;
    while bits != 0 {
        let b = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let fd = (w * BITS + b) as RawFd;
        let Some(at) = set.index.get(fd) else {
            continue;
        };
        if !set.armed[at] {
            continue;
        }
        let (list, n) = events.parts();
        if n == list.len() {
            return Some(fd as usize);
        }
        if set.oneshot[at] {
            set.armed[at] = false;
            let interest = set.interest[at];
            set.paint(fd, interest, false);
        }
        if let Some(ev) = translate_one(table, set.keys[at], word_flags(rw, ww, ew, b)) {
            list[n] = ev;
            events.set_len(n + 1);
        }
    }
    None
}

/// Our flags for bit `b` of one word of the three result sets.
#[inline(always)]
fn word_flags(rw: u64, ww: u64, ew: u64, b: usize) -> u8 {
    let bit = |word: u64, flag: u8| ((word >> b) & 1) as u8 * flag;
    bit(rw, flags::READABLE) | bit(ww, flags::WRITABLE) | bit(ew, flags::PRIORITY)
}
