//! `LoopGroup`: N event loops on N threads serving one address, in one of
//! three ways ([`Sharing`]): a SO_REUSEPORT listener per loop (the kernel
//! spreads connections, no accept is shared: no thundering herd, no
//! hand-off), one listener shared with EPOLLEXCLUSIVE, or one listener on
//! the first loop dealing connections out round-robin.
//!
//! Not for: sharing connections or work between loops after accept (no work
//! stealing): a connection stays on the loop that got it.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::config::Config;
use super::event_loop::{EventLoop, LoopHandle, Stats};
use crate::conn::HandlerFactory;
use crate::socket::bind_reuseport;

/// How the loops of a group get their connections.
///
/// Non-exhaustive: a way of spreading connections may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sharing {
    /// One SO_REUSEPORT listener per loop: the kernel hashes each new
    /// connection to one of them. Works on every backend.
    ReusePort,
    /// One listener, registered in every loop with EPOLLEXCLUSIVE so that
    /// a new connection wakes one loop rather than all (epoll only).
    Exclusive,
    /// One listener, on the first loop, which accepts every connection and
    /// hands them out in turn: to itself, then to each other loop (muduo's
    /// main reactor and sub-reactors). Works on every backend; the spread
    /// is exact rather than hashed, at the price of one posted task (a
    /// lock and a wake-up) per connection handed to another loop.
    RoundRobin,
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
        LoopGroup::with_listener(bind_reuseport(addr)?, threads, cfg, factory, sharing)
    }

    /// Like [`bind_with`](Self::bind_with), on a listener opened elsewhere
    /// (inherited from a parent process, say): the first loop serves it,
    /// and the others share it as `sharing` says (with `ReusePort`, it must
    /// have been bound with SO_REUSEPORT).
    pub fn with_listener(
        first: TcpListener,
        threads: usize,
        cfg: Config,
        factory: HandlerFactory,
        sharing: Sharing,
    ) -> io::Result<LoopGroup> {
        // The completion driver needs no flag: a multishot accept is woken
        // for one connection, whichever ring it belongs to.
        if sharing == Sharing::Exclusive
            && cfg.driver == super::Driver::Readiness
            && !cfg.backend.supports_exclusive()
        {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "a shared listener needs EPOLLEXCLUSIVE; {} has none",
                    cfg.backend
                ),
            ));
        }
        first.set_nonblocking(true)?;
        let addr = first.local_addr()?;
        let threads = threads.max(1);
        let mut group = LoopGroup {
            addr,
            handles: Vec::new(),
            threads: Vec::new(),
        };
        let started = match sharing {
            Sharing::ReusePort | Sharing::Exclusive => {
                let exclusive = sharing == Sharing::Exclusive;
                let mut listeners = vec![first];
                for _ in 1..threads {
                    listeners.push(if exclusive {
                        listeners[0].try_clone()?
                    } else {
                        bind_reuseport(addr)?
                    });
                }
                listeners
                    .into_iter()
                    .enumerate()
                    .try_for_each(|(i, listener)| {
                        let factory = factory.clone();
                        group.spawn(i, cfg, move |l| {
                            if exclusive {
                                l.add_shared_listener(listener, factory)
                            } else {
                                l.add_listener(listener, factory)
                            }
                        })
                    })
            }
            Sharing::RoundRobin => {
                // The other loops first: the first loop needs their handles.
                (1..threads)
                    .try_for_each(|i| group.spawn(i, cfg, |_| Ok(())))
                    .and_then(|()| {
                        let peers = group.handles.clone();
                        group.spawn(0, cfg, move |l| {
                            l.add_dispatching_listener(first, factory, peers)
                        })
                    })
                    .map(|()| {
                        // Keep loop i at index i.
                        group.handles.rotate_right(1);
                        group.threads.rotate_right(1);
                    })
            }
        };
        if let Err(e) = started {
            group.stop();
            let _ = group.join();
            return Err(e);
        }
        Ok(group)
    }

    /// Starts loop `i` on a thread of its own, runs `setup` on it there,
    /// and waits until it is ready (or failed).
    fn spawn(
        &mut self,
        i: usize,
        cfg: Config,
        setup: impl FnOnce(&mut EventLoop) -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("iomux-loop-{i}"))
            .spawn(move || -> io::Result<Stats> {
                let started = EventLoop::new(cfg).and_then(|mut l| setup(&mut l).map(|()| l));
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
        self.threads.push(thread);
        let handle = rx
            .recv()
            .map_err(|_| io::Error::other("an event-loop thread died while starting"))
            .and_then(|r| r)?;
        self.handles.push(handle);
        Ok(())
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

    /// Asks every loop for a graceful stop by `deadline`
    /// ([`EventLoop::shutdown_gracefully`]): the listeners close, what has
    /// arrived is answered, and each loop ends once its connections are
    /// closed, at `deadline` at the latest.
    pub fn shutdown_gracefully(&self, deadline: Instant) {
        for h in &self.handles {
            let _ = h.shutdown_gracefully(deadline);
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
