//! `Poller`: one API over epoll, poll, select and io_uring.
//!
//! Not for: event loops, timers or connections (the reactor and the runtime
//! build those on it); a `Poller` is an interest set, a wait and the
//! events, and nothing else.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::{self, Backend, Sys};
use crate::deliver::translate;
use crate::event::{Events, Token};
use crate::eventfd;
use crate::interest::{Interest, Mode};
use crate::table::{self, Files, Identity, NO_KEY, Slot, Table, already_exists, not_found};

/// An interest set that persists between waits, and a wait that returns
/// what is ready: the kernel's eventpoll (`struct eventpoll`), with the same
/// semantics on every backend.
///
/// `Poller` is `Send + Sync`; every method takes `&self`. Registering,
/// modifying or deregistering from another thread while a thread is blocked
/// in [`wait`](Poller::wait) takes effect in that wait on every backend.
/// Clones share the same poller. Across `fork`, see [the crate
/// documentation](crate#fork): on epoll a registered fd closed in the parent
/// but still open in a child keeps reporting events.
///
/// A registration made with [`register`](Poller::register) borrows the
/// source: deregister it before the fd is closed. A forgotten deregister
/// is not undefined behaviour (stale events are recognised and dropped by
/// a generation count), but on io_uring the kernel keeps the file open
/// until the registration goes ([`Backend::pins_registered_files`]); see
/// [`purge_closed`](Poller::purge_closed). [`register_owned`](Poller::register_owned)
/// returns a guard that owns the source and deregisters it on drop, so it
/// cannot be forgotten.
#[derive(Clone)]
pub struct Poller {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Backend,
    pub(crate) sys: Box<dyn Sys>,
    pub(crate) table: Mutex<Table>,
    /// The registered open files, where the backend's kernel knows only fd
    /// numbers (`Sys::kernel_rejects_duplicates` is false): tells a
    /// duplicate from a reused number, and a stale `modify`.
    pub(crate) files: Option<Files>,
    /// How many dropped wakers wait for their last wake to be delivered
    /// (`Table::orphans`): one relaxed load per wait when there are none.
    orphans: AtomicUsize,
    /// The always-readable nesting fd was handed out (and a warning logged).
    warned_nesting: AtomicBool,
}

impl Poller {
    /// A poller on the best backend: epoll.
    pub fn new() -> io::Result<Poller> {
        Poller::with_backend(Backend::Epoll)
    }

    /// A poller on a chosen backend. io_uring fails with a clear error where
    /// the kernel lacks it or it is disabled.
    ///
    /// On poll, select and io_uring, whose kernel mechanisms know fd
    /// numbers only, the poller also holds an epoll instance of its own,
    /// never waited on: it records which open file each registration is
    /// for, so that a number closed without `deregister` and reused is told
    /// from a duplicate ([`register`](Poller::register)) and from the
    /// registered file ([`modify`](Poller::modify)). One more fd, and one
    /// `epoll_ctl` per register, modify and deregister.
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
        let files = if sys.kernel_rejects_duplicates() {
            None
        } else {
            Some(Files::new()?)
        };
        Ok(Poller {
            inner: Arc::new(Inner {
                backend,
                sys,
                table: Mutex::new(Table::default()),
                files,
                orphans: AtomicUsize::new(0),
                warned_nesting: AtomicBool::new(false),
            }),
        })
    }

    /// The backend this poller runs on.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Starts watching `source` for `interest`, reported under `token`.
    ///
    /// Errors: `AlreadyExists` (EEXIST) if the fd is registered already;
    /// `Unsupported` for [`Mode::Edge`] or [`Mode::EdgeOneshot`] on a backend
    /// without native edges (ask for [`Mode::EdgeOrLevel`] to accept level
    /// delivery there); OS errors keep their code (e.g. EPERM for a regular
    /// file on epoll).
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
    /// oneshot registration. `NotFound` (ENOENT) if the fd is not
    /// registered, or if the registration is stale: its fd was closed
    /// without [`deregister`](Poller::deregister) and the number now names
    /// another open file, as epoll answers (the stale registration is
    /// dropped; register the new file). `Unsupported` as in
    /// [`register`](Poller::register).
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
    /// `NotFound` (ENOENT) if the fd is not registered.
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
        if timeout == Some(Duration::ZERO) {
            return self.wait_until(events, Until::Now);
        }
        // A deadline that does not fit an Instant is as good as forever.
        match timeout.and_then(|t| Instant::now().checked_add(t)) {
            Some(d) => self.wait_until(events, Until::Deadline(d)),
            None => self.wait_until(events, Until::Forever),
        }
    }

    /// [`wait`](Poller::wait) until `deadline`: returns when events arrive
    /// or once `deadline` has passed (a deadline already past only looks).
    /// For loops that compute their next timer as an `Instant`: the time
    /// left is recomputed after each interruption, so it never drifts.
    pub fn wait_deadline(&self, events: &mut Events, deadline: Instant) -> io::Result<usize> {
        self.wait_until(events, Until::Deadline(deadline))
    }

    fn wait_until(&self, events: &mut Events, until: Until) -> io::Result<usize> {
        events.clear();
        loop {
            let ts = match until {
                Until::Deadline(d) => Some(backend::timespec(
                    d.saturating_duration_since(Instant::now()),
                )),
                Until::Forever => None,
                Until::Now => Some(backend::timespec(Duration::ZERO)),
            };
            // Reports of an earlier wait (perhaps on another backend) go.
            events.ready.clear();
            match self.inner.sys.wait(events, ts.as_ref(), &self.inner.table) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.inner.deliver(events);
            if self.inner.orphans.load(Ordering::Relaxed) != 0 {
                self.inner.retire_orphans();
            }
            if !events.is_empty() {
                return Ok(events.len());
            }
            // Nothing for the caller: a timeout, an interrupted call, an
            // internal wake-up or only stale events. Go on with what is left.
            match until {
                Until::Now => return Ok(0),
                Until::Deadline(d) if Instant::now() >= d => return Ok(0),
                _ => {}
            }
        }
    }

    /// The fd that turns readable when a [`wait`](Poller::wait) would
    /// report something, so that this poller can be watched by another
    /// event loop (registered in another `Poller`, say): epoll's own fd.
    /// `None` on the backends that have no such single fd
    /// ([`Backend::supports_nesting`]): poll and select hand their set to
    /// the kernel only during a wait, and an io_uring's completion queue
    /// does not show level registrations that are still ready, since those
    /// are re-armed only by the next wait. The `AsFd` of `Poller` gives the
    /// same fd where this is `Some`.
    pub fn pollable_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner
            .backend
            .supports_nesting()
            .then(|| self.inner.sys.nest_fd())
    }
}

