//! A non-blocking connect, finished: the socket is handed over only once
//! the kernel says the handshake is done (writable, SO_ERROR 0, a peer),
//! or failed (SO_ERROR's errno), on every driver.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::rt::readiness::{Registration, WRITE};

/// A socket whose connect is in progress, registered for the wait. Dropped
/// mid-handshake (a `timeout`, a `select!`), it deregisters, then closes
/// the socket: nothing stays behind in the driver or the kernel.
struct Connecting {
    reg: Registration,
    fd: Option<OwnedFd>,
}

impl Drop for Connecting {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.reg.deregister(fd.as_fd());
        }
    }
}

/// Waits until the connect started on `fd` (which said EINPROGRESS) has
/// ended, and gives the connected socket back.
pub(crate) async fn finish(fd: OwnedFd) -> io::Result<OwnedFd> {
    let reg = Registration::new(fd.as_fd())?;
    // A new registration counts as ready both ways (I/O is tried first);
    // a socket in SYN_SENT is not writable, and only an event may say so.
    reg.forget_readiness();
    let mut pending = Connecting { reg, fd: Some(fd) };
    loop {
        let seen = {
            let fd = pending.fd.as_ref().expect("present until finished");
            poll_fn(|cx| pending.reg.poll_ready(WRITE, fd.as_fd(), cx)).await?
        };
        let fd = pending.fd.as_ref().expect("present until finished");
        if let Err(e) = rustix::net::sockopt::socket_error(fd)? {
            return Err(e.into());
        }
        match rustix::net::getpeername(fd) {
            Ok(_) => break,
            // Writable, no error, no peer: an event that did not mean the
            // end of the handshake. Wait for the next one.
            Err(rustix::io::Errno::NOTCONN) => pending.reg.clear(WRITE, seen),
            Err(e) => return Err(e.into()),
        }
    }
    let fd = pending.fd.take().expect("present until finished");
    pending.reg.deregister(fd.as_fd());
    Ok(fd)
}
