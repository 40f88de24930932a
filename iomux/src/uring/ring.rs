//! A ring and its one submission path.
//!
//! **A full SQ** is submitted and the push goes on; what the kernel will not
//! take yet (EBUSY, EAGAIN) waits, in order, in a backlog that the next
//! [`Ring::enter`] feeds in before it sleeps. Nothing is dropped, and
//! nothing spins: each retry hands the kernel entries or gives up until the
//! caller has reaped. A wait never sleeps while part of the backlog is
//! still out of the kernel (it could be waiting for a request that was
//! never made).
//!
//! **Completions the CQ cannot hold** are kept by the kernel (NODROP, which
//! every ring requires) and flushed by the next enter, which asks for
//! events whenever the kernel flags an overflow or pending completion work.
//!
//! **Transient errors** of `io_uring_enter` (EINTR, ETIME, EBUSY, EAGAIN)
//! mean "reap and go on", here and nowhere else.
//!
//! Not for: deciding how a ring is set up (`setup.rs`) or what requests
//! mean (each user's op table); it pushes, enters and reaps.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use io_uring::{IoUring, cqueue, squeue};

use super::features::Features;
use super::setup::{self, Options, TaskRun};
use super::sqe::Sqe;
use super::sys::{self, EnterFd};
use super::user_data::UserData;

/// Errors of `io_uring_enter` that mean "not now" rather than "broken":
/// interrupted, timed out, CQ overflow backlog (EBUSY), no memory for
/// requests right now (EAGAIN).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR | libc::ETIME | libc::EBUSY | libc::EAGAIN)
    )
}

/// A number unique to the calling thread (registered ring fds belong to
/// the thread that registered them).
fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    TOKEN.with(|t| *t)
}

/// Counters of a ring's submission path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingStats {
    /// `io_uring_enter` calls made.
    pub enters: u64,
    /// Pushes that found the SQ full.
    pub sq_full: u64,
    /// Enters that found completions waiting in the kernel's overflow list.
    pub cq_overflows: u64,
}

/// One completion: whose request it was, its result (a count, an fd, or
/// `-errno`), and its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    user_data: UserData,
    result: i32,
    flags: u32,
}

impl Completion {
    /// The request's user data.
    pub fn user_data(&self) -> UserData {
        self.user_data
    }

    /// The result: non-negative on success, `-errno` on failure.
    pub fn result(&self) -> i32 {
        self.result
    }

    /// The raw IORING_CQE_F_* flags.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// IORING_CQE_F_MORE: the (multishot) request goes on; without it,
    /// this is its last completion.
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer the kernel filled, if any (IORING_CQE_F_BUFFER).
    pub fn buffer(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }

    /// IORING_CQE_F_BUF_MORE: the buffer was consumed only in part
    /// (incremental rings) and the kernel keeps filling the rest.
    pub fn buffer_more(&self) -> bool {
        cqueue::buffer_more(self.flags)
    }

    #[inline]
    fn of(cqe: &cqueue::Entry) -> Completion {
        Completion {
            user_data: UserData::from_raw(cqe.user_data()),
            result: cqe.result(),
            flags: cqe.flags(),
        }
    }
}

/// An io_uring instance with the core's submission path: opened with the
/// best setup the kernel and the [`Options`] allow, fed with [`Sqe`]s,
/// entered, and reaped.
///
/// Not for: sharing between threads without a lock (every method takes
/// `&mut self`); a ring opened with [`TaskRun::Defer`] must stay with its
/// opening thread.
pub struct Ring {
    ring: IoUring,
    features: &'static Features,
    task_run: TaskRun,
    /// The ring fd's registered index and the thread it belongs to.
    registered: Option<(u32, u64)>,
    /// Entries the SQ could not take yet, in order.
    backlog: VecDeque<squeue::Entry>,
    files: u32,
    stats: RingStats,
}

