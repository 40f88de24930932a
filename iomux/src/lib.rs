//! iomux: one `Poller` API over epoll, poll, select and io_uring, with the
//! same semantics everywhere, and a reactor for TCP servers.
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

mod backend;
mod deliver;
mod event;
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
