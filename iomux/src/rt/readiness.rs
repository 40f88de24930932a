//! Readiness: a [`Poller`] tells which fds are ready, the task then makes
//! the syscall (tokio's and async-io's model).
//!
//! Each fd has a `ScheduledIo`: the readiness seen so far and the task
//! waiting in each direction. Readiness is cached and optimistic (a new fd
//! counts as ready both ways): an I/O call is tried first, and only its
//! `EAGAIN` clears the direction and parks the task. The Poller reports
//! edges where the backend has them (epoll, io_uring), so a ready fd costs
//! no syscall per turn; on poll and select, which have none, each fd is
//! registered oneshot and re-armed only when a task waits on it, so an fd
//! that is ready but not being read does not spin the loop.
//!
//! Not for: io_uring completions (`rt/uring`); on this driver io_uring can
//! only be a Poller backend (POLL_ADD).

use std::io;
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::driver::{Driver, Unpark};
use super::executor::{Core, gone};
use crate::slab::{Key, Slab};
use crate::{Backend, Event, Events, Interest, Mode, Poller, Token};

/// Readiness directions.
pub(crate) const READ: u8 = 1;
pub(crate) const WRITE: u8 = 2;

/// The token of the runtime's unpark eventfd.
const UNPARK: Token = Token(usize::MAX);

/// The tasks waiting in one direction. Usually one (a connection's task),
/// kept without allocating; more when several tasks share the I/O object
/// (two tasks accepting on one listener, receiving on one UDP socket): each
/// is woken by the next event, none steals another's wakeup. A task that
/// stopped waiting stays until that event and gets one spurious wake.
#[derive(Default)]
pub(crate) struct Waiters {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Waiters {
    /// Adds `waker`, unless it (or one that wakes the same task) is in.
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !self.rest.iter().any(|w| w.will_wake(waker)) {
                    self.rest.push(waker.clone());
                }
            }
        }
    }

    /// Moves every waiter into `out`.
    pub(crate) fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.first.take());
        out.append(&mut self.rest);
    }

    /// Forgets every waiter.
    pub(crate) fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }
}

/// What is known of one fd's readiness, and who waits for it.
#[derive(Default)]
pub(crate) struct ScheduledIo {
    pub(crate) ready: u8,
    /// Directions whose end an event reported (hang-up, read side shut):
    /// ready for good. Kept apart from `ready`, which a short read or write
    /// clears: the end comes as one edge, often with the last data, and the
    /// read after the short one must still see it (tokio keeps its
    /// READ_CLOSED the same way). An error is not an end: the next
    /// operation reports (and consumes) it, so it only makes both
    /// directions `ready`, and the `EAGAIN` after it clears them; were it
    /// sticky, a consumed error would keep `readable()` ready forever and
    /// a wait-then-try loop would spin.
    pub(crate) closed: u8,
    /// Counts the events delivered for this fd. A look at readiness
    /// carries the tick it saw, and a clear based on it is ignored once a
    /// newer event came (tokio's `ScheduledIo` tick): a guard held across
    /// an `.await` must not wipe what arrived meanwhile.
    pub(crate) tick: u32,
    /// Whether a read that fills less than its buffer proves the socket
    /// empty, so that readiness may be cleared without the `EAGAIN` read
    /// (see [`Registration::clear_after_short_read`]).
    pub(crate) short_read_drains: bool,
    /// Directions a oneshot registration is armed for (poll, select; and
    /// the completion driver's POLL_ADD requests).
    pub(crate) armed: u8,
    pub(crate) reader: Waiters,
    pub(crate) writer: Waiters,
}

impl ScheduledIo {
    /// Records `dirs` as ready and collects the wakers waiting on them
    /// (on a oneshot registration, every waker: the one event disarmed
    /// every direction, and a woken task re-arms what it still needs).
    pub(crate) fn set_ready(&mut self, dirs: u8, oneshot: bool, wakers: &mut Vec<Waker>) {
        self.ready |= dirs;
        self.tick = self.tick.wrapping_add(1);
        if oneshot {
            self.armed = 0;
        }
        if dirs & READ != 0 || oneshot {
            self.reader.take_into(wakers);
        }
        if dirs & WRITE != 0 || oneshot {
            self.writer.take_into(wakers);
        }
    }

    /// Ready in `dir` (with the tick it was seen at), or parks `cx`'s
    /// waker for it.
    pub(crate) fn check(&mut self, dir: u8, cx: &Context<'_>) -> Poll<u32> {
        if (self.ready | self.closed) & dir != 0 {
            return Poll::Ready(self.tick);
        }
        let waiters = if dir == READ {
            &mut self.reader
        } else {
            &mut self.writer
        };
        waiters.register(cx.waker());
        Poll::Pending
    }

    /// `dir` is not ready after all, unless an event came after the look
    /// at tick `seen`.
    pub(crate) fn clear(&mut self, dir: u8, seen: u32) {
        if self.tick == seen {
            self.ready &= !dir;
        }
    }
}

