//! The reactor: one event loop per thread on top of the [`Poller`](crate::Poller),
//! or of an io_uring ring ([`Driver::Completion`]).
//!
//! - [`EventLoop`]: wait → dispatch → expired timers → posted tasks.
//! - connections (internal): input/output buffers, edge budget,
//!   back-pressure, half-close, lingering close, MSG_NOSIGNAL.
//! - [`LoopGroup`]: N loops on N threads, one SO_REUSEPORT listener each,
//!   one listener shared with EPOLLEXCLUSIVE, or one listener whose loop
//!   hands connections out round-robin ([`Sharing`]).
//! - connections are served by a [`Handler`](crate::conn::Handler) each,
//!   with a [`Context`](crate::conn::Context) in its callbacks (to which
//!   the reactor adds timers, its handle and the loop itself); their
//!   buffers, phase and deadlines are a [`Session`](crate::conn::Session)
//!   each, within the [`Config::limits`].
//! - [`LoopHandle`]: other threads post work, send to connections (held to
//!   the high-water mark: [`Backpressure`]) and learn when a connection's
//!   output has drained ([`LoopHandle::when_drained`]).
//! - [`EventLoop::watch`]: any other fd in the loop, with a callback.
//! - the loop reads the clock once per turn for handlers
//!   ([`crate::time::now`]); its timers are a [`crate::time::TimerHeap`].
//!
//! Accepting (with the EMFILE trick) is [`crate::socket::Acceptor`];
//! listening sockets are made by [`crate::socket`]. What it is not: the
//! async runtime (`iomux::rt`), which it does not import, nor does the
//! runtime import it (`tests/module_layers.rs`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use iomux::conn::{Action, Handler};
//! use iomux::reactor::{Config, LoopGroup};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
//!         output.extend_from_slice(input);
//!         (input.len(), Action::Continue)
//!     }
//! }
//! let group = LoopGroup::bind("127.0.0.1:0".parse()?, 2, Config::default(), Arc::new(|| Box::new(Echo)))?;
//! println!("listening on {}", group.local_addr());
//! group.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod connection;
mod context;
mod driver;
mod event_loop;
mod group;
mod token;

pub use config::Config;
pub use driver::Driver;
pub use event_loop::{
    Backpressure, CompletionStats, EventLoop, LoopHandle, Stats, Task, TimerId, WatchId,
};
pub use group::{LoopGroup, Sharing};
