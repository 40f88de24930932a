//! UDP receives on the completion driver: one multishot recvmsg per socket
//! into the driver's datagram buffer ring, so no request is made per
//! datagram, and datagrams that arrive before a receive is asked for wait
//! in the socket (as buffers of the ring, given back as soon as they are
//! read). A socket holding [`HOLD`] datagrams stops receiving until one is
//! read (its request is cancelled; the kernel's socket buffer holds the
//! rest, as it would on epoll). Sends stay one syscall each, by readiness.
//!
//! Not for: sends, which stay readiness-driven syscalls (`rt/net/udp.rs`).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::{Op, UringDriver, errno, polled_with_driver, with_driver};
use crate::rt::executor::{Core, gone};
use crate::rt::readiness::Waiters;
use crate::rt::slab::Key;
use crate::uring::{Buf, BufRing, Completion, Datagram, Target, op};

/// The datagram buffer ring: its group id, buffer count and size (a whole
/// datagram of the largest size UDP carries, with the kernel's header and
/// the sender's address before it).
pub(super) const DGRAM_BGID: u16 = 1;
const DGRAM_BUFS: u16 = 64;
const DGRAM_BUF_SIZE: usize = 65_536 + crate::uring::RECVMSG_OVERHEAD;
/// Datagrams a socket may hold unread before its receive is paused.
const HOLD: usize = 16;

#[derive(Default)]
pub(super) struct UdpState {
    raw: RawFd,
    rx: VecDeque<Buf>,
    op: Option<Key>,
    /// Cancelled for holding `HOLD` datagrams, or for `release`.
    paused: bool,
    releasing: bool,
    err: Option<io::Error>,
    readers: Waiters,
    dropped: bool,
}

/// A socket's multishot recvmsg.
struct RecvMsg;

impl Op for RecvMsg {
    const CODE: u8 = 8;
    fn complete(d: &mut UringDriver, owner: Key, c: Completion, wakers: &mut Vec<Waker>) {
        let (res, more) = (c.result(), c.more());
        let buf = d.dgram_bufs.as_mut().and_then(|b| b.pick(&c));
        let Some(u) = d.udps.get_mut(owner) else {
            if let Some(buf) = buf {
                d.release_dgram(buf);
            }
            return;
        };
        if !more {
            u.op = None;
        }
        match (res, buf) {
            (n, Some(buf)) if n >= 0 && !u.dropped => {
                u.rx.push_back(buf);
                u.readers.take_into(wakers);
                if u.rx.len() >= HOLD
                    && !u.paused
                    && let Some(op) = u.op
                {
                    u.paused = true;
                    d.cancel(op);
                }
            }
            (_, Some(buf)) => d.release_dgram(buf),
            (e, None) if e == -libc::ENOBUFS => {
                if !more {
                    d.dgram_starved.push(owner);
                }
            }
            (e, None) if e == -libc::ECANCELED && (u.dropped || u.paused) => {}
            (e, None) if e < 0 => {
                u.err = Some(errno(e));
                u.readers.take_into(wakers);
            }
            (_, None) => {}
        }
        if !more {
            if res != -libc::ENOBUFS {
                d.arm_recvmsg(owner);
            }
            d.finish_udp(owner);
        }
    }
}

impl UringDriver {
    /// The datagram buffer ring, registered on first use (a runtime
    /// without UDP sockets maps nothing for it).
    fn dgram_ring(&mut self) -> io::Result<()> {
        if self.dgram_bufs.is_none() {
            self.dgram_bufs = Some(BufRing::new(
                &self.ring,
                DGRAM_BGID,
                DGRAM_BUFS,
                DGRAM_BUF_SIZE,
            )?);
        }
        Ok(())
    }

    fn release_dgram(&mut self, buf: Buf) {
        if let Some(bufs) = &mut self.dgram_bufs {
            bufs.release(buf);
            self.dgram_returned = true;
        }
    }

    /// Arms the socket's multishot recvmsg unless it has one, holds enough,
    /// or is going.
    pub(super) fn arm_recvmsg(&mut self, key: Key) {
        if self.closing {
            return;
        }
        let Some(u) = self.udps.get_mut(key) else {
            return;
        };
        if u.op.is_some() || u.dropped || u.releasing || u.rx.len() >= HOLD {
            return;
        }
        u.paused = false;
        let (target, header) = (Target::Fd(u.raw), self.msg_header.as_ptr());
        // SAFETY: the header is the driver's, boxed, and lives until the
        // driver is dropped, after every request has ended.
        let op = self.push::<RecvMsg>(key, |ud| unsafe {
            op::recvmsg_multi(target, header, DGRAM_BGID, ud)
        });
        if let Some(u) = self.udps.get_mut(key) {
            u.op = Some(op);
        }
    }

    fn finish_udp(&mut self, key: Key) {
        if self
            .udps
            .get(key)
            .is_some_and(|u| u.dropped && u.op.is_none())
            && let Some(u) = self.udps.remove(key)
        {
            for buf in u.rx {
                self.release_dgram(buf);
            }
        }
    }

