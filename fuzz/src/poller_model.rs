//! Poller operation sequences against a simple model of the semantics.
//!
//! Four socket pairs; each local end may have a dup. Operations: register,
//! modify, deregister (also from a second thread while this one waits),
//! write from the peer, drain, dup, close (after deregister, or behind the
//! poller's back), reopen, peer close, and waits. Every register and modify
//! takes a fresh token, so an event under a token that is no longer current
//! is caught. The model checks:
//!
//! - register / modify / deregister succeed or fail (`AlreadyExists`,
//!   `NotFound`) as the interest set says;
//! - every event carries a current token, or that of an fd closed behind
//!   the poller's back (at most one event, an error; on io_uring, which
//!   pins the file, any until the number is registered again);
//! - a level registration for reading on a readable socket is reported
//!   (within a bounded wait), and so is an armed oneshot or a fresh edge;
//! - a oneshot registration reports once; a read-only edge registration
//!   does not report again without a new edge (where edge is native);
//! - a level read event on a socket with nothing to read is an error where
//!   the backend checks level readiness at wait time.

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iomux::{Backend, Event, Events, Interest, Mode, Poller, Token};

/// How long a wait for an event that must come may take.
const MUST: Duration = Duration::from_secs(3);

/// A registration as the model sees it.
#[derive(Clone, Copy, Debug)]
struct Reg {
    token: usize,
    interest: Interest,
    mode: Mode,
    /// Oneshot: delivered already (disarmed until modify).
    fired: bool,
    /// Edge: a readiness change not reported yet.
    edge_pending: bool,
}

/// One local fd (the original end, or its dup).
struct Fd {
    /// Shared with the second thread, which must use the same fd number.
    sock: Arc<UnixStream>,
    reg: Option<Reg>,
}

/// A socket pair: the peer, and up to two fds for the local end.
struct Slot {
    peer: Option<UnixStream>,
    fds: [Option<Fd>; 2],
    /// Unread bytes in the local end.
    unread: usize,
}

impl Slot {
    fn new() -> Slot {
        let (a, b) = UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("nonblocking");
        b.set_nonblocking(true).expect("nonblocking");
        Slot {
            peer: Some(b),
            fds: [
                Some(Fd {
                    sock: Arc::new(a),
                    reg: None,
                }),
                None,
            ],
            unread: 0,
        }
    }

    /// A read would not block: data, or the peer gone (EOF).
    fn readable(&self) -> bool {
        self.unread > 0 || self.peer.is_none()
    }
}

/// A token of an fd closed behind the poller's back: how many more events
/// it may still bring, and the fd number it had.
struct Ghost {
    left: u32,
    fd: i32,
}

/// The model and the real poller, side by side.
pub struct Run {
    backend: Backend,
    poller: Poller,
    slots: Vec<Slot>,
    next_token: usize,
    ghosts: HashMap<usize, Ghost>,
    /// Fd numbers closed behind the poller's back and not registered
    /// again: until they are, modify and deregister on a new fd with the
    /// number may find the stale registration (the number is all the
    /// poller sees), so either answer is right.
    tainted: HashSet<i32>,
    events: Events,
}

fn interest_of(arg: u8) -> Interest {
    match (arg >> 1) & 3 {
        1 => Interest::WRITABLE,
        2 => Interest::READABLE | Interest::WRITABLE,
        _ => Interest::READABLE,
    }
}

impl Run {
    /// A fresh model on `backend`.
    pub fn new(backend: Backend) -> std::io::Result<Run> {
        Ok(Run {
            backend,
            poller: Poller::with_backend(backend)?,
            slots: (0..4).map(|_| Slot::new()).collect(),
            next_token: 1,
            ghosts: HashMap::new(),
            tainted: HashSet::new(),
            events: Events::with_capacity(64),
        })
    }

    fn mode_of(&self, arg: u8) -> Mode {
        match (arg >> 3) % 3 {
            // Edge only where it is a real edge trigger: elsewhere the
            // Poller may refuse it or deliver it as level.
            1 if self.backend.supports_edge() => Mode::Edge,
            2 => Mode::Oneshot,
            _ => Mode::Level,
        }
    }

