//! A connected socket on the completion driver: a multishot receive into
//! the runtime's provided-buffer ring, and write-behind sends.
//!
//! **Buffers belong to the runtime while a request is in flight**, so a
//! read or write future dropped mid-flight leaves nothing dangling: a
//! received buffer waits in the stream until a read takes its bytes (nothing
//! lost, nothing read twice); a write copies the caller's bytes into the
//! stream's send queue and returns at once (like a socket buffer), `flush`
//! waits for the completions, and an error of a send is reported by the
//! next write or flush.
//!
//! Not for: the public stream types or their traits (`rt/net`), which this
//! sits under.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::{BGID, Op, UringDriver, errno, polled_with_driver, with_driver};
use crate::rt::executor::{Core, gone};
use crate::rt::slab::Key;
use crate::uring::{Buf, Completion, Lever, Target, op};

/// Received buffers a stream may hold unread before its receive is paused.
pub(super) const RX_HOLD: usize = 8;
/// Bytes a stream's writes may queue before a write waits for completions:
/// about what a loopback or LAN socket buffer takes at once, so that code
/// which writes a burst and then reads without flushing (a TLS layer that
/// keeps what a `Pending` write left behind) behaves as on epoll, where the
/// kernel takes the burst. Held only while a send is in flight: an idle
/// stream gives the capacity back.
const TX_LIMIT: usize = 256 * 1024;
/// Send-queue capacity a recycled send side keeps; more is freed.
const TX_IDLE_KEEP: usize = 4 * 1024;
/// Send sides the driver keeps for reuse: a request/response stream takes
/// one per response and gives it back, without an allocation, while idle
/// streams hold none.
pub(super) const TX_SPARE: usize = 64;

/// A received piece of a provided buffer, and how much of it was read.
struct Chunk {
    buf: Buf,
    read: u32,
}

impl Chunk {
    fn unread(&self) -> usize {
        self.buf.len() - self.read as usize
    }
}

#[derive(Default)]
pub(super) struct StreamState {
    /// Moved here from the user's stream when it is dropped with requests
    /// in flight; closed with the state.
    fd_to_close: Option<OwnedFd>,
    raw: RawFd,
    /// How requests name the socket: its fd, or its fixed-file slot.
    target: Option<Target>,
    rx: VecDeque<Chunk>,
    rx_op: Option<Key>,
    /// The receive was cancelled because the stream holds `RX_HOLD`
    /// buffers: armed again when they are read.
    rx_paused: bool,
    /// `into_fd` is taking the fd out: the receive is not armed again.
    rx_releasing: bool,
    rx_eof: bool,
    rx_err: Option<io::Error>,
    reader: Option<Waker>,
    /// The send side, made by the first write and let go once everything
    /// written has been sent and nobody waits: an idle stream holds none.
    tx: Option<Box<Tx>>,
    dropped: bool,
}

/// A stream's send side.
#[derive(Default)]
pub(super) struct Tx {
    /// The bytes of the send in flight (not touched until it completes),
    /// and how much of them the kernel took so far.
    flight: Vec<u8>,
    sent: usize,
    op: Option<Key>,
    /// Bytes written since the send in flight was submitted.
    queue: Vec<u8>,
    err: Option<io::Error>,
    writer: Option<Waker>,
}

impl Tx {
    /// Bytes written and not yet taken by the kernel.
    fn unsent(&self) -> usize {
        self.queue.len() + self.flight.len() - self.sent
    }

    /// Nothing to send, nothing in flight, nothing to report, nobody
    /// waiting: the send side can go.
    fn is_idle(&self) -> bool {
        self.op.is_none() && self.unsent() == 0 && self.err.is_none() && self.writer.is_none()
    }
}

impl StreamState {
    /// The send side, taken from the driver's spares (or made) if the
    /// stream has none.
    // The spares are boxes because they move into streams' `Option<Box<Tx>>`.
    #[allow(clippy::vec_box)]
    fn tx(&mut self, spare: &mut Vec<Box<Tx>>) -> &mut Tx {
        self.tx
            .get_or_insert_with(|| spare.pop().unwrap_or_default())
    }

    /// The send side's pending error, taken.
    fn take_tx_err(&mut self) -> Option<io::Error> {
        self.tx.as_mut().and_then(|t| t.err.take())
    }

    fn tx_op(&self) -> Option<Key> {
        self.tx.as_ref().and_then(|t| t.op)
    }

    fn unsent(&self) -> usize {
        self.tx.as_ref().map_or(0, |t| t.unsent())
    }

