//! Listeners: accepting on a loop, and dealing connections out to peers.
//!
//! Not for: making the listening socket (`crate::socket`) or the accept
//! loop's EMFILE shedding (`socket::Acceptor`), which it uses.

use std::io;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::completion::Accepting;
use super::token::{MAX_LISTENERS, listener_token};
use super::{EventLoop, HandlerFactory, Io, LoopHandle, TimerKey};
use crate::conn::Handler;
use crate::socket::PeerAddr;
use crate::socket::{Acceptor, Stop};
use crate::{Interest, Mode};

/// How long a listener rests when fds ran out and no spare was left.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A listening socket of this loop and who serves what it accepts.
pub(super) struct Listener {
    pub(super) acceptor: Acceptor,
    factory: HandlerFactory,
    pub(super) listening: bool,
    /// Other loops this listener deals connections out to, in turn with
    /// this one (empty: this loop serves every connection it accepts).
    peers: Vec<LoopHandle>,
    /// Whose turn the next connection is: 0 is this loop, i is `peers[i-1]`.
    next: usize,
    /// On the completion driver: its multishot accept (or the poll that
    /// stands in for it while fds are short).
    pub(super) ring: Accepting,
}

impl EventLoop {
    /// Accepts connections from `listener`, each served by a handler from
    /// `factory`. The listener is registered level-triggered whatever the
    /// loop's mode: accepts are bounded per turn, and level brings the loop
    /// back for the rest.
    pub fn add_listener(
        &mut self,
        listener: TcpListener,
        factory: HandlerFactory,
    ) -> io::Result<()> {
        self.add_acceptor(Acceptor::new(listener)?, factory, false, Vec::new())
    }

    /// Like [`add_listener`](Self::add_listener) for a Unix-domain
    /// listening socket.
    pub fn add_unix_listener(
        &mut self,
        listener: UnixListener,
        factory: HandlerFactory,
    ) -> io::Result<()> {
        self.add_acceptor(Acceptor::unix(listener)?, factory, false, Vec::new())
    }

    /// Like [`add_listener`](Self::add_listener) for a listener shared with
    /// other loops: registered with [`Poller::register_exclusive`](crate::Poller::register_exclusive) so that a
    /// new connection wakes one loop, not all of them. epoll only.
    pub fn add_shared_listener(
        &mut self,
        listener: TcpListener,
        factory: HandlerFactory,
    ) -> io::Result<()> {
        self.add_acceptor(Acceptor::new(listener)?, factory, true, Vec::new())
    }

    /// Like [`add_listener`](Self::add_listener), but the connections are
    /// dealt out round-robin: the first to this loop, the next to
    /// `peers[0]`, and so on (muduo's main reactor handing connections to
    /// its sub-reactors). A connection for a peer travels as a posted task
    /// and is served by a handler made on the peer's thread. Works on every
    /// backend, and one accept call serves the whole group. A peer loop
    /// that has exited (its thread died) is dropped from the rotation and
    /// the connection meant for it is served here, as is one meant for a
    /// peer whose task queue is full
    /// ([`Config::max_posted_tasks`](crate::reactor::Config::max_posted_tasks)).
    pub fn add_dispatching_listener(
        &mut self,
        listener: TcpListener,
        factory: HandlerFactory,
        peers: Vec<LoopHandle>,
    ) -> io::Result<()> {
        self.add_acceptor(Acceptor::new(listener)?, factory, false, peers)
    }

    fn add_acceptor(
        &mut self,
        acceptor: Acceptor,
        factory: HandlerFactory,
        exclusive: bool,
        peers: Vec<LoopHandle>,
    ) -> io::Result<()> {
        let i = self.listeners.len();
        if i >= MAX_LISTENERS {
            return Err(io::Error::other("too many listeners on one loop"));
        }
        let token = listener_token(i);
        let mut ring = Accepting::default();
        match &mut self.io {
            Io::Readiness(poller, _) if exclusive => {
                poller.register_exclusive(&acceptor, token, Interest::READABLE, Mode::Level)?
            }
            Io::Readiness(poller, _) => {
                poller.register(&acceptor, token, Interest::READABLE, Mode::Level)?
            }
            // A multishot accept wakes one ring per connection whoever
            // else accepts on the listener: nothing to ask for.
            Io::Completion(u) => u.listen(i, &acceptor, &mut ring),
        }
        self.listeners.push(Listener {
            acceptor,
            factory,
            listening: true,
            peers,
            next: 0,
            ring,
        });
        Ok(())
    }

