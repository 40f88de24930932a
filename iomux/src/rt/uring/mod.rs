//! The completion driver: receives, sends and accepts are io_uring
//! requests, and a task is woken by their completions (monoio's, compio's
//! and glommio's model), built on the io_uring core ([`crate::uring`]).
//!
//! - **Receives** are one multishot recv per stream into the runtime's
//!   provided-buffer ring: no submission per read, and data that arrives
//!   before a read is asked for waits in the stream (as buffers of the
//!   ring, given back as soon as they are read). An idle stream holds no
//!   buffer. A stream that holds more than [`stream::RX_HOLD`] unread
//!   buffers stops receiving until it is read (its multishot is
//!   cancelled), so one slow reader cannot take the ring from the others.
//! - **Sends** are write-behind: a write copies into the stream's send
//!   queue and returns; the queue goes out as one send per stream and turn
//!   (all of a turn's submissions go to the kernel in one `io_uring_enter`
//!   at the park); `flush` waits for the completions.
//! - **Accepts** are one multishot accept per listener: connections that
//!   arrive while no `accept()` waits are queued for the next one.
//! - Readiness (`AsyncFd`, a connect's handshake) is a one-shot POLL_ADD
//!   per direction.
//!
//! - **The core** ([`crate::uring`]) sets the ring up (SINGLE_ISSUER +
//!   DEFER_TASKRUN, the registered ring fd, NO_SQARRAY where the kernel
//!   has them), owns the one submission path (a full SQ is submitted, never
//!   spun on or dropped) and the `user_data` encoding: a request's kind
//!   code, its slot in the op table and that slot's generation, so a late
//!   completion for a reused slot finds nothing.
//! - **Fixed files**: each stream's socket also sits in the ring's
//!   fixed-file table (4096 slots; streams beyond name their fd), sparing
//!   the kernel an fd lookup per request; the slot is emptied when the
//!   stream's last request has ended.
//! - **Incremental buffers** (Linux 6.12): small receives share a provided
//!   buffer instead of taking 16 KiB each.
//! - **Idle streams hold nothing of their own**: no receive buffer (the
//!   ring's are shared) and no send side (made by a write, recycled through
//!   a few spares once everything is sent).
//! - Every feature above can be turned off for a measurement
//!   ([`crate::uring::Lever`], `scripts/bench-levers.sh`).
//!
//! Each kind of request is one file implementing [`Op`]: what its
//! completion does, and what becomes of it once its owner is gone (a
//! dropped stream cancels its receive and its send and closes the fd when
//! the last completion has come; a dropped listener cancels its accept
//! and closes what it would have accepted). At shutdown the driver cancels
//! everything and waits for the completions before it frees a buffer.
//!
//! Not for: setting up a ring or encoding `user_data` (the core's,
//! [`crate::uring`]), nor for the Poller's io_uring backend
//! (`backend/uring.rs`), which is readiness and shares nothing here but the
//! core.

mod file;
mod listener;
mod poll;
mod stream;
mod udp;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::driver::{Driver, Unpark};
use super::executor::Core;
use super::slab::{Key, Slab};
use crate::uring::{Buf, BufRing, Completion, Lever, Ring, Sqe, Target, UserData, op};

pub(crate) use file::{FileDone, FileIo, submit_file};
pub(crate) use listener::UringListener;
pub(crate) use stream::UringStream;
pub(crate) use udp::UringUdp;

/// How long a shutting-down driver waits for the kernel to end requests.
const DRAIN_BOUND: Duration = Duration::from_secs(2);
/// The provided-buffer ring: its group id, buffer count and size. 512 ×
/// 16 KiB: a bulk reader takes a few, a request/response connection one at
/// a time, and an idle one none.
const BGID: u16 = 0;
const RX_BUFS: u16 = 512;
const RX_BUF_SIZE: usize = 16 * 1024;
/// Slots of the fixed-file table: streams beyond it name their fd.
const FIXED_FILES: u32 = 4096;

/// A kind of io_uring request: what its completion does to the driver's
/// state. Each request in flight is an entry of the driver's op table
/// pointing at its kind's `complete`, and at the key of its owner (a
/// stream, a listener, a poll) in that kind's table.
pub(super) trait Op {
    /// The kind's code in the request's [`UserData`] (the op table, not
    /// the code, says what a completion is for; the code makes a request's
    /// `user_data` say its kind in a trace).
    const CODE: u8;
    /// Handles one completion. A multishot request calls it once per
    /// completion; the driver forgets the request when a completion says no
    /// more will come (no IORING_CQE_F_MORE).
    fn complete(d: &mut UringDriver, owner: Key, c: Completion, wakers: &mut Vec<Waker>);
}