    /// A dropped stream's last bytes (what no send took, and what was
    /// queued behind it) go to the socket buffer with one non-blocking
    /// send: like close(2) after a write, what the kernel took is still
    /// delivered; what it cannot take at once is discarded. `flush` (or
    /// `close`) before the drop is how a caller makes sure.
    fn hand_rest_to_kernel(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        let flight = tx.flight.get(tx.sent..).unwrap_or_default();
        let flags = rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL;
        if let Some(fd) = self.fd_to_close.as_ref().map(|fd| fd.as_fd()) {
            let mut taken = true;
            for part in [flight, &tx.queue[..]] {
                if part.is_empty() || !taken {
                    continue;
                }
                taken = matches!(rustix::net::send(fd, part, flags), Ok(n) if n == part.len());
            }
            if !taken {
                log::debug!(
                    "iomux::rt: a stream dropped with unsent bytes that its socket could not take"
                );
            }
        }
    }
}

/// A stream's multishot receive.
struct Recv;

impl Op for Recv {
    const CODE: u8 = 5;
    fn complete(d: &mut UringDriver, owner: Key, c: Completion, wakers: &mut Vec<Waker>) {
        let (res, more) = (c.result(), c.more());
        // Every piece is picked, in completion order (the ring follows the
        // kernel's head, and a bundle names only its first buffer), and
        // released when read or unwanted.
        let mut pieces = std::mem::take(&mut d.picked);
        if let Some(b) = d.bufs.as_mut() {
            b.pick_each(&c, |p| pieces.push(p));
        }
        let Some(s) = d.streams.get_mut(owner) else {
            for p in pieces.drain(..) {
                d.release(p);
            }
            d.picked = pieces;
            return;
        };
        if !more {
            s.rx_op = None;
        }
        match res {
            n if n > 0 && pieces.is_empty() => {
                s.rx_err = Some(io::Error::other("a receive completed without a buffer"));
                wakers.extend(s.reader.take());
            }
            n if n > 0 && s.dropped => {
                for p in pieces.drain(..) {
                    d.release(p);
                }
            }
            n if n > 0 => {
                s.rx.extend(pieces.drain(..).map(|buf| Chunk { buf, read: 0 }));
                wakers.extend(s.reader.take());
                if s.rx.len() >= RX_HOLD
                    && !s.rx_paused
                    && let Some(op) = s.rx_op
                {
                    s.rx_paused = true;
                    d.cancel(op);
                }
            }
            0 => {
                for p in pieces.drain(..) {
                    d.release(p);
                }
                let Some(s) = d.streams.get_mut(owner) else {
                    d.picked = pieces;
                    return;
                };
                s.rx_eof = true;
                wakers.extend(s.reader.take());
            }
            e if e == -libc::ENOBUFS => {
                // The ring is empty: armed again when buffers come back.
                if !more {
                    d.starved.push(owner);
                }
            }
            e if e == -libc::ECANCELED && (s.dropped || s.rx_paused) => {}
            e => {
                s.rx_err = Some(errno(e));
                wakers.extend(s.reader.take());
            }
        }
        // A failed receive names no buffer; anything left goes back.
        for p in pieces.drain(..) {
            d.release(p);
        }
        d.picked = pieces;
        if !more {
            // The multishot ended (cancelled for holding too much, or by
            // the kernel): receive again unless the stream is done, still
            // holds too much (its next read re-arms), or starves (the
            // returned buffers re-arm it).
            if res != -libc::ENOBUFS {
                d.arm_recv(owner);
            }
            d.finish_stream(owner);
        }
    }
}

/// A stream's send of its queued bytes.
struct Send;

impl Op for Send {
    const CODE: u8 = 6;
    fn complete(d: &mut UringDriver, owner: Key, c: Completion, wakers: &mut Vec<Waker>) {
        let res = c.result();
        let Some(s) = d.streams.get_mut(owner) else {
            return;
        };
        let Some(tx) = s.tx.as_deref_mut() else {
            return;
        };
        tx.op = None;
        if s.dropped {
            if res > 0 {
                tx.sent += res as usize;
            }
            s.hand_rest_to_kernel();
            d.finish_stream(owner);
            return;
        }
        if res < 0 {
            tx.err = Some(errno(res));
            tx.flight.clear();
            tx.queue.clear();
            tx.sent = 0;
        } else {
            tx.sent += res as usize;
            if tx.sent >= tx.flight.len() {
                tx.flight.clear();
                tx.sent = 0;
                std::mem::swap(&mut tx.flight, &mut tx.queue);
            }
        }
        wakers.extend(tx.writer.take());
        if tx.is_idle()
            && let Some(mut tx) = s.tx.take()
        {
            // Everything went: the send side goes back to the spares.
            if d.spare_tx.len() < TX_SPARE {
                for v in [&mut tx.flight, &mut tx.queue] {
                    if v.capacity() > TX_IDLE_KEEP {
                        *v = Vec::new();
                    }
                }
                d.spare_tx.push(tx);
            }
        }
        d.submit_send(owner);
    }
}

