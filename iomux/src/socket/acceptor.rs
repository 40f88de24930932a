//! `Acceptor`: a listening socket that accepts in bounded batches and
//! survives running out of file descriptors.
//!
//! Not for: making the listening socket (`listen.rs`) or deciding which
//! loop serves a connection (the reactor's `LoopGroup`).

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;

use rustix::io::Errno;
use rustix::net::SocketFlags;

use super::peer::PeerAddr;
use super::spare::SpareFd;

/// Why a batch of accepts stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The backlog is empty (EAGAIN).
    Drained,
    /// The per-tick bound was reached; more may be waiting.
    Bound,
    /// Out of fds and no spare left to shed the connection with: the caller
    /// should stop listening for a while instead of spinning.
    Starved,
}

/// Accepts connections from a non-blocking listener, TCP or Unix-domain.
///
/// It keeps a [`SpareFd`]: when accept fails with EMFILE or ENFILE, the
/// pending connection would keep the listener readable forever and a
/// level-triggered loop would spin; so the spare is given up to accept
/// the connection and close it at once (the peer sees a clean close).
#[derive(Debug)]
pub struct Acceptor {
    listener: OwnedFd,
    spare: SpareFd,
    shed: u64,
}

impl Acceptor {
    /// Wraps a TCP `listener`, making it non-blocking.
    pub fn new(listener: TcpListener) -> io::Result<Acceptor> {
        listener.set_nonblocking(true)?;
        Ok(Acceptor::wrap(listener.into()))
    }

    /// Wraps a Unix-domain `listener`, making it non-blocking.
    pub fn unix(listener: UnixListener) -> io::Result<Acceptor> {
        listener.set_nonblocking(true)?;
        Ok(Acceptor::wrap(listener.into()))
    }

    fn wrap(listener: OwnedFd) -> Acceptor {
        Acceptor {
            listener,
            spare: SpareFd::new(),
            shed: 0,
        }
    }

    /// Connections closed right after accept because fds ran out.
    pub fn shed(&self) -> u64 {
        self.shed
    }

    /// Accepts up to `max` connections (non-blocking, close-on-exec) and
    /// hands each to `on_conn` with its peer's address. Aborted handshakes
    /// and other per-connection errors are skipped.
    pub(crate) fn accept_batch(
        &mut self,
        max: usize,
        mut on_conn: impl FnMut(OwnedFd, Option<PeerAddr>),
    ) -> Stop {
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        let mut taken = 0;
        while taken < max {
            match rustix::net::acceptfrom_with(&self.listener, flags) {
                Ok((fd, peer)) => {
                    taken += 1;
                    on_conn(fd, peer.and_then(PeerAddr::from_any));
                }
                Err(Errno::AGAIN) => return Stop::Drained,
                Err(Errno::INTR) => {}
                // The peer gave up before we got to it, or a network error
                // that belongs to that one connection: next.
                Err(
                    Errno::CONNABORTED
                    | Errno::PROTO
                    | Errno::PERM
                    | Errno::NOPROTOOPT
                    | Errno::HOSTDOWN
                    | Errno::HOSTUNREACH
                    | Errno::NETDOWN
                    | Errno::NETUNREACH
                    | Errno::OPNOTSUPP
                    | Errno::NONET,
                ) => taken += 1,
                Err(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
                    let Some(shed) = self.spare.shed(&self.listener, 1) else {
                        return Stop::Starved;
                    };
                    self.shed += shed;
                    taken += 1;
                }
                Err(e) => {
                    // Unexpected (EBADF, EINVAL): report it once per tick
                    // rather than loop on it.
                    log::error!("accept failed: {e}");
                    return Stop::Starved;
                }
            }
        }
        Stop::Bound
    }
}

impl AsFd for Acceptor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}
