//! epoll(7): the kernel's eventpoll. The interest set (the
//! red-black tree of epitems) persists between calls, the ready list is
//! filled by wait-queue callbacks, and `epoll_wait` copies out only what is
//! ready. Level, edge and oneshot are native. `epoll_pwait2` takes a
//! nanosecond timespec, so sub-millisecond timeouts are not rounded.
//!
//! Not for: the interest table, tokens or generations (the Poller's,
//! `table.rs`); this file only maps a key and a mode onto `epoll_ctl` and
//! reads `epoll_wait` back.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;

use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::time::Timespec;

use super::{Sys, whole_millis};
use crate::deliver::translate;
use crate::event::{Events, flags};
use crate::interest::{Interest, Mode};
use crate::table::Table;

pub(crate) struct EpollSys {
    epfd: OwnedFd,
}

impl EpollSys {
    pub(crate) fn new() -> io::Result<EpollSys> {
        Ok(EpollSys {
            epfd: epoll::create(CreateFlags::CLOEXEC)?,
        })
    }
}

fn epoll_flags(interest: Interest, mode: Mode, exclusive: bool) -> EventFlags {
    let mut f = EventFlags::empty();
    if interest.is_readable() {
        f |= EventFlags::IN | EventFlags::RDHUP;
    }
    if interest.is_writable() {
        f |= EventFlags::OUT;
    }
    if interest.is_priority() {
        f |= EventFlags::PRI;
    }
    if mode.is_edge() {
        f |= EventFlags::ET;
    }
    if mode.is_oneshot() {
        f |= EventFlags::ONESHOT;
    }
    if exclusive {
        // The kernel accepts only IN, OUT, ERR, HUP, WAKEUP and ET beside
        // EPOLLEXCLUSIVE: a peer's half-close shows up as readable + EOF.
        f.remove(EventFlags::RDHUP | EventFlags::PRI);
        f |= EventFlags::EXCLUSIVE;
    }
    f
}

/// Translates epoll's event bits into our flags.
fn flags_from_epoll(e: EventFlags) -> u8 {
    let mut f = 0;
    if e.contains(EventFlags::IN) {
        f |= flags::READABLE;
    }
    if e.contains(EventFlags::OUT) {
        f |= flags::WRITABLE;
    }
    if e.contains(EventFlags::PRI) {
        f |= flags::PRIORITY;
    }
    if e.contains(EventFlags::RDHUP) {
        f |= flags::READ_CLOSED;
    }
    if e.contains(EventFlags::HUP) {
        f |= flags::READ_CLOSED | flags::WRITE_CLOSED;
    }
    if e.contains(EventFlags::ERR) {
        f |= flags::ERROR | flags::WRITE_CLOSED;
    }
    f
}

impl Sys for EpollSys {
    fn add(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        mode: Mode,
        exclusive: bool,
    ) -> io::Result<()> {
        epoll::add(
            &self.epfd,
            fd,
            EventData::new_u64(key),
            epoll_flags(interest, mode, exclusive),
        )?;
        Ok(())
    }

    fn modify(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        mode: Mode,
        exclusive: bool,
    ) -> io::Result<()> {
        if exclusive {
            // EPOLL_CTL_MOD rejects EPOLLEXCLUSIVE: only ADD may set it.
            epoll::delete(&self.epfd, fd)?;
            return self.add(fd, key, interest, mode, true);
        }
        epoll::modify(
            &self.epfd,
            fd,
            EventData::new_u64(key),
            epoll_flags(interest, mode, false),
        )?;
        Ok(())
    }

    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        epoll::delete(&self.epfd, fd)?;
        Ok(())
    }

    fn wait(
        &self,
        events: &mut Events,
        timeout: Option<&Timespec>,
        table: &Mutex<Table>,
    ) -> io::Result<()> {
        // The kernel writes into the caller's scratch, and the reports are
        // turned into events from there in one pass (no intermediate copy).
        let Events { list, len, raw, .. } = events;
        let buf = raw.records::<epoll::Event>();
        let cap = buf.len().min(list.len());
        let buf = &mut buf[..cap];
        let n = if let Some(ms) = whole_millis(timeout) {
            // epoll_pwait2 reads the clock to turn a relative timeout into a
            // deadline even for zero; plain epoll_wait does not. Use it
            // whenever milliseconds are exact: that is the common case
            // (forever, zero, the reactor's timers).
            let len = cap.min(i32::MAX as usize) as i32;
            // SAFETY: `buf` is exclusively borrowed memory for `len` entries;
            // rustix's epoll::Event is layout-compatible with the kernel's
            // struct epoll_event (packed on x86_64, like libc's), and the
            // kernel writes only the first `n` entries.
            let n = unsafe {
                libc::epoll_wait(self.epfd.as_raw_fd(), buf.as_mut_ptr().cast(), len, ms)
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            n as usize
        } else {
            // Sub-millisecond precision: epoll_pwait2 takes a timespec.
            epoll::wait(self.epfd.as_fd(), &mut *buf, timeout)?.0.len()
        };
        if n == 0 {
            return Ok(());
        }
        // SAFETY: the kernel initialised the first `n` (≤ cap) entries.
        let reported: &[epoll::Event] =
            unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
        let mut table = table.lock().unwrap();
        let reports = reported
            .iter()
            .map(|e| (e.data.u64(), flags_from_epoll(e.flags)));
        translate(&mut table, reports, list, len);
        Ok(())
    }

    fn nest_fd(&self) -> BorrowedFd<'_> {
        self.epfd.as_fd()
    }

    fn forget(&self, _fd: RawFd) -> io::Result<()> {
        // The kernel drops a closed file from the interest set by itself.
        Ok(())
    }

    fn kernel_rejects_duplicates(&self) -> bool {
        true
    }
}
