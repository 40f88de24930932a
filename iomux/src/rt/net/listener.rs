//! A listening socket's accepts on either driver.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use rustix::net::{SocketAddrAny, SocketFlags};

#[cfg(feature = "uring")]
use crate::rt::driver::Driver;
#[cfg(feature = "uring")]
use crate::rt::executor::Core;
use crate::rt::readiness::{READ, Registration};
#[cfg(feature = "uring")]
use crate::rt::uring::UringListener;

pub(crate) enum ListenerIo {
    Ready {
        reg: Registration,
        fd: OwnedFd,
    },
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
        let reg = Registration::new(fd.as_fd())?;
        Ok(ListenerIo::Ready { reg, fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            ListenerIo::Ready { fd, .. } => fd.as_fd(),
            #[cfg(feature = "uring")]
            ListenerIo::Uring(l) => l.fd(),
        }
    }

    /// The next connection, non-blocking and close-on-exec.
    pub(crate) fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(OwnedFd, Option<SocketAddrAny>)>> {
        match self {
            ListenerIo::Ready { reg, fd } => reg
                .poll_io(READ, fd.as_fd(), cx, || {
                    Ok(rustix::net::acceptfrom_with(
                        &*fd,
                        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
                    )?)
                })
                .map_ok(|(accepted, _)| accepted),
            #[cfg(feature = "uring")]
            ListenerIo::Uring(l) => l.poll_accept(cx),
        }
    }
}

impl Drop for ListenerIo {
    #[allow(irrefutable_let_patterns)] // without `uring`, Ready is the only variant
    fn drop(&mut self) {
        if let ListenerIo::Ready { reg, fd } = self {
            reg.deregister(fd.as_fd());
        }
    }
}
