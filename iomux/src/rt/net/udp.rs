//! UDP: `UdpSocket` on the runtime, by readiness on every driver.
//!
//! Not for: the completion driver's receive path (`rt/uring/udp.rs`), which
//! this hands over to.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use rustix::net::{RecvAncillaryBuffer, RecvFlags, ReturnFlags, SendFlags, sockopt};

use super::options::{each_addr, fd_impls, inet_options, local_addr, peer_addr, sockopt_pair};
use super::registered::Registered;
use super::stream::send_now;
use crate::rt::executor::coop;
use crate::rt::readiness::{FdKind, READ, WRITE};

/// A UDP socket on the current runtime (not `Send`, like the runtime's
/// other I/O objects). Every method takes `&self`; one task at a time
/// waits in each direction (a second task receiving on the same socket
/// takes the wakeup from the first).
///
/// **Truncation is reported, not silent.** A datagram larger than the
/// buffer given to [`recv`](UdpSocket::recv) or
/// [`recv_from`](UdpSocket::recv_from) fails the call with an error of
/// kind [`InvalidData`](io::ErrorKind::InvalidData) whose inner error is a
/// [`DatagramTruncated`] naming the datagram's real size (the buffer holds
/// its first bytes; the rest is gone, as the kernel discards it). std's and
/// tokio's `recv_from` return the buffer's length instead, and the cut
/// goes unnoticed.
///
/// On a readiness driver a receive waits by readiness and then calls
/// recvmsg(2), one syscall per datagram. On the io_uring completion driver
/// the socket has one multishot recvmsg into the runtime's datagram
/// buffers: no request per datagram, and datagrams that arrive before a
/// receive is asked for wait in the runtime (at most 16 per socket; the
/// kernel's socket buffer holds the rest). Sends are one syscall each on
/// every driver.
pub struct UdpSocket {
    /// The completion driver's receive side (dropped before `io`, whose fd
    /// it receives on).
    #[cfg(feature = "uring")]
    rx: Option<crate::rt::uring::UringUdp>,
    io: Registered,
}

impl UdpSocket {
    /// Binds a socket to `addr` (the first address that works, when it
    /// names several; port 0: the kernel picks one).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |a| UdpSocket::from_std(std::net::UdpSocket::bind(a)?))
    }

    /// Takes a std socket into the current runtime (it is made
    /// non-blocking).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        let io = Registered::new(OwnedFd::from(socket), FdKind::Other)?;
        #[cfg(feature = "uring")]
        let rx = match crate::rt::executor::Core::current() {
            Some(core) if core.driver.borrow().kind() == crate::rt::DriverKind::Uring => {
                use std::os::fd::AsRawFd;
                // Without the datagram ring (no memory for it, say), the
                // socket receives by readiness, as on the other drivers.
                crate::rt::uring::UringUdp::new(core, io.fd().as_raw_fd())
                    .inspect_err(|e| {
                        log::debug!("iomux::rt: UDP receives by readiness: {e}");
                    })
                    .ok()
            }
            _ => None,
        };
        Ok(UdpSocket {
            #[cfg(feature = "uring")]
            rx,
            io,
        })
    }

    /// Takes the socket out of the runtime, as a std socket that is still
    /// non-blocking. No request refers to it any more (a POLL_ADD on the
    /// completion driver is cancelled).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        #[cfg(feature = "uring")]
        if let Some(rx) = &self.rx {
            rx.release()?;
        }
        Ok(std::net::UdpSocket::from(self.io.into_fd()))
    }

    /// Connects the socket to `addr` (the first address that works):
    /// [`send`](UdpSocket::send) goes there, and only its datagrams are
    /// received. No packet is sent: it does not wait.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| Ok(rustix::net::connect(self.io.fd(), &a)?))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        local_addr(self.io.fd())
    }

    /// The address the socket is connected to.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        peer_addr(self.io.fd())
    }

    /// Sends `buf` as one datagram to the connected peer; the count sent
    /// comes back.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// The poll form of [`send`](UdpSocket::send).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        coop(cx, |cx| {
            self.io.poll_io(WRITE, cx, send_now(buf)).map_ok(|(n, _)| n)
        })
    }

    /// Sends `buf` as one datagram to `target` (its first address: a host
    /// name is resolved on this thread, blocking, as std does).
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = first_addr(target)?;
        poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// The poll form of [`send_to`](UdpSocket::send_to).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        coop(cx, |cx| {
            self.io
                .poll_io(WRITE, cx, send_to_now(buf, target))
                .map_ok(|(n, _)| n)
        })
    }

    /// Receives one datagram from the connected peer into `buf`. A
    /// datagram larger than `buf` is an error ([`DatagramTruncated`]).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// The poll form of [`recv`](UdpSocket::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_recv_from(cx, buf).map_ok(|(n, _)| n)
    }

    /// Receives one datagram into `buf`, with its sender's address. A
    /// datagram larger than `buf` is an error ([`DatagramTruncated`]).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// The poll form of [`recv_from`](UdpSocket::recv_from).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        coop(cx, |cx| {
            #[cfg(feature = "uring")]
            if let Some(rx) = &self.rx {
                return rx.poll_recv_from(Some(cx), buf);
            }
            self.io
                .poll_io(READ, cx, |fd| recv_whole(fd, buf))
                .map_ok(|(got, _)| got)
        })
    }

    /// Waits until a receive may not wait (a datagram, or an error).
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| {
            #[cfg(feature = "uring")]
            if let Some(rx) = &self.rx {
                return rx.poll_readable(cx);
            }
            self.io
                .reg()
                .poll_ready(READ, self.io.fd(), cx)
                .map_ok(|_| ())
        })
        .await
    }

    /// Waits until a send may not wait.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| {
            self.io
                .reg()
                .poll_ready(WRITE, self.io.fd(), cx)
                .map_ok(|_| ())
        })
        .await
    }

    /// Sends to the connected peer without waiting: `Err(WouldBlock)`
    /// when the socket cannot take the datagram now.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(WRITE, send_now(buf))
    }

    /// Sends to `target` without waiting (see [`try_send`](UdpSocket::try_send)).
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.try_io(WRITE, send_to_now(buf, target))
    }

    /// Receives from the connected peer without waiting: `Err(WouldBlock)`
    /// when no datagram is there. Truncation as in [`recv`](UdpSocket::recv).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_recv_from(buf).map(|(n, _)| n)
    }

    /// Receives without waiting, with the sender's address (see
    /// [`try_recv`](UdpSocket::try_recv)).
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        #[cfg(feature = "uring")]
        if let Some(rx) = &self.rx {
            return match rx.poll_recv_from(None, buf) {
                Poll::Ready(r) => r,
                Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            };
        }
        self.io.try_io(READ, |fd| recv_whole(fd, buf))
    }

    sockopt_pair! {
        /// Sets SO_BROADCAST: may send to a broadcast address.
        set_broadcast /
        /// SO_BROADCAST.
        broadcast: bool => set_socket_broadcast / socket_broadcast
    }
    sockopt_pair! {
        /// Sets IP_MULTICAST_LOOP: IPv4 multicast sent loops back to this host.
        set_multicast_loop_v4 /
        /// IP_MULTICAST_LOOP.
        multicast_loop_v4: bool => set_ip_multicast_loop / ip_multicast_loop
    }
    sockopt_pair! {
        /// Sets IP_MULTICAST_TTL: the time-to-live of IPv4 multicast sent.
        set_multicast_ttl_v4 /
        /// IP_MULTICAST_TTL.
        multicast_ttl_v4: u32 => set_ip_multicast_ttl / ip_multicast_ttl
    }
    sockopt_pair! {
        /// Sets IPV6_MULTICAST_LOOP: IPv6 multicast sent loops back to this host.
        set_multicast_loop_v6 /
        /// IPV6_MULTICAST_LOOP.
        multicast_loop_v6: bool => set_ipv6_multicast_loop / ipv6_multicast_loop
    }

    /// Joins the IPv4 multicast group `group` on the interface whose
    /// address is `interface` (`UNSPECIFIED`: the kernel's choice).
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        Ok(sockopt::set_ip_add_membership(
            self.io.fd(),
            &group,
            &interface,
        )?)
    }

    /// Leaves the IPv4 multicast group `group` on `interface`.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        Ok(sockopt::set_ip_drop_membership(
            self.io.fd(),
            &group,
            &interface,
        )?)
    }

    /// Joins the IPv6 multicast group `group` on the interface of index
    /// `interface` (0: the kernel's choice).
    pub fn join_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        Ok(sockopt::set_ipv6_add_membership(
            self.io.fd(),
            &group,
            interface,
        )?)
    }

    /// Leaves the IPv6 multicast group `group` on `interface`.
    pub fn leave_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        Ok(sockopt::set_ipv6_drop_membership(
            self.io.fd(),
            &group,
            interface,
        )?)
    }
}

