//! A listening socket's accepts on either driver.
//!
//! Not for: making the listening socket (`crate::socket` and `tcp.rs`,
//! `unix.rs`) or its EMFILE shedding, which is `crate::socket::SpareFd`'s.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use rustix::net::{SocketAddrAny, SocketFlags};

use super::registered::Registered;
#[cfg(feature = "uring")]
use crate::rt::driver::Driver;
#[cfg(feature = "uring")]
use crate::rt::executor::Core;
use crate::rt::readiness::{FdKind, READ};
#[cfg(feature = "uring")]
use crate::rt::uring::UringListener;

pub(crate) enum ListenerIo {
    Ready(Registered),
    #[cfg(feature = "uring")]
    Uring(UringListener),
}

impl ListenerIo {
    /// Takes a listening socket (made non-blocking here) into the runtime.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<ListenerIo> {
        rustix::io::ioctl_fionbio(&fd, true)?;
        #[cfg(feature = "uring")]
        if let Some(core) = Core::current()
            && matches!(&*core.driver.borrow(), Driver::Uring(_))
        {
            return Ok(ListenerIo::Uring(UringListener::new(core.clone(), fd)));
        }
        Ok(ListenerIo::Ready(Registered::new(fd, FdKind::Other)?))
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            ListenerIo::Ready(r) => r.fd(),
            #[cfg(feature = "uring")]
            ListenerIo::Uring(l) => l.fd(),
        }
    }

    /// The next connection, non-blocking and close-on-exec. One task at a
    /// time waits: a second one waiting takes the wakeup from the first.
    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(OwnedFd, Option<SocketAddrAny>)>> {
        match self {
            ListenerIo::Ready(r) => r
                .poll_io(READ, cx, |fd| {
                    Ok(rustix::net::acceptfrom_with(
                        fd,
                        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
                    )?)
                })
                .map_ok(|(accepted, _)| accepted),
            #[cfg(feature = "uring")]
            ListenerIo::Uring(l) => l.poll_accept(cx),
        }
    }
}
