//! The signal-driven model: O_ASYNC + F_SETOWN + F_SETSIG.
//!
//! How it behaves:
//! - Every socket (the listener too) is O_NONBLOCK | O_ASYNC, owned by this
//!   process (F_SETOWN) and set to raise a real-time signal (F_SETSIG). A
//!   real-time signal is *queued* with a siginfo that names the fd (`si_fd`)
//!   and the event (`si_band`, POLL_IN/POLL_OUT/…), so the loop knows which
//!   socket to serve without scanning.
//! - The signal is blocked and taken synchronously with `sigtimedwait(2)`:
//!   no handler runs, nothing is async-signal-unsafe.
//! - The kernel raises the signal on each *change* (a packet arriving, send
//!   space freed after a short write), like edge triggering: so each socket
//!   is read until EAGAIN, and a socket is read once right after it is armed
//!   (data may have come before O_ASYNC was set).
//! - `si_band` says which change (POLL_IN, POLL_OUT, POLL_HUP…); the loop
//!   does not branch on it: for any signal it flushes pending output, then
//!   reads until EAGAIN. A POLL_OUT after back-pressure must resume reading
//!   data that arrived while reading was paused, and raised no new signal.
//! - One signal per packet means a busy socket queues many signals; the
//!   queue is bounded by RLIMIT_SIGPENDING. When it is full the kernel raises
//!   plain SIGIO instead (fs/fcntl.c, send_sigio_to_task). Then the queue has
//!   lost events: the loop drains the queued signals and falls back to a full
//!   scan of every socket, the select/poll cost, once per overflow. The exit
//!   statistics count signals, overflows and scans.
//! - The hidden environment variable IOMUX_SIGIO_QUEUE=n lowers
//!   RLIMIT_SIGPENDING to n to exercise the overflow path.
//! - Deadlines (header, keep-alive, send, linger) are on the library's
//!   timer heap (`iomux::time::TimerHeap`): the wait ends at the earliest,
//!   and a connection is closed when its own deadline passes.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use iomux::time::TimerHeap;

use super::model_common::{self, Progress, Session, Sessions};
use super::shutdown;
use super::{ServeArgs, announce};
use crate::CliResult;

#[derive(Default)]
struct Stats {
    signals: u64,
    overflows: u64,
    scans: u64,
}

struct Server {
    listener: TcpListener,
    sessions: Sessions,
    signal: libc::c_int,
    /// Connections by fd: the signal names the fd.
    conns: Vec<Option<Conn>>,
    /// Connection deadlines by fd. An entry is checked against its
    /// connection's deadline when it comes due (deadlines move as the
    /// connection works; an fd may have been reused), so none is removed
    /// early.
    deadlines: TimerHeap<RawFd>,
    scratch: Vec<u8>,
    stats: Stats,
}

struct Conn {
    sock: TcpStream,
    session: Session,
    /// The earliest deadline of this connection in the heap, if any.
    queued: Option<Instant>,
}

/// Runs the signal-driven server until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> CliResult {
    let signal = libc::SIGRTMIN() + 1;
    let wait_set = shutdown::signal_set(&[signal, libc::SIGIO, libc::SIGINT, libc::SIGTERM]);
    // Blocked before anything can raise them; this thread takes them synchronously.
    shutdown::block(&wait_set)?;
    if let Some(n) = std::env::var("IOMUX_SIGIO_QUEUE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        // Only the soft limit: lowering it needs no privilege.
        let mut limit = rustix::process::getrlimit(rustix::process::Resource::Sigpending);
        limit.current = Some(n);
        rustix::process::setrlimit(rustix::process::Resource::Sigpending, limit)?;
    }
    let mut server = Server {
        sessions: Sessions::new(args),
        listener: iomux::socket::listen(args.addr)?,
        signal,
        conns: Vec::new(),
        deadlines: TimerHeap::new(),
        scratch: vec![0u8; 64 * 1024],
        stats: Stats::default(),
    };
    arm(server.listener.as_raw_fd(), signal)?;
    announce(server.listener.local_addr()?)?;
    server.accept_all();

    let only_rt = shutdown::signal_set(&[signal]);
    let mut draining: Option<Instant> = None;
    let mut cut = 0;
    loop {
        let until = match (server.deadlines.peek(), draining) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait = until.map(|t| t.saturating_duration_since(Instant::now()));
        match take(&wait_set, wait)? {
            None => {}
            Some((sig, fd)) if sig == signal => {
                server.stats.signals += 1;
                server.on_fd(fd);
            }
            Some((libc::SIGIO, _)) => {
                // The real-time queue overflowed and events were lost. What is
                // still queued is stale or redundant once we scan everything.
                server.stats.overflows += 1;
                while take(&only_rt, Some(Duration::ZERO))?.is_some() {
                    server.stats.signals += 1;
                }
                server.full_scan();
            }
            Some((sig, _)) => {
                let name = if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                if draining.is_some() {
                    eprintln!("iomux: second {name}, exiting without waiting for the drain");
                    std::process::exit(0);
                }
                eprintln!("iomux: {name}, shutting down");
                draining = Some(Instant::now() + args.shutdown_timeout);
                server.drain();
            }
        }
        let now = Instant::now();
        server.expire(now);
        if let Some(deadline) = draining {
            let open = server.conns.iter().flatten().count();
            if open == 0 {
                break;
            }
            if now >= deadline {
                cut = open as u64;
                break;
            }
        }
    }
    eprintln!(
        "iomux-stats: model=sigio signals={} overflows={} full_scans={}",
        server.stats.signals, server.stats.overflows, server.stats.scans
    );
    shutdown::report_cut(cut, args.shutdown_timeout);
    Ok(())
}

