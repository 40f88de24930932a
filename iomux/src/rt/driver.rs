//! The I/O driver under an executor: readiness from a [`Poller`](crate::Poller) on any
//! backend, or io_uring completions (`uring` feature).
//!
//! Not for: tasks or timers (the executor's); the driver only waits for I/O
//! and wakes the tasks that wait on it.

use std::io;
use std::time::Instant;

use std::task::Waker;

use super::readiness::ReadinessDriver;
#[cfg(feature = "uring")]
use super::uring::UringDriver;

/// Which I/O driver a runtime uses.
///
/// Non-exhaustive: a driver may be added; a `match` needs a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriverKind {
    /// Readiness on a Poller backend (epoll, poll, select, or io_uring's
    /// POLL_ADD), then the read or write syscall, as tokio and async-io do.
    Readiness(crate::Backend),
    /// io_uring completions: reads, writes, accepts and connects are
    /// submitted to the ring with buffers the runtime owns while they are
    /// in flight (monoio's and glommio's model).
    Uring,
}

impl DriverKind {
    /// The command-line name: `epoll`, `poll`, `select`, `uring-poll`
    /// (readiness through io_uring's POLL_ADD) or `uring` (completions).
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Readiness(crate::Backend::Epoll) => "epoll",
            DriverKind::Readiness(crate::Backend::Poll) => "poll",
            DriverKind::Readiness(crate::Backend::Select) => "select",
            DriverKind::Readiness(crate::Backend::IoUring) => "uring-poll",
            DriverKind::Uring => "uring",
        }
    }

    /// Every driver: the four readiness backends and the completion driver.
    pub const ALL: [DriverKind; 5] = [
        DriverKind::Readiness(crate::Backend::Epoll),
        DriverKind::Readiness(crate::Backend::Poll),
        DriverKind::Readiness(crate::Backend::Select),
        DriverKind::Readiness(crate::Backend::IoUring),
        DriverKind::Uring,
    ];
}

impl std::fmt::Display for DriverKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses [`DriverKind::name`].
impl std::str::FromStr for DriverKind {
    type Err = crate::ParseNameError;
    fn from_str(s: &str) -> Result<DriverKind, crate::ParseNameError> {
        DriverKind::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                crate::ParseNameError::new(
                    "driver",
                    s,
                    &["epoll", "poll", "select", "uring-poll", "uring"],
                )
            })
    }
}

// One per runtime, reached through a RefCell and never moved on a hot
// path: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Readiness(ReadinessDriver),
    #[cfg(feature = "uring")]
    Uring(UringDriver),
}

/// Wakes a runtime's thread out of its driver's wait, from any thread.
pub(crate) enum Unpark {
    Waker(crate::Waker),
    #[cfg(feature = "uring")]
    EventFd(std::sync::Arc<std::os::fd::OwnedFd>),
}

impl Unpark {
    pub(crate) fn unpark(&self) -> io::Result<()> {
        match self {
            Unpark::Waker(w) => w.wake(),
            #[cfg(feature = "uring")]
            Unpark::EventFd(fd) => crate::eventfd::signal(std::os::fd::AsFd::as_fd(&**fd)),
        }
    }
}

impl Driver {
    pub(crate) fn new(kind: DriverKind) -> io::Result<(Driver, Unpark)> {
        match kind {
            DriverKind::Readiness(backend) => {
                let (d, u) = ReadinessDriver::new(backend)?;
                Ok((Driver::Readiness(d), u))
            }
            #[cfg(feature = "uring")]
            DriverKind::Uring => {
                let (d, u) = UringDriver::new()?;
                Ok((Driver::Uring(d), u))
            }
            #[cfg(not(feature = "uring"))]
            DriverKind::Uring => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "iomux was built without the `uring` feature",
            )),
        }
    }

    pub(crate) fn kind(&self) -> DriverKind {
        match self {
            Driver::Readiness(d) => DriverKind::Readiness(d.backend()),
            #[cfg(feature = "uring")]
            Driver::Uring(_) => DriverKind::Uring,
        }
    }

    /// Waits for I/O until `deadline` (`None`: until something happens),
    /// and collects the wakers of what became ready or complete.
    pub(crate) fn park(
        &mut self,
        deadline: Option<Instant>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        match self {
            Driver::Readiness(d) => d.park(deadline, wakers),
            #[cfg(feature = "uring")]
            Driver::Uring(d) => d.park(deadline, wakers),
        }
    }
}
