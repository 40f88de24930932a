//! Sockets on the runtime: TCP and Unix stream listeners and streams, with
//! the futures-io traits (and tokio's, feature `tokio-io`).

mod connect;
mod io_impls;
mod listener;
pub(crate) mod stream;
mod tcp;
mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use unix::{UnixListener, UnixStream};
