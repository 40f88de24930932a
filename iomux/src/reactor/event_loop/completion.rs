//! The completion driver (`Driver::Completion`): the loop's io_uring ring,
//! and each turn's one `io_uring_enter` and the completions it brings.
//!
//! Everything is built on the io_uring core (`crate::uring`): the ring is
//! opened there (DEFER_TASKRUN where the kernel has it: the loop's thread
//! is the only one that submits, so completion work waits for its enter),
//! the requests are its builders, each `user_data` its encoding: an op
//! code, and the slab key (slot and generation) of what the request is
//! for, so a completion for a connection or watch that has since gone is
//! recognised and dropped. A full SQ is submitted by the core and the loop
//! goes on; completions that overflow the CQ are kept by the kernel
//! (IORING_FEAT_NODROP) and flushed by the next enter, and a multishot
//! request the kernel ended meanwhile is armed again like any that ends.
//!
//! - connections (`completion/conn.rs`): a multishot recv into the
//!   provided-buffer ring, sends with the rest of a short one resubmitted,
//!   cancel before close;
//! - listeners (`completion/accept.rs`): a multishot accept, and the spare
//!   fd when fds run out;
//! - watches (`completion/watch.rs`): POLL_ADD;
//! - posted tasks: the loop's eventfd, polled on the ring (`arm_wake`).
//!
//! Not for: what the loop does with what arrived (the same passes as on
//! readiness, `driving.rs`) or timers (the loop's heap bounds each enter).

mod accept;
mod conn;
mod watch;

pub(super) use accept::Accepting;
pub(super) use watch::Polling;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use super::{CompletionStats, EventLoop, Io};
use crate::reactor::config::{Config, RING_ENTRIES};
use crate::reactor::driver::COMPLETION_NEEDS;
use crate::slab::Key;
use crate::uring::{BufRing, Completion, Options, Ring, TaskRun, UserData, op};

/// The provided buffers: 2048 of 8 KiB (16 MiB of address space per loop;
/// pages become resident as the kernel first writes into them), consumed
/// incrementally where the kernel can. When they run out, a recv ends with
/// ENOBUFS and is armed again once buffers are back.
const BUFFERS: u16 = 2048;
const BUFFER_SIZE: usize = 8 * 1024;
const GROUP: u16 = 0;
/// Completion-queue entries per submission-queue entry: room for a burst
/// from every connection (multishot requests complete many times each).
const CQ_PER_SQ: u32 = 8;
/// How long the loop's end waits for the kernel to let go of its requests.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// The op codes of the loop's requests (`UserData::op`).
mod ops {
    pub const RECV: u8 = 1;
    pub const SEND: u8 = 2;
    pub const ACCEPT: u8 = 3;
    /// A poll on a listener standing in for its accept while fds are short.
    pub const LISTEN: u8 = 4;
    pub const WAKE: u8 = 5;
    /// ASYNC_CANCEL and POLL_REMOVE: their own completions carry nothing.
    pub const CANCEL: u8 = 6;
    /// A watch's poll; the op's low bit tells one arming from the next
    /// (`watch.rs`).
    pub const WATCH: u8 = 8;
}

/// The user data of request `op` for slab key `key`.
fn user_data(op: u8, key: Key) -> UserData {
    UserData::new(op, key as u32, (key >> 32) as u32)
}

/// The slab key a completion's user data names.
fn key_of(ud: UserData) -> Key {
    (u64::from(ud.generation()) << 32) | u64::from(ud.slot())
}

/// A closed connection's socket, kept until the kernel lets go of it.
struct Zombie {
    sock: std::os::fd::OwnedFd,
    io: Box<crate::reactor::connection::CompletionIo>,
}

/// The loop's ring and what it keeps for its requests.
pub(in crate::reactor) struct Uring {
    // Dropped first: closing the ring ends every request before the
    // buffers they name go (the buffer ring is never unmapped at all).
    ring: Ring,
    bufs: BufRing,
    /// The fixed-file table's size, the next slot never used, and the
    /// slots given back.
    files: u32,
    next_file: u32,
    free_files: Vec<u32>,
    /// Closed connections whose requests have not all completed, by the
    /// slab key they had.
    zombies: HashMap<Key, Zombie>,
    cqes: Vec<Completion>,
    /// The loop's eventfd (owned by its `Shared`, which outlives this).
    wake: RawFd,
    wake_armed: bool,
    /// Numbers listeners, so that a late completion of a closed one does
    /// not reach the next in its place.
    serial: u32,
    /// The loop's own counts (the ring keeps the rest: `stats`).
    counters: CompletionStats,
}

impl Uring {
    /// Opens the ring, its fixed-file table and its buffer ring.
    pub(super) fn open(cfg: &Config, wake: RawFd) -> io::Result<Uring> {
        let sq = cfg.ring_entries.max(1);
        // A tiny ring (a test of the overflow paths) gets a tiny CQ too.
        let cq = if sq < RING_ENTRIES {
            sq * 2
        } else {
            sq * CQ_PER_SQ
        };
        let mut ring = Ring::open(
            &Options::new("the reactor's completion driver")
                .entries(sq, cq)
                .task_run(TaskRun::Defer)
                .register_ring_fd(true)
                .require(&COMPLETION_NEEDS),
        )?;
        // Without it (an old kernel, no memory) requests name fds instead.
        let files = match ring.register_files(fixed_table_size()) {
            Ok(()) => ring.files(),
            Err(e) => {
                log::debug!("reactor: no fixed-file table ({e}); requests name fds");
                0
            }
        };
        let bufs = BufRing::incremental(&ring, GROUP, BUFFERS, BUFFER_SIZE)
            .map_err(|e| io::Error::new(e.kind(), format!("provided-buffer ring: {e}")))?;
        Ok(Uring {
            ring,
            bufs,
            files,
            next_file: 0,
            free_files: Vec::new(),
            zombies: HashMap::new(),
            cqes: Vec::new(),
            wake,
            wake_armed: false,
            serial: 0,
            counters: CompletionStats::default(),
        })
    }

