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

use std::io;
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::driver::{Driver, Unpark};
use super::executor::{Core, gone};
use super::slab::{Key, Slab};
use crate::{Backend, Event, Events, Interest, Mode, Poller, Token};

/// Readiness directions.
pub(crate) const READ: u8 = 1;
pub(crate) const WRITE: u8 = 2;

/// The token of the runtime's unpark eventfd.
const UNPARK: Token = Token(usize::MAX);

/// What is known of one fd's readiness, and who waits for it.
#[derive(Default)]
pub(crate) struct ScheduledIo {
    pub(crate) ready: u8,
    /// Directions whose end an event reported (hang-up, read side shut,
    /// error): ready for good. Kept apart from `ready`, which a short read
    /// or write clears: the end comes as one edge, often with the last
    /// data, and the read after the short one must still see it (tokio
    /// keeps its READ_CLOSED the same way).
    pub(crate) closed: u8,
    /// Directions a oneshot registration is armed for (poll, select; and
    /// the completion driver's POLL_ADD requests).
    pub(crate) armed: u8,
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
}

impl ScheduledIo {
    /// Records `dirs` as ready and collects the wakers waiting on them
    /// (on a oneshot registration, every waker: the one event disarmed
    /// every direction, and a woken task re-arms what it still needs).
    pub(crate) fn set_ready(&mut self, dirs: u8, oneshot: bool, wakers: &mut Vec<Waker>) {
        self.ready |= dirs;
        if oneshot {
            self.armed = 0;
        }
        if dirs & READ != 0 || oneshot {
            wakers.extend(self.reader.take());
        }
        if dirs & WRITE != 0 || oneshot {
            wakers.extend(self.writer.take());
        }
    }

    /// Ready in `dir`, or parks `cx`'s waker for it; `true` when the caller
    /// must arm a oneshot registration for `dir`.
    pub(crate) fn check(&mut self, dir: u8, cx: &Context<'_>) -> Poll<bool> {
        if (self.ready | self.closed) & dir != 0 {
            return Poll::Ready(false);
        }
        let slot = if dir == READ {
            &mut self.reader
        } else {
            &mut self.writer
        };
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The directions an event makes ready: errors and hang-ups count both
/// ways, so that the next I/O call reports them.
pub(crate) fn dirs_of(event: &Event) -> u8 {
    let mut dirs = 0;
    if event.is_readable() || event.is_read_closed() || event.is_error() {
        dirs |= READ;
    }
    if event.is_writable() || event.is_write_closed() || event.is_error() {
        dirs |= WRITE;
    }
    dirs
}

/// The directions an event says are over for good (see
/// [`ScheduledIo::closed`]).
pub(crate) fn closed_of(event: &Event) -> u8 {
    let mut dirs = 0;
    if event.is_read_closed() || event.is_error() {
        dirs |= READ;
    }
    if event.is_write_closed() || event.is_error() {
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
                io.set_ready(dirs_of(&event), self.oneshot, wakers);
            }
        }
        Ok(())
    }

    fn register(&mut self, fd: BorrowedFd<'_>) -> io::Result<Key> {
        let key = self.ios.insert(ScheduledIo {
            ready: READ | WRITE,
            armed: READ | WRITE,
            ..ScheduledIo::default()
        });
        let mode = if self.oneshot {
            Mode::Oneshot
        } else {
            Mode::Edge
        };
        let token = Token(key as usize);
        if let Err(e) =
            self.poller
                .register(&fd, token, Interest::READABLE | Interest::WRITABLE, mode)
        {
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
    ) -> Poll<io::Result<()>> {
        let Some(io) = self.ios.get_mut(key) else {
            return Poll::Ready(Err(gone()));
        };
        match io.check(dir, cx) {
            Poll::Ready(_) => Poll::Ready(Ok(())),
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

    fn clear(&mut self, key: Key, dir: u8) {
        if let Some(io) = self.ios.get_mut(key) {
            io.ready &= !dir;
        }
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
        let core = Core::current().ok_or_else(|| {
            io::Error::other(
                "iomux::rt I/O objects must be made inside a runtime (Runtime::block_on)",
            )
        })?;
        let key = match &mut *core.driver.borrow_mut() {
            Driver::Readiness(d) => d.register(fd)?,
            #[cfg(feature = "uring")]
            Driver::Uring(d) => d.register_poll(),
        };
        Ok(Registration { core, key })
    }

    /// `Ready(Ok)` when `dir` may be ready (try the syscall); else the task
    /// is woken when it becomes so.
    pub(crate) fn poll_ready(
        &self,
        dir: u8,
        fd: BorrowedFd<'_>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut *self.core.driver.borrow_mut() {
            Driver::Readiness(d) => d.poll_ready(self.key, dir, fd, cx),
            #[cfg(feature = "uring")]
            Driver::Uring(d) => d.poll_ready(self.key, dir, fd, cx),
        }
    }

    /// The syscall said `EAGAIN` in `dir`: not ready until the next event.
    pub(crate) fn clear(&self, dir: u8) {
        match &mut *self.core.driver.borrow_mut() {
            Driver::Readiness(d) => d.clear(self.key, dir),
            #[cfg(feature = "uring")]
            Driver::Uring(d) => d.clear_poll(self.key, dir),
        }
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
    /// between tries.
    pub(crate) fn poll_io<R>(
        &self,
        dir: u8,
        fd: BorrowedFd<'_>,
        cx: &Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            match self.poll_ready(dir, fd, cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(dir),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return Poll::Ready(other),
            }
        }
    }
}
