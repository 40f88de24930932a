//! `Connection`: one non-blocking socket, its input and output buffers, and
//! the handler that turns one into the other.
//!
//! The loop owns the connections and tells them what the poller saw; a
//! connection does the I/O and says whether it is still alive. It never
//! talks to the poller itself, so the interest bookkeeping stays in one
//! place (`event_loop`).

use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use rustix::buffer::spare_capacity;
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, Shutdown};

use super::config::Config;
use super::handler::{Action, Handler};
use crate::Interest;

/// The connection is finished: the loop deregisters and closes it.
#[derive(Debug)]
pub(crate) struct Gone;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading requests, writing answers.
    Open,
    /// The handler said `Close` (or the peer half-closed): flush, then close.
    Closing,
    /// Output sent and our side shut down; reading and discarding until the
    /// peer closes or the linger timeout, so that unread input does not turn
    /// our close into a reset that destroys the answer in flight.
    Lingering,
}

/// Output at or below this many bytes is compacted only when fully sent;
/// above it, a mostly-sent buffer is shifted down to bound its growth.
const COMPACT_AT: usize = 64 * 1024;

pub(crate) struct Connection {
    sock: OwnedFd,
    handler: Box<dyn Handler>,
    input: Vec<u8>,
    in_start: usize,
    output: Vec<u8>,
    out_start: usize,
    phase: Phase,
    read_closed: bool,
    /// The poller reported the peer's FIN (sticky): a short read then does
    /// not mean drained, the EOF is still to be read.
    fin_seen: bool,
    /// The last read filled the input buffer's free space.
    filled: bool,
    write_deadline: Option<Instant>,
    linger_deadline: Option<Instant>,
    /// The interest currently registered with the poller.
    pub registered: Interest,
    /// The deadline of this connection's live entry in the timer heap.
    pub timer_at: Option<Instant>,
}

impl Connection {
    pub fn new(sock: OwnedFd, handler: Box<dyn Handler>, registered: Interest) -> Connection {
        Connection {
            sock,
            handler,
            input: Vec::new(),
            in_start: 0,
            output: Vec::new(),
            out_start: 0,
            phase: Phase::Open,
            read_closed: false,
            fin_seen: false,
            filled: false,
            write_deadline: None,
            linger_deadline: None,
            registered,
            timer_at: None,
        }
    }

    /// Records that the poller saw the peer's FIN. The edge that carried it
    /// may have been spent while reading was paused.
    pub fn saw_fin(&mut self) {
        self.fin_seen = true;
    }

    pub fn sock(&self) -> &OwnedFd {
        &self.sock
    }

    fn unsent(&self) -> usize {
        self.output.len() - self.out_start
    }

    /// Whether the connection wants to read now: not while closing, not
    /// after EOF, not while its output is above the high-water mark.
    pub fn wants_read(&self, cfg: &Config) -> bool {
        match self.phase {
            Phase::Lingering => !self.read_closed,
            Phase::Closing => false,
            Phase::Open => !self.read_closed && self.unsent() < cfg.high_water,
        }
    }

