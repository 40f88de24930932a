//! io_uring: readiness through IORING_OP_POLL_ADD.
//!
//! Each registered fd has one poll request in the kernel; its completion is
//! the readiness report. How requests are armed gives the modes:
//! - Level: a single-shot poll, re-armed at the start of the next wait. The
//!   new poll checks readiness when issued, so an fd that is still ready is
//!   reported again at once, and one drained by the caller stays quiet.
//!   A completion tells what held when the kernel posted it: an fd that
//!   was ready when its poll completed but was drained before the next
//!   wait (say, read through another path) is still reported by that wait,
//!   once — a spurious event, never a lost one. epoll re-checks readiness
//!   inside `epoll_wait`, and poll and select look at call time, so they do
//!   not show this; callers that read until EAGAIN do not notice it.
//! - Edge: one multishot poll, a completion per wake-up of the fd's wait
//!   queue — what epoll's ET reports ([`Backend::supports_edge`] is true).
//!   If the kernel ends it (CQ overflow), it is re-armed, and the fresh poll
//!   reports an fd that is still ready: no edge is lost. Several
//!   completions for one fd before a wait are merged into one event with
//!   the union of their conditions, as epoll's ready list holds one entry
//!   per fd.
//! - Oneshot / EdgeOneshot: a single-shot poll, re-armed only by `modify`
//!   (native oneshot).
//!
//! `modify` and `deregister` cancel the request with POLL_REMOVE. Every
//! request carries a sequence number in its `user_data`, so completions of
//! cancelled or replaced requests are dropped (see requests.rs).
//!
//! **Threads.** Only the holder of `ring_lock` touches the submission and
//! completion queues: the thread inside `wait`, or a registering thread when
//! nobody waits, which then submits its request itself (a `modify` only
//! puts its requests in the SQ, and the next wait submits them with its own
//! `io_uring_enter`: re-arming a oneshot costs no syscall of its own). A
//! registration made while a thread waits is queued and the waiter is woken
//! through an eventfd (a multishot poll on it is always armed); the waiter
//! submits it and waits
//! again, so it takes effect in that wait. The waiter thus owns the requests
//! it submits, and the kernel runs their completion work in the thread that
//! is asleep in `io_uring_enter` anyway. (Requests of a registering thread
//! that has since exited are ended by the kernel with ECANCELED; the next
//! wait arms them again, oneshots included.)
//!
//! **Timeouts** go to `io_uring_enter` itself (IORING_ENTER_EXT_ARG) as a
//! nanosecond timespec: sub-millisecond timeouts are honoured.
//!
//! **Full queues** are the core's business (`crate::uring::Ring`): a full
//! SQ is submitted and the push goes on, what the kernel refuses for now
//! waits in order for the next wait, which does not sleep until all of it
//! is in. Completions that do not fit the CQ are kept by the kernel
//! (IORING_FEAT_NODROP, which the ring requires) and flushed by the next
//! wait.
//!
//! **A closed fd: the one difference** ([`Backend::notices_closed_fd`] is
//! false). poll(2) reports POLLNVAL for an fd closed behind its back. An
//! io_uring poll request holds its own reference to the open file, so closing
//! the fd while a poll is armed neither completes the poll nor releases the
//! file: the socket stays open (the peer sees no FIN) and no event comes,
//! until the fd is deregistered, or its number is registered again (the
//! Poller sees a different file and replaces the registration, which removes
//! the old poll). Only a poll *submitted* after the close sees it: that one
//! fails with EBADF and yields one error event, and the registration is
//! dropped, as on poll. So: deregister before closing, as on every backend
//! (or let a `Registered` guard do it); `Poller::purge_closed` finds and
//! releases what was forgotten, and the Poller logs a warning when it finds
//! such a file on re-registration of its number or on drop.
//!
//! [`Backend::supports_edge`]: super::Backend::supports_edge
//! [`Backend::notices_closed_fd`]: super::Backend::notices_closed_fd
//!
//! Not for: completion I/O (reads, writes, accepts as requests: that is the
//! runtime's completion driver, `rt/uring`); this backend only asks
//! io_uring for readiness, so that it fits the Poller's API. No ring is set
//! up here: the core's [`Ring::open`](crate::uring::Ring::open) does it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rustix::time::Timespec;

use super::scan::Notify;
use super::{Sys, flags_from_poll, poll_mask};
use crate::event::{Events, Ready, flags};
use crate::eventfd;
use crate::interest::{Interest, Mode};
use crate::table::{Table, already_exists, not_found};
use crate::uring::{Completion, Feature, Options, Ring, Sqe, TaskRun, UserData, op};

mod requests;

use requests::{Kind, NOTIFY, POLL, Requests};

