//! The reactor: one event loop per thread on top of the [`Poller`](crate::Poller).
//!
//! - [`EventLoop`]: wait → dispatch → expired timers → posted tasks.
//! - [`Acceptor`]: bounded accept batches, the EMFILE reserve-fd trick.
//! - connections (internal): input/output buffers, edge budget,
//!   back-pressure, half-close, lingering close, MSG_NOSIGNAL.
//! - [`LoopGroup`]: N loops on N threads, one SO_REUSEPORT listener each,
//!   one listener shared with EPOLLEXCLUSIVE, or one listener whose loop
//!   hands connections out round-robin ([`Sharing`]).
//! - [`Handler`]: the protocol, per connection: bytes in and bytes out,
//!   or callbacks with a [`Context`] (speak first, push to other
//!   connections, timers, why the connection closed).
//! - [`Session`]: a connection's buffers, phase and deadlines without the
//!   I/O, for servers of other I/O models.
//! - [`LoopHandle`]: other threads post work, send to connections (held to
//!   the high-water mark: [`Backpressure`]) and learn when a connection's
//!   output has drained ([`LoopHandle::when_drained`]).
//! - [`EventLoop::watch`]: any other fd in the loop, with a callback.
//! - [`clock`]: one clock reading per turn, for handlers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use iomux::reactor::{Action, Config, Handler, LoopGroup};
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

mod acceptor;
pub mod clock;
mod config;
mod connection;
mod context;
mod event_loop;
mod group;
mod handler;
mod listen;
mod peer;
pub mod session;
mod timer;

pub use acceptor::Acceptor;
pub use config::Config;
pub use context::Context;
pub use event_loop::{
    Backpressure, ConnId, EventLoop, HandlerFactory, LoopHandle, Stats, Task, TimerId, WatchId,
};
pub use group::{LoopGroup, Sharing};
pub use handler::{Action, CloseReason, Handler};
pub use listen::{BACKLOG, ListenOptions, bind_reuseport, listen, listen_with};
pub use peer::PeerAddr;
pub use session::Session;
