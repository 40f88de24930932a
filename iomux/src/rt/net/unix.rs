//! Unix stream sockets: `UnixListener` and `UnixStream` on the runtime.
//!
//! Not for: datagram Unix sockets or fd passing (SCM_RIGHTS).

use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::task::{Context, Poll};

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::listener::ListenerIo;
use super::options::{fd_impls, new_socket};
use super::split::{OwnedReadHalf, OwnedWriteHalf, split};
use super::stream::{IntoStdError, StreamIo};
use crate::rt::readiness::FdKind;

/// A Unix stream listening socket on the current runtime.
pub struct UnixListener {
    io: ListenerIo,
}

impl UnixListener {
    /// Listens on the socket file `path` (which must not exist).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Takes a listening std socket into the current runtime.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: ListenerIo::new(OwnedFd::from(listener))?,
        })
    }

    /// The next connection. It takes `&self`, as
    /// [`TcpListener::accept`](super::TcpListener::accept) does (one task
    /// at a time waits).
    pub async fn accept(&self) -> io::Result<UnixStream> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The poll form of [`accept`](UnixListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<UnixStream>> {
        self.io
            .poll_accept(cx)
            .map(|accepted| accepted.and_then(|(fd, _)| UnixStream::from_fd(fd)))
    }
}

/// A connected Unix stream socket on the current runtime (not `Send`, as
/// [`TcpStream`](super::TcpStream)).
pub struct UnixStream {
    pub(crate) io: StreamIo,
}

impl UnixStream {
    /// Connects to the socket file `path`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        let fd = new_socket(AddressFamily::UNIX, SocketType::STREAM)?;
        // A Unix connect completes at once or not at all: EAGAIN means the
        // listener's backlog is full, an error (`WouldBlock`) to report,
        // not a handshake in progress.
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => UnixStream::from_fd(fd),
            Err(rustix::io::Errno::INPROGRESS) => {
                UnixStream::from_fd(super::connect::finish(fd).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        Ok((UnixStream::from_fd(a)?, UnixStream::from_fd(b)?))
    }

    fn from_fd(fd: OwnedFd) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: StreamIo::new(fd, FdKind::Other)?,
        })
    }

    /// Takes a connected std socket into the current runtime.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_fd(OwnedFd::from(stream))
    }

    /// Takes the socket out of the runtime, as a std stream that is still
    /// non-blocking; on the completion driver, only when that loses no
    /// byte (see [`TcpStream::into_std`](super::TcpStream::into_std)).
    pub fn into_std(self) -> Result<std::os::unix::net::UnixStream, IntoStdError<UnixStream>> {
        match self.io.into_fd() {
            Ok(fd) => Ok(std::os::unix::net::UnixStream::from(fd)),
            Err((io, e)) => Err(IntoStdError::new(UnixStream { io }, e)),
        }
    }

    /// Splits the stream into a reading and a writing half, owned, for
    /// two tasks of the runtime (see
    /// [`TcpStream::into_split`](super::TcpStream::into_split)).
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        split(self)
    }
}

fd_impls!(UnixStream, s => s.io.fd());
fd_impls!(UnixListener, s => s.io.fd());
