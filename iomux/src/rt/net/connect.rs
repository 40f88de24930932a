//! A non-blocking connect, finished: the socket is handed over only once
//! the kernel says the handshake is done (writable, SO_ERROR 0, a peer),
//! or failed (SO_ERROR's errno), on every driver.
//!
//! Not for: name resolution (the callers take `ToSocketAddrs` or a
//! `SocketAddr`), retries or timeouts (wrap a connect in
//! [`timeout`](crate::rt::time::timeout)).

use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;

use super::registered::Registered;
use crate::rt::readiness::{FdKind, WRITE};

/// Waits until the connect started on `fd` (which said EINPROGRESS) has
/// ended, and gives the connected socket back. Dropped mid-handshake (a
/// `timeout`, a `select!`), the registration deregisters, then closes the
/// socket: nothing stays behind in the driver or the kernel.
pub(crate) async fn finish(fd: OwnedFd) -> io::Result<OwnedFd> {
    let pending = Registered::new(fd, FdKind::Other)?;
    // A new registration counts as ready both ways (I/O is tried first);
    // a socket in SYN_SENT is not writable, and only an event may say so.
    pending.reg().forget_readiness();
    loop {
        let seen = poll_fn(|cx| pending.reg().poll_ready(WRITE, pending.fd(), cx)).await?;
        let fd = pending.fd();
        if let Err(e) = rustix::net::sockopt::socket_error(fd)? {
            return Err(e.into());
        }
        match rustix::net::getpeername(fd) {
            Ok(_) => break,
            // Writable, no error, no peer: an event that did not mean the
            // end of the handshake. Wait for the next one.
            Err(rustix::io::Errno::NOTCONN) => pending.reg().clear(WRITE, seen),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(pending.into_fd())
}
