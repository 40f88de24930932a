//! `LoopGroup`: N event loops on N threads, each with its own SO_REUSEPORT
//! listener on the same address, so the kernel spreads connections over the
//! loops and no accept is shared (no thundering herd, no hand-off).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};

use super::config::Config;
use super::event_loop::{EventLoop, HandlerFactory, LoopHandle};

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

/// N loops on N threads serving one address.
#[derive(Debug)]
pub struct LoopGroup {
    addr: SocketAddr,
    handles: Vec<LoopHandle>,
    threads: Vec<JoinHandle<io::Result<()>>>,
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
        let first = bind_reuseport(addr)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads.max(1) {
            listeners.push(bind_reuseport(addr)?);
        }
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
                .spawn(move || -> io::Result<()> {
                    let started = EventLoop::new(cfg).and_then(|mut l| {
                        l.add_listener(listener, factory)?;
                        Ok(l)
                    });
                    match started {
                        Ok(mut event_loop) => {
                            let _ = tx.send(Ok(event_loop.handle()));
                            event_loop.run()
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
        let mut result = Ok(());
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("an event-loop thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}
