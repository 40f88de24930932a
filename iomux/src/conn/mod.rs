//! The sans-IO connection: what a server of any I/O model needs to serve
//! one connection, without the socket calls.
//!
//! - [`Handler`]: the protocol, per connection: bytes in and bytes out
//!   ([`Handler::on_data`]), or callbacks with a [`Context`] (speak first,
//!   push to other connections, timers, why the connection closed:
//!   [`CloseReason`]). [`Action`] says whether to go on after a reply;
//!   a [`HandlerFactory`] makes one handler per connection.
//! - [`Session`]: a connection's buffers, phase and deadlines (lingering
//!   close, back-pressure, send timeout), told what the socket did and
//!   saying what it should do next ([`Step`]).
//! - [`Limits`]: how much a connection may buffer, and for how long.
//! - [`ConnId`]: the name a driver gives a connection.
//!
//! What it is not: it makes no system call and owns no socket; the reactor
//! ([`crate::reactor`]) and the command's servers of other I/O models do
//! the I/O and drive a session. It sits below the reactor and the runtime
//! and imports neither (`tests/module_layers.rs`).

mod context;
mod handler;
mod id;
mod limits;
mod session;

pub use context::Context;
pub(crate) use context::Host;
pub use handler::{Action, CloseReason, Handler, HandlerFactory};
pub use id::ConnId;
pub use limits::Limits;
pub use session::{InputOverflow, Phase, Session, Step};