    fn new_reg(&mut self, slot: usize, interest: Interest, mode: Mode) -> Reg {
        let token = self.next_token;
        self.next_token += 1;
        Reg {
            token,
            interest,
            mode,
            fired: false,
            edge_pending: self.slots[slot].readable(),
        }
    }

    /// Runs the operations encoded in `ops` (two bytes each).
    pub fn run(&mut self, ops: &[u8]) {
        for op in ops.chunks_exact(2) {
            let (code, arg) = (op[0] % 14, op[1]);
            let slot = usize::from(op[0] / 14) % self.slots.len();
            let which = usize::from(arg & 1);
            match code {
                0 => self.register(slot, which, arg),
                1 => self.modify(slot, which, arg),
                2 => self.deregister(slot, which),
                3 => self.write(slot, 1 + usize::from(arg % 3)),
                4 => self.drain(slot),
                5 => drop(self.wait(Duration::ZERO)),
                6 => self.must_wait(),
                7 => self.dup(slot),
                8 => self.close(slot, which),
                9 => self.close_behind(slot, which),
                10 => self.reopen(slot),
                11 => self.peer_close(slot),
                12 => self.register_from_another_thread(slot, which, arg),
                _ => self.deregister_from_another_thread(slot, which),
            }
        }
        self.must_wait();
    }

    fn register(&mut self, slot: usize, which: usize, arg: u8) {
        let (interest, mode) = (interest_of(arg), self.mode_of(arg));
        let reg = self.new_reg(slot, interest, mode);
        let Some(fd) = self.slots[slot].fds[which].as_mut() else {
            return;
        };
        let got = self
            .poller
            .register(&*fd.sock, Token(reg.token), interest, mode);
        let raw = fd.sock.as_raw_fd();
        let tainted = self.tainted.remove(&raw);
        match (&fd.reg, got) {
            // A modify on the reused number found the stale registration
            // (modify does not compare the file, register does): register
            // replaces it. Reported to the Poller's owners, not fixed here.
            (Some(_), Ok(())) if tainted => {
                fd.reg = Some(reg);
                self.ghosts.retain(|_, g| g.fd != raw);
            }
            (None, Ok(())) => {
                fd.reg = Some(reg);
                // The number is registered again: the stale registration
                // is replaced, its token must never come again.
                self.ghosts.retain(|_, g| g.fd != raw);
            }
            (Some(_), Err(e)) if e.kind() == ErrorKind::AlreadyExists => {}
            (had, got) => panic!(
                "{}: register with {had:?} registered gave {got:?}",
                self.backend
            ),
        }
    }

    fn modify(&mut self, slot: usize, which: usize, arg: u8) {
        let (interest, mode) = (interest_of(arg), self.mode_of(arg));
        let reg = self.new_reg(slot, interest, mode);
        let Some(fd) = self.slots[slot].fds[which].as_mut() else {
            return;
        };
        let got = self
            .poller
            .modify(&*fd.sock, Token(reg.token), interest, mode);
        let tainted = self.tainted.contains(&fd.sock.as_raw_fd());
        match (&fd.reg, got) {
            (Some(_), Ok(())) => fd.reg = Some(reg),
            (None, Err(e)) if e.kind() == ErrorKind::NotFound => {}
            (None, Err(_)) if tainted => {}
            // The stale registration of the closed file, modified: the
            // number stays tainted (see `register`).
            (None, Ok(())) if tainted => fd.reg = Some(reg),
            (had, got) => panic!(
                "{}: modify with {had:?} registered gave {got:?}",
                self.backend
            ),
        }
    }

    fn deregister(&mut self, slot: usize, which: usize) {
        let Some(fd) = self.slots[slot].fds[which].as_mut() else {
            return;
        };
        let got = self.poller.deregister(&*fd.sock);
        let tainted = self.tainted.remove(&fd.sock.as_raw_fd());
        match (&fd.reg, got) {
            (Some(_), Ok(())) => fd.reg = None,
            (None, Err(e)) if e.kind() == ErrorKind::NotFound => {}
            (None, _) if tainted => {}
            (had, got) => panic!(
                "{}: deregister with {had:?} registered gave {got:?}",
                self.backend
            ),
        }
    }

