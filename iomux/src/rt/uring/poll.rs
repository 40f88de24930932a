//! Readiness on the completion driver (`AsyncFd`, a connect's handshake):
//! a one-shot POLL_ADD per direction, armed when a task waits.
//!
//! Not for: streams' reads and writes, which are completions (`stream.rs`),
//! never polls.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::task::{Context, Poll, Waker};

use super::{Op, UringDriver};
use crate::rt::executor::gone;
use crate::rt::readiness::{READ, ScheduledIo, WRITE};
use crate::rt::slab::Key;
use crate::uring::{Completion, op};

#[derive(Default)]
pub(super) struct PollState {
    io: ScheduledIo,
    ops: [Option<Key>; 2],
}

fn dir_index(dir: u8) -> usize {
    usize::from(dir == WRITE)
}

/// A POLL_ADD for one direction of a registration.
struct PollRead;
struct PollWrite;

impl Op for PollRead {
    const CODE: u8 = 3;
    fn complete(d: &mut UringDriver, owner: Key, c: Completion, wakers: &mut Vec<Waker>) {
        d.poll_done(owner, READ, c.result(), wakers);
    }
}
impl Op for PollWrite {
    const CODE: u8 = 4;
    fn complete(d: &mut UringDriver, owner: Key, c: Completion, wakers: &mut Vec<Waker>) {
        d.poll_done(owner, WRITE, c.result(), wakers);
    }
}

fn revents_dirs(revents: u32) -> u8 {
    let r = revents as i16;
    let mut dirs = 0;
    if r & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
        dirs |= READ;
    }
    if r & (libc::POLLOUT | libc::POLLHUP | libc::POLLERR) != 0 {
        dirs |= WRITE;
    }
    dirs
}

impl UringDriver {
    fn poll_done(&mut self, key: Key, dir: u8, res: i32, wakers: &mut Vec<Waker>) {
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
                    let (fd, mask) = (fd.as_raw_fd(), mask as u32);
                    let make = |ud| op::poll(fd, mask, false, ud);
                    let op = if dir == READ {
                        self.push::<PollRead>(key, make)
                    } else {
                        self.push::<PollWrite>(key, make)
                    };
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
            if let Err(e) = self.ring.enter(0, None) {
                log::debug!("iomux::rt: submit of a poll cancel: {e}");
            }
        }
    }
}
