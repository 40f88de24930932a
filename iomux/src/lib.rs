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
//!
//! # Layers
//!
//! Bottom up, each importing only from below (`tests/module_layers.rs`):
//! the [`Poller`] and its backends, and the io_uring core ([`uring`]);
//! then what servers of every kind share: [`conn`] (the sans-IO
//! connection: handler, session, limits), [`socket`] (listening,
//! accepting, the EMFILE trick) and [`time`] (the timer heap, the per-turn
//! clock); on top, the [`reactor`] (callbacks on an event loop) and
//! [`rt`] (an async runtime), neither importing the other.
//!
//! # Fork
//!
//! A child forked from a process that holds a [`Poller`] or runs a reactor
//! may close every descriptor it inherited, and build pollers of its own:
//! neither disturbs the parent, whose events keep arriving (`tests/fork.rs`
//! shows both, on every backend). The child must not *use* what it
//! inherited, and epoll is where that bites, because the epoll instance is
//! one open file shared by parent and child:
//!
//! - A `deregister` (or `register`, `modify`) through the child's copy of
//!   the `Poller` changes the parent's interest set too. Dropping a
//!   [`Waker`] in the child deregisters it for the parent. (io_uring is
//!   worse: the rings are shared memory. A child should `_exit` or `exec`
//!   without dropping anything it inherited.)
//! - **The shared-file trap.** epoll keys an interest-set entry by the open
//!   file description, not by the fd number, and removes it only when the
//!   last descriptor for that file closes. A registered fd that the parent
//!   closes without deregistering, while the child still holds its copy
//!   (every fd is inherited across fork, close-on-exec or not), stays in
//!   the set and keeps delivering events under its old token, for a number
//!   the parent no longer has; and it can no longer be deregistered, since
//!   `epoll_ctl(EPOLL_CTL_DEL)` needs a descriptor for that file. Deregister
//!   before closing, or close the child's copies (or exec, with
//!   close-on-exec descriptors), and the trap does not arise.
//!
//! What it is not: portable (Linux only, by a `compile_error!`), a
//! replacement for tokio's reactor-bound crates (they need tokio's own
//! runtime; [`rt::from_tokio`] says what to use
//! instead), or a work-stealing runtime (each thread owns its loop and its
//! connections). ARCHITECTURE.md at the repository's root is the map.
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
mod name;
mod poller;
mod registered;
mod table;
mod waker;

// The shared layer: below the reactor and the runtime, above the Poller
// and the io_uring core (`tests/module_layers.rs` holds it so).
pub mod conn;
#[cfg(feature = "rt")]
mod slab;
pub mod socket;
pub mod time;

pub mod reactor;
#[cfg(feature = "rt")]
pub mod rt;
#[cfg(feature = "uring")]
pub mod uring;

pub use backend::Backend;
pub use event::{Event, Events, Token};
pub use interest::{Interest, Mode};
pub use name::ParseNameError;
pub use poller::Poller;
pub use registered::Registered;
pub use waker::Waker;
