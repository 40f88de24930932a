//! Listening TCP sockets, made one way for every server: SO_REUSEADDR
//! (a restart need not wait out TIME_WAIT), close-on-exec, and a large
//! backlog, so that a burst of connects is queued rather than dropped.
//!
//! Not for: accepting (`acceptor.rs`) or Unix-domain listeners (std's
//! `UnixListener` serves).

use std::io;
use std::net::{SocketAddr, TcpListener};

use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};

/// The listen backlog asked for; the kernel caps it at
/// `net.core.somaxconn`.
pub const BACKLOG: i32 = 65_535;

/// How a listening socket is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenOptions {
    /// SO_REUSEPORT: several sockets (of this user) share the address and
    /// the kernel spreads new connections over them.
    pub reuse_port: bool,
    /// O_NONBLOCK on the listening socket.
    pub nonblocking: bool,
}

/// Builder-style setters: `ListenOptions` is `#[non_exhaustive]` (it will
/// grow), so outside the crate it is made from [`Default`] and these.
impl ListenOptions {
    /// This with [`reuse_port`](Self::reuse_port) set.
    #[must_use]
    pub fn with_reuse_port(mut self, reuse_port: bool) -> Self {
        self.reuse_port = reuse_port;
        self
    }

    /// This with [`nonblocking`](Self::nonblocking) set.
    #[must_use]
    pub fn with_nonblocking(mut self, nonblocking: bool) -> Self {
        self.nonblocking = nonblocking;
        self
    }
}

/// A listening TCP socket on `addr` (blocking, SO_REUSEADDR, backlog
/// [`BACKLOG`]).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    listen_with(addr, ListenOptions::default())
}

/// A listening TCP socket on `addr`, made as `opts` says.
pub fn listen_with(addr: SocketAddr, opts: ListenOptions) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let mut flags = SocketFlags::CLOEXEC;
    if opts.nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    let fd = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    if opts.reuse_port {
        sockopt::set_socket_reuseport(&fd, true)?;
    }
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, BACKLOG)?;
    Ok(TcpListener::from(fd))
}

/// A non-blocking listening socket with SO_REUSEPORT, so that several can
/// share `addr` (one per event loop or ring).
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    listen_with(
        addr,
        ListenOptions {
            reuse_port: true,
            nonblocking: true,
        },
    )
}
