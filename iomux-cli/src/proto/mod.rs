//! The protocols every model speaks, behind the reactor's
//! [`Handler`](iomux::conn::Handler) interface.
//!
//! How a model gets a handler for a new connection:
//!
//! ```ignore
//! let limits = Limits::default();            // or from ServeArgs::limits()
//! let handler: Box<dyn Handler> = proto::new_handler(Proto::Http, &limits);
//! // or, to make many (cheap to clone, Send + Sync):
//! let factory = proto::factory(Proto::Echo, limits);
//! let handler = factory();
//! ```
//!
//! Then feed it bytes: `handler.on_data(&input[..], &mut output)` returns how
//! much input it consumed and whether to close once `output` is sent;
//! `on_read_closed` on EOF; `deadline()` for the header / keep-alive timeout.

mod echo;
mod http;
mod limits;

use std::sync::Arc;

use clap::ValueEnum;
use iomux::conn::{Handler, HandlerFactory};

pub use echo::Echo;
pub use http::Http;
pub use limits::Limits;

/// Which protocol a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    /// Every byte back, in order.
    Echo,
    /// HTTP/1.1: GET /plaintext, POST /echo.
    Http,
}

/// A handler for one new connection.
pub fn new_handler(proto: Proto, limits: &Limits) -> Box<dyn Handler> {
    match proto {
        Proto::Echo => Box::new(Echo),
        Proto::Http => Box::new(Http::new(*limits)),
    }
}

/// A factory of handlers, shareable between threads.
pub fn factory(proto: Proto, limits: Limits) -> HandlerFactory {
    Arc::new(move || new_handler(proto, &limits))
}