/// Submission queue size. Registrations beyond it wait in the ring's
/// backlog and are fed in as the kernel consumes entries.
const SQ_ENTRIES: u32 = 1024;
/// Completion queue size: large, so that a burst of readiness (thousands of
/// fds turning ready at once) fits without going through the kernel's
/// overflow list. Overflow is still handled, it is just slower.
const CQ_ENTRIES: u32 = 16 * 1024;

/// Opens the io_uring backend, or says clearly why it cannot be had.
pub(crate) fn new() -> io::Result<Box<dyn Sys>> {
    Ok(Box::new(UringSys::new()?))
}

/// The ring a Poller needs: several threads register and wait, so no
/// task-run mode that ties the ring to one thread, and no registered ring
/// fd (it belongs to one thread); SUBMIT_ALL, so a bad fd in a batch cannot
/// hold back the registrations behind it; multishot polls (5.13) for edge
/// mode and the notification eventfd.
fn options() -> Options {
    Options::new("the io_uring backend")
        .entries(SQ_ENTRIES, CQ_ENTRIES)
        .task_run(TaskRun::Plain)
        .submit_all(true)
        .require(&[Feature::PollMultishot])
}

pub(crate) struct UringSys {
    /// The ring, and with it ownership of the SQ and CQ.
    ring: Mutex<Ring>,
    state: Mutex<State>,
    notify: Notify,
    /// What an outer event loop watches (see `Sys::nest_fd`).
    always_readable: OwnedFd,
}

#[derive(Default)]
struct State {
    requests: Requests,
    /// Requests made while another thread held the ring, in order.
    pending: Vec<Sqe>,
    /// fds whose poll must be armed again at the next wait. Its capacity is
    /// kept at the table's size by `add`, so pushing in `wait` never allocates.
    rearm: Vec<RawFd>,
    notify_armed: bool,
    /// A thread is (about to be) asleep in `io_uring_enter`: queued requests
    /// must wake it.
    waiting: bool,
    /// Counts waits, so that completions for one fd within one wait are
    /// merged into one event, as epoll's ready list holds one entry per fd.
    /// (A multishot poll posts a completion per wake-up: an fd that became
    /// writable and then readable before the wait would otherwise be
    /// reported twice in it.) Starts at 1: a record's 0 means "never".
    batch: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these structures half-updated in a way
    // that matters more than refusing to work: carry on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl UringSys {
    fn new() -> io::Result<UringSys> {
        Ok(UringSys {
            ring: Mutex::new(Ring::open(&options())?),
            state: Mutex::new(State::default()),
            notify: Notify::new()?,
            always_readable: eventfd::always_readable()?,
        })
    }

    /// Hands new requests to the kernel: at once if no thread holds the
    /// ring (so a removal releases the kernel's file reference before the
    /// caller closes the fd), else through the waiter.
    fn queue(&self, st: &mut State, entries: &[Sqe]) -> io::Result<()> {
        self.queue_then(st, entries, true)
    }

