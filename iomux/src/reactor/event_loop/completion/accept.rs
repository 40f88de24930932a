//! Listeners on the completion driver: one multishot accept each, and what
//! to do when fds run out.
//!
//! Out of fds, an accept fails at once (EMFILE) whether a connection
//! waits or not, so re-arming it would spin. The listener's `Acceptor`
//! then accepts what waits itself, shedding with its spare fd (the
//! readiness driver's EMFILE trick, `socket::Acceptor`), and a one-shot
//! poll on the listener stands in for the accept until a connection
//! arrives again. With no spare fd left, the listener rests, as on
//! readiness (`listening.rs`).
//!
//! Not for: dealing connections out to other loops (`listening.rs`).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::{Uring, ops};
use crate::reactor::event_loop::EventLoop;
use crate::reactor::event_loop::Io;
use crate::reactor::event_loop::listening::Listener;
use crate::socket::{Acceptor, PeerAddr};
use crate::uring::{Completion, UserData, op};

/// A listener's requests on the ring.
#[derive(Debug, Default)]
pub(in crate::reactor) struct Accepting {
    /// Its number among the loop's listeners past and present (the user
    /// data's generation): a late completion of a closed listener finds
    /// none, or one with another number.
    serial: u32,
    /// A multishot accept is in the kernel.
    armed: bool,
    /// A poll stands in for the accept (out of fds).
    polled: bool,
}

fn accept_data(i: usize, serial: u32) -> UserData {
    UserData::new(ops::ACCEPT, i as u32, serial)
}

fn listen_data(i: usize, serial: u32) -> UserData {
    UserData::new(ops::LISTEN, i as u32, serial)
}

impl Uring {
    /// Starts (or resumes) accepting on listener `i`.
    pub(in crate::reactor) fn listen(&mut self, i: usize, acceptor: &Acceptor, a: &mut Accepting) {
        if a.serial == 0 {
            self.serial = UserData::next_generation(self.serial).max(1);
            a.serial = self.serial;
        }
        if !a.armed && !a.polled {
            self.arm_accept(i, acceptor, a);
        }
    }

    fn arm_accept(&mut self, i: usize, acceptor: &Acceptor, a: &mut Accepting) {
        // Non-blocking, so that a graceful stop's last read can be a
        // plain recv(2).
        let e =
            op::accept_multi_nonblocking(acceptor.as_fd().as_raw_fd(), accept_data(i, a.serial));
        a.armed = true;
        self.push(e);
    }

    /// Stops accepting on a listener (closing, or resting): its requests
    /// are cancelled; what they still bring is closed.
    pub(in crate::reactor) fn stop_listening(&mut self, i: usize, a: &Accepting) {
        if a.armed {
            self.cancel(accept_data(i, a.serial));
        }
        if a.polled {
            self.cancel(listen_data(i, a.serial));
        }
    }
}

impl EventLoop {
    /// Listener `i`, if it is still the one numbered `serial`.
    fn listener_of(&mut self, i: usize, serial: u32) -> Option<&mut Listener> {
        self.listeners
            .get_mut(i)
            .filter(|l| UserData::new(0, 0, l.ring.serial).is_generation(serial))
    }

    /// A completion of listener `i`'s multishot accept.
    pub(super) fn on_accept(&mut self, i: usize, serial: u32, cqe: &Completion) {
        let res = cqe.result();
        let more = cqe.more();
        // SAFETY: a successful accept's result is a new fd owned by no one
        // else.
        let fd = (res >= 0).then(|| unsafe { OwnedFd::from_raw_fd(res) });
        let Some(l) = self.listener_of(i, serial) else {
            return; // a closed listener's: `fd`, if any, is closed
        };
        if !more {
            l.ring.armed = false;
        }
        let listening = l.listening;
        if let Some(fd) = fd {
            if listening {
                let peer = rustix::net::getpeername(&fd)
                    .ok()
                    .flatten()
                    .and_then(PeerAddr::from_any);
                self.deal(i, fd, peer);
            }
        } else if matches!(
            -res,
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
        ) {
            self.out_of_fds(i, serial, more);
            return;
        }
        self.accept_on(i, serial);
    }

    /// Listener `i` ran out of fds: what waits is accepted and shed with
    /// the spare fd, and a poll stands in for the accept.
    fn out_of_fds(&mut self, i: usize, serial: u32, more: bool) {
        if self.accept(i) {
            return; // no spare left: resting (`accept` cancelled the accept)
        }
        let Io::Completion(u) = &mut self.io else {
            return;
        };
        let Some(l) = self.listeners.get_mut(i) else {
            return;
        };
        if more {
            u.cancel(accept_data(i, serial));
        }
        if l.listening && !l.ring.polled {
            let fd = l.acceptor.as_fd().as_raw_fd();
            u.push(op::poll(
                fd,
                libc::POLLIN as u32,
                false,
                listen_data(i, serial),
            ));
            l.ring.polled = true;
        }
    }

    /// The poll standing in for listener `i`'s accept fired: a connection
    /// waits, accept again.
    pub(super) fn on_listen(&mut self, i: usize, serial: u32) {
        if let Some(l) = self.listener_of(i, serial) {
            l.ring.polled = false;
            self.accept_on(i, serial);
        }
    }

    /// Arms listener `i`'s accept again if it ended and the listener is
    /// still listening.
    fn accept_on(&mut self, i: usize, serial: u32) {
        let Io::Completion(u) = &mut self.io else {
            return;
        };
        let Some(l) = self
            .listeners
            .get_mut(i)
            .filter(|l| UserData::new(0, 0, l.ring.serial).is_generation(serial))
        else {
            return;
        };
        if l.listening && !l.ring.armed && !l.ring.polled {
            u.arm_accept(i, &l.acceptor, &mut l.ring);
        }
    }
}