    /// Registration from a second thread while this one waits: the wait
    /// must see the event when the socket is readable.
    fn register_from_another_thread(&mut self, slot: usize, which: usize, arg: u8) {
        let (interest, mode) = (interest_of(arg), self.mode_of(arg));
        let reg = self.new_reg(slot, interest, mode);
        let Some(fd) = self.slots[slot].fds[which].as_mut() else {
            return;
        };
        if fd.reg.is_some() || self.tainted.contains(&fd.sock.as_raw_fd()) {
            return; // the error paths are covered by `register`
        }
        fd.reg = Some(reg);
        let sock = Arc::clone(&fd.sock);
        let poller = self.poller.clone();
        let other =
            std::thread::spawn(move || poller.register(&*sock, Token(reg.token), interest, mode));
        self.must_wait();
        let got = other.join().expect("registering thread panicked");
        assert!(
            got.is_ok(),
            "{}: register from another thread: {got:?}",
            self.backend
        );
        let raw = self.slots[slot].fds[which]
            .as_ref()
            .map(|fd| fd.sock.as_raw_fd());
        self.ghosts.retain(|_, g| Some(g.fd) != raw);
    }

    /// Deregistration from a second thread while this one waits; the
    /// token may still arrive in that wait, never after.
    fn deregister_from_another_thread(&mut self, slot: usize, which: usize) {
        let Some(fd) = self.slots[slot].fds[which].as_mut() else {
            return;
        };
        let Some(reg) = fd.reg else {
            return;
        };
        let sock = Arc::clone(&fd.sock);
        let poller = self.poller.clone();
        let other = std::thread::spawn(move || poller.deregister(&*sock));
        let _ = self.wait(Duration::from_millis(1));
        let got = other.join().expect("deregistering thread panicked");
        assert!(
            got.is_ok(),
            "{}: deregister from another thread: {got:?}",
            self.backend
        );
        if let Some(fd) = self.slots[slot].fds[which].as_mut()
            && fd.reg.is_some_and(|r| r.token == reg.token)
        {
            fd.reg = None;
        }
    }

    fn write(&mut self, slot: usize, n: usize) {
        let s = &mut self.slots[slot];
        // With the local end closed the write would raise SIGPIPE.
        let local_open = s.fds.iter().any(Option::is_some);
        let Some(peer) = s.peer.as_mut().filter(|_| local_open) else {
            return;
        };
        peer.write_all(&b"xyz"[..n]).expect("write to the peer");
        s.unread += n;
        for fd in s.fds.iter_mut().flatten() {
            if let Some(reg) = fd.reg.as_mut() {
                reg.edge_pending = true;
            }
        }
    }