    /// The interest a level-triggered registration should have now.
    pub fn wanted(&self, cfg: &Config) -> Interest {
        match (self.wants_read(cfg), self.unsent() > 0) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            // (false, false) does not last: `settle` closes such a connection.
            _ => Interest::READABLE,
        }
    }

    /// When the connection must be closed if nothing happens before.
    /// While output is waiting, the send timeout governs (the peer is slow
    /// to read, not to send); otherwise the handler's deadline does.
    pub fn deadline(&self) -> Option<Instant> {
        let handler = match self.phase {
            Phase::Open if self.unsent() == 0 => self.handler.deadline(),
            _ => None,
        };
        [handler, self.write_deadline, self.linger_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Reads what the socket has and feeds the handler. `edge`: read until
    /// EAGAIN, within `cfg.edge_budget`; otherwise one read.
    /// Returns true when the budget ran out with data probably left: the
    /// loop must come back without waiting for another edge.
    pub fn read(&mut self, cfg: &Config, edge: bool) -> Result<bool, Gone> {
        let mut budget = cfg.edge_budget;
        loop {
            if !self.wants_read(cfg) {
                return Ok(false);
            }
            let room = self.make_room(cfg)?;
            match rustix::net::recv(
                &self.sock,
                spare_capacity(&mut self.input),
                RecvFlags::empty(),
            ) {
                Ok((0, _)) => {
                    self.read_closed = true;
                    self.on_eof(cfg)?;
                    return Ok(false);
                }
                Ok((n, _)) => {
                    // A full read suggests more is coming: grow next time.
                    self.filled = n == room;
                    self.consume(cfg)?;
                    // A short read drained the socket: new data will raise a
                    // new edge, so the extra read that would say EAGAIN is
                    // saved (nginx does the same).
                    if !edge || (n < room && !self.fin_seen) {
                        return Ok(false);
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return Ok(true);
                    }
                }
                Err(Errno::AGAIN) => return Ok(false),
                Err(Errno::INTR) => {}
                Err(_) => return Err(Gone),
            }
        }
    }

    /// Ensures free space at the end of the input buffer; returns how much.
    /// The buffer starts small and doubles (up to `read_chunk` of room)
    /// when a read filled it or when the handler holds on to most of it.
    fn make_room(&mut self, cfg: &Config) -> Result<usize, Gone> {
        if self.in_start == self.input.len() {
            self.input.clear();
            self.in_start = 0;
        }
        let cap = self.input.capacity();
        let low = (cap / 4).max(1);
        if cap - self.input.len() < low && self.in_start > 0 {
            self.input.drain(..self.in_start);
            self.in_start = 0;
        }
        let room = cap - self.input.len();
        if cap == 0 || room < low || (self.filled && room < cfg.read_chunk) {
            if self.input.len() >= cfg.max_input {
                return Err(Gone);
            }
            let step = cap.clamp(cfg.initial_input.max(1), cfg.read_chunk.max(1));
            self.input.reserve(step);
        }
        self.filled = false;
        Ok(self.input.capacity() - self.input.len())
    }

    /// Offers the unconsumed input to the handler and sends what it wrote.
    fn consume(&mut self, cfg: &Config) -> Result<(), Gone> {
        if self.phase != Phase::Open {
            // Closing or lingering: input is read only to be discarded.
            self.input.clear();
            self.in_start = 0;
            return Ok(());
        }
        let pending = &self.input[self.in_start..];
        let (used, action) = self.handler.on_data(pending, &mut self.output);
        self.in_start += used.min(pending.len());
        if action == Action::Close {
            self.phase = Phase::Closing;
        }
        self.flush(cfg)
    }

    fn on_eof(&mut self, cfg: &Config) -> Result<(), Gone> {
        if self.phase == Phase::Open {
            let rest = &self.input[self.in_start..];
            // Whatever the handler answers, nothing more will arrive: the
            // connection closes once its output is sent.
            let _ = self.handler.on_read_closed(rest, &mut self.output);
            self.phase = Phase::Closing;
        }
        self.input.clear();
        self.in_start = 0;
        self.flush(cfg)
    }

    /// Sends pending output with one send(2); on a short write the rest
    /// waits for writability. Never raises SIGPIPE.
    pub fn flush(&mut self, cfg: &Config) -> Result<(), Gone> {
        while self.out_start < self.output.len() {
            match rustix::net::send(
                &self.sock,
                &self.output[self.out_start..],
                SendFlags::NOSIGNAL,
            ) {
                Ok(n) => {
                    self.out_start += n;
                    if self.out_start < self.output.len() {
                        // Short write: the socket buffer is full, a retry
                        // would only say EAGAIN.
                        self.write_deadline = Some(Instant::now() + cfg.send_timeout);
                        break;
                    }
                }
                Err(Errno::AGAIN) => {
                    if self.write_deadline.is_none() {
                        self.write_deadline = Some(Instant::now() + cfg.send_timeout);
                    }
                    break;
                }
                Err(Errno::INTR) => {}
                Err(_) => return Err(Gone),
            }
        }
        if self.out_start == self.output.len() {
            self.output.clear();
            self.out_start = 0;
            if self.write_deadline.take().is_some() {
                self.handler.on_drained();
            }
        } else if self.out_start >= COMPACT_AT && self.out_start * 2 >= self.output.len() {
            self.output.drain(..self.out_start);
            self.out_start = 0;
        }
        Ok(())
    }

    /// Moves a closing connection along: once its output is out, shut down
    /// our side and linger, or close if the peer is gone too. Returns what
    /// [`read`](Self::read) returns when it had to read.
    pub fn settle(&mut self, cfg: &Config, edge: bool) -> Result<bool, Gone> {
        let mut more = false;
        if self.phase == Phase::Closing && self.unsent() == 0 {
            if self.read_closed {
                return Err(Gone);
            }
            if rustix::net::shutdown(&self.sock, Shutdown::Write).is_err() {
                return Err(Gone);
            }
            self.phase = Phase::Lingering;
            self.linger_deadline = Some(Instant::now() + cfg.linger_timeout);
            if edge {
                // Edges that came while closing were not read; what they
                // announced (often the peer's FIN) is read now.
                more = self.read(cfg, true)?;
            }
        }
        if self.phase == Phase::Lingering && self.read_closed {
            return Err(Gone);
        }
        Ok(more)
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.as_fd()
    }
}