    /// Accepts a batch from listener `i` (readable, or on the completion
    /// driver out of fds: then the spare fd sheds what waits); true if it
    /// had to stop listening for a while (no spare fd left).
    pub(super) fn accept(&mut self, i: usize) -> bool {
        let batch = self.cfg.accept_batch;
        let mut accepted = std::mem::take(&mut self.scratch.fds);
        let stop = self.listeners[i]
            .acceptor
            .accept_batch(batch, |fd, peer| accepted.push((fd, peer)));
        for (fd, peer) in accepted.drain(..) {
            self.deal(i, fd, peer);
        }
        self.scratch.fds = accepted;
        if stop == Stop::Starved {
            // No spare fd to shed connections with: stop listening for a
            // moment rather than spin on a listener that stays readable.
            let l = &mut self.listeners[i];
            let stopped = match &mut self.io {
                Io::Readiness(poller, _) => l.listening && poller.deregister(&l.acceptor).is_ok(),
                Io::Completion(u) => {
                    u.stop_listening(i, &l.ring);
                    l.listening
                }
            };
            if stopped {
                l.listening = false;
                self.timers
                    .heap
                    .push(Instant::now() + ACCEPT_PAUSE, TimerKey::Listener(i));
            }
            return true;
        }
        false
    }

    /// Hands a connection accepted on listener `i` to whichever loop's
    /// turn it is (this one, or a peer of a dispatching listener).
    pub(super) fn deal(&mut self, i: usize, fd: OwnedFd, peer: Option<PeerAddr>) {
        let factory = Arc::clone(&self.listeners[i].factory);
        let l = &mut self.listeners[i];
        let turn = l.next;
        l.next = (turn + 1) % (l.peers.len() + 1);
        let (fd, peer) = if turn > 0 {
            let theirs = Arc::clone(&factory);
            // A peer that stops later drops the task (and the socket in
            // it) with its queue: the connection closes.
            let handed = l.peers[turn - 1].shared.admit(
                (fd, peer),
                true,
                move |(fd, peer), other: &mut EventLoop| other.serve_accepted(fd, peer, theirs()),
            );
            let (back, e) = match handed {
                Ok(()) => return,
                Err(refused) => refused,
            };
            if e.kind() == io::ErrorKind::NotConnected {
                // That loop has exited: out of the rotation, and this
                // connection is served here.
                l.peers.remove(turn - 1);
                l.next = if turn > l.peers.len() { 0 } else { turn };
                log::warn!(
                    "an event loop of the group has exited; {} left in the round-robin",
                    l.peers.len() + 1
                );
            } else {
                // Its task queue is full: this loop serves the connection.
                log::debug!("a peer loop is backed up ({e}); serving a connection here");
            }
            back
        } else {
            (fd, peer)
        };
        self.serve_accepted(fd, peer, factory());
    }

    /// Serves a socket that accept made (non-blocking already).
    fn serve_accepted(&mut self, fd: OwnedFd, peer: Option<PeerAddr>, handler: Box<dyn Handler>) {
        if let Err(e) = self.insert(fd, handler, peer) {
            log::error!("cannot serve an accepted connection: {e}");
        }
    }

    pub(super) fn listen_again(&mut self, i: usize) {
        let Some(l) = self.listeners.get_mut(i) else {
            return;
        };
        if l.listening {
            return;
        }
        match &mut self.io {
            Io::Readiness(poller, _) => {
                let token = listener_token(i);
                l.listening = poller
                    .register(&l.acceptor, token, Interest::READABLE, Mode::Level)
                    .is_ok();
            }
            Io::Completion(u) => {
                u.listen(i, &l.acceptor, &mut l.ring);
                l.listening = true;
            }
        }
    }
}
