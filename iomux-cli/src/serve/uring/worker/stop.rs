//! Hearing the stop: the first ring polls the signalfd (SIGINT, SIGTERM)
//! and passes the word on to the other rings through their eventfds; a
//! second signal during the drain exits the process at once.

use std::os::fd::{AsRawFd, OwnedFd};

use iomux::uring::op;

use super::Worker;
use crate::serve::uring::ops::{Op, encode};

/// An eventfd for the first ring to tell another ring to stop.
pub(in crate::serve::uring) fn stop_eventfd() -> std::io::Result<OwnedFd> {
    Ok(rustix::event::eventfd(
        0,
        rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
    )?)
}

impl Worker {
    /// Polls the stop fd, if this ring has one.
    pub(super) fn arm_stop(&mut self) {
        if let Some(fd) = &self.signal {
            let e = op::poll(
                fd.as_raw_fd(),
                libc::POLLIN as u32,
                false,
                encode(Op::Signal, 0, 0),
            );
            self.push(e);
        }
    }

    /// The stop fd is readable; true when the drain is to begin.
    pub(super) fn on_stop(&mut self) -> bool {
        let Some(fd) = &self.signal else { return false };
        if self.is_peer {
            return true; // the first ring's word: nothing to read or pass on
        }
        let mut info = [0u8; 128]; // struct signalfd_siginfo
        let signo = match rustix::io::read(fd, &mut info) {
            Ok(n) if n >= 4 => u32::from_ne_bytes([info[0], info[1], info[2], info[3]]),
            _ => {
                // Spurious: poll again.
                self.arm_stop();
                return false;
            }
        };
        let name = if signo == libc::SIGINT as u32 {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        if self.draining.is_some() {
            eprintln!("iomux: second {name}, exiting without waiting for the drain");
            std::process::exit(0);
        }
        eprintln!("iomux: {name}, shutting down");
        for p in &self.peers {
            let _ = rustix::io::write(p, &1u64.to_ne_bytes());
        }
        // Hear a second signal.
        self.arm_stop();
        true
    }
}