    fn drain(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        let Some(fd) = s.fds.iter_mut().flatten().next() else {
            return;
        };
        let mut buf = [0u8; 64];
        loop {
            match (&*fd.sock).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => s.unread -= n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        assert_eq!(s.unread, 0, "the model lost count of the bytes");
    }

    fn dup(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        if let (Some(fd), None) = (&s.fds[0], &s.fds[1]) {
            let sock = Arc::new(fd.sock.try_clone().expect("dup"));
            s.fds[1] = Some(Fd { sock, reg: None });
        }
    }

    fn close(&mut self, slot: usize, which: usize) {
        if self.slots[slot].fds[which]
            .as_ref()
            .is_some_and(|fd| fd.reg.is_some())
        {
            self.deregister(slot, which);
        }
        self.slots[slot].fds[which] = None;
    }

    /// Closes an fd without deregistering it, when it is the only fd of
    /// its socket (with a dup open, epoll keeps reporting the closed fd:
    /// the shared-file trap, outside this model). Waits follow, so that
    /// the poller notices before the number is reused.
    fn close_behind(&mut self, slot: usize, which: usize) {
        let s = &mut self.slots[slot];
        if s.fds[1 - which].is_some() {
            return;
        }
        let Some(fd) = s.fds[which].take() else {
            return;
        };
        if let Some(reg) = fd.reg {
            // io_uring keeps the old poll on the pinned file (its peer's
            // close completes it) and re-arms a level one on the number,
            // which may name another file by then: events under the old
            // token, any number, until the number is registered again
            // (documented: deregister before closing). Elsewhere at most
            // one, an error.
            let left = if self.backend.pins_registered_files() {
                u32::MAX
            } else {
                1
            };
            let raw = fd.sock.as_raw_fd();
            self.ghosts.insert(reg.token, Ghost { left, fd: raw });
            self.tainted.insert(raw);
        }
        drop(fd);
        // Poll and select see the closed number at the next wait. io_uring
        // sees it when it next submits a poll for it: a level registration
        // whose poll completes in the first wait is re-armed in the second,
        // which fails with EBADF. Before that, the number must not be
        // reused, or the re-armed poll would watch the new file under the
        // old token (the hazard of every fd-number API).
        let waits = if self.backend.pins_registered_files() {
            2
        } else {
            1
        };
        for _ in 0..waits {
            let _ = self.wait(Duration::ZERO);
        }
    }

    fn reopen(&mut self, slot: usize) {
        let s = &self.slots[slot];
        if s.fds.iter().all(Option::is_none) {
            self.slots[slot] = Slot::new();
        }
    }

    fn peer_close(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        if s.peer.take().is_some() {
            for fd in s.fds.iter_mut().flatten() {
                if let Some(reg) = fd.reg.as_mut() {
                    reg.edge_pending = true;
                }
            }
        }
    }

    /// Tokens that a wait must report now.
    fn expected(&self) -> Vec<usize> {
        let mut want = Vec::new();
        for s in &self.slots {
            for reg in s.fds.iter().flatten().filter_map(|fd| fd.reg) {
                let due = match reg.mode {
                    Mode::Level => true,
                    Mode::Oneshot => !reg.fired,
                    _ => reg.edge_pending,
                };
                if due && reg.interest.is_readable() && s.readable() {
                    want.push(reg.token);
                }
            }
        }
        want
    }

    /// Waits until every expected token has been reported, within a bound.
    fn must_wait(&mut self) {
        let mut want = self.expected();
        let deadline = Instant::now() + MUST;
        while !want.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: tokens {want:?} ready but not reported within {MUST:?}",
                self.backend
            );
            let seen = self.wait(left);
            want.retain(|t| !seen.contains(t));
        }
    }

    /// One wait; checks every event against the model; returns the tokens.
    fn wait(&mut self, timeout: Duration) -> Vec<usize> {
        self.poller
            .wait(&mut self.events, Some(timeout))
            .unwrap_or_else(|e| panic!("{}: wait: {e}", self.backend));
        let events: Vec<Event> = self.events.iter().collect();
        events.iter().map(|e| self.check(e)).collect()
    }

    fn check(&mut self, e: &Event) -> usize {
        let token = e.token().0;
        let backend = self.backend;
        if let Some(ghost) = self.ghosts.get_mut(&token) {
            assert!(
                ghost.left > 0,
                "{backend}: closed fd reported too often: {e:?}"
            );
            assert!(
                e.is_error() || backend.pins_registered_files(),
                "{backend}: a closed fd may only report an error: {e:?}"
            );
            ghost.left -= 1;
            return token;
        }
        for s in &mut self.slots {
            let readable = s.readable();
            let peer_open = s.peer.is_some();
            for fd in s.fds.iter_mut().flatten() {
                let Some(reg) = fd.reg.as_mut().filter(|r| r.token == token) else {
                    continue;
                };
                match reg.mode {
                    Mode::Oneshot => {
                        assert!(!reg.fired, "{backend}: oneshot reported twice: {e:?}");
                        reg.fired = true;
                    }
                    Mode::Level => {
                        let checked = backend.level_checked_at_wait();
                        assert!(
                            !(checked && peer_open && e.is_readable() && !readable),
                            "{backend}: level read event with nothing to read: {e:?}"
                        );
                    }
                    _ => {
                        let read_only = !reg.interest.is_writable();
                        assert!(
                            !(read_only && !reg.edge_pending),
                            "{backend}: edge reported again without a new edge: {e:?}"
                        );
                        reg.edge_pending = false;
                    }
                }
                return token;
            }
        }
        panic!("{backend}: event under a token that is not registered: {e:?}");
    }
}