inet_options!(UdpSocket);

fn first_addr(target: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    target
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to send to"))
}

/// One non-blocking sendto(2) of `buf` to `target`.
fn send_to_now(
    buf: &[u8],
    target: SocketAddr,
) -> impl FnMut(BorrowedFd<'_>) -> io::Result<usize> + '_ {
    move |fd| Ok(rustix::net::sendto(fd, buf, SendFlags::empty(), &target)?)
}

/// One recvmsg(2) of a whole datagram into `buf`: MSG_TRUNC asks the
/// kernel for the datagram's real length, and a datagram cut to fit is an
/// error that says so.
fn recv_whole(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    let kept = buf.len();
    let mut iov = [IoSliceMut::new(buf)];
    let msg = rustix::net::recvmsg(
        fd,
        &mut iov,
        &mut RecvAncillaryBuffer::default(),
        RecvFlags::TRUNC,
    )?;
    let from = msg.address.and_then(|a| SocketAddr::try_from(a).ok());
    if msg.flags.contains(ReturnFlags::TRUNC) || msg.bytes > kept {
        return Err(truncated(msg.bytes, kept, from));
    }
    let from = from.ok_or_else(|| io::Error::other("a datagram without an inet sender"))?;
    Ok((msg.bytes, from))
}

/// The error of a receive whose datagram of `size` bytes kept only `kept`.
pub(crate) fn truncated(size: usize, kept: usize, from: Option<SocketAddr>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        DatagramTruncated { size, kept, from },
    )
}

/// The inner error of a UDP receive whose datagram was larger than the
/// buffer (kind [`InvalidData`](io::ErrorKind::InvalidData)): the buffer
/// holds the datagram's first [`kept`](DatagramTruncated::kept) bytes,
/// the rest is lost. Reach it with
/// `err.get_ref().and_then(|e| e.downcast_ref::<DatagramTruncated>())`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramTruncated {
    size: usize,
    kept: usize,
    from: Option<SocketAddr>,
}

impl DatagramTruncated {
    /// The datagram's real size, in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many of its bytes the buffer holds (the buffer's length).
    pub fn kept(&self) -> usize {
        self.kept
    }

    /// Its sender.
    pub fn from(&self) -> Option<SocketAddr> {
        self.from
    }
}

impl fmt::Display for DatagramTruncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a datagram of {} bytes was truncated to the {}-byte buffer (the rest is lost)",
            self.size, self.kept
        )
    }
}

impl std::error::Error for DatagramTruncated {}

fd_impls!(UdpSocket, s => s.io.fd());
