//! Socket options (rustix's `sockopt`) as methods, shared by the socket
//! types, and the address helpers they use.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::BorrowedFd;

/// IP_TTL, SO_SNDBUF, SO_RCVBUF and SO_ERROR, for every inet socket type.
macro_rules! inet_options {
    ($ty:ty) => {
        impl $ty {
            /// Sets IP_TTL: the time-to-live of the IPv4 packets sent.
            pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_ip_ttl(self.as_fd(), ttl)?)
            }

            /// IP_TTL: the time-to-live of the IPv4 packets sent.
            pub fn ttl(&self) -> io::Result<u32> {
                Ok(rustix::net::sockopt::ip_ttl(self.as_fd())?)
            }

            /// Sets SO_SNDBUF, the kernel's send buffer (which Linux
            /// doubles for its bookkeeping and caps at `wmem_max`).
            pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_socket_send_buffer_size(
                    self.as_fd(),
                    size,
                )?)
            }

            /// SO_SNDBUF: the kernel's send buffer, in bytes.
            pub fn send_buffer_size(&self) -> io::Result<usize> {
                Ok(rustix::net::sockopt::socket_send_buffer_size(self.as_fd())?)
            }

            /// Sets SO_RCVBUF, the kernel's receive buffer (which Linux
            /// doubles for its bookkeeping and caps at `rmem_max`).
            pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_socket_recv_buffer_size(
                    self.as_fd(),
                    size,
                )?)
            }

            /// SO_RCVBUF: the kernel's receive buffer, in bytes.
            pub fn recv_buffer_size(&self) -> io::Result<usize> {
                Ok(rustix::net::sockopt::socket_recv_buffer_size(self.as_fd())?)
            }

            /// Takes the socket's pending error (SO_ERROR), if any.
            pub fn take_error(&self) -> io::Result<Option<io::Error>> {
                Ok(rustix::net::sockopt::socket_error(self.as_fd())?
                    .err()
                    .map(io::Error::from))
            }
        }
    };
}

/// TCP_NODELAY, keepalive and its timings, SO_LINGER.
macro_rules! tcp_options {
    ($ty:ty) => {
        impl $ty {
            /// Sets TCP_NODELAY: send small writes at once (no Nagle
            /// delay).
            pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_tcp_nodelay(
                    self.as_fd(),
                    nodelay,
                )?)
            }

            /// TCP_NODELAY.
            pub fn nodelay(&self) -> io::Result<bool> {
                Ok(rustix::net::sockopt::tcp_nodelay(self.as_fd())?)
            }

            /// Sets SO_KEEPALIVE: probe an idle connection, and end it
            /// when the peer stops answering (timings below).
            pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_socket_keepalive(
                    self.as_fd(),
                    keepalive,
                )?)
            }

            /// SO_KEEPALIVE.
            pub fn keepalive(&self) -> io::Result<bool> {
                Ok(rustix::net::sockopt::socket_keepalive(self.as_fd())?)
            }

            /// Sets TCP_KEEPIDLE: how long a connection is idle before
            /// the first keepalive probe (whole seconds, at least one).
            pub fn set_keepalive_idle(&self, idle: std::time::Duration) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_tcp_keepidle(self.as_fd(), idle)?)
            }

            /// TCP_KEEPIDLE.
            pub fn keepalive_idle(&self) -> io::Result<std::time::Duration> {
                Ok(rustix::net::sockopt::tcp_keepidle(self.as_fd())?)
            }

            /// Sets TCP_KEEPINTVL: the time between keepalive probes
            /// (whole seconds, at least one).
            pub fn set_keepalive_interval(&self, interval: std::time::Duration) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_tcp_keepintvl(
                    self.as_fd(),
                    interval,
                )?)
            }

            /// TCP_KEEPINTVL.
            pub fn keepalive_interval(&self) -> io::Result<std::time::Duration> {
                Ok(rustix::net::sockopt::tcp_keepintvl(self.as_fd())?)
            }

            /// Sets TCP_KEEPCNT: the probes left unanswered before the
            /// connection is ended.
            pub fn set_keepalive_retries(&self, retries: u32) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_tcp_keepcnt(
                    self.as_fd(),
                    retries,
                )?)
            }

            /// TCP_KEEPCNT.
            pub fn keepalive_retries(&self) -> io::Result<u32> {
                Ok(rustix::net::sockopt::tcp_keepcnt(self.as_fd())?)
            }

            /// Sets SO_LINGER: with `Some(t)`, close(2) waits up to `t`
            /// for unsent data to go (`Some(ZERO)`: close resets the
            /// connection at once); `None`, the default, closes in the
            /// background.
            pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
                Ok(rustix::net::sockopt::set_socket_linger(
                    self.as_fd(),
                    linger,
                )?)
            }

            /// SO_LINGER.
            pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
                Ok(rustix::net::sockopt::socket_linger(self.as_fd())?)
            }
        }
    };
}

pub(crate) use {inet_options, tcp_options};

/// The inet address `fd` is bound to.
pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    SocketAddr::try_from(rustix::net::getsockname(fd)?)
        .map_err(|_| io::Error::other("the socket has no inet address"))
}

/// The inet address of `fd`'s peer.
pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    rustix::net::getpeername(fd)?
        .and_then(|a| SocketAddr::try_from(a).ok())
        .ok_or_else(|| io::Error::other("the socket has no inet peer"))
}

/// `f` on each address of `addr` in turn, until one works; the last error
/// when none does.
pub(crate) fn each_addr<T>(
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
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address given")))
}