impl Server {
    fn on_fd(&mut self, fd: RawFd) {
        if fd == self.listener.as_raw_fd() {
            self.accept_all();
        } else {
            self.service(fd);
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    let fd = sock.as_raw_fd();
                    if arm(fd, self.signal).is_err() {
                        continue;
                    }
                    let _ = sock.set_nodelay(true);
                    let slot = fd as usize;
                    if self.conns.len() <= slot {
                        self.conns.resize_with(slot + 1, || None);
                    }
                    self.conns[slot] = Some(Conn {
                        sock,
                        session: self.sessions.open(),
                        queued: None,
                    });
                    // Data that arrived before O_ASYNC was set raised no signal.
                    self.service(fd);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EAGAIN: drained. EMFILE: a later signal (the listener stays
                // readable) retries; the kernel raises one per new connection.
                Err(_) => return,
            }
        }
    }

    /// Serves one socket until EAGAIN: the signal will not come again for
    /// data that is already there.
    fn service(&mut self, fd: RawFd) {
        let Some(Some(c)) = self.conns.get_mut(fd as usize) else {
            return; // a stale signal for a connection closed meanwhile
        };
        if model_common::pump(&mut c.sock, &mut c.session, &mut self.scratch, usize::MAX)
            == Progress::Done
        {
            self.close(fd);
        } else {
            self.schedule(fd);
        }
    }

    /// Queues connection `fd`'s deadline unless an entry at or before it
    /// is queued already (that one, when due, queues the deadline then).
    fn schedule(&mut self, fd: RawFd) {
        let Some(Some(c)) = self.conns.get_mut(fd as usize) else {
            return;
        };
        if let Some(d) = c.session.deadline()
            && c.queued.is_none_or(|q| d < q)
        {
            c.queued = Some(d);
            self.deadlines.push(d, fd);
        }
    }

    /// Closes the connections whose deadline has passed at `now`.
    fn expire(&mut self, now: Instant) {
        while let Some(due) = self.deadlines.pop_due(now) {
            let fd = due.key;
            let Some(Some(c)) = self.conns.get_mut(fd as usize) else {
                continue; // closed since
            };
            if c.queued == Some(due.at) {
                c.queued = None;
            }
            if c.session.deadline().is_some_and(|d| d <= now) {
                self.close(fd);
            } else {
                self.schedule(fd);
            }
        }
    }

    /// The graceful stop begins: the listener is shut down (new
    /// connections are refused, accepts fail), and each connection reads
    /// what it holds once more, answers, and closes once that is sent.
    fn drain(&mut self) {
        let _ = rustix::net::shutdown(&self.listener, rustix::net::Shutdown::Both);
        for fd in 0..self.conns.len() {
            let Some(c) = &mut self.conns[fd] else {
                continue;
            };
            if model_common::drain_last(&mut c.sock, &mut c.session, &mut self.scratch)
                == Progress::Done
            {
                self.close(fd as RawFd);
            } else {
                self.schedule(fd as RawFd);
            }
        }
    }

    fn full_scan(&mut self) {
        self.stats.scans += 1;
        self.accept_all();
        for fd in 0..self.conns.len() {
            if self.conns[fd].is_some() {
                self.service(fd as RawFd);
            }
        }
    }

    fn close(&mut self, fd: RawFd) {
        // The session has lingered already if it needed to.
        self.conns[fd as usize] = None;
    }
}

/// `F_SETSIG` (include/uapi/asm-generic/fcntl.h); the libc crate lacks it.
const F_SETSIG: libc::c_int = 10;

/// Makes `fd` raise `signal` for this process on I/O readiness changes.
fn arm(fd: RawFd, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: plain fcntl calls on an fd we own; no pointers are passed.
    unsafe {
        if libc::fcntl(fd, libc::F_SETOWN, libc::getpid()) < 0
            || libc::fcntl(fd, F_SETSIG, signal) < 0
        {
            return Err(io::Error::last_os_error());
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_ASYNC | libc::O_NONBLOCK) < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Takes one pending signal of `set`: its number and, for SIGPOLL-style
/// signals, the fd from the siginfo. `None` on timeout.
fn take(
    set: &libc::sigset_t,
    timeout: Option<Duration>,
) -> io::Result<Option<(libc::c_int, RawFd)>> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    loop {
        // SAFETY: siginfo_t is plain data; zeroed is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set`, `info` and `ts_ptr` (null or a live timespec) are valid for the call.
        let sig = unsafe { libc::sigtimedwait(set, &mut info, ts_ptr) };
        if sig >= 0 {
            return Ok(Some((sig, siginfo_fd(&info))));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => {}
            _ => return Err(e),
        }
    }
}

/// `si_fd` of a SIGPOLL-layout siginfo. The libc crate has no accessor, so
/// read the kernel's layout: three ints, padding to 8, `long si_band`, then
/// `int si_fd` (include/uapi/asm-generic/siginfo.h, 64-bit).
fn siginfo_fd(info: &libc::siginfo_t) -> RawFd {
    #[repr(C)]
    struct Poll {
        signo: libc::c_int,
        errno: libc::c_int,
        code: libc::c_int,
        band: libc::c_long,
        fd: libc::c_int,
    }
    const _: () = assert!(size_of::<Poll>() <= size_of::<libc::siginfo_t>());
    // SAFETY: `Poll` is a prefix of siginfo_t's SIGPOLL layout, smaller than
    // siginfo_t, and siginfo_t's alignment (8) covers Poll's.
    let p = unsafe { &*(info as *const libc::siginfo_t as *const Poll) };
    p.fd
}