impl UringDriver {
    /// Frees a dropped stream's state once no request refers to it.
    fn finish_stream(&mut self, key: Key) {
        let done = self
            .streams
            .get(key)
            .is_some_and(|s| s.dropped && s.rx_op.is_none() && s.tx_op().is_none());
        if done {
            self.forget_stream(key);
        }
    }

    /// Removes stream `key` from the driver: its unread pieces go back to
    /// the ring and its fixed-file slot (which holds the socket open) is
    /// emptied.
    fn forget_stream(&mut self, key: Key) {
        let Some(s) = self.streams.remove(key) else {
            return;
        };
        for chunk in s.rx {
            self.release(chunk.buf);
        }
        if let Some(Target::Fixed(slot)) = s.target {
            self.free_fixed_slot(slot);
        }
    }

    /// Arms the stream's multishot receive, unless it has one, holds
    /// enough unread buffers, or its receiving is over.
    pub(super) fn arm_recv(&mut self, key: Key) {
        if self.closing {
            return;
        }
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        let done = s.dropped || s.rx_releasing || s.rx_eof || s.rx_err.is_some();
        if s.rx_op.is_some() || done || s.rx.len() >= RX_HOLD {
            return;
        }
        s.rx_paused = false;
        let target = s.target.unwrap_or(Target::Fd(s.raw));
        let recv = match (Lever::MultishotRecv.is_on(), self.bundle) {
            (true, false) => op::recv_multi,
            (true, true) => op::recv_multi_bundle,
            (false, false) => op::recv_select,
            (false, true) => op::recv_bundle,
        };
        let op = self.push::<Recv>(key, |ud| recv(target, BGID, ud));
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
        let target = s.target.unwrap_or(Target::Fd(s.raw));
        let Some(tx) = s.tx.as_deref_mut() else {
            return;
        };
        if tx.op.is_some() || tx.err.is_some() {
            return;
        }
        if tx.flight.is_empty() {
            std::mem::swap(&mut tx.flight, &mut tx.queue);
            tx.sent = 0;
        }
        if tx.flight.is_empty() {
            return;
        }
        let rest = &tx.flight[tx.sent..];
        let (ptr, len) = (rest.as_ptr(), rest.len());
        // SAFETY: `tx_flight` is neither touched nor resized until this
        // send completes (writes go to `tx_queue`), and a dropped stream's
        // state lives until its last completion; `ptr..ptr + len` is its
        // unsent part.
        let op = self.push::<Send>(key, |ud| unsafe {
            op::send(target, std::slice::from_raw_parts(ptr, len), ud)
        });
        if let Some(s) = self.streams.get_mut(key) {
            s.tx(&mut self.spare_tx).op = Some(op);
        }
    }

    /// Copies what the stream's oldest received buffer holds into `buf`;
    /// when `consume`, the bytes are taken and the buffer goes back to the
    /// ring once it is read. `None` when the stream holds nothing. One
    /// receive's bytes at most, as a recv(2) would: a receive that stopped
    /// at an urgent mark or an SCM_RIGHTS boundary stays a read of its own.
    fn copy_received(
        &mut self,
        key: Key,
        buf: &mut [MaybeUninit<u8>],
        consume: bool,
    ) -> Option<usize> {
        let s = self.streams.get_mut(key)?;
        let bufs = self.bufs.as_mut()?;
        let chunk = s.rx.front_mut()?;
        let data = &bufs.bytes(&chunk.buf)[chunk.read as usize..];
        let n = data.len().min(buf.len());
        for (to, from) in buf[..n].iter_mut().zip(&data[..n]) {
            to.write(*from);
        }
        if consume {
            chunk.read += n as u32;
            if chunk.unread() == 0
                && let Some(chunk) = s.rx.pop_front()
            {
                bufs.release(chunk.buf);
                self.bufs_returned = true;
            }
        }
        Some(n)
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
            let target = d.fixed_slot(raw).map(Target::Fixed);
            let key = d.streams.insert(StreamState {
                raw,
                target,
                ..StreamState::default()
            });
            d.arm_recv(key);
            key
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

    /// Reads what the stream has received, else waits for a receive.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.rx(buf, true, Some(cx))
    }

