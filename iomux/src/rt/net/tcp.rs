//! TCP: `TcpListener`, `TcpStream` and the `TcpSocket` builder on the
//! runtime.
//!
//! Not for: the I/O itself (`stream.rs`, `listener.rs`) or socket options
//! shared with Unix sockets (`options.rs`).

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::task::{Context, Poll};

use rustix::net::{AddressFamily, SocketType, sockopt};

use super::listener::ListenerIo;
use super::options::{
    each_addr, fd_impls, inet_options, local_addr, new_socket, peer_addr, tcp_options,
};
use super::split::{OwnedReadHalf, OwnedWriteHalf, split};
use super::stream::{IntoStdError, StreamIo};
use crate::rt::readiness::FdKind;

/// A TCP listening socket on the current runtime.
pub struct TcpListener {
    io: ListenerIo,
}

impl TcpListener {
    /// Listens on `addr` (SO_REUSEADDR, a large backlog; the first address
    /// that works, when `addr` names several).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            TcpListener::from_std(crate::socket::listen_with(
                a,
                crate::socket::ListenOptions {
                    reuse_port: false,
                    nonblocking: true,
                },
            )?)
        })
    }

    /// Listens on `addr` with SO_REUSEPORT, so that the runtimes of a
    /// group (one per core) each accept their share of the connections.
    pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::from_std(crate::socket::bind_reuseport(addr)?)
    }

    /// Takes a listening std socket into the current runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: ListenerIo::new(OwnedFd::from(listener))?,
        })
    }

    /// The next connection and its peer's address. It takes `&self`, so
    /// that a listener may be shared (an `Rc`) or polled beside other
    /// work; still, one task at a time waits for a connection: a second
    /// task waiting on the same listener takes the wakeup from the first.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, peer) = poll_fn(|cx| self.io.poll_accept(cx)).await?;
        let peer = match peer.map(SocketAddr::try_from) {
            Some(Ok(a)) => a,
            _ => peer_addr(fd.as_fd())?,
        };
        Ok((TcpStream::from_fd(fd)?, peer))
    }

    /// The poll form of [`accept`](TcpListener::accept), without the peer.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        self.io
            .poll_accept(cx)
            .map(|accepted| accepted.and_then(|(fd, _)| TcpStream::from_fd(fd)))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        local_addr(self.io.fd())
    }
}

/// A connected TCP socket on the current runtime. Like the runtime's other
/// I/O objects it is not `Send`: it belongs to the runtime (the thread) it
/// was made on, as in monoio and glommio.
pub struct TcpStream {
    pub(crate) io: StreamIo,
}

impl TcpStream {
    /// Connects to `addr` (each address in turn when it names several).
    ///
    /// A name (`"localhost:80"`) is resolved on the blocking pool
    /// ([`spawn_blocking`](crate::rt::spawn_blocking): `getaddrinfo`
    /// blocks), never on the runtime's thread; a socket address or an IP
    /// literal is used as it is. Hence `'static`: pass an owned `String`
    /// rather than a borrowed `&str`.
    pub async fn connect(addr: impl ToSocketAddrs + Send + 'static) -> io::Result<TcpStream> {
        let mut last = None;
        for a in crate::rt::blocking::resolve(addr).await? {
            match TcpSocket::for_addr(a)?.connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        }))
    }

    fn from_fd(fd: OwnedFd) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: StreamIo::new(fd, FdKind::Tcp)?,
        })
    }

    /// Takes a connected std socket into the current runtime (it is made
    /// non-blocking).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_fd(OwnedFd::from(stream))
    }

    /// Takes the socket out of the runtime, as a std stream that is still
    /// non-blocking (`set_nonblocking(false)` for blocking I/O). On the
    /// readiness drivers it only deregisters. On the completion driver no
    /// request may be in flight on the socket once it is out: a receive
    /// in flight (the read-ahead) is cancelled, and its end waited for on
    /// this thread; bytes already received into the runtime's buffer and
    /// not yet read, or written and not yet sent, cannot go with it, and
    /// the stream comes back in the error, which says which (read them,
    /// or [`flush`](TcpStream::flush), then try again).
    pub fn into_std(self) -> Result<std::net::TcpStream, IntoStdError<TcpStream>> {
        match self.io.into_fd() {
            Ok(fd) => Ok(std::net::TcpStream::from(fd)),
            Err((io, e)) => Err(IntoStdError::new(TcpStream { io }, e)),
        }
    }

    /// Splits the stream into a reading and a writing half, owned, for
    /// two tasks of the runtime (one reads while the other writes);
    /// [`reunite`](OwnedReadHalf::reunite) puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        split(self)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        local_addr(self.io.fd())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        peer_addr(self.io.fd())
    }
}

inet_options!(TcpStream);
tcp_options!(TcpStream);
inet_options!(TcpListener);

/// A TCP socket not yet connected nor listening, to set up first: options
/// (SO_REUSEADDR, SO_REUSEPORT, buffer sizes, keepalive, ...), a bind
/// before a connect (a chosen local address or port), then
/// [`connect`](TcpSocket::connect) or [`listen`](TcpSocket::listen).
/// It is non-blocking and close-on-exec; it needs a runtime only to
/// connect or listen.
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// A new IPv4 socket.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(AddressFamily::INET)
    }

    /// A new IPv6 socket.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(AddressFamily::INET6)
    }

    /// A new socket of `addr`'s family.
    pub fn for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
    }

    fn new(family: AddressFamily) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: new_socket(family, SocketType::STREAM)?,
        })
    }

    /// Sets SO_REUSEADDR: bind to an address whose earlier connections
    /// are still in TIME_WAIT.
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        Ok(sockopt::set_socket_reuseaddr(&self.fd, reuse)?)
    }

    /// SO_REUSEADDR.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        Ok(sockopt::socket_reuseaddr(&self.fd)?)
    }

    /// Sets SO_REUSEPORT: several sockets (each with the option) may bind
    /// the same address and port; the kernel spreads the connections.
    pub fn set_reuseport(&self, reuse: bool) -> io::Result<()> {
        Ok(sockopt::set_socket_reuseport(&self.fd, reuse)?)
    }

    /// SO_REUSEPORT.
    pub fn reuseport(&self) -> io::Result<bool> {
        Ok(sockopt::socket_reuseport(&self.fd)?)
    }

    /// Binds the socket to `addr` (port 0: the kernel picks one).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        Ok(rustix::net::bind(&self.fd, &addr)?)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        local_addr(self.fd.as_fd())
    }

    /// Connects to `addr`, and returns once the handshake is done (see
    /// [`TcpStream::connect`]); the stream joins the current runtime.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        match rustix::net::connect(&self.fd, &addr) {
            Ok(()) => TcpStream::from_fd(self.fd),
            Err(rustix::io::Errno::INPROGRESS) => {
                TcpStream::from_fd(super::connect::finish(self.fd).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Listens, with room for `backlog` connections not yet accepted; the
    /// listener joins the current runtime.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        rustix::net::listen(&self.fd, backlog)?;
        Ok(TcpListener {
            io: ListenerIo::new(self.fd)?,
        })
    }
}

inet_options!(TcpSocket);
tcp_options!(TcpSocket);

fd_impls!(TcpSocket, s => s.fd.as_fd());
fd_impls!(TcpStream, s => s.io.fd());
fd_impls!(TcpListener, s => s.io.fd());
