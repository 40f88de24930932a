//! `LoopGroup`: N event loops on N threads, each with its own SO_REUSEPORT
//! listener on the same address, so the kernel spreads connections over the
//! loops and no accept is shared (no thundering herd, no hand-off).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};

use super::config::Config;
use super::event_loop::{EventLoop, HandlerFactory, LoopHandle, Stats};

/// Binds a listening TCP socket with SO_REUSEADDR and SO_REUSEPORT, so
/// that several can share `addr` (all bound by this user).
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    // The kernel caps the backlog at net.core.somaxconn.
    rustix::net::listen(&fd, 4096)?;
    Ok(TcpListener::from(fd))
}

/// How the loops of a group get their connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// One SO_REUSEPORT listener per loop: the kernel hashes each new
    /// connection to one of them. Works on every backend.
    ReusePort,
    /// One listener, registered in every loop with EPOLLEXCLUSIVE so that
    /// a new connection wakes one loop rather than all (epoll only).
    Exclusive,
}

/// N loops on N threads serving one address.
#[derive(Debug)]
pub struct LoopGroup {
    addr: SocketAddr,
    handles: Vec<LoopHandle>,
    threads: Vec<JoinHandle<io::Result<Stats>>>,
}

impl LoopGroup {
    /// Binds `addr` (port 0: the first loop's port is then used by all)
    /// and starts `threads` loops (at least one) with `cfg`, each serving
    /// with handlers from `factory`. Returns once every loop is listening.
    pub fn bind(
        addr: SocketAddr,
        threads: usize,
        cfg: Config,
        factory: HandlerFactory,
    ) -> io::Result<LoopGroup> {
        LoopGroup::bind_with(addr, threads, cfg, factory, Sharing::ReusePort)
    }

    /// Like [`bind`](Self::bind), choosing how the loops share the address.
    pub fn bind_with(
        addr: SocketAddr,
        threads: usize,
        cfg: Config,
        factory: HandlerFactory,
        sharing: Sharing,
    ) -> io::Result<LoopGroup> {
        if sharing == Sharing::Exclusive && !cfg.backend.supports_exclusive() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "a shared listener needs EPOLLEXCLUSIVE; {} has none",
                    cfg.backend
                ),
            ));
        }
        let first = bind_reuseport(addr)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads.max(1) {
            let next = match sharing {
                Sharing::ReusePort => bind_reuseport(addr)?,
                Sharing::Exclusive => listeners[0].try_clone()?,
            };
            listeners.push(next);
        }
        let shared = sharing == Sharing::Exclusive;
        let mut group = LoopGroup {
            addr,
            handles: Vec::new(),
            threads: Vec::new(),
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            let factory = factory.clone();
            let thread = std::thread::Builder::new()
                .name(format!("iomux-loop-{i}"))
                .spawn(move || -> io::Result<Stats> {
                    let started = EventLoop::new(cfg).and_then(|mut l| {
                        if shared {
                            l.add_shared_listener(listener, factory)?;
                        } else {
                            l.add_listener(listener, factory)?;
                        }
                        Ok(l)
                    });
                    match started {
                        Ok(mut event_loop) => {
                            let _ = tx.send(Ok(event_loop.handle()));
                            event_loop.run()?;
                            Ok(event_loop.stats())
                        }
                        Err(e) => {
                            let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                            Err(e)
                        }
                    }
                })?;
            group.threads.push(thread);
            let started = rx
                .recv()
                .map_err(|_| io::Error::other("an event-loop thread died while starting"))
                .and_then(|r| r);
            match started {
                Ok(handle) => group.handles.push(handle),
                Err(e) => {
                    group.stop();
                    let _ = group.join();
                    return Err(e);
                }
            }
        }
        Ok(group)
    }

    /// The address the loops listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// One handle per loop.
    pub fn handles(&self) -> &[LoopHandle] {
        &self.handles
    }

    /// Asks every loop to stop.
    pub fn stop(&self) {
        for h in &self.handles {
            let _ = h.stop();
        }
    }

    /// Waits for every loop to end; the first error wins.
    pub fn join(self) -> io::Result<()> {
        self.join_stats().map(drop)
    }

    /// Waits for every loop to end and returns each loop's counters; the
    /// first error wins.
    pub fn join_stats(self) -> io::Result<Vec<Stats>> {
        let mut result = Ok(Vec::new());
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("an event-loop thread panicked")));
            match (&mut result, r) {
                (Ok(all), Ok(stats)) => all.push(stats),
                (Ok(_), Err(e)) => result = Err(e),
                (Err(_), _) => {}
            }
        }
        result
    }
}
