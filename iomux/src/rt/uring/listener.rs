//! Accepts on the completion driver: one multishot accept per listener.
//! Connections accepted while no `accept()` waits are queued for the next
//! one; past [`ACCEPT_QUEUE`] of them the multishot is cancelled, and the
//! kernel's backlog holds the rest until the queue is taken.
//!
//! Not for: making the listening socket (`crate::socket`) or
//! readiness-driver accepts (`rt/net/listener.rs`).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use rustix::net::SocketAddrAny;

use super::{Op, UringDriver, errno, polled_with_driver, with_driver};
use crate::rt::executor::{Core, gone};
use crate::rt::readiness::Waiters;
use crate::rt::slab::Key;
use crate::uring::{Completion, op};

/// Accepted connections a listener may queue before it stops accepting.
const ACCEPT_QUEUE: usize = 256;

#[derive(Default)]
pub(super) struct ListenerState {
    fd_to_close: Option<OwnedFd>,
    raw: RawFd,
    op: Option<Key>,
    /// The multishot was cancelled because the queue was full.
    paused: bool,
    accepted: VecDeque<io::Result<OwnedFd>>,
    waiters: Waiters,
    dropped: bool,
}

/// A multishot accept.
struct Accept;

impl Op for Accept {
    const CODE: u8 = 2;
    fn complete(d: &mut UringDriver, owner: Key, c: Completion, wakers: &mut Vec<Waker>) {
        let (res, more) = (c.result(), c.more());
        let Some(l) = d.listeners.get_mut(owner) else {
            if res >= 0 {
                // SAFETY: a successful accept returns a new fd that nobody
                // else owns; its listener is gone: close it.
                drop(unsafe { OwnedFd::from_raw_fd(res) });
            }
            return;
        };
        if !more {
            l.op = None;
        }
        if res >= 0 {
            // SAFETY: as above, the kernel handed us a new fd.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            if !l.dropped {
                l.accepted.push_back(Ok(fd));
            }
        } else if !(res == -libc::ECANCELED && (l.dropped || l.paused)) {
            l.accepted.push_back(Err(errno(res)));
        }
        l.waiters.take_into(wakers);
        if l.dropped {
            if l.op.is_none() {
                d.listeners.remove(owner);
            }
            return;
        }
        let full = l.accepted.len() >= ACCEPT_QUEUE;
        if full && let Some(op) = l.op.filter(|_| !l.paused) {
            l.paused = true;
            d.cancel(op);
        }
    }
}

impl UringDriver {
    fn arm_accept(&mut self, key: Key) {
        if self.closing {
            return;
        }
        let Some(l) = self.listeners.get_mut(key) else {
            return;
        };
        if l.op.is_some() || l.accepted.len() >= ACCEPT_QUEUE {
            return;
        }
        l.paused = false;
        let raw = l.raw;
        let op = self.push::<Accept>(key, |ud| op::accept_multi_nonblocking(raw, ud));
        if let Some(l) = self.listeners.get_mut(key) {
            l.op = Some(op);
        }
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
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(OwnedFd, Option<SocketAddrAny>)>> {
        let key = self.key;
        polled_with_driver(&self.core, |d| {
            let Some(l) = d.listeners.get_mut(key) else {
                return Poll::Ready(Err(gone()));
            };
            if let Some(r) = l.accepted.pop_front() {
                d.arm_accept(key);
                return Poll::Ready(r.map(|fd| (fd, None)));
            }
            l.waiters.register(cx.waker());
            d.arm_accept(key);
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
            l.waiters.clear();
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
