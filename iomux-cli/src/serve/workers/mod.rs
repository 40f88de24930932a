//! `iomux serve --workers P`: P worker processes under a master, the way
//! nginx scales past one process's fd limit (RLIMIT_NOFILE is 20,000 here).
//!
//! The master ([`supervise`]) re-executes this binary P times with a hidden
//! `--worker-index`, so no multi-threaded process is ever forked. Each
//! worker is an ordinary `iomux serve` (`--threads` keeps its meaning
//! inside it) on the address the master resolved:
//!
//! - `--worker-sharing reuseport`: every worker binds its own SO_REUSEPORT
//!   listener; the kernel hashes each connection to one of them. The master
//!   keeps a bound, non-listening socket on the port so that port 0 resolves
//!   once and the port stays ours between a worker's death and its restart.
//! - `--worker-sharing exclusive` (epoll): the master listens once and the
//!   workers inherit the listener (`--listen-fd`), each loop registering it
//!   with EPOLLEXCLUSIVE so that a connection wakes one waiter.
//!
//! The blocking, non-blocking and signal-driven models bind a plain
//! listener of their own and have no way to share one: they are refused.

mod stats;
mod supervisor;

use std::io;
use std::net::TcpListener;
use std::os::fd::{BorrowedFd, FromRawFd, RawFd};

use iomux::conn::HandlerFactory;
use iomux::reactor::{Config, LoopGroup, Sharing};

use super::ServeArgs;
pub use supervisor::supervise;

/// Called first in a worker: it ends (SIGTERM, so it still reports) when
/// the master dies, rather than serving on unsupervised.
pub fn become_worker() -> io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
    Ok(())
}

/// The reactor models' loops: on the inherited listener in a worker of
/// `--worker-sharing exclusive`, otherwise bound to `--addr` as `sharing`
/// says.
pub fn loop_group(
    args: &ServeArgs,
    cfg: Config,
    factory: HandlerFactory,
    sharing: Sharing,
) -> io::Result<LoopGroup> {
    match args.listen_fd {
        Some(fd) => {
            let listener = inherited_listener(fd)?;
            LoopGroup::with_listener(listener, args.threads, cfg, factory, Sharing::Exclusive)
        }
        None => LoopGroup::bind_with(args.addr, args.threads, cfg, factory, sharing),
    }
}

/// Takes over the listening socket the master left open at `fd`.
fn inherited_listener(fd: RawFd) -> io::Result<TcpListener> {
    let not_a_listener = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--listen-fd {fd} is not an inherited listening socket"),
        )
    };
    if fd < 0 {
        return Err(not_a_listener());
    }
    // SAFETY: only borrowed to check it, before anything owns it; an fd
    // number that is not open makes the checks fail (EBADF), not misbehave.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let listening =
        rustix::net::sockopt::socket_acceptconn(borrowed).map_err(|_| not_a_listener())?;
    if !listening {
        return Err(not_a_listener());
    }
    rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC)?;
    // SAFETY: the fd is open, a listening socket, and nothing else in this
    // process owns it: the master passed its number to this process alone.
    Ok(unsafe { TcpListener::from_raw_fd(fd) })
}