/// The directions an event makes ready: errors and hang-ups count both
/// ways, so that the next I/O call reports them; urgent data (PRI) is
/// something to read.
pub(crate) fn dirs_of(event: &Event) -> u8 {
    let mut dirs = 0;
    if event.is_readable() || event.is_read_closed() || event.is_error() || event.is_priority() {
        dirs |= READ;
    }
    if event.is_writable() || event.is_write_closed() || event.is_error() {
        dirs |= WRITE;
    }
    dirs
}

/// The directions an event says are over for good (see
/// [`ScheduledIo::closed`]): hang-ups, not errors. The Poller marks an
/// error as write-closed too (ERR → ERROR | WRITE_CLOSED, HUP →
/// READ_CLOSED | WRITE_CLOSED), so a write end counts only when it is not
/// an error alone.
pub(crate) fn closed_of(event: &Event) -> u8 {
    let mut dirs = 0;
    if event.is_read_closed() {
        dirs |= READ;
    }
    if event.is_write_closed() && (!event.is_error() || event.is_read_closed()) {
        dirs |= WRITE;
    }
    dirs
}

pub(crate) fn interest_of(dirs: u8) -> Interest {
    match dirs {
        READ => Interest::READABLE,
        WRITE => Interest::WRITABLE,
        _ => Interest::READABLE | Interest::WRITABLE,
    }
}

pub(crate) struct ReadinessDriver {
    poller: Poller,
    events: Events,
    ios: Slab<ScheduledIo>,
    oneshot: bool,
}

/// What kind of fd a registration is for: it decides what a short read
/// proves (see [`Registration::clear_after_short_read`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A TCP stream: a short read drains it unless urgent data is pending,
    /// which the registration watches for (PRI).
    Tcp,
    /// Anything else (a Unix stream stops a read at an SCM_RIGHTS or
    /// credentials boundary with data still queued; an `AsyncFd`'s fd may
    /// be anything).
    Other,
}

impl ReadinessDriver {
    pub(crate) fn new(backend: Backend) -> io::Result<(ReadinessDriver, Unpark)> {
        let poller = Poller::with_backend(backend)?;
        let waker = crate::Waker::new(&poller, UNPARK)?;
        let driver = ReadinessDriver {
            oneshot: !backend.supports_edge(),
            poller,
            events: Events::with_capacity(1024),
            ios: Slab::default(),
        };
        Ok((driver, Unpark::Waker(waker)))
    }

    pub(crate) fn backend(&self) -> Backend {
        self.poller.backend()
    }

    pub(crate) fn park(
        &mut self,
        deadline: Option<Instant>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        match deadline {
            Some(d) => self.poller.wait_deadline(&mut self.events, d)?,
            None => self.poller.wait(&mut self.events, None)?,
        };
        for event in self.events.iter() {
            if event.token() == UNPARK {
                continue;
            }
            if let Some(io) = self.ios.get_mut(event.token().0 as Key) {
                io.closed |= closed_of(&event);
                if event.is_priority() && !self.oneshot {
                    // Urgent data: a TCP read stops at its mark with data
                    // still queued, and no new edge will say so.
                    io.short_read_drains = false;
                }
                io.set_ready(dirs_of(&event), self.oneshot, wakers);
            }
        }
        Ok(())
    }

    fn register(&mut self, fd: BorrowedFd<'_>, kind: FdKind) -> io::Result<Key> {
        // A level-triggered (oneshot, re-armed on demand) registration
        // re-checks the fd when a task waits again, so a short read that
        // left data behind costs one wait, never a stall; an edge-triggered
        // one does not, and needs the kernel's promise (TCP without
        // urgent data).
        let key = self.ios.insert(ScheduledIo {
            ready: READ | WRITE,
            armed: READ | WRITE,
            short_read_drains: self.oneshot || kind == FdKind::Tcp,
            ..ScheduledIo::default()
        });
        let mode = if self.oneshot {
            Mode::Oneshot
        } else {
            Mode::Edge
        };
        let mut interest = Interest::READABLE | Interest::WRITABLE;
        if kind == FdKind::Tcp && !self.oneshot {
            interest |= Interest::PRIORITY;
        }
        let token = Token(key as usize);
        if let Err(e) = self.poller.register(&fd, token, interest, mode) {
            self.ios.remove(key);
            return Err(e);
        }
        Ok(key)
    }

    fn poll_ready(
        &mut self,
        key: Key,
        dir: u8,
        fd: BorrowedFd<'_>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<u32>> {
        let Some(io) = self.ios.get_mut(key) else {
            return Poll::Ready(Err(gone()));
        };
        match io.check(dir, cx) {
            Poll::Ready(tick) => Poll::Ready(Ok(tick)),
            Poll::Pending => {
                if self.oneshot && io.armed & dir == 0 {
                    io.armed |= dir;
                    let interest = interest_of(io.armed);
                    if let Err(e) =
                        self.poller
                            .modify(&fd, Token(key as usize), interest, Mode::Oneshot)
                    {
                        return Poll::Ready(Err(e));
                    }
                }
                Poll::Pending
            }
        }
    }

