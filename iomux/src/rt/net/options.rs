//! Socket options (rustix's `sockopt`) as methods, shared by the socket
//! types, and the helpers they use (addresses, the socket call, the fd
//! traits).
//!
//! Not for: the socket types themselves (`tcp.rs`, `unix.rs`, `udp.rs`).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// A setter and a getter of one socket option, each a rustix `sockopt`
/// call on `self.as_fd()`:
/// `set_name / name: Type => rustix_setter / rustix_getter`, each with
/// its doc.
macro_rules! sockopt_pair {
    (
        $(#[doc = $set_doc:literal])+ $set:ident /
        $(#[doc = $get_doc:literal])+ $get:ident : $t:ty => $rset:ident / $rget:ident
    ) => {
        $(#[doc = $set_doc])+
        pub fn $set(&self, value: $t) -> io::Result<()> {
            Ok(rustix::net::sockopt::$rset(self.as_fd(), value)?)
        }

        $(#[doc = $get_doc])+
        pub fn $get(&self) -> io::Result<$t> {
            Ok(rustix::net::sockopt::$rget(self.as_fd())?)
        }
    };
}

/// IP_TTL, SO_SNDBUF, SO_RCVBUF and SO_ERROR, for every inet socket type.
macro_rules! inet_options {
    ($ty:ty) => {
        impl $ty {
            $crate::rt::net::options::sockopt_pair! {
                /// Sets IP_TTL: the time-to-live of the IPv4 packets sent.
                set_ttl /
                /// IP_TTL: the time-to-live of the IPv4 packets sent.
                ttl: u32 => set_ip_ttl / ip_ttl
            }
            $crate::rt::net::options::sockopt_pair! {
                /// Sets SO_SNDBUF, the kernel's send buffer (which Linux
                /// doubles for its bookkeeping and caps at `wmem_max`).
                set_send_buffer_size /
                /// SO_SNDBUF: the kernel's send buffer, in bytes.
                send_buffer_size: usize => set_socket_send_buffer_size / socket_send_buffer_size
            }
            $crate::rt::net::options::sockopt_pair! {
                /// Sets SO_RCVBUF, the kernel's receive buffer (which Linux
                /// doubles for its bookkeeping and caps at `rmem_max`).
                set_recv_buffer_size /
                /// SO_RCVBUF: the kernel's receive buffer, in bytes.
                recv_buffer_size: usize => set_socket_recv_buffer_size / socket_recv_buffer_size
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
            $crate::rt::net::options::sockopt_pair! {
                /// Sets TCP_NODELAY: send small writes at once (no Nagle
                /// delay).
                set_nodelay /
                /// TCP_NODELAY.
                nodelay: bool => set_tcp_nodelay / tcp_nodelay
            }
            $crate::rt::net::options::sockopt_pair! {
                /// Sets SO_KEEPALIVE: probe an idle connection, and end it
                /// when the peer stops answering (timings below).
                set_keepalive /
                /// SO_KEEPALIVE.
                keepalive: bool => set_socket_keepalive / socket_keepalive
            }
            $crate::rt::net::options::sockopt_pair! {
                /// Sets TCP_KEEPIDLE: how long a connection is idle before
                /// the first keepalive probe (whole seconds, at least one).
                set_keepalive_idle /
                /// TCP_KEEPIDLE.
                keepalive_idle: std::time::Duration => set_tcp_keepidle / tcp_keepidle
            }
            $crate::rt::net::options::sockopt_pair! {
                /// Sets TCP_KEEPINTVL: the time between keepalive probes
                /// (whole seconds, at least one).
                set_keepalive_interval /
                /// TCP_KEEPINTVL.
                keepalive_interval: std::time::Duration => set_tcp_keepintvl / tcp_keepintvl
            }
            $crate::rt::net::options::sockopt_pair! {
                /// Sets TCP_KEEPCNT: the probes left unanswered before the
                /// connection is ended.
                set_keepalive_retries /
                /// TCP_KEEPCNT.
                keepalive_retries: u32 => set_tcp_keepcnt / tcp_keepcnt
            }
            $crate::rt::net::options::sockopt_pair! {
                /// Sets SO_LINGER: with `Some(t)`, close(2) waits up to `t`
                /// for unsent data to go (`Some(ZERO)`: close resets the
                /// connection at once); `None`, the default, closes in the
                /// background.
                set_linger /
                /// SO_LINGER.
                linger: Option<std::time::Duration> => set_socket_linger / socket_linger
            }
        }
    };
}

/// `AsFd`, `AsRawFd` and a `Debug` that shows the fd, for a socket type
/// whose fd `$s => $fd` borrows.
macro_rules! fd_impls {
    ($ty:ident, $s:ident => $fd:expr) => {
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                let $s = self;
                $fd
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(self))
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
                    .finish()
            }
        }
    };
}

pub(crate) use {fd_impls, inet_options, sockopt_pair, tcp_options};

/// A new socket of `family` and `kind`, non-blocking and close-on-exec.
pub(crate) fn new_socket(family: AddressFamily, kind: SocketType) -> io::Result<OwnedFd> {
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    Ok(rustix::net::socket_with(family, kind, flags, None)?)
}

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
