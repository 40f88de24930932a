//! Sockets on the runtime: TCP and Unix stream listeners and streams, with
//! the futures-io traits (and tokio's, feature `tokio-io`), their owned
//! halves, the `TcpSocket` builder, and UDP.
//!
//! What it is not: a DNS resolver, TLS (rustls through the `tokio-io`
//! traits, in the examples), or sockets that move between runtimes (they
//! are not `Send`).

mod connect;
mod io_impls;
mod listener;
mod options;
mod registered;
mod split;
pub(crate) mod stream;
mod tcp;
pub(crate) mod udp;
mod unix;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReuniteError};
pub use stream::IntoStdError;
pub use tcp::{TcpListener, TcpSocket, TcpStream};
pub use udp::{DatagramTruncated, UdpSocket};
pub use unix::{UnixListener, UnixStream};