    fn io_mut(&mut self, key: Key) -> Option<&mut ScheduledIo> {
        self.ios.get_mut(key)
    }

    fn deregister(&mut self, key: Key, fd: BorrowedFd<'_>) {
        if self.ios.remove(key).is_some()
            && let Err(e) = self.poller.deregister(&fd)
        {
            log::debug!("iomux::rt: deregister: {e}");
        }
    }
}

/// An fd's registration with its runtime's driver, for readiness. The owner
/// passes the fd to each call and must call [`deregister`](Registration::deregister)
/// before it closes the fd (`PollFd` does both).
pub(crate) struct Registration {
    core: Rc<Core>,
    key: Key,
}

impl Registration {
    /// Registers `fd` with the current runtime's driver.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> io::Result<Registration> {
        Registration::with_kind(fd, FdKind::Other)
    }

    /// Registers `fd`, of `kind`, with the current runtime's driver.
    pub(crate) fn with_kind(fd: BorrowedFd<'_>, kind: FdKind) -> io::Result<Registration> {
        let core = Core::current().ok_or_else(|| {
            io::Error::other(
                "iomux::rt I/O objects must be made inside a runtime (Runtime::block_on)",
            )
        })?;
        let key = match &mut *core.driver.borrow_mut() {
            Driver::Readiness(d) => d.register(fd, kind)?,
            #[cfg(feature = "uring")]
            Driver::Uring(d) => d.register_poll(),
        };
        Ok(Registration { core, key })
    }

    /// `Ready(Ok(tick))` when `dir` may be ready (try the syscall; the tick
    /// goes back to [`clear`](Registration::clear) if it says `EAGAIN`);
    /// else the task is woken when it becomes so.
    ///
    /// # Panics
    /// When polled inside another runtime than the one it was made on: its
    /// events would never come, and the task would hang.
    pub(crate) fn poll_ready(
        &self,
        dir: u8,
        fd: BorrowedFd<'_>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<u32>> {
        super::executor::assert_polled_on(self.core.id());
        match &mut *self.core.driver.borrow_mut() {
            Driver::Readiness(d) => d.poll_ready(self.key, dir, fd, cx),
            #[cfg(feature = "uring")]
            Driver::Uring(d) => d.poll_ready(self.key, dir, fd, cx),
        }
    }

    /// The tick of a look at `dir` when it may be ready now, `None` when it
    /// is not; unlike [`poll_ready`](Registration::poll_ready) it parks no
    /// waker and arms nothing (a `try_*` call's look, which must not take
    /// the wakeup of a task waiting in that direction).
    pub(crate) fn ready_now(&self, dir: u8) -> Option<u32> {
        let mut seen = None;
        self.with_io(|io| {
            if (io.ready | io.closed) & dir != 0 {
                seen = Some(io.tick);
            }
        });
        seen
    }

    fn with_io(&self, f: impl FnOnce(&mut ScheduledIo)) {
        match &mut *self.core.driver.borrow_mut() {
            Driver::Readiness(d) => d.io_mut(self.key).map(f),
            #[cfg(feature = "uring")]
            Driver::Uring(d) => d.poll_io_mut(self.key).map(f),
        };
    }

    /// The syscall said `EAGAIN` in `dir` after the look at `seen`: not
    /// ready until the next event (unless one came since that look).
    pub(crate) fn clear(&self, dir: u8, seen: u32) {
        self.with_io(|io| io.clear(dir, seen));
    }

    /// A read filled less than its buffer: clear read readiness without
    /// the `EAGAIN` read (tokio's rule, one syscall less per request)
    /// where that proves the fd empty; elsewhere keep it, and the next
    /// read finds out.
    pub(crate) fn clear_after_short_read(&self, seen: u32) {
        self.with_io(|io| {
            if io.short_read_drains {
                io.clear(READ, seen);
            }
        });
    }

    /// Forgets the optimistic readiness a new registration starts with, so
    /// that the first wait is for a real event (a connect's handshake).
    pub(crate) fn forget_readiness(&self) {
        self.with_io(|io| io.ready = 0);
    }

    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>) {
        // A registration dropped while its runtime is being torn down on
        // another thread's stack cannot reach the driver: skip.
        let Ok(mut driver) = self.core.driver.try_borrow_mut() else {
            return;
        };
        match &mut *driver {
            Driver::Readiness(d) => d.deregister(self.key, fd),
            #[cfg(feature = "uring")]
            Driver::Uring(d) => d.deregister_poll(self.key, fd),
        }
    }

    /// Runs `op` until it does not fail with `WouldBlock`, waiting for `dir`
    /// between tries; the tick of the look that let `op` through comes
    /// back with its result.
    pub(crate) fn poll_io<R>(
        &self,
        dir: u8,
        fd: BorrowedFd<'_>,
        cx: &Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<(R, u32)>> {
        loop {
            let seen = match self.poll_ready(dir, fd, cx) {
                Poll::Ready(Ok(tick)) => tick,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(dir, seen),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(r) => return Poll::Ready(Ok((r, seen))),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
