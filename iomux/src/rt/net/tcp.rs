//! TCP: `TcpListener` and `TcpStream` on the runtime.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{Context, Poll};

use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};

use super::listener::ListenerIo;
use super::stream::StreamIo;
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
            TcpListener::from_std(crate::reactor::listen_with(
                a,
                crate::reactor::ListenOptions {
                    reuse_port: false,
                    nonblocking: true,
                },
            )?)
        })
    }

    /// Listens on `addr` with SO_REUSEPORT, so that the runtimes of a
    /// group (one per core) each accept their share of the connections.
    pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::from_std(crate::reactor::bind_reuseport(addr)?)
    }

    /// Takes a listening std socket into the current runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: ListenerIo::new(OwnedFd::from(listener))?,
        })
    }

    /// The next connection and its peer's address.
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, peer) = poll_fn(|cx| self.io.poll_accept(cx)).await?;
        let peer = match peer.map(SocketAddr::try_from) {
            Some(Ok(a)) => a,
            _ => rustix::net::getpeername(&fd)?
                .and_then(|a| SocketAddr::try_from(a).ok())
                .ok_or_else(|| io::Error::other("accepted a socket without an inet peer"))?,
        };
        Ok((TcpStream::from_fd(fd)?, peer))
    }

    /// The poll form of [`accept`](TcpListener::accept), without the peer.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        match self.io.poll_accept(cx) {
            Poll::Ready(Ok((fd, _))) => Poll::Ready(TcpStream::from_fd(fd)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
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
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_addr(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        }))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let family = match addr {
            SocketAddr::V4(_) => AddressFamily::INET,
            SocketAddr::V6(_) => AddressFamily::INET6,
        };
        let fd = rustix::net::socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => return TcpStream::from_fd(fd),
            Err(rustix::io::Errno::INPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
        TcpStream::from_fd(super::connect::finish(fd).await?)
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

    /// TCP_NODELAY: send small writes at once (no Nagle delay).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        Ok(sockopt::set_tcp_nodelay(self.io.fd(), nodelay)?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        local_addr(self.io.fd())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        rustix::net::getpeername(self.io.fd())?
            .and_then(|a| SocketAddr::try_from(a).ok())
            .ok_or_else(|| io::Error::other("the socket has no inet peer"))
    }
}

fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    SocketAddr::try_from(rustix::net::getsockname(fd)?)
        .map_err(|_| io::Error::other("the socket has no inet address"))
}

fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.fd()
    }
}
impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd().as_raw_fd()
    }
}
impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.fd()
    }
}
impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.io.fd().as_raw_fd())
            .finish()
    }
}
impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.io.fd().as_raw_fd())
            .finish()
    }
}
