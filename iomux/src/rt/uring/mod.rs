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
//! Each kind of request is one file implementing [`Op`]: what its
//! completion does, and what becomes of it once its owner is gone (a
//! dropped stream cancels its receive and its send and closes the fd when
//! the last completion has come; a dropped listener cancels its accept
//! and closes what it would have accepted). At shutdown the driver cancels
//! everything and waits for the completions before it frees a buffer.

mod listener;
mod poll;
mod stream;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use io_uring::types::{CancelBuilder, SubmitArgs, Timespec};
use io_uring::{IoUring, opcode, squeue, types};

use super::driver::{Driver, Unpark};
use super::executor::Core;
use super::slab::{Key, Slab};
use crate::uring::BufRing;

pub(crate) use listener::UringListener;
pub(crate) use stream::UringStream;

/// How long a shutting-down driver waits for the kernel to end requests.
const DRAIN_BOUND: Duration = Duration::from_secs(2);
/// The provided-buffer ring: its group id, buffer count and size. 512 ×
/// 16 KiB: a bulk reader takes a few, a request/response connection one at
/// a time, and an idle one none.
const BGID: u16 = 0;
const RX_BUFS: u16 = 512;
const RX_BUF_SIZE: usize = 16 * 1024;

/// A kind of io_uring request: what its completion does to the driver's
/// state. Each request in flight is an entry of the driver's op table
/// pointing at its kind's `complete`, and at the key of its owner (a
/// stream, a listener, a poll) in that kind's table.
pub(super) trait Op {
    /// Handles one completion (`res`, `flags` from the CQE). A multishot
    /// request calls it once per completion; the driver forgets the request
    /// when a completion says no more will come (no IORING_CQE_F_MORE).
    fn complete(d: &mut UringDriver, owner: Key, res: i32, flags: u32, wakers: &mut Vec<Waker>);
}

/// An entry of the op table: the kind's completion and the owner.
#[derive(Clone, Copy)]
struct InFlight {
    complete: fn(&mut UringDriver, Key, i32, u32, &mut Vec<Waker>),
    owner: Key,
}

/// Requests whose completion does nothing (cancels).
struct Ignored;
impl Op for Ignored {
    fn complete(_: &mut UringDriver, _: Key, _: i32, _: u32, _: &mut Vec<Waker>) {}
}

/// The unpark eventfd's read: re-armed until shutdown.
struct UnparkRead;
impl Op for UnparkRead {
    fn complete(d: &mut UringDriver, _: Key, _: i32, _: u32, _: &mut Vec<Waker>) {
        if !d.closing {
            d.arm_unpark();
        }
    }
}

pub(crate) struct UringDriver {
    ring: IoUring,
    ops: Slab<InFlight>,
    bufs: Option<BufRing>,
    streams: Slab<stream::StreamState>,
    listeners: Slab<listener::ListenerState>,
    polls: Slab<poll::PollState>,
    /// Streams whose multishot receive ended for lack of buffers: armed
    /// again when buffers come back.
    starved: Vec<Key>,
    /// Buffers went back to the ring since the starved streams were last
    /// armed (arming them before would only fail again at once).
    bufs_returned: bool,
    unpark_fd: Arc<OwnedFd>,
    unpark_buf: Box<[u8; 8]>,
    /// Shutting down: nothing is armed again.
    closing: bool,
}

