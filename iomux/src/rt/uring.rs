//! The completion driver: reads, writes and accepts are io_uring requests,
//! and a task is woken by their completions (monoio's and glommio's model).
//!
//! **Buffers belong to the runtime while a request is in flight.** A
//! stream's receive buffer and its send buffers live in the driver's
//! per-stream state, not in the caller's future, so a read or write future
//! that is dropped mid-flight leaves nothing dangling:
//! - a receive completes into the stream's buffer, and the next read
//!   returns those bytes first (nothing lost, nothing read twice);
//! - a write copies the caller's bytes into the stream's send buffer and
//!   returns at once (write-behind, like a socket buffer); `flush` waits
//!   for the completions; an error of a send is reported by the next write
//!   or flush.
//!
//! A dropped stream lets its sends finish, cancels its receive, and closes
//! the fd when the last completion has come; a dropped listener cancels
//! its accept and closes what it would have accepted. At shutdown the
//! driver cancels everything and waits for the completions before it
//! frees a buffer.
//!
//! Readiness (for `AsyncFd` and for a connect's handshake) is a oneshot
//! POLL_ADD per direction.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::types::{CancelBuilder, SubmitArgs, Timespec};
use io_uring::{IoUring, opcode, squeue, types};
use rustix::net::SocketAddrAny;

use super::driver::{Driver, Unpark};
use super::executor::{Core, gone};
use super::readiness::{READ, ScheduledIo, WRITE};
use super::slab::{Key, Slab};

/// A stream's receive buffer.
const RX_BUF: usize = 16 * 1024;
/// Bytes a stream's writes may queue before a write waits for completions.
const TX_LIMIT: usize = 64 * 1024;
/// How long a shutting-down driver waits for the kernel to end requests.
const DRAIN_BOUND: Duration = Duration::from_secs(2);

#[derive(Clone, Copy)]
enum Op {
    Recv(Key),
    Send(Key),
    Accept(Key),
    Poll(Key, u8),
    Unpark,
    Cancel,
}

#[derive(Default)]
struct StreamState {
    /// Moved here from the user's stream when it is dropped with requests
    /// in flight; closed with the state.
    fd_to_close: Option<OwnedFd>,
    raw: RawFd,
    rx: Box<[u8]>,
    rx_pos: usize,
    rx_len: usize,
    rx_op: Option<Key>,
    rx_eof: bool,
    rx_err: Option<io::Error>,
    reader: Option<Waker>,
    /// The bytes of the send in flight (not touched until it completes),
    /// and how much of them the kernel took so far.
    tx_flight: Vec<u8>,
    tx_sent: usize,
    tx_op: Option<Key>,
    /// Bytes written since the send in flight was submitted.
    tx_queue: Vec<u8>,
    tx_err: Option<io::Error>,
    writer: Option<Waker>,
    dropped: bool,
}

#[derive(Default)]
struct ListenerState {
    fd_to_close: Option<OwnedFd>,
    raw: RawFd,
    op: Option<Key>,
    accepted: VecDeque<io::Result<OwnedFd>>,
    waiter: Option<Waker>,
    dropped: bool,
}

#[derive(Default)]
struct PollState {
    io: ScheduledIo,
    ops: [Option<Key>; 2],
}

pub(crate) struct UringDriver {
    ring: IoUring,
    ops: Slab<Op>,
    streams: Slab<StreamState>,
    listeners: Slab<ListenerState>,
    polls: Slab<PollState>,
    unpark_fd: Arc<OwnedFd>,
    unpark_buf: Box<[u8; 8]>,
    /// Shutting down: the unpark read is not re-armed.
    closing: bool,
}

fn dir_index(dir: u8) -> usize {
    usize::from(dir == WRITE)
}