    /// `queue`, but where no thread holds the ring the requests only go into
    /// the SQ, for the next `io_uring_enter` (the next wait's, at the
    /// latest) to submit: for `modify`, whose new poll reports nothing
    /// before a wait anyway, so that re-arming a oneshot costs no syscall.
    fn queue_then(&self, st: &mut State, entries: &[Sqe], submit: bool) -> io::Result<()> {
        st.pending.extend_from_slice(entries);
        let mut ring = match self.ring.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return if st.waiting {
                    self.notify.wake()
                } else {
                    // The holder is on its way into a wait and will take
                    // `pending` when it gets the state lock.
                    Ok(())
                };
            }
        };
        ring.push_all(st.pending.drain(..));
        if !submit {
            return Ok(());
        }
        // A failure of the poll itself comes as a completion.
        ring.submit()
    }

    /// Everything a wait must hand the kernel before sleeping: the notify
    /// poll, queued requests, re-armed polls.
    fn prepare(&self, ring: &mut Ring, st: &mut State) {
        if !st.notify_armed {
            ring.push(op::poll(
                self.notify.raw(),
                libc::POLLIN as u32,
                true,
                UserData::new(NOTIFY, 0, 0),
            ));
            st.notify_armed = true;
        }
        ring.push_all(st.pending.drain(..));
        let requests = &mut st.requests;
        ring.push_all(st.rearm.iter().filter_map(|&fd| {
            let r = requests.slot_mut(fd);
            r.queued = false;
            (r.registered && !r.in_flight && r.kind != Kind::Oneshot).then(|| r.arm(fd))
        }));
        st.rearm.clear();
    }

    /// Handles one completion; pushes an event into `events` if it is one.
    #[inline]
    fn complete(&self, st: &mut State, cqe: &Completion, events: &mut Events) {
        let user_data = cqe.user_data();
        if user_data.op() == NOTIFY {
            self.notify.drain();
            if !cqe.more() {
                st.notify_armed = false;
            }
            return;
        }
        if user_data.op() != POLL {
            return; // a removal's own completion
        }
        let fd = user_data.slot() as usize;
        let Some(r) = st.requests.get_mut(fd) else {
            return;
        };
        if !r.registered || !r.in_flight || !user_data.is_generation(r.seq) {
            return; // a cancelled or replaced request
        }
        if !cqe.more() {
            r.in_flight = false;
        }
        let res = cqe.result();
        let f = if res >= 0 {
            // The result is the poll mask; only the low 16 bits are poll(2)'s.
            flags_from_poll(res as u16 as i16)
        } else if res == -libc::EBADF {
            // Submitted after the fd was closed: the POLLNVAL of this backend.
            r.registered = false;
            r.in_flight = false;
            flags::INVALID
        } else if res == -libc::ECANCELED {
            // Not ours (ours carry an old sequence number): the kernel ended
            // it, e.g. when the submitting thread exited or exec'd. Arm it
            // again, a oneshot too: it never fired, and the re-arm list
            // skips oneshots (those are re-armed by `modify` only).
            if r.registered {
                st.pending.push(r.arm(fd as RawFd));
            }
            return;
        } else {
            flags::ERROR
        };
        if r.registered && !r.in_flight && r.kind != Kind::Oneshot && !r.queued {
            r.queued = true;
            st.rearm.push(fd as RawFd);
        }
        if r.batch == st.batch {
            if let Some(merged) = events.ready.get_mut(r.batch_index as usize) {
                merged.flags |= f;
            }
        } else {
            r.batch = st.batch;
            r.batch_index = events.ready.len() as u32;
            let kept = events.ready.push(Ready {
                key: r.key,
                flags: f,
            });
            // `wait` reaps a completion only while there is room for it.
            debug_assert!(kept, "a completion reaped into a full event list");
        }
    }
}

impl Sys for UringSys {
    fn add(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        mode: Mode,
        _exclusive: bool,
    ) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let r = st.requests.slot_mut(fd);
        if r.registered {
            return Err(already_exists());
        }
        r.key = key;
        r.mask = poll_mask(interest) as u16 as u32;
        r.kind = Kind::of(mode);
        r.registered = true;
        let e = r.arm(fd);
        // Keep room for every fd in the re-arm list (see `State::rearm`).
        let slots = st.requests.len();
        if st.rearm.capacity() < slots {
            st.rearm.reserve(slots - st.rearm.len());
        }
        self.queue(st, &[e])
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
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let r = st.requests.slot_mut(fd);
        if !r.registered {
            return Err(not_found());
        }
        let removal = r.in_flight.then(|| r.disarm(fd));
        r.key = key;
        r.mask = poll_mask(interest) as u16 as u32;
        r.kind = Kind::of(mode);
        let add = r.arm(fd);
        match removal {
            Some(rm) => self.queue_then(st, &[rm, add], false),
            None => self.queue_then(st, &[add], false),
        }
    }

    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.forget(fd.as_raw_fd())
    }

    fn forget(&self, fd: RawFd) -> io::Result<()> {
        // The poll is cancelled by its user_data, not by the fd number, so
        // this releases the file even when the number was closed.
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let r = st.requests.slot_mut(fd);
        if !r.registered {
            return Err(not_found());
        }
        r.registered = false;
        if r.in_flight {
            let rm = r.disarm(fd);
            return self.queue(st, &[rm]);
        }
        Ok(())
    }

    fn wait(
        &self,
        events: &mut Events,
        timeout: Option<&Timespec>,
        _table: &Mutex<Table>,
    ) -> io::Result<()> {
        events.ready.clear();
        let mut ring = lock(&self.ring);
        {
            let mut st = lock(&self.state);
            self.prepare(&mut ring, &mut st);
            st.waiting = true;
        }
        let only_look = timeout.is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0);
        // Sleep only if nothing is waiting to be reaped (the ring itself
        // does not sleep while part of what we queued is still out).
        let want = u32::from(!only_look && !ring.has_completions());
        let timeout = timeout.map(|t| Duration::new(t.tv_sec as u64, t.tv_nsec as u32));
        let entered = ring.enter(want, timeout);
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        st.waiting = false;
        st.batch = st.batch.wrapping_add(1).max(1);
        entered?;
        let capacity = events.ready.capacity();
        // What does not fit stays in the CQ for the next wait, in order.
        if events.ready.len() < capacity {
            ring.reap_while(|cqe| {
                self.complete(st, &cqe, events);
                events.ready.len() < capacity
            });
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