fn errno(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

impl UringDriver {
    pub(crate) fn new() -> io::Result<(UringDriver, Unpark)> {
        // The core's runtime recipe: SINGLE_ISSUER + DEFER_TASKRUN (a
        // `Runtime` is not `Send`) with the taskrun flag, and the kernel
        // checked at setup for what the requests and the shutdown need.
        let ring = crate::uring::open_runtime_ring()?;
        let bufs = BufRing::new(&ring, BGID, RX_BUFS, RX_BUF_SIZE).map_err(|e| {
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
            starved: Vec::new(),
            bufs_returned: false,
            unpark_fd: Arc::clone(&unpark_fd),
            unpark_buf: Box::new([0; 8]),
            closing: false,
        };
        driver.arm_unpark();
        Ok((driver, Unpark::EventFd(unpark_fd)))
    }

    /// Queues `entry`, a request of kind `O` for `owner`. The caller
    /// guarantees that every buffer the entry points to stays allocated,
    /// and untouched by user space, until the request's last completion has
    /// been handled.
    fn push<O: Op>(&mut self, entry: squeue::Entry, owner: Key) -> Key {
        let key = self.ops.insert(InFlight {
            complete: O::complete,
            owner,
        });
        let entry = entry.user_data(key);
        loop {
            // SAFETY: the entry's buffers (a stream's send queue, the unpark
            // box, the provided-buffer ring) are owned by this driver and
            // neither moved, resized nor freed while the request is in
            // flight (the caller's contract; shutdown waits for every
            // completion before dropping them).
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                return key;
            }
            // Full: hand the queue to the kernel and go on.
            if let Err(e) = self.ring.submit() {
                log::warn!("iomux::rt: io_uring submit with a full queue: {e}");
            }
        }
    }

    fn cancel(&mut self, op: Key) {
        let entry = opcode::AsyncCancel::new(op).build();
        self.push::<Ignored>(entry, 0);
    }

    fn arm_unpark(&mut self) {
        let entry = opcode::Read::new(
            types::Fd(self.unpark_fd.as_raw_fd()),
            self.unpark_buf.as_mut_ptr(),
            8,
        )
        .build();
        self.push::<UnparkRead>(entry, 0);
    }

    pub(crate) fn park(
        &mut self,
        deadline: Option<Instant>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        self.rearm_starved();
        if let Some(bufs) = &mut self.bufs {
            bufs.publish();
        }
        let submitted = match deadline {
            None => self.ring.submit_and_wait(1),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    // A look without waiting: nothing to submit and no
                    // deferred work means the completion queue says it all.
                    let idle =
                        self.ring.submission().is_empty() && !self.ring.submission().taskrun();
                    if idle { Ok(0) } else { self.ring.submit() }
                } else {
                    let ts = Timespec::new()
                        .sec(left.as_secs())
                        .nsec(left.subsec_nanos());
                    let args = SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(1, &args)
                }
            }
        };
        match submitted {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap(wakers);
        Ok(())
    }

    /// Submits what is queued and reaps what completed, without waiting.
    fn submit_and_reap(&mut self, wakers: &mut Vec<Waker>) {
        if let Some(bufs) = &mut self.bufs {
            bufs.publish();
        }
        match self.ring.submit() {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => log::debug!("iomux::rt: io_uring submit: {e}"),
        }
        self.reap(wakers);
    }

    fn reap(&mut self, wakers: &mut Vec<Waker>) {
        loop {
            let Some(cqe) = self.ring.completion().next() else {
                break;
            };
            let key = cqe.user_data();
            let flags = cqe.flags();
            let op = if io_uring::cqueue::more(flags) {
                self.ops.get(key).copied()
            } else {
                self.ops.remove(key)
            };
            if let Some(op) = op {
                (op.complete)(self, op.owner, cqe.result(), flags, wakers);
            }
        }
        self.rearm_starved();
    }

    /// Gives buffer `bid` back to the kernel.
    fn give_back(&mut self, bid: u16) {
        if let Some(bufs) = &mut self.bufs {
            bufs.give_back(bid);
            self.bufs_returned = true;
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
        let entry = opcode::AsyncCancel2::new(CancelBuilder::any()).build();
        self.push::<Ignored>(entry, 0);
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
            std::mem::forget(std::mem::replace(&mut self.unpark_buf, Box::new([0; 8])));
            // The buffer ring has no Drop: not closing it keeps its memory.
            self.bufs = None;
        } else if let Some(bufs) = self.bufs.take()
            && let Err(e) = bufs.close(&self.ring)
        {
            log::debug!("iomux::rt: unregistering the buffer ring: {e}");
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