    /// Copies what the stream has received, leaving it to be read, else
    /// waits for a receive.
    pub(crate) fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.rx(crate::rt::net::stream::as_uninit(buf), false, Some(cx))
    }

    /// Takes what the stream has received; `WouldBlock` when it holds
    /// nothing (the receive stays armed, so data is there for a later try
    /// or wakes a `readable` wait).
    pub(crate) fn try_read(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.rx(buf, true, None) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Ready when a read would not wait: received bytes, the end of the
    /// stream or an error; else waits for a receive.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.rx(&mut [], false, Some(cx)).map_ok(|_| ())
    }

    /// The receive side: received bytes go into `buf` (taken, or copied
    /// when not `consume`), else the end or the error the receive saw; with
    /// nothing to say, the receive is armed and `cx`'s task parked for it.
    /// An empty `buf` only asks whether a read would not wait.
    fn rx(
        &self,
        buf: &mut [MaybeUninit<u8>],
        consume: bool,
        cx: Option<&mut Context<'_>>,
    ) -> Poll<io::Result<usize>> {
        let key = self.key;
        let look = |d: &mut UringDriver| {
            let held = d.streams.get(key).map(|s| !s.rx.is_empty());
            match held {
                None => return Poll::Ready(Err(gone())),
                Some(true) if buf.is_empty() => return Poll::Ready(Ok(0)),
                Some(true) => {
                    let n = d.copy_received(key, buf, consume).unwrap_or(0);
                    // Paused for holding too much: receive again.
                    d.arm_recv(key);
                    return Poll::Ready(Ok(n));
                }
                Some(false) => {}
            }
            let Some(s) = d.streams.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            let err = if consume {
                s.rx_err.take()
            } else {
                s.rx_err.as_ref().map(copy_error)
            };
            if let Some(e) = err {
                return Poll::Ready(Err(e));
            }
            if s.rx_eof {
                return Poll::Ready(Ok(0));
            }
            if let Some(cx) = &cx {
                match &s.reader {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.reader = Some(cx.waker().clone()),
                }
            }
            d.arm_recv(key);
            Poll::Pending
        };
        let done = if cx.is_some() {
            polled_with_driver(&self.core, look)
        } else {
            with_driver(&self.core, look)
        };
        done.unwrap_or_else(|| Poll::Ready(Err(gone())))
    }

    /// Queues `buf` (as much as fits) behind the send in flight, else
    /// waits for room.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.tx(Some(buf), Some(cx))
    }

    /// Queues the slices (as much as fits) behind the send in flight, else
    /// waits for room.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let key = self.key;
        polled_with_driver(&self.core, |d| {
            let Some(s) = d.streams.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if let Some(e) = s.take_tx_err() {
                return Poll::Ready(Err(e));
            }
            if bufs.iter().all(|b| b.is_empty()) {
                return Poll::Ready(Ok(0));
            }
            let tx = s.tx(&mut d.spare_tx);
            let queued = tx.unsent();
            if queued >= TX_LIMIT {
                tx.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let mut room = TX_LIMIT - queued;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(room);
                tx.queue.extend_from_slice(&b[..take]);
                n += take;
                room -= take;
                if room == 0 {
                    break;
                }
            }
            d.submit_send(key);
            Poll::Ready(Ok(n))
        })
        .unwrap_or_else(|| Poll::Ready(Err(gone())))
    }

    /// Queues what fits of `buf`; `WouldBlock` when the send queue is full.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self.tx(Some(buf), None) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Ready when the send queue has room (or an error to report).
    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tx(None, Some(cx)).map_ok(|_| ())
    }

    /// The send side: `buf` joins the queue as far as it has room; with
    /// none, `cx`'s task is parked until a completion makes some. No `buf`
    /// only asks whether there is room.
    fn tx(&self, buf: Option<&[u8]>, cx: Option<&mut Context<'_>>) -> Poll<io::Result<usize>> {
        let key = self.key;
        let look = |d: &mut UringDriver| {
            let Some(s) = d.streams.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if let Some(e) = s.take_tx_err() {
                return Poll::Ready(Err(e));
            }
            let buf = match buf {
                Some([]) => return Poll::Ready(Ok(0)),
                Some(buf) => buf,
                None => &[],
            };
            let queued = s.unsent();
            if queued >= TX_LIMIT {
                if let Some(cx) = &cx {
                    s.tx(&mut d.spare_tx).writer = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let n = buf.len().min(TX_LIMIT - queued);
            s.tx(&mut d.spare_tx).queue.extend_from_slice(&buf[..n]);
            d.submit_send(key);
            Poll::Ready(Ok(n))
        };
        let done = if cx.is_some() {
            polled_with_driver(&self.core, look)
        } else {
            with_driver(&self.core, look)
        };
        done.unwrap_or_else(|| Poll::Ready(Err(gone())))
    }

    /// Waits until everything written has gone to the kernel: the send is
    /// already in the ring's queue (a write submits it), so the flush waits
    /// for the park's one `io_uring_enter`, which submits every stream's
    /// send of the turn together and brings their completions. (Entering
    /// here instead, once per flush, cost a syscall per response: hyper
    /// flushes after each one, and on 100 connections that made its CPU
    /// per request 1.33x this: `BENCHMARKS.md`.)
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let key = self.key;
        polled_with_driver(&self.core, |d| {
            let Some(s) = d.streams.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if let Some(e) = s.take_tx_err() {
                return Poll::Ready(Err(e));
            }
            if s.tx_op().is_none() && s.unsent() == 0 {
                return Poll::Ready(Ok(()));
            }
            s.tx(&mut d.spare_tx).writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .unwrap_or_else(|| Poll::Ready(Err(gone())))
    }

    /// Takes the fd out of the driver. Nothing may refer to it once it is
    /// out: the multishot receive is cancelled and waited for here, a
    /// bounded wait on this thread; bytes received and not read yet, and
    /// bytes written but not yet sent, cannot go with the fd, so the stream
    /// comes back with an error that says which (read them, or flush, and
    /// try again).
    pub(crate) fn into_fd(mut self) -> Result<OwnedFd, (UringStream, io::Error)> {
        let key = self.key;
        let mut wakers = Vec::new();
        let refused = with_driver(&self.core, |d| d.release_stream(key, &mut wakers));
        // Woken after the driver is released: their tasks run later.
        wakers.into_iter().for_each(Waker::wake);
        match refused {
            Some(Err(e)) => Err((self, e)),
            None => Err((self, gone())),
            Some(Ok(())) => Ok(self.fd.take().expect("present until into_fd or drop")),
        }
    }
}

/// An error like `e` (the errors kept for a later read are all errnos).
fn copy_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl UringDriver {
    /// Ends stream `key`'s requests and forgets it, when that loses no
    /// byte (see [`UringStream::into_fd`]); the wakers of completions that
    /// came meanwhile go to `wakers`.
    fn release_stream(&mut self, key: Key, wakers: &mut Vec<Waker>) -> io::Result<()> {
        let Some(s) = self.streams.get_mut(key) else {
            return Err(gone());
        };
        if s.tx_op().is_some() || s.unsent() > 0 {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} written bytes are still queued in the runtime: flush() first",
                    s.unsent()
                ),
            ));
        }
        if let Some(op) = s.rx_op {
            // Paused: its end does not arm it again.
            s.rx_paused = true;
            s.rx_releasing = true;
            self.cancel_and_wait(
                op,
                |d| d.streams.get(key).is_none_or(|s| s.rx_op.is_none()),
                wakers,
            )?;
        }
        let Some(s) = self.streams.get_mut(key) else {
            return Err(gone());
        };
        s.rx_releasing = false;
        let held: usize = s.rx.iter().map(Chunk::unread).sum();
        if held > 0 {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{held} bytes were received into the runtime's buffers and not read yet: read them first"
                ),
            ));
        }
        if let Some(e) = &s.rx_err {
            return Err(io::Error::new(
                e.kind(),
                format!("the runtime holds an error for the next read: {e}; read it first"),
            ));
        }
        self.forget_stream(key);
        Ok(())
    }
}

impl Drop for UringStream {
    fn drop(&mut self) {
        let key = self.key;
        // Taken out by `into_fd`: the driver forgot it already.
        let Some(fd) = self.fd.take() else { return };
        let fd = Some(fd);
        let fd = with_driver(&self.core, move |d| {
            let Some(s) = d.streams.get_mut(key) else {
                return fd;
            };
            s.dropped = true;
            s.reader = None;
            if let Some(tx) = &mut s.tx {
                tx.writer = None;
            }
            s.fd_to_close = fd;
            // Cancel both ways: a send stuck on a peer that never reads
            // would otherwise hold the fd and the buffers for good. What the
            // cancelled send had not handed over goes to the socket buffer
            // when its completion comes, as far as it takes it at once.
            let ops = [s.rx_op, s.tx_op()];
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