fn errno(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

impl UringDriver {
    pub(crate) fn new() -> io::Result<(UringDriver, Unpark)> {
        let ring = crate::uring::open_runtime_ring()?;
        let unpark_fd = Arc::new(crate::eventfd::new()?);
        let mut driver = UringDriver {
            ring,
            ops: Slab::default(),
            streams: Slab::default(),
            listeners: Slab::default(),
            polls: Slab::default(),
            unpark_fd: Arc::clone(&unpark_fd),
            unpark_buf: Box::new([0; 8]),
            closing: false,
        };
        driver.arm_unpark();
        Ok((driver, Unpark::EventFd(unpark_fd)))
    }

    /// Queues `entry` for `op`. The caller guarantees that every buffer
    /// the entry points to stays allocated, and untouched by user space,
    /// until the completion of `op` has been handled.
    fn push(&mut self, entry: squeue::Entry, op: Op) -> Key {
        let key = self.ops.insert(op);
        let entry = entry.user_data(key);
        loop {
            // SAFETY: the entry's buffers (a stream's `rx` box, its
            // `tx_flight` vector, the unpark box) are owned by this driver's
            // slabs and neither moved, resized nor freed while the request is
            // in flight (the caller's contract; shutdown waits for every
            // completion before dropping them).
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                return key;
            }
            if let Err(e) = self.ring.submit() {
                log::warn!("iomux::rt: io_uring submit with a full queue: {e}");
            }
        }
    }

    fn cancel(&mut self, op: Key) {
        let entry = opcode::AsyncCancel::new(op).build();
        self.push(entry, Op::Cancel);
    }

    fn arm_unpark(&mut self) {
        let entry = opcode::Read::new(
            types::Fd(self.unpark_fd.as_raw_fd()),
            self.unpark_buf.as_mut_ptr(),
            8,
        )
        .build();
        self.push(entry, Op::Unpark);
    }

    pub(crate) fn park(
        &mut self,
        deadline: Option<Instant>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        let submitted = match deadline {
            None => self.ring.submit_and_wait(1),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    self.ring.submit()
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

    fn reap(&mut self, wakers: &mut Vec<Waker>) {
        loop {
            let cqe = self.ring.completion().next();
            let Some(cqe) = cqe else { break };
            let Some(op) = self.ops.remove(cqe.user_data()) else {
                continue;
            };
            self.complete(op, cqe.result(), wakers);
        }
    }

    fn complete(&mut self, op: Op, res: i32, wakers: &mut Vec<Waker>) {
        match op {
            Op::Cancel => {}
            Op::Unpark => {
                if !self.closing {
                    self.arm_unpark();
                }
            }
            Op::Recv(key) => {
                let Some(s) = self.streams.get_mut(key) else {
                    return;
                };
                s.rx_op = None;
                match res {
                    n if n > 0 => {
                        s.rx_pos = 0;
                        s.rx_len = n as usize;
                    }
                    0 => s.rx_eof = true,
                    e if e == -libc::ECANCELED && s.dropped => {}
                    e => s.rx_err = Some(errno(e)),
                }
                wakers.extend(s.reader.take());
                self.finish_stream(key);
            }
            Op::Send(key) => {
                let Some(s) = self.streams.get_mut(key) else {
                    return;
                };
                s.tx_op = None;
                if s.dropped {
                    if res > 0 {
                        s.tx_sent += res as usize;
                    }
                    s.hand_rest_to_kernel();
                    self.finish_stream(key);
                    return;
                }
                if res < 0 {
                    s.tx_err = Some(errno(res));
                    s.tx_flight.clear();
                    s.tx_queue.clear();
                    s.tx_sent = 0;
                } else {
                    s.tx_sent += res as usize;
                    if s.tx_sent >= s.tx_flight.len() {
                        s.tx_flight.clear();
                        s.tx_sent = 0;
                        std::mem::swap(&mut s.tx_flight, &mut s.tx_queue);
                    }
                }
                wakers.extend(s.writer.take());
                self.submit_send(key);
                self.finish_stream(key);
            }
            Op::Accept(key) => {
                let Some(l) = self.listeners.get_mut(key) else {
                    if res >= 0 {
                        // SAFETY: a successful accept returns a new fd that
                        // nobody else owns; its listener is gone: close it.
                        drop(unsafe { OwnedFd::from_raw_fd(res) });
                    }
                    return;
                };
                l.op = None;
                if res >= 0 {
                    // SAFETY: as above, the kernel handed us a new fd.
                    let fd = unsafe { OwnedFd::from_raw_fd(res) };
                    if !l.dropped {
                        l.accepted.push_back(Ok(fd));
                    }
                } else if !(res == -libc::ECANCELED && l.dropped) {
                    l.accepted.push_back(Err(errno(res)));
                }
                wakers.extend(l.waiter.take());
                if l.dropped {
                    self.listeners.remove(key);
                }
            }
            Op::Poll(key, dir) => {
                let Some(p) = self.polls.get_mut(key) else {
                    return;
                };
                p.ops[dir_index(dir)] = None;
                p.io.armed &= !dir;
                let dirs = if res < 0 {
                    if res == -libc::ECANCELED {
                        return;
                    }
                    READ | WRITE
                } else {
                    revents_dirs(res as u32) | dir
                };
                p.io.set_ready(dirs, false, wakers);
            }
        }
    }

    /// Frees a dropped stream's state once no request refers to it.
    fn finish_stream(&mut self, key: Key) {
        if let Some(s) = self.streams.get(key)
            && s.dropped
            && s.rx_op.is_none()
            && s.tx_op.is_none()
        {
            self.streams.remove(key);
        }
    }

    fn submit_recv(&mut self, key: Key) {
        if self.closing {
            return;
        }
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        if s.rx_op.is_some() || s.rx_eof || s.rx_err.is_some() || s.rx_pos < s.rx_len {
            return;
        }
        if s.rx.is_empty() {
            s.rx = vec![0; RX_BUF].into_boxed_slice();
        }
        let entry =
            opcode::Recv::new(types::Fd(s.raw), s.rx.as_mut_ptr(), s.rx.len() as u32).build();
        let op = self.push(entry, Op::Recv(key));
        if let Some(s) = self.streams.get_mut(key) {
            s.rx_op = Some(op);
        }
    }

    fn submit_send(&mut self, key: Key) {
        if self.closing {
            return;
        }
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        if s.tx_op.is_some() || s.tx_err.is_some() {
            return;
        }
        if s.tx_flight.is_empty() {
            std::mem::swap(&mut s.tx_flight, &mut s.tx_queue);
            s.tx_sent = 0;
        }
        if s.tx_flight.is_empty() {
            return;
        }
        let rest = &s.tx_flight[s.tx_sent..];
        let entry = opcode::Send::new(types::Fd(s.raw), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        let op = self.push(entry, Op::Send(key));
        if let Some(s) = self.streams.get_mut(key) {
            s.tx_op = Some(op);
        }
    }

    fn submit_accept(&mut self, key: Key) {
        if self.closing {
            return;
        }
        let Some(l) = self.listeners.get_mut(key) else {
            return;
        };
        if l.op.is_some() {
            return;
        }
        let entry =
            opcode::Accept::new(types::Fd(l.raw), std::ptr::null_mut(), std::ptr::null_mut())
                .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                .build();
        let op = self.push(entry, Op::Accept(key));
        if let Some(l) = self.listeners.get_mut(key) {
            l.op = Some(op);
        }
    }

    // --- readiness registrations (AsyncFd, connect) ---

    pub(crate) fn register_poll(&mut self) -> Key {
        self.polls.insert(PollState {
            io: ScheduledIo {
                ready: READ | WRITE,
                ..ScheduledIo::default()
            },
            ops: [None, None],
        })
    }

    pub(crate) fn poll_ready(
        &mut self,
        key: Key,
        dir: u8,
        fd: BorrowedFd<'_>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<u32>> {
        let Some(p) = self.polls.get_mut(key) else {
            return Poll::Ready(Err(gone()));
        };
        match p.io.check(dir, cx) {
            Poll::Ready(tick) => Poll::Ready(Ok(tick)),
            Poll::Pending => {
                if p.io.armed & dir == 0 {
                    p.io.armed |= dir;
                    let mask = if dir == READ {
                        libc::POLLIN | libc::POLLRDHUP
                    } else {
                        libc::POLLOUT
                    };
                    let entry =
                        opcode::PollAdd::new(types::Fd(fd.as_raw_fd()), mask as u32).build();
                    let op = self.push(entry, Op::Poll(key, dir));
                    if let Some(p) = self.polls.get_mut(key) {
                        p.ops[dir_index(dir)] = Some(op);
                    }
                }
                Poll::Pending
            }
        }
    }

    pub(crate) fn poll_io_mut(&mut self, key: Key) -> Option<&mut ScheduledIo> {
        self.polls.get_mut(key).map(|p| &mut p.io)
    }

    pub(crate) fn deregister_poll(&mut self, key: Key, _fd: BorrowedFd<'_>) {
        if let Some(p) = self.polls.remove(key) {
            for op in p.ops.into_iter().flatten() {
                self.cancel(op);
            }
            // The cancel must reach the kernel before the owner closes the
            // fd, or the poll keeps the file open until it fires.
            if let Err(e) = self.ring.submit() {
                log::debug!("iomux::rt: submit of a poll cancel: {e}");
            }
        }
    }
}

fn revents_dirs(revents: u32) -> u8 {
    let r = revents as i16;
    let mut dirs = 0;
    if r & (libc::POLLIN | libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
        dirs |= READ;
    }
    if r & (libc::POLLOUT | libc::POLLHUP | libc::POLLERR) != 0 {
        dirs |= WRITE;
    }
    dirs
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        // Cancel everything, then wait for the completions: only then may
        // the buffers the kernel writes into be freed.
        self.closing = true;
        let entry = opcode::AsyncCancel2::new(CancelBuilder::any()).build();
        self.push(entry, Op::Cancel);
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
        drop(wakers);
        if self.ops.len() > 0 {
            log::warn!(
                "iomux::rt: {} io_uring requests did not end at shutdown; their buffers are leaked, not freed under the kernel",
                self.ops.len()
            );
            std::mem::forget(std::mem::take(&mut self.streams));
            std::mem::forget(std::mem::replace(&mut self.unpark_buf, Box::new([0; 8])));
        }
    }
}

/// [`with_driver`] for a poll: an I/O object polled inside another runtime
/// panics (see `assert_polled_on`).
fn polled_with_driver<R>(core: &Core, f: impl FnOnce(&mut UringDriver) -> R) -> Option<R> {
    super::executor::assert_polled_on(core.id());
    with_driver(core, f)
}

fn with_driver<R>(core: &Core, f: impl FnOnce(&mut UringDriver) -> R) -> Option<R> {
    match &mut *core.driver.try_borrow_mut().ok()? {
        Driver::Uring(d) => Some(f(d)),
        Driver::Readiness(_) => None,
    }
}

impl StreamState {
    /// A dropped stream's last bytes (what no send took, and what was
    /// queued behind it) go to the socket buffer with one non-blocking
    /// send: like close(2) after a write, what the kernel took is still
    /// delivered; what it cannot take at once is discarded. `flush` (or
    /// `close`) before the drop is how a caller makes sure.
    fn hand_rest_to_kernel(&mut self) {
        let flight = self.tx_flight.get(self.tx_sent..).unwrap_or_default();
        let flags = rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL;
        let fd = self.fd_to_close.as_ref().map(|fd| fd.as_fd());
        if let Some(fd) = fd {
            let mut rest_ok = true;
            for part in [flight, &self.tx_queue[..]] {
                if part.is_empty() || !rest_ok {
                    continue;
                }
                match rustix::net::send(fd, part, flags) {
                    Ok(n) if n == part.len() => {}
                    _ => rest_ok = false,
                }
            }
            if !rest_ok {
                log::debug!(
                    "iomux::rt: a stream dropped with unsent bytes that its socket could not take"
                );
            }
        }
        self.tx_flight = Vec::new();
        self.tx_queue = Vec::new();
        self.tx_sent = 0;
    }
}

/// A connected socket on the completion driver.
pub(crate) struct UringStream {
    core: Rc<Core>,
    key: Key,
    fd: Option<OwnedFd>,
}

impl UringStream {
    pub(crate) fn new(core: Rc<Core>, fd: OwnedFd) -> UringStream {
        let raw = fd.as_raw_fd();
        let key = with_driver(&core, |d| {
            d.streams.insert(StreamState {
                raw,
                ..StreamState::default()
            })
        })
        .expect("UringStream::new is called on the completion driver");
        UringStream {
            core,
            key,
            fd: Some(fd),
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("present until drop").as_fd()
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let key = self.key;
        polled_with_driver(&self.core, |d| {
            let Some(s) = d.streams.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if s.rx_pos < s.rx_len {
                let n = buf.len().min(s.rx_len - s.rx_pos);
                for (to, from) in buf[..n].iter_mut().zip(&s.rx[s.rx_pos..s.rx_pos + n]) {
                    to.write(*from);
                }
                s.rx_pos += n;
                // Read ahead: the next receive is in flight while the caller
                // works on these bytes.
                d.submit_recv(key);
                return Poll::Ready(Ok(n));
            }
            if let Some(e) = s.rx_err.take() {
                return Poll::Ready(Err(e));
            }
            if s.rx_eof {
                return Poll::Ready(Ok(0));
            }
            match &s.reader {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => s.reader = Some(cx.waker().clone()),
            }
            d.submit_recv(key);
            Poll::Pending
        })
        .unwrap_or_else(|| Poll::Ready(Err(gone())))
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let key = self.key;
        polled_with_driver(&self.core, |d| {
            let Some(s) = d.streams.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if let Some(e) = s.tx_err.take() {
                return Poll::Ready(Err(e));
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let queued = s.tx_queue.len() + s.tx_flight.len() - s.tx_sent;
            if queued >= TX_LIMIT {
                s.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = buf.len().min(TX_LIMIT - queued);
            s.tx_queue.extend_from_slice(&buf[..n]);
            d.submit_send(key);
            Poll::Ready(Ok(n))
        })
        .unwrap_or_else(|| Poll::Ready(Err(gone())))
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let key = self.key;
        polled_with_driver(&self.core, |d| {
            let Some(s) = d.streams.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if let Some(e) = s.tx_err.take() {
                return Poll::Ready(Err(e));
            }
            if s.tx_op.is_none() && s.tx_queue.is_empty() && s.tx_flight.is_empty() {
                return Poll::Ready(Ok(()));
            }
            s.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .unwrap_or_else(|| Poll::Ready(Err(gone())))
    }
}

impl Drop for UringStream {
    fn drop(&mut self) {
        let key = self.key;
        let fd = self.fd.take();
        let fd = with_driver(&self.core, move |d| {
            let Some(s) = d.streams.get_mut(key) else {
                return fd;
            };
            s.dropped = true;
            s.reader = None;
            s.writer = None;
            s.fd_to_close = fd;
            // Cancel both ways: a send stuck on a peer that never reads
            // would otherwise hold the fd and the buffers for good. What the
            // cancelled send had not handed over goes to the socket buffer
            // when its completion comes, as far as it takes it at once.
            let ops = [s.rx_op, s.tx_op];
            for op in ops.into_iter().flatten() {
                d.cancel(op);
            }
            d.finish_stream(key);
            None
        })
        .flatten();
        drop(fd);
    }
}

/// A listening socket on the completion driver.
pub(crate) struct UringListener {
    core: Rc<Core>,
    key: Key,
    fd: Option<OwnedFd>,
}

impl UringListener {
    pub(crate) fn new(core: Rc<Core>, fd: OwnedFd) -> UringListener {
        let raw = fd.as_raw_fd();
        let key = with_driver(&core, |d| {
            d.listeners.insert(ListenerState {
                raw,
                ..ListenerState::default()
            })
        })
        .expect("UringListener::new is called on the completion driver");
        UringListener {
            core,
            key,
            fd: Some(fd),
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("present until drop").as_fd()
    }

    pub(crate) fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(OwnedFd, Option<SocketAddrAny>)>> {
        let key = self.key;
        polled_with_driver(&self.core, |d| {
            let Some(l) = d.listeners.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if let Some(r) = l.accepted.pop_front() {
                d.submit_accept(key);
                return Poll::Ready(r.map(|fd| (fd, None)));
            }
            l.waiter = Some(cx.waker().clone());
            d.submit_accept(key);
            Poll::Pending
        })
        .unwrap_or_else(|| Poll::Ready(Err(gone())))
    }
}

impl Drop for UringListener {
    fn drop(&mut self) {
        let key = self.key;
        let fd = self.fd.take();
        let fd = with_driver(&self.core, move |d| {
            let Some(l) = d.listeners.get_mut(key) else {
                return fd;
            };
            l.dropped = true;
            l.waiter = None;
            l.accepted.clear();
            match l.op {
                Some(op) => {
                    l.fd_to_close = fd;
                    d.cancel(op);
                }
                None => {
                    d.listeners.remove(key);
                    return fd;
                }
            }
            None
        })
        .flatten();
        drop(fd);
    }
}