impl Ring {
    /// Opens a ring as `opts` asks. Fails with `ErrorKind::Unsupported`
    /// and the reason where io_uring is unavailable or lacks a feature the
    /// options require.
    pub fn open(opts: &Options) -> io::Result<Ring> {
        let (ring, features, chosen) = setup::open(opts)?;
        let registered = if chosen.register_ring_fd {
            match sys::register_ring_fd(ring.as_raw_fd()) {
                Ok(i) => Some((i, thread_token())),
                Err(e) => {
                    log::debug!("iomux::uring: ring fd not registered: {e}");
                    None
                }
            }
        } else {
            None
        };
        Ok(Ring {
            ring,
            features,
            task_run: chosen.task_run,
            registered,
            backlog: VecDeque::new(),
            files: 0,
            stats: RingStats::default(),
        })
    }

    /// The kernel's features (probed once per process).
    pub fn features(&self) -> &'static Features {
        self.features
    }

    /// The task-run mode the ring got.
    pub fn task_run(&self) -> TaskRun {
        self.task_run
    }

    /// Whether the ring's fd is registered (its enters skip the fd lookup
    /// when made from the opening thread).
    pub fn registered_ring_fd(&self) -> bool {
        self.registered.is_some()
    }

    /// The submission path's counters.
    pub fn stats(&self) -> RingStats {
        self.stats
    }

    /// Queues `sqe`. A full SQ is submitted to make room; what the kernel
    /// will not take yet waits in order for the next [`Ring::enter`].
    pub fn push(&mut self, sqe: Sqe) {
        if self.backlog.is_empty() {
            if self.try_push(&sqe.0) {
                return;
            }
            self.stats.sq_full += 1;
            match self.enter_raw(0, None, false) {
                Ok(_) => {
                    if self.try_push(&sqe.0) {
                        return;
                    }
                }
                Err(e) if transient(&e) => {}
                // Kept: the next enter reports the error.
                Err(e) => log::debug!("iomux::uring: submit with a full SQ: {e}"),
            }
        }
        self.backlog.push_back(sqe.0);
    }

    /// [`Ring::push`] for each of `sqes`, in order, through one view of the
    /// SQ while it has room (a batch costs one sync with the kernel's
    /// queue instead of one per entry).
    #[inline]
    pub fn push_all(&mut self, sqes: impl IntoIterator<Item = Sqe>) {
        let mut sqes = sqes.into_iter();
        if self.backlog.is_empty() {
            let mut sq = self.ring.submission();
            let mut spilled = None;
            for e in sqes.by_ref() {
                // SAFETY: as in `try_push`.
                if unsafe { sq.push(&e.0) }.is_err() {
                    spilled = Some(e);
                    break;
                }
            }
            drop(sq);
            match spilled {
                Some(e) => self.push(e),
                None => return,
            }
        }
        for e in sqes {
            self.push(e);
        }
    }

    /// Entries waiting for room in the SQ.
    pub fn backlog(&self) -> usize {
        self.backlog.len()
    }

    /// Hands what is queued to the kernel without waiting.
    pub fn submit(&mut self) -> io::Result<()> {
        match self.flush().and_then(|_| self.enter_raw(0, None, false)) {
            Ok(_) => Ok(()),
            Err(e) if transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Submits what is queued and waits until `want` completions are in the
    /// CQ, or `timeout` passes (`None`: no limit). With `want` 0 it only
    /// submits and collects what is done (on a DEFER_TASKRUN ring, running
    /// the completion work that posts it). Transient errors are not errors.
    pub fn enter(&mut self, want: u32, timeout: Option<Duration>) -> io::Result<()> {
        let all_in = self.flush()?;
        // Part of the backlog still out: do not sleep on it.
        let want = if all_in { want } else { 0 };
        let timeout = timeout.filter(|_| want > 0);
        // With nothing to wait for, events are asked for only when the
        // kernel flags work for them (overflowed completions, or completion
        // work a DEFER_TASKRUN ring defers until asked: TASKRUN_FLAG shows
        // it): an idle look then costs no wait path in the kernel.
        match self.enter_raw(want, timeout, false) {
            Ok(_) => Ok(()),
            Err(e) if transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether completions wait in the CQ.
    pub fn has_completions(&mut self) -> bool {
        !self.ring.completion().is_empty()
    }

    /// Moves every completion in the CQ to `out`.
    pub fn reap(&mut self, out: &mut Vec<Completion>) {
        out.extend(self.ring.completion().map(|c| Completion::of(&c)));
    }

    /// Hands completions to `each` until the CQ is empty or `each` returns
    /// false; what is left stays in the CQ, in order.
    #[inline]
    pub fn reap_while(&mut self, mut each: impl FnMut(Completion) -> bool) {
        let mut cq = self.ring.completion();
        for cqe in &mut cq {
            if !each(Completion::of(&cqe)) {
                break;
            }
        }
    }

    /// Registers a sparse fixed-file table of `count` slots (5.19), for
    /// [`Target::Fixed`](super::Target::Fixed) requests and direct accepts.
    pub fn register_files(&mut self, count: u32) -> io::Result<()> {
        self.ring.submitter().register_files_sparse(count)?;
        self.files = count;
        Ok(())
    }

    /// The size of the fixed-file table (0: none).
    pub fn files(&self) -> u32 {
        self.files
    }

    /// Puts `fd` in slot `index` of the fixed-file table (the table takes
    /// its own reference: the caller may close `fd` when it no longer needs
    /// the number).
    pub fn set_file(&mut self, index: u32, fd: RawFd) -> io::Result<()> {
        self.ring.submitter().register_files_update(index, &[fd])?;
        Ok(())
    }

    /// Empties slot `index` of the fixed-file table, dropping its reference
    /// to the file.
    pub fn clear_file(&mut self, index: u32) -> io::Result<()> {
        self.ring.submitter().register_files_update(index, &[-1])?;
        Ok(())
    }

    fn try_push(&mut self, e: &squeue::Entry) -> bool {
        // SAFETY: every entry came as an `Sqe`, whose constructors make
        // their callers keep the memory it points to alive and untouched
        // until its completion.
        unsafe { self.ring.submission().push(e) }.is_ok()
    }

    /// Moves the backlog into the SQ, submitting as the SQ fills while the
    /// kernel takes entries. True if the backlog is empty.
    fn flush(&mut self) -> io::Result<bool> {
        loop {
            if !self.backlog.is_empty() {
                let mut sq = self.ring.submission();
                while let Some(e) = self.backlog.front() {
                    // SAFETY: as in `try_push`.
                    if unsafe { sq.push(e) }.is_err() {
                        break;
                    }
                    self.backlog.pop_front();
                }
            }
            if self.backlog.is_empty() {
                return Ok(true);
            }
            match self.enter_raw(0, None, false) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if transient(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// One `io_uring_enter`: submits the SQ, asks for events if
    /// `getevents` (or if the kernel holds overflowed completions or
    /// completion work), and waits for `want` of them.
    fn enter_raw(
        &mut self,
        want: u32,
        timeout: Option<Duration>,
        getevents: bool,
    ) -> io::Result<u32> {
        let (to_submit, overflow, taskrun) = {
            // A fresh view: every push's view published its tail on drop.
            let sq = self.ring.submission();
            (sq.len() as u32, sq.cq_overflow(), sq.taskrun())
        };
        let getevents = getevents || want > 0 || overflow || taskrun;
        if to_submit == 0 && !getevents {
            return Ok(0);
        }
        self.stats.enters += 1;
        self.stats.cq_overflows += u64::from(overflow);
        let fd = match self.registered {
            Some((i, owner)) if owner == thread_token() => EnterFd::Registered(i),
            _ => EnterFd::Raw(self.ring.as_raw_fd()),
        };
        let flags = if getevents { sys::ENTER_GETEVENTS } else { 0 };
        sys::enter(fd, to_submit, want, flags, timeout)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if let Some((i, owner)) = self.registered {
            if owner == thread_token() {
                if let Err(e) = sys::unregister_ring_fd(self.ring.as_raw_fd(), i) {
                    log::debug!("iomux::uring: unregistering the ring fd: {e}");
                }
            } else {
                // The opening thread's table holds the ring until it exits.
                log::debug!(
                    "iomux::uring: a ring dropped outside its opening thread stays open until that thread exits"
                );
            }
        }
    }
}

mod sealed {
    /// Access to the io-uring crate's ring, for registrations.
    pub trait AsIoUring {
        fn io_uring(&self) -> &io_uring::IoUring;
    }
}

/// A ring that buffer groups can be registered with: a [`Ring`]. Sealed.
pub trait Registrar: sealed::AsIoUring {}

impl sealed::AsIoUring for Ring {
    fn io_uring(&self) -> &IoUring {
        &self.ring
    }
}
impl Registrar for Ring {}