    /// Arms again the sockets whose receive ended for lack of buffers.
    pub(super) fn rearm_dgram_starved(&mut self) {
        if self.dgram_starved.is_empty() || self.closing || !self.dgram_returned {
            return;
        }
        self.dgram_returned = false;
        for key in std::mem::take(&mut self.dgram_starved) {
            self.arm_recvmsg(key);
        }
    }
}

/// A UDP socket's receive side on the completion driver.
pub(crate) struct UringUdp {
    core: Rc<Core>,
    key: Key,
}

impl UringUdp {
    /// Starts receiving on `raw` (which the caller keeps open until this is
    /// dropped or released).
    pub(crate) fn new(core: Rc<Core>, raw: RawFd) -> io::Result<UringUdp> {
        let key = with_driver(&core, |d| {
            d.dgram_ring()?;
            let key = d.udps.insert(UdpState {
                raw,
                ..UdpState::default()
            });
            d.arm_recvmsg(key);
            Ok::<_, io::Error>(key)
        })
        .ok_or_else(gone)??;
        Ok(UringUdp { core, key })
    }

    /// The oldest datagram, copied into `buf` (`Pending` with none, `cx`
    /// registered; `WouldBlock` without a `cx`).
    pub(crate) fn poll_recv_from(
        &self,
        cx: Option<&mut Context<'_>>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let key = self.key;
        let look = |d: &mut UringDriver| {
            let Some(u) = d.udps.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            let Some(piece) = u.rx.pop_front() else {
                if let Some(e) = u.err.take() {
                    return Poll::Ready(Err(e));
                }
                return match &cx {
                    Some(cx) => {
                        u.readers.register(cx.waker());
                        Poll::Pending
                    }
                    None => Poll::Ready(Err(io::ErrorKind::WouldBlock.into())),
                };
            };
            let got = match d.dgram_bufs.as_ref() {
                Some(bufs) => d
                    .msg_header
                    .parse(bufs.bytes(&piece))
                    .and_then(|dg| copy_datagram(&dg, buf)),
                None => Err(gone()),
            };
            d.release_dgram(piece);
            if d.udps.get(key).is_some_and(|u| u.paused) {
                d.arm_recvmsg(key);
            }
            Poll::Ready(got)
        };
        let polled = if cx.is_some() {
            polled_with_driver(&self.core, look)
        } else {
            with_driver(&self.core, look)
        };
        polled.unwrap_or_else(|| Poll::Ready(Err(gone())))
    }

    /// Ready when a receive will not wait (a datagram, or an error).
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let key = self.key;
        polled_with_driver(&self.core, |d| {
            let Some(u) = d.udps.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if !u.rx.is_empty() || u.err.is_some() {
                return Poll::Ready(Ok(()));
            }
            u.readers.register(cx.waker());
            Poll::Pending
        })
        .unwrap_or_else(|| Poll::Ready(Err(gone())))
    }

    /// Ends the receive so that the fd can leave the runtime; refused
    /// (with the receive going on) while datagrams wait to be read.
    pub(crate) fn release(&self) -> io::Result<()> {
        let key = self.key;
        let mut wakers = Vec::new();
        let done = with_driver(&self.core, |d| {
            let Some(u) = d.udps.get_mut(key) else {
                return Err(gone());
            };
            if !u.rx.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} datagrams were received into the runtime's buffers and not read yet: read them first",
                        u.rx.len()
                    ),
                ));
            }
            if let Some(op) = u.op {
                u.paused = true;
                u.releasing = true;
                d.cancel_and_wait(
                    op,
                    |d| d.udps.get(key).is_none_or(|u| u.op.is_none()),
                    &mut wakers,
                )?;
            }
            let held = d.udps.get(key).map_or(0, |u| u.rx.len());
            if held > 0 {
                // Datagrams came in while the receive ended: keep them.
                if let Some(u) = d.udps.get_mut(key) {
                    u.releasing = false;
                }
                d.arm_recvmsg(key);
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{held} datagrams arrived while the receive ended: read them first"),
                ));
            }
            if let Some(u) = d.udps.get_mut(key) {
                u.dropped = true;
            }
            d.finish_udp(key);
            Ok(())
        })
        .unwrap_or_else(|| Err(gone()));
        wakers.into_iter().for_each(Waker::wake);
        done
    }
}

impl Drop for UringUdp {
    fn drop(&mut self) {
        let key = self.key;
        with_driver(&self.core, |d| {
            let Some(u) = d.udps.get_mut(key) else {
                return;
            };
            u.dropped = true;
            u.readers.clear();
            if let Some(op) = u.op {
                d.cancel(op);
            }
            d.finish_udp(key);
        });
    }
}

/// Copies a datagram into `buf`; one larger than `buf` (or than the ring's
/// buffer) is an error that says so, as on the readiness drivers.
fn copy_datagram(dg: &Datagram<'_>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    let n = dg.payload.len().min(buf.len());
    buf[..n].copy_from_slice(&dg.payload[..n]);
    if dg.size > n {
        return Err(crate::rt::net::udp::truncated(dg.size, n, dg.from));
    }
    let from = dg
        .from
        .ok_or_else(|| io::Error::other("a datagram without an inet sender"))?;
    Ok((n, from))
}
