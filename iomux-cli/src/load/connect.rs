//! Non-blocking connect: the socket comes back at once, and the Poller says
//! when the handshake is done (writable, then SO_ERROR tells how it went).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;

use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// Loopback source addresses the connections are spread over: 127.0.0.1
/// onwards. Each (source, server address) pair has ~28,000 ephemeral
/// ports; 256 sources leave a million connections to one server port at
/// ~4,000 a source, where a port is found at once.
const SOURCES: u32 = 256;

/// Starts connection number `i` to `addr`.
///
/// To a 127.x address, connections leave from 127.0.0.1 … 127.0.1.0 in
/// turn. From one source to one server, Linux has ~28,000 ephemeral ports
/// and tries the even half first: past ~14,000 connections every connect
/// scans thousands of taken ports, and 19,000 connections take tens of
/// seconds. Spread over 256 sources, each port is free again for each source.
/// The port itself is still chosen at connect (IP_BIND_ADDRESS_NO_PORT).
pub fn start(addr: SocketAddr, i: usize) -> io::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let fd = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    if let IpAddr::V4(ip) = addr.ip()
        && ip.is_loopback()
    {
        let one: libc::c_int = 1;
        // SAFETY: a valid socket fd, and a pointer to an int of the stated size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            let source = Ipv4Addr::from(
                u32::from(Ipv4Addr::new(127, 0, 0, 1)) + (i % SOURCES as usize) as u32,
            );
            rustix::net::bind(&fd, &SocketAddr::new(source.into(), 0))?;
        }
    }
    match rustix::net::connect(&fd, &addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// Closes with a reset rather than a FIN: the load generator closes first,
/// and 19,000 sockets left in TIME_WAIT for a minute after every run would
/// crowd the ports of the next runs.
pub fn abort(sock: &TcpStream) {
    let _ = rustix::net::sockopt::set_socket_linger(sock, Some(std::time::Duration::ZERO));
}