/// The fd to watch to nest this poller in another event loop.
///
/// On epoll it is the epoll fd: readable exactly when a wait would report
/// something, so a level or an edge watch both work. On poll, select and
/// io_uring, which have no such fd ([`Backend::supports_nesting`]), it is
/// an fd that is always readable: watched level-triggered, the outer loop
/// then looks at this poller (a wait with a zero timeout) at every turn,
/// which misses nothing but never sleeps; watched edge-triggered it would
/// report once only. A warning says so (through the `log` crate) the first
/// time such a poller gives its fd; [`Poller::pollable_fd`] is the fallible
/// accessor that gives only a real one.
impl AsFd for Poller {
    fn as_fd(&self) -> BorrowedFd<'_> {
        if !self.inner.backend.supports_nesting()
            && !self.inner.warned_nesting.swap(true, Ordering::Relaxed)
        {
            log::warn!(
                "iomux: the {} backend has no fd that shows readiness; the fd given to nest \
                 this poller is always readable (watch it level-triggered: the outer loop \
                 will look at this poller at every turn)",
                self.inner.backend
            );
        }
        self.inner.sys.nest_fd()
    }
}

/// When a wait gives up.
#[derive(Clone, Copy)]
enum Until {
    /// Only look (a zero timeout).
    Now,
    Deadline(Instant),
    Forever,
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
        let mode = self.backend.effective_mode(mode)?;
        if exclusive && mode.is_oneshot() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an exclusive registration cannot be oneshot (EPOLLEXCLUSIVE forbids EPOLLONESHOT)",
            ));
        }
        let mut table = self.table.lock().unwrap();
        let (slot, registered_identity) = table.slot_and_identity_mut(raw);
        // Entered under the table lock: a concurrent registration of the
        // same file must not see the entry before the slot.
        let (identity, entered_already) = match &self.files {
            None => (Identity::Kernel, false),
            Some(files) => files.enter(fd)?,
        };
        if slot.registered && identity != Identity::Kernel {
            let duplicate = match (identity, *registered_identity) {
                (Identity::Files, Identity::Files) => entered_already,
                (Identity::Stat(..), old) => identity == old,
                _ => false,
            };
            if duplicate {
                return Err(already_exists());
            }
            // The registered file was closed and its number reused: the old
            // registration is stale, replace it.
            if self.backend.pins_registered_files() {
                log::warn!(
                    "iomux: fd {raw} (token {}) was closed without deregister; the {} backend \
                     kept its file open until this new registration of the number",
                    slot.token.0,
                    self.backend
                );
            }
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
            orphan: false,
            plain_key: NO_KEY,
        };
        if let Err(e) = self.sys.add(fd, next.key(raw), interest, mode, exclusive) {
            if let Some(files) = &self.files
                && !entered_already
            {
                files.leave(raw, identity);
            }
            if e.raw_os_error() == Some(libc::EEXIST) {
                return Err(already_exists());
            }
            return Err(e);
        }
        // On epoll a slot still marked registered here belonged to a closed
        // fd (the kernel accepted the ADD): it is replaced.
        *slot = next;
        slot.refresh(raw);
        *registered_identity = identity;
        Ok(())
    }

    pub(crate) fn modify(
        &self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let raw = table::check_fd(fd)?;
        let mode = self.backend.effective_mode(mode)?;
        let mut table = self.table.lock().unwrap();
        let (slot, identity) = table
            .registered_with_identity_mut(raw)
            .ok_or_else(not_found)?;
        if let Some(files) = &self.files
            && !files.same(raw, identity)?
        {
            self.drop_stale(slot, raw);
            return Err(not_found());
        }
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

    /// Drops a registration whose fd number now names another open file
    /// (found by `modify`): nothing more is reported under it, and on
    /// io_uring the old file, which its poll kept open, is released.
    #[cold]
    fn drop_stale(&self, slot: &mut Slot, raw: std::os::fd::RawFd) {
        // As `add` and `purge_closed` do, a warning where the forgotten
        // registration held its file open; epoll's ENOENT says no more.
        if self.backend.pins_registered_files() {
            log::warn!(
                "iomux: fd {raw} (token {}) was closed without deregister and its number reused; \
                 modify refused it (NotFound), and the {} backend kept its file open until now",
                slot.token.0,
                self.backend
            );
        } else {
            log::debug!(
                "iomux: fd {raw} (token {}): modify of a registration whose fd was closed and \
                 its number reused; refused (NotFound), registration dropped",
                slot.token.0
            );
        }
        slot.registered = false;
        slot.refresh(raw);
        let _ = self.sys.forget(raw);
    }

    pub(crate) fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut table = self.table.lock().unwrap();
        self.remove_locked(&mut table, fd)
    }

    fn remove_locked(&self, table: &mut Table, fd: BorrowedFd<'_>) -> io::Result<()> {
        let raw = table::check_fd(fd)?;
        let (slot, identity) = table
            .registered_with_identity_mut(raw)
            .ok_or_else(not_found)?;
        slot.registered = false;
        slot.refresh(raw);
        if let Some(files) = &self.files {
            files.leave(raw, identity);
        }
        match self.sys.delete(fd) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// A `Waker` is going away. If a wake is pending (its eventfd is
    /// readable: written and not yet drained by a delivery), the poller
    /// keeps the eventfd registered until that wake is delivered, so a
    /// wait never misses it; else it is deregistered and closed now.
    /// Under the table lock, which delivery holds while it drains.
    pub(crate) fn retire_waker(&self, fd: OwnedFd) {
        let mut table = self.table.lock().unwrap();
        let raw = table::check_fd(fd.as_fd()).unwrap_or(-1);
        let pending = eventfd::is_signalled(fd.as_fd());
        match table.registered_mut(raw) {
            Some(slot) if pending => {
                slot.orphan = true;
                table.orphans.push(fd);
                self.orphans.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                let _ = self.remove_locked(&mut table, fd.as_fd());
            }
        }
    }

    /// Closes the eventfds of dropped wakers whose last wake was delivered
    /// (their slot is no longer registered).
    #[cold]
    fn retire_orphans(&self) {
        let mut guard = self.table.lock().unwrap();
        let table = &mut *guard;
        let mut orphans = std::mem::take(&mut table.orphans);
        orphans.retain(|fd| {
            let raw = table::check_fd(fd.as_fd()).unwrap_or(-1);
            if table.registered_mut(raw).is_some() {
                return true;
            }
            if let Some(slot) = table.get_mut(raw as usize) {
                slot.orphan = false;
            }
            let _ = self.sys.delete(fd.as_fd());
            self.orphans.fetch_sub(1, Ordering::Relaxed);
            false
        });
        table.orphans = orphans;
    }

    /// Turns the raw reports a backend left in `events.ready` into events.
    fn deliver(&self, events: &mut Events) {
        if events.ready.is_empty() {
            return;
        }
        let mut table = self.table.lock().unwrap();
        let Events {
            list, len, ready, ..
        } = events;
        let reports = ready.as_slice().iter().map(|r| (r.key, r.flags));
        translate(&mut table, reports, list, len);
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}
