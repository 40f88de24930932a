//! Sockets, made and accepted one way for every server.
//!
//! - [`listen()`], [`listen_with`], [`bind_reuseport`]: listening TCP
//!   sockets with SO_REUSEADDR, close-on-exec, a large [`BACKLOG`], and
//!   SO_REUSEPORT or O_NONBLOCK as [`ListenOptions`] ask.
//! - [`Acceptor`]: bounded batches of non-blocking accepts that survive
//!   running out of file descriptors.
//! - [`SpareFd`]: the EMFILE trick itself (one fd kept open to give up and
//!   shed a waiting connection with), for servers that accept their own
//!   way (an async listener, an io_uring multishot accept);
//!   [`is_out_of_fds`] tells the errors that call for it.
//! - [`PeerAddr`]: who is at the other end, TCP or Unix.
//!
//! What it is not: no event loop and no futures; it is the blocking and
//! non-blocking socket calls the reactor, the runtime (`iomux::rt`'s
//! listeners) and the command's servers share. It imports neither the
//! reactor nor the runtime (`tests/module_layers.rs`).

mod acceptor;
mod listen;
mod peer;
mod spare;

pub use acceptor::Acceptor;
pub(crate) use acceptor::Stop;
pub use listen::{BACKLOG, ListenOptions, bind_reuseport, listen, listen_with};
pub use peer::PeerAddr;
pub use spare::{SpareFd, is_out_of_fds};
