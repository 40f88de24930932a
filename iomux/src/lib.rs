//! iomux: one `Poller` API over epoll, poll, select and io_uring, with the
//! same semantics everywhere, and a reactor for TCP servers. Linux only.
//!
//! ```
//! use std::time::Duration;
//! use iomux::{Events, Interest, Mode, Poller, Token};
//!
//! let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
//! let poller = Poller::new()?;
//! poller.register(&a, Token(7), Interest::READABLE, Mode::Level)?;
//! std::io::Write::write_all(&mut b, b"hi")?;
//! let mut events = Events::with_capacity(64);
//! poller.wait(&mut events, Some(Duration::from_secs(1)))?;
//! assert_eq!(events.iter().next().map(|e| e.token()), Some(Token(7)));
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs)]

// epoll, eventfd, io_uring and the rest of the syscalls underneath are
// Linux's; there is no fallback for other systems.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "iomux supports Linux only: its backends are epoll, io_uring, and Linux's poll/select with eventfd"
);

mod backend;
mod deliver;
mod event;
mod eventfd;
mod forgotten;
mod interest;
mod poller;
mod registered;
mod table;
mod waker;

pub mod reactor;

pub use backend::Backend;
pub use event::{Event, Events, Token};
pub use interest::{Interest, Mode};
pub use poller::Poller;
pub use registered::Registered;
pub use waker::Waker;