/// An entry of the op table: the kind's completion and the owner.
#[derive(Clone, Copy)]
struct InFlight {
    complete: fn(&mut UringDriver, Key, Completion, &mut Vec<Waker>),
    owner: Key,
    /// The kind's code: part of the request's `user_data`, which a cancel
    /// must name whole.
    code: u8,
}

/// The op table's key of a request, from its `user_data` (slab keys keep
/// their generation within the 24 bits the encoding carries).
fn key_of(ud: UserData) -> Key {
    (u64::from(ud.generation()) << 32) | u64::from(ud.slot())
}

/// The `user_data` of the request with op-table key `key`.
fn user_data_of(code: u8, key: Key) -> UserData {
    UserData::new(code, key as u32, (key >> 32) as u32)
}

/// Requests whose completion does nothing (cancels).
struct Ignored;
impl Op for Ignored {
    const CODE: u8 = 0;
    fn complete(_: &mut UringDriver, _: Key, _: Completion, _: &mut Vec<Waker>) {}
}

/// The unpark eventfd's read: re-armed until shutdown.
struct UnparkRead;
impl Op for UnparkRead {
    const CODE: u8 = 1;
    fn complete(d: &mut UringDriver, _: Key, _: Completion, _: &mut Vec<Waker>) {
        if !d.closing {
            d.arm_unpark();
        }
    }
}

pub(crate) struct UringDriver {
    ring: Ring,
    ops: Slab<InFlight>,
    bufs: Option<BufRing>,
    streams: Slab<stream::StreamState>,
    listeners: Slab<listener::ListenerState>,
    polls: Slab<poll::PollState>,
    files: Slab<file::FileOpState>,
    udps: Slab<udp::UdpState>,
    /// The datagram buffer ring (made by the first UDP socket), the
    /// sockets whose receive starved, and whether buffers came back since.
    dgram_bufs: Option<BufRing>,
    dgram_starved: Vec<Key>,
    dgram_returned: bool,
    /// The `msghdr` every multishot recvmsg points to.
    msg_header: crate::uring::MsgHeader,
    /// Streams whose multishot receive ended for lack of buffers: armed
    /// again when buffers come back.
    starved: Vec<Key>,
    /// Buffers went back to the ring since the starved streams were last
    /// armed (arming them before would only fail again at once).
    bufs_returned: bool,
    /// Send sides kept for reuse (see `stream::TX_SPARE`).
    // Boxes: a spare moves into a stream's `Option<Box<Tx>>` as it is.
    #[allow(clippy::vec_box)]
    spare_tx: Vec<Box<stream::Tx>>,
    /// Free slots of the fixed-file table, and the first never used.
    fixed_free: Vec<u32>,
    fixed_next: u32,
    /// Completions being handled (kept for its capacity).
    reaped: Vec<Completion>,
    unpark_fd: Arc<OwnedFd>,
    unpark_buf: Box<[u8; 8]>,
    /// Shutting down: nothing is armed again.
    closing: bool,
    /// Streams receive in bundles (the lever is on and the kernel has
    /// IORING_RECVSEND_BUNDLE).
    bundle: bool,
    /// The pieces of the completion being handled (kept for its capacity).
    picked: Vec<Buf>,
}

