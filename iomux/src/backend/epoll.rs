//! epoll(7): the seeds' design, in the kernel. The interest set (the
//! red-black tree of epitems) persists between calls, the ready list is
//! filled by wait-queue callbacks, and `epoll_wait` copies out only what is
//! ready. Level, edge and oneshot are native. `epoll_pwait2` takes a
//! nanosecond timespec, so sub-millisecond timeouts are not rounded.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::time::Timespec;

use super::Sys;
use crate::event::{Events, Ready, flags};
use crate::interest::{Interest, Mode};

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

    fn wait(&self, events: &mut Events, timeout: Option<&Timespec>) -> io::Result<()> {
        events.ready.clear();
        events.epoll.clear();
        epoll::wait(
            self.epfd.as_fd(),
            spare_capacity(&mut events.epoll),
            timeout,
        )?;
        for e in &events.epoll {
            events.ready.push(Ready {
                key: e.data.u64(),
                flags: flags_from_epoll(e.flags),
            });
        }
        Ok(())
    }

    fn kernel_rejects_duplicates(&self) -> bool {
        true
    }
}
