//! What the models that drive a [`Session`](iomux::conn::Session) by hand
//! share: the per-connection sessions — the library's sans-IO session
//! (buffers, phase, back-pressure, deadlines, lingering close) within the
//! library's default [`Limits`] and the server's send timeout, driving the
//! protocol's [`Handler`] — for the blocking, non-blocking,
//! signal-driven and rt models; and the non-blocking read/write pump
//! ([`pump`], [`flush`], [`drain_last`]), for the non-blocking and
//! signal-driven ones. (The reactor and io_uring models keep their own
//! sessions.)

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use iomux::conn::{Handler, HandlerFactory, Limits, Session as Core, Step};

use super::ServeArgs;

/// Opens one fresh session per connection: the server's protocol and
/// limits, and the library's connection limits with its send timeout.
#[derive(Clone)]
pub struct Sessions {
    handlers: HandlerFactory,
    limits: Limits,
}

impl Sessions {
    /// Sessions as `args` describe them.
    pub fn new(args: &ServeArgs) -> Sessions {
        Sessions {
            handlers: crate::proto::factory(args.proto, args.limits()),
            limits: Limits::default().with_send_timeout(args.send_timeout),
        }
    }

    /// A session for a new connection.
    pub fn open(&self) -> Session {
        Session {
            handler: (self.handlers)(),
            core: Core::new(),
            limits: self.limits,
        }
    }
}

/// One connection's protocol state and its handler.
pub struct Session {
    handler: Box<dyn Handler>,
    core: Core,
    limits: Limits,
}

impl Session {
    /// How long output may stay stuck (the peer reads nothing).
    pub fn send_timeout(&self) -> Duration {
        self.limits.send_timeout
    }

    /// Takes bytes read from the socket and lets the handler answer.
    /// False: the handler leaves too much unconsumed (close).
    pub fn received(&mut self, data: &[u8]) -> bool {
        self.core
            .feed_from(data, &mut *self.handler, &self.limits)
            .is_ok()
    }

    /// The peer closed its sending side: let the handler finish.
    pub fn read_closed(&mut self) {
        self.core.feed_eof(&mut *self.handler);
    }

    /// When the connection is to be closed if nothing happens: the
    /// handler's deadline, the send timeout while output is stuck, or the
    /// linger timeout.
    pub fn deadline(&self) -> Option<Instant> {
        self.core.deadline(|| self.handler.deadline())
    }

    /// Bytes still to write.
    pub fn pending(&self) -> &[u8] {
        self.core.pending()
    }

    /// Records that `n` more bytes were written.
    pub fn advance(&mut self, n: usize) {
        if self.core.wrote(n) {
            self.handler.on_drained();
        }
    }

    /// A write found the socket full.
    fn blocked(&mut self) {
        self.core.write_blocked(Instant::now(), &self.limits);
    }

    /// Whether to read now (not while closing, not above the high water).
    pub fn wants_read(&self) -> bool {
        self.core.wants_read(&self.limits)
    }

    /// What to do once the output is out: keep serving, shut down the
    /// write half (then [`lingering`](Self::lingering)), or close.
    pub fn next_step(&self) -> Step {
        self.core.next_step()
    }

    /// Closes once the output is sent (a lingering close).
    pub fn close_when_sent(&mut self) {
        self.core.close();
    }

    /// Nothing in flight: no request begun, no answer unsent.
    pub fn is_idle(&self) -> bool {
        self.core.input().is_empty() && self.core.pending().is_empty()
    }

    /// Serving: not closing, not lingering.
    pub fn is_open(&self) -> bool {
        self.core.phase() == iomux::conn::Phase::Open
    }

    /// The write half is shut down: read and discard until the peer closes
    /// or the linger timeout.
    pub fn lingering(&mut self) {
        self.core.lingering(Instant::now(), &self.limits);
    }
}

/// What a non-blocking read or write attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Some bytes moved, or nothing to do.
    Ok,
    /// The socket would block.
    WouldBlock,
    /// The connection is finished: close it.
    Done,
}

/// Writes as much pending output as the socket takes, then moves a
/// closing session along (shut down the write half, linger, close).
pub fn flush(sock: &mut TcpStream, s: &mut Session) -> Progress {
    while !s.pending().is_empty() {
        match sock.write(s.pending()) {
            Ok(0) => return Progress::Done,
            Ok(n) => s.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                s.blocked();
                return Progress::WouldBlock;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Progress::Done,
        }
    }
    match s.next_step() {
        Step::Serve => Progress::Ok,
        Step::Close => Progress::Done,
        Step::ShutdownWrite => {
            if sock.shutdown(Shutdown::Write).is_err() {
                return Progress::Done;
            }
            s.lingering();
            Progress::Ok
        }
    }
}

/// Reads what the socket has (up to `budget` reads) into the session,
/// runs the handler, and flushes. Used by the non-blocking models.
pub fn pump(sock: &mut TcpStream, s: &mut Session, scratch: &mut [u8], budget: usize) -> Progress {
    let mut reads = 0;
    loop {
        match flush(sock, s) {
            Progress::Ok => {}
            other => return other,
        }
        if reads == budget || !s.wants_read() {
            return Progress::Ok;
        }
        reads += 1;
        match sock.read(scratch) {
            Ok(0) => s.read_closed(),
            Ok(n) => {
                if !s.received(&scratch[..n]) {
                    return Progress::Done;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Progress::Done,
        }
    }
}

/// A graceful stop's last read of one connection (blocking socket or not):
/// what the socket already holds is read without waiting (bounded by the
/// reactor's edge budget) and answered, then the connection closes once
/// the answers are out (a lingering close). Done at once for an idle one:
/// nothing arrived, nothing to send, no request begun.
pub fn drain_last(sock: &mut TcpStream, s: &mut Session, scratch: &mut [u8]) -> Progress {
    use std::os::fd::AsFd;
    if !s.is_open() {
        return flush(sock, s); // closing already: it finishes on its own
    }
    let mut arrived = !s.core.input().is_empty();
    let mut budget = iomux::reactor::Config::default().edge_budget;
    while budget > 0 && s.wants_read() {
        match rustix::net::recv(
            sock.as_fd(),
            &mut *scratch,
            rustix::net::RecvFlags::DONTWAIT,
        ) {
            Ok((0, _)) => {
                arrived = true;
                s.read_closed();
                break;
            }
            Ok((n, _)) => {
                arrived = true;
                if !s.received(&scratch[..n]) {
                    return Progress::Done;
                }
                budget = budget.saturating_sub(n);
            }
            Err(rustix::io::Errno::AGAIN) => break,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return Progress::Done,
        }
    }
    if !arrived && s.pending().is_empty() {
        return Progress::Done; // idle: nothing in flight
    }
    if s.is_open() {
        s.close_when_sent();
    }
    flush(sock, s)
}