fn errno(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

impl UringDriver {
    pub(crate) fn new() -> io::Result<(UringDriver, Unpark)> {
        // The core's runtime recipe: SINGLE_ISSUER + DEFER_TASKRUN (a
        // `Runtime` is not `Send`) with the taskrun flag, and the kernel
        // checked at setup for what the requests and the shutdown need.
        let mut ring = crate::uring::open_runtime_ring()?;
        // Incremental consumption where the kernel has it (6.12): small
        // receives share a buffer instead of taking one each.
        let bufs = if Lever::Incremental.is_on() {
            BufRing::incremental(&ring, BGID, RX_BUFS, RX_BUF_SIZE)
        } else {
            BufRing::new(&ring, BGID, RX_BUFS, RX_BUF_SIZE)
        };
        // Fixed files spare the kernel the fd lookup of each request; a
        // kernel without sparse tables (5.19) gets fds.
        if Lever::FixedFiles.is_on()
            && let Err(e) = ring.register_files(FIXED_FILES)
        {
            log::debug!("iomux::rt: no fixed-file table: {e}");
        }
        let bufs = bufs.map_err(|e| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "the io_uring completion driver needs provided-buffer rings and multishot \
                     receives (Linux 6.0): {e}"
                ),
            )
        })?;
        let unpark_fd = Arc::new(crate::eventfd::new()?);
        let mut driver = UringDriver {
            ring,
            ops: Slab::default(),
            bufs: Some(bufs),
            streams: Slab::default(),
            listeners: Slab::default(),
            polls: Slab::default(),
            files: Slab::default(),
            udps: Slab::default(),
            dgram_bufs: None,
            dgram_starved: Vec::new(),
            dgram_returned: false,
            msg_header: crate::uring::MsgHeader::default(),
            starved: Vec::new(),
            bufs_returned: false,
            spare_tx: Vec::new(),
            fixed_free: Vec::new(),
            fixed_next: 0,
            reaped: Vec::new(),
            unpark_fd: Arc::clone(&unpark_fd),
            unpark_buf: Box::new([0; 8]),
            closing: false,
            bundle: Lever::RecvBundle.is_on()
                && crate::uring::Features::probe().is_ok_and(|f| f.recv_bundle),
            picked: Vec::new(),
        };
        driver.arm_unpark();
        Ok((driver, Unpark::EventFd(unpark_fd)))
    }

    /// Queues the request `make` builds (given its `user_data`), of kind
    /// `O`, for `owner`, through the core's one submission path. The
    /// caller guarantees that every buffer the request points to stays
    /// allocated, and untouched by user space, until its last completion
    /// has been handled (shutdown waits for every completion before it
    /// drops a buffer).
    fn push<O: Op>(&mut self, owner: Key, make: impl FnOnce(UserData) -> Sqe) -> Key {
        let key = self.ops.insert(InFlight {
            complete: O::complete,
            owner,
            code: O::CODE,
        });
        self.ring.push(make(user_data_of(O::CODE, key)));
        key
    }

    fn cancel(&mut self, op: Key) {
        let Some(code) = self.ops.get(op).map(|o| o.code) else {
            return;
        };
        self.push::<Ignored>(0, |ud| op::cancel(user_data_of(code, op), ud));
    }

    /// Cancels request `op` and runs the loop (at most `DRAIN_BOUND`)
    /// until `ended` says its last completion came: for taking an fd out
    /// of the driver, which no request may still refer to. The wakers of
    /// completions that came meanwhile go to `wakers`.
    fn cancel_and_wait(
        &mut self,
        op: Key,
        ended: impl Fn(&UringDriver) -> bool,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        self.cancel(op);
        let bound = Instant::now() + DRAIN_BOUND;
        while !ended(self) {
            if Instant::now() >= bound {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "a receive in flight did not end when cancelled",
                ));
            }
            self.park(Some(Instant::now() + Duration::from_millis(10)), wakers)?;
        }
        Ok(())
    }

    fn arm_unpark(&mut self) {
        let fd = Target::Fd(self.unpark_fd.as_raw_fd());
        let buf = self.unpark_buf.as_mut_ptr();
        // SAFETY: the box lives in the driver, which outlives every request
        // (its drop waits for the completions, or leaks the box).
        self.push::<UnparkRead>(0, |ud| unsafe { op::read(fd, buf, 8, 0, ud) });
    }

    pub(crate) fn park(
        &mut self,
        deadline: Option<Instant>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        self.rearm_starved();
        self.rearm_dgram_starved();
        self.publish_bufs();
        match deadline {
            None => self.ring.enter(1, None)?,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // A zero wait is a look: the core makes no syscall when
                // nothing is queued and the kernel flags no deferred work.
                let want = u32::from(!left.is_zero());
                self.ring.enter(want, Some(left))?;
            }
        }
        self.reap(wakers);
        Ok(())
    }

    fn reap(&mut self, wakers: &mut Vec<Waker>) {
        let mut reaped = std::mem::take(&mut self.reaped);
        // Handling a completion may post more (a multishot's last one
        // re-arms), so the CQ is read until it stays empty.
        while self.ring.has_completions() {
            self.ring.reap(&mut reaped);
            for c in reaped.drain(..) {
                let key = key_of(c.user_data());
                let op = if c.more() {
                    self.ops.get(key).copied()
                } else {
                    self.ops.remove(key)
                };
                match op {
                    Some(op) => (op.complete)(self, op.owner, c, wakers),
                    None => log::debug!("iomux::rt: a completion for no request: {c:?}"),
                }
            }
        }
        self.reaped = reaped;
        self.rearm_starved();
        self.rearm_dgram_starved();
    }

    /// Makes the buffers given back visible to the kernel.
    fn publish_bufs(&mut self) {
        for bufs in [&mut self.bufs, &mut self.dgram_bufs].into_iter().flatten() {
            bufs.publish();
        }
    }

    /// Releases a received piece: its buffer goes back to the kernel once
    /// every piece of it is released.
    fn release(&mut self, buf: Buf) {
        if let Some(bufs) = &mut self.bufs {
            bufs.release(buf);
            self.bufs_returned = true;
        }
    }

    /// A free slot of the fixed-file table holding `fd` (the table takes
    /// its own reference), or `None`: no table, or full, or the update
    /// failed; requests then name the fd.
    fn fixed_slot(&mut self, fd: RawFd) -> Option<u32> {
        let slot = match self.fixed_free.pop() {
            Some(slot) => slot,
            None if self.fixed_next < self.ring.files() => {
                self.fixed_next += 1;
                self.fixed_next - 1
            }
            None => return None,
        };
        match self.ring.set_file(slot, fd) {
            Ok(()) => Some(slot),
            Err(e) => {
                log::debug!("iomux::rt: fixed-file slot {slot}: {e}");
                self.fixed_free.push(slot);
                None
            }
        }
    }

    /// Empties a stream's fixed-file slot, dropping the table's reference
    /// to its socket (no request of the stream is in flight).
    fn free_fixed_slot(&mut self, slot: u32) {
        match self.ring.clear_file(slot) {
            Ok(()) => self.fixed_free.push(slot),
            // The slot stays taken rather than reused under a stale file.
            Err(e) => log::warn!("iomux::rt: emptying fixed-file slot {slot}: {e}"),
        }
    }

    fn rearm_starved(&mut self) {
        if self.starved.is_empty() || self.closing || !self.bufs_returned {
            return;
        }
        self.bufs_returned = false;
        for key in std::mem::take(&mut self.starved) {
            self.arm_recv(key);
        }
    }

    /// Cancels every request, then waits (boundedly) for the completions:
    /// only then may the buffers the kernel writes into be freed.
    fn drain(&mut self) {
        self.closing = true;
        self.push::<Ignored>(0, op::cancel_any);
        let bound = Instant::now() + DRAIN_BOUND;
        let mut wakers = Vec::new();
        while self.ops.len() > 0 && Instant::now() < bound {
            if self
                .park(
                    Some(Instant::now() + Duration::from_millis(10)),
                    &mut wakers,
                )
                .is_err()
            {
                break;
            }
        }
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        self.drain();
        if self.ops.len() > 0 {
            log::warn!(
                "iomux::rt: {} io_uring requests did not end at shutdown; their buffers are leaked, not freed under the kernel",
                self.ops.len()
            );
            std::mem::forget(std::mem::take(&mut self.streams));
            std::mem::forget(std::mem::take(&mut self.files));
            std::mem::forget(std::mem::take(&mut self.msg_header));
            self.dgram_bufs = None;
            std::mem::forget(std::mem::replace(&mut self.unpark_buf, Box::new([0; 8])));
            // The buffer ring has no Drop: not closing it keeps its memory.
            self.bufs = None;
        } else {
            for bufs in [self.bufs.take(), self.dgram_bufs.take()]
                .into_iter()
                .flatten()
            {
                if let Err(e) = bufs.close(&self.ring) {
                    log::debug!("iomux::rt: unregistering a buffer ring: {e}");
                }
            }
        }
    }
}

fn with_driver<R>(core: &Core, f: impl FnOnce(&mut UringDriver) -> R) -> Option<R> {
    match &mut *core.driver.try_borrow_mut().ok()? {
        Driver::Uring(d) => Some(f(d)),
        Driver::Readiness(_) => None,
    }
}

/// [`with_driver`] for a poll: an I/O object polled inside another runtime
/// panics (see `assert_polled_on`).
fn polled_with_driver<R>(core: &Core, f: impl FnOnce(&mut UringDriver) -> R) -> Option<R> {
    super::executor::assert_polled_on(core.id());
    with_driver(core, f)
}
