//! Which driver an event loop runs on: readiness through the
//! [`Poller`](crate::Poller), or completions through the io_uring core
//! ([`crate::uring`]). The same [`Handler`](crate::conn::Handler) API on
//! both.
//!
//! Not for: the mechanics of either (the loop's `event_loop/` files, and
//! `event_loop/completion/` for the ring).

use std::fmt;
use std::io;

use crate::uring::{Feature, Features};

/// What an [`EventLoop`](super::EventLoop) waits on, chosen with
/// [`Config::with_driver`](super::Config::with_driver).
///
/// - `Readiness` (the default): the loop's [`Poller`](crate::Poller) on
///   [`Config::backend`](super::Config::backend) says which socket is
///   ready, and the loop makes the `recv(2)` and `send(2)` itself, in
///   [`Config::mode`](super::Config::mode).
/// - `Completion`: an io_uring ring of the loop's own says what is done.
///   Each connection has one multishot recv into a provided-buffer ring,
///   its socket in the ring's fixed-file table where there is room; a
///   turn's sends reach the kernel in its one `io_uring_enter`; listeners
///   take a multishot accept (shedding with the spare fd when fds run
///   out); [`watch`](super::EventLoop::watch)es are POLL_ADD requests;
///   posted tasks wake the ring through an eventfd it polls. `backend` and
///   `mode` are not used (there is no readiness to trigger on), nor is
///   `accept_batch`. [`EventLoop::turn_with`](super::EventLoop::turn_with)'s
///   `before` is never called: there are no readiness events.
///
/// Where io_uring cannot be had (an old kernel, seccomp, the sysctl
/// `kernel.io_uring_disabled`) or lacks what the driver needs (multishot
/// accept and recv, provided-buffer rings), [`EventLoop::new`](super::EventLoop::new)
/// fails with the core's error, which names the missing feature and the
/// Linux release that has it; [`Driver::check`] asks beforehand. There is
/// no silent fallback: choose `Readiness` with
/// [`Backend::IoUring`](crate::Backend::IoUring) for readiness on a ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Driver {
    /// Readiness through the Poller.
    #[default]
    Readiness,
    /// Completions through an io_uring ring.
    Completion,
}

/// What the completion driver needs from the kernel.
pub(crate) const COMPLETION_NEEDS: [Feature; 3] = [
    Feature::MultishotAccept,
    Feature::MultishotRecv,
    Feature::PbufRing,
];

impl Driver {
    /// Whether this driver can run on this machine: `Ok` for readiness;
    /// for completions, the error [`EventLoop::new`](super::EventLoop::new)
    /// would give (io_uring unavailable, or a feature missing).
    pub fn check(self) -> io::Result<()> {
        match self {
            Driver::Readiness => Ok(()),
            Driver::Completion => {
                Features::probe()?.require(&COMPLETION_NEEDS, "the reactor's completion driver")
            }
        }
    }

    /// The driver's name: `readiness` or `completion`.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Readiness => "readiness",
            Driver::Completion => "completion",
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
