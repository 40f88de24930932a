//! `Poller`: one API over epoll, poll, select and io_uring.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::{self, Backend, Sys};
use crate::event::{Event, Events, Token, flags};
use crate::interest::{Interest, Mode};
use crate::table::{self, NO_KEY, Slot, Table, split_key};

/// The seeds' `struct eventpoll`, in user space: an interest set that
/// persists between waits, and a wait that returns what is ready.
///
/// `Poller` is `Send + Sync`; every method takes `&self`. Registering,
/// modifying or deregistering from another thread while a thread is blocked
/// in [`wait`](Poller::wait) takes effect in that wait on every backend.
/// Clones share the same poller. Across `fork`, see [the crate
/// documentation](crate#fork): on epoll a registered fd closed in the parent
/// but still open in a child keeps reporting events.
#[derive(Clone)]
pub struct Poller {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    backend: Backend,
    sys: Box<dyn Sys>,
    table: Mutex<Table>,
}

fn already_exists() -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, "fd is already registered")
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "fd is not registered")
}

impl Poller {
    /// A poller on the best backend: epoll.
    pub fn new() -> io::Result<Poller> {
        Poller::with_backend(Backend::Epoll)
    }

    /// A poller on a chosen backend. io_uring fails with a clear error where
    /// the kernel lacks it or it is disabled.
    pub fn with_backend(backend: Backend) -> io::Result<Poller> {
        let sys: Box<dyn Sys> = match backend {
            Backend::Epoll => Box::new(backend::epoll::EpollSys::new()?),
            Backend::Poll => Box::new(backend::poll::PollSys::new()?),
            Backend::Select => Box::new(backend::select::SelectSys::new()?),
            #[cfg(feature = "uring")]
            Backend::IoUring => backend::uring::new()?,
            #[cfg(not(feature = "uring"))]
            Backend::IoUring => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "iomux was built without the `uring` feature",
                ));
            }
        };
        Ok(Poller {
            inner: Arc::new(Inner {
                backend,
                sys,
                table: Mutex::new(Table::default()),
            }),
        })
    }

    /// The backend this poller runs on.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Starts watching `source` for `interest`, reported under `token`.
    ///
    /// Errors: `AlreadyExists` if the fd is registered already; OS errors
    /// keep their code (e.g. EPERM for a regular file on epoll).
    pub fn register<S: AsFd + ?Sized>(
        &self,
        source: &S,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        self.inner
            .add(source.as_fd(), token, interest, mode, false, false)
    }

    /// Registers a source shared by several pollers so that a readiness
    /// change wakes only one of them (EPOLLEXCLUSIVE: no thundering herd on
    /// a shared listener). `mode` must be `Level` or `Edge`. A later
    /// [`modify`](Poller::modify) keeps the flag (epoll only allows it on
    /// ADD, so modify deletes and re-adds). Backends without it
    /// ([`Backend::supports_exclusive`]) fail with `Unsupported`.
    pub fn register_exclusive<S: AsFd + ?Sized>(
        &self,
        source: &S,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        if !self.inner.backend.supports_exclusive() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "exclusive wake-up needs EPOLLEXCLUSIVE; the {} backend cannot do it",
                    self.inner.backend
                ),
            ));
        }
        self.inner
            .add(source.as_fd(), token, interest, mode, true, false)
    }

    /// Changes the token, interest or mode of a registration; re-arms a
    /// oneshot registration. `NotFound` if the fd is not registered.
    pub fn modify<S: AsFd + ?Sized>(
        &self,
        source: &S,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        self.inner.modify(source.as_fd(), token, interest, mode)
    }

    /// Stops watching `source`. Nothing arrives under its token afterwards,
    /// not even an event already in the kernel's ready list.
    /// `NotFound` if the fd is not registered.
    pub fn deregister<S: AsFd + ?Sized>(&self, source: &S) -> io::Result<()> {
        self.inner.remove(source.as_fd())
    }

    /// Waits for events and writes them into `events` (replacing what was
    /// there). Returns how many arrived.
    ///
    /// `None` waits forever; `Some(Duration::ZERO)` only looks. A timeout
    /// never ends early unless an event arrived; sub-millisecond timeouts are
    /// honoured; EINTR is retried with the time left; `Duration::MAX` is
    /// forever. When more is ready than `events` holds, the rest comes in the
    /// following waits. `wait` allocates nothing.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        let zero = timeout == Some(Duration::ZERO);
        // A deadline that does not fit an Instant is as good as forever.
        let deadline = match timeout {
            Some(t) if !zero => Instant::now().checked_add(t),
            _ => None,
        };
        let forever = !zero && deadline.is_none();
        loop {
            let ts = match deadline {
                Some(d) => Some(backend::timespec(
                    d.saturating_duration_since(Instant::now()),
                )),
                None if forever => None,
                None => Some(backend::timespec(Duration::ZERO)),
            };
            // Reports of an earlier wait (perhaps on another backend) go.
            events.epoll.clear();
            events.ready.clear();
            match self.inner.sys.wait(events, ts.as_ref(), &self.inner.table) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.inner.deliver(events);
            if !events.is_empty() || zero {
                return Ok(events.len());
            }
            // Nothing for the caller: a timeout, an interrupted call, an
            // internal wake-up or only stale events. Go on with what is left.
            if let Some(d) = deadline
                && Instant::now() >= d
            {
                return Ok(0);
            }
        }
    }
}