    /// The driver's counters so far.
    pub(super) fn stats(&self) -> CompletionStats {
        let ring = self.ring.stats();
        CompletionStats {
            enters: ring.enters,
            overflows: ring.cq_overflows,
            sq_full: ring.sq_full,
            ..self.counters
        }
    }

    /// Puts `sock` in the fixed-file table, if there is room; its slot.
    pub(super) fn fix(&mut self, sock: &impl AsRawFd) -> Option<u32> {
        let slot = match self.free_files.pop() {
            Some(s) => s,
            None if self.next_file < self.files => {
                self.next_file += 1;
                self.next_file - 1
            }
            None => return None,
        };
        match self.ring.set_file(slot, sock.as_raw_fd()) {
            Ok(()) => {
                self.counters.fixed += 1;
                Some(slot)
            }
            Err(_) => {
                self.free_files.push(slot);
                None
            }
        }
    }

    /// Lets go of fixed-file slot `slot` (the table's reference to its
    /// socket with it).
    fn unfix(&mut self, slot: u32) {
        let _ = self.ring.clear_file(slot);
        self.free_files.push(slot);
    }

    fn push(&mut self, sqe: crate::uring::Sqe) {
        self.ring.push(sqe);
    }

    fn cancel(&mut self, target: UserData) {
        self.push(op::cancel(target, UserData::new(ops::CANCEL, 0, 0)));
    }

    /// Polls the loop's eventfd (multishot), if no poll is armed.
    fn arm_wake(&mut self) {
        if !self.wake_armed {
            let e = op::poll(
                self.wake,
                libc::POLLIN as u32,
                true,
                user_data(ops::WAKE, 0),
            );
            self.wake_armed = true;
            self.push(e);
        }
    }

    /// A posted task woke the ring: reset the eventfd (the tasks run
    /// after the completions, as on readiness).
    fn woken(&mut self, more: bool) {
        // SAFETY: `wake` is the loop's eventfd, owned by its `Shared`,
        // which outlives the loop's `Uring`.
        let fd = unsafe { BorrowedFd::borrow_raw(self.wake) };
        crate::eventfd::reset(fd);
        if !more {
            self.wake_armed = false;
        }
    }

    /// The loop is ending: every request is cancelled, and the kernel's
    /// completions are awaited (bounded) so that nothing it still reads
    /// (a send's bytes) is freed under it.
    pub(super) fn shut_down(&mut self) {
        self.push(op::cancel_any(UserData::new(ops::CANCEL, 0, 0)));
        let end = Instant::now() + SHUTDOWN_WAIT;
        let mut batch = std::mem::take(&mut self.cqes);
        while !self.zombies.is_empty() && Instant::now() < end {
            if self.ring.enter(1, Some(Duration::from_millis(10))).is_err() {
                break;
            }
            self.ring.reap(&mut batch);
            for cqe in batch.drain(..) {
                let ud = cqe.user_data();
                let buf = self.bufs.pick(&cqe);
                if let Some(b) = buf {
                    self.bufs.release(b);
                }
                match ud.op() {
                    ops::RECV if !cqe.more() => self.recv_ended(key_of(ud)),
                    ops::SEND => self.send_ended(key_of(ud)),
                    _ => {}
                }
            }
        }
        if !self.zombies.is_empty() {
            log::warn!(
                "reactor: {} sockets still had requests in the kernel at the loop's end",
                self.zombies.len()
            );
            // Their bytes are leaked rather than freed under the kernel.
            for (_, z) in self.zombies.drain() {
                std::mem::forget(z);
            }
        }
    }
}

impl EventLoop {
    /// The completion driver's wait: submits the turn's requests, sleeps in
    /// one `io_uring_enter` until a completion or `wait` passes, and
    /// handles every completion in the CQ. Returns the turn's clock.
    pub(super) fn complete(&mut self, wait: Option<Duration>) -> io::Result<Instant> {
        let Io::Completion(u) = &mut self.io else {
            unreachable!("the completion driver's turn on the readiness driver")
        };
        u.arm_wake();
        u.bufs.publish();
        let want = u32::from(wait != Some(Duration::ZERO));
        u.ring.enter(want, wait)?;
        let mut batch = std::mem::take(&mut u.cqes);
        u.ring.reap(&mut batch);
        u.counters.completions += batch.len() as u64;
        let now = crate::time::tick();
        for cqe in &batch {
            self.completed(cqe);
        }
        batch.clear();
        if let Io::Completion(u) = &mut self.io {
            u.cqes = batch;
        }
        Ok(now)
    }

    fn completed(&mut self, cqe: &Completion) {
        let ud = cqe.user_data();
        match ud.op() {
            ops::RECV => self.on_recv(key_of(ud), cqe),
            ops::SEND => self.on_send(key_of(ud), cqe.result()),
            ops::ACCEPT => self.on_accept(ud.slot() as usize, ud.generation(), cqe),
            ops::LISTEN => self.on_listen(ud.slot() as usize, ud.generation()),
            ops::WAKE => {
                if let Io::Completion(u) = &mut self.io {
                    u.woken(cqe.more());
                }
            }
            op if op & !1 == ops::WATCH => self.on_watch(key_of(ud), op, cqe),
            _ => {}
        }
    }
}

/// One fixed-file slot per fd this process may open (connections never
/// outnumber them), capped so that the table stays small.
fn fixed_table_size() -> u32 {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 16);
    limit.clamp(64, 1 << 16) as u32
}