impl Inner {
    pub(crate) fn add(
        &self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
        exclusive: bool,
        waker: bool,
    ) -> io::Result<()> {
        let raw = table::check_fd(fd)?;
        if exclusive && mode.is_oneshot() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an exclusive registration cannot be oneshot (EPOLLEXCLUSIVE forbids EPOLLONESHOT)",
            ));
        }
        let kernel_checks = self.sys.kernel_rejects_duplicates();
        let identity = if kernel_checks {
            (0, 0)
        } else {
            table::identity(fd)?
        };
        let mut table = self.table.lock().unwrap();
        let (slot, registered_identity) = table.slot_and_identity_mut(raw);
        if slot.registered && !kernel_checks {
            if *registered_identity == identity {
                return Err(already_exists());
            }
            // The registered file was closed and its number reused: the old
            // registration is stale, replace it.
            let _ = self.sys.delete(fd);
        }
        let next = Slot {
            token,
            interest,
            mode,
            generation: slot.generation.wrapping_add(1),
            registered: true,
            armed: true,
            exclusive,
            waker,
            plain_key: NO_KEY,
        };
        match self.sys.add(fd, next.key(raw), interest, mode, exclusive) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Err(already_exists()),
            Err(e) => return Err(e),
        }
        // On epoll a slot still marked registered here belonged to a closed
        // fd (the kernel accepted the ADD): it is replaced.
        *slot = next;
        slot.refresh(raw);
        *registered_identity = identity;
        Ok(())
    }

    fn modify(
        &self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let raw = table::check_fd(fd)?;
        let mut table = self.table.lock().unwrap();
        let slot = table.registered_mut(raw).ok_or_else(not_found)?;
        if slot.exclusive && mode.is_oneshot() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an exclusive registration cannot be oneshot",
            ));
        }
        match self
            .sys
            .modify(fd, slot.key(raw), interest, mode, slot.exclusive)
        {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                slot.registered = false;
                slot.refresh(raw);
                return Err(not_found());
            }
            Err(e) => return Err(e),
        }
        slot.token = token;
        slot.interest = interest;
        slot.mode = mode;
        slot.armed = true;
        slot.refresh(raw);
        Ok(())
    }

    pub(crate) fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let raw = table::check_fd(fd)?;
        let mut table = self.table.lock().unwrap();
        let slot = table.registered_mut(raw).ok_or_else(not_found)?;
        slot.registered = false;
        slot.refresh(raw);
        match self.sys.delete(fd) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// Turns the backend's raw reports into events (see `accept`).
    fn deliver(&self, events: &mut Events) {
        if events.ready.is_empty() && events.epoll.is_empty() {
            return;
        }
        let mut table = self.table.lock().unwrap();
        let Events {
            list,
            len,
            epoll,
            ready,
        } = events;
        let mut n = *len;
        let epoll_reports = epoll
            .iter()
            .map(|e| (e.data.u64(), backend::epoll::flags_from_epoll(e.flags)));
        translate(&mut table, epoll_reports, list, &mut n);
        let scan_reports = ready.as_slice().iter().map(|r| (r.key, r.flags));
        translate(&mut table, scan_reports, list, &mut n);
        *len = n;
    }
}

/// Appends the events of `reports` (key, flags) to `list[*n..]`, dropping
/// stale ones. Backends report at most `capacity` raw events, so every
/// accepted one has a slot. Kept tight, with `n` in a register: it runs once
/// per ready fd, and for poll and select at small N it is most of what
/// `wait` adds to the raw syscall.
#[inline(always)]
fn translate(
    table: &mut Table,
    reports: impl Iterator<Item = (u64, u8)>,
    list: &mut [Event],
    n: &mut usize,
) {
    let mut at = *n;
    for (key, bits) in reports {
        let Some(ev) = translate_one(table, key, bits) else {
            continue;
        };
        if let Some(out) = list.get_mut(at) {
            *out = ev;
            at += 1;
        }
    }
    *n = at;
}

/// One report turned into an event, or `None` if stale; used by `translate`
/// and by the backends that fill the event list themselves while they scan.
#[inline(always)]
pub(crate) fn translate_one(table: &mut Table, key: u64, bits: u8) -> Option<Event> {
    let (fd, _) = split_key(key);
    match table.get_mut(fd) {
        // The common case: a live plain registration reporting readiness.
        Some(slot) if slot.plain_key == key && bits & flags::INVALID == 0 => {
            Some(Event::new(slot.token, bits))
        }
        _ => accept(table, key, bits),
    }
}

/// Checks one raw report against the interest table: `None` for a stale
/// one (wrong generation, deregistered, or a oneshot that already fired).
/// Drains a waker; forgets an fd found closed.
#[cold]
fn accept(table: &mut Table, key: u64, bits: u8) -> Option<Event> {
    let (fd, generation) = split_key(key);
    let slot = table.get_mut(fd)?;
    if !slot.registered || slot.generation != generation {
        return None;
    }
    if slot.mode.is_oneshot() {
        if !slot.armed {
            return None;
        }
        slot.armed = false;
    }
    if slot.waker {
        crate::waker::drain(fd as i32);
    }
    if bits & flags::INVALID != 0 {
        slot.registered = false;
        slot.refresh(fd as i32);
    }
    Some(Event::new(slot.token, bits))
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}
