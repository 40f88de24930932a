//! `Session`: one connection's protocol state without the I/O — its input
//! and output buffers, its phase (open, closing, lingering), back-pressure
//! and deadlines. Whoever owns the socket (the reactor's connections, or a
//! server of another I/O model) does the reads and writes and tells the
//! session what happened; the session says what the socket should do next.
//!
//! The reactor drives a handler's callbacks with a
//! [`Context`](super::Context); a server of another model drives its
//! bytes-in/bytes-out form with [`feed`](Session::feed),
//! [`feed_from`](Session::feed_from) and [`feed_eof`](Session::feed_eof).
//! The limits it keeps to are the caller's [`Limits`].
//!
//! Not for: system calls, timers or poller interest (the driver's); a
//! session is told what the socket did and answers with a [`Step`].

use std::time::Instant;

use super::handler::{Action, Handler};
use super::limits::Limits;

/// Output at or below this many bytes is compacted only when fully sent;
/// above it, a mostly-sent buffer is shifted down to bound its growth.
const COMPACT_AT: usize = 64 * 1024;

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading requests, writing answers.
    Open,
    /// This side asked to close (or the peer half-closed): flush, then close.
    Closing,
    /// Output sent and this side shut down; reading and discarding until the
    /// peer closes or the linger timeout, so that unread input does not turn
    /// the close into a reset that destroys the answer in flight.
    Lingering,
}

/// The input buffer grew past [`Limits::max_input`]: the handler is not
/// consuming what it is given.
#[derive(Debug, PartialEq, Eq)]
pub struct InputOverflow;

/// One connection's buffers, phase and deadlines (sans-IO).
#[derive(Debug)]
pub struct Session {
    input: Vec<u8>,
    in_start: usize,
    output: Vec<u8>,
    out_start: usize,
    phase: Phase,
    read_closed: bool,
    /// The owner paused reading (a proxy whose other side is backed up).
    paused: bool,
    /// The last read filled the room it was given: grow next time.
    filled: bool,
    room: usize,
    write_deadline: Option<Instant>,
    linger_deadline: Option<Instant>,
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

impl Session {
    /// An open session with empty buffers (nothing is allocated yet).
    pub fn new() -> Session {
        Session {
            input: Vec::new(),
            in_start: 0,
            output: Vec::new(),
            out_start: 0,
            phase: Phase::Open,
            read_closed: false,
            paused: false,
            filled: false,
            room: 0,
            write_deadline: None,
            linger_deadline: None,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The peer's FIN has been read.
    pub fn read_closed(&self) -> bool {
        self.read_closed
    }

    /// Bytes of output not yet written.
    pub fn unsent(&self) -> usize {
        self.output.len() - self.out_start
    }

    /// Unsent output is above `limits.high_water`.
    pub fn above_high_water(&self, limits: &Limits) -> bool {
        self.unsent() >= limits.high_water
    }

    /// Whether the socket should be read now: not while closing, not after
    /// EOF, not while paused or above the high-water mark.
    pub fn wants_read(&self, limits: &Limits) -> bool {
        match self.phase {
            Phase::Lingering => !self.read_closed,
            Phase::Closing => false,
            Phase::Open => !self.read_closed && !self.paused && !self.above_high_water(limits),
        }
    }

    /// Whether output waits to be written.
    pub fn wants_write(&self) -> bool {
        self.unsent() > 0
    }

    /// Pauses or resumes reading (on top of the high-water rule).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Whether the owner paused reading.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Makes room at the end of the input buffer and returns it for a read
    /// to append to (into its spare capacity). The buffer starts at
    /// `limits.initial_input` and doubles, up to `limits.read_chunk` of room,
    /// when a read filled it or the handler holds on to most of it. Report
    /// the bytes read with [`received`](Self::received).
    pub fn read_buffer(&mut self, limits: &Limits) -> Result<&mut Vec<u8>, InputOverflow> {
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
        // Below `initial_input` (none yet, or one sized to a first read
        // made elsewhere: the reactor's connection reads into a buffer on
        // the stack while it holds none, and `extend_input` keeps just what
        // came): grow it, so that a read is never cut short by a tiny buffer.
        if cap < limits.initial_input || room < low || (self.filled && room < limits.read_chunk) {
            if self.input.len() >= limits.max_input {
                return Err(InputOverflow);
            }
            let step = cap.clamp(limits.initial_input.max(1), limits.read_chunk.max(1));
            self.input.reserve(step);
        }
        self.filled = false;
        self.room = self.input.capacity() - self.input.len();
        Ok(&mut self.input)
    }

    /// Whether the input buffer has memory allocated.
    pub fn holds_input(&self) -> bool {
        self.input.capacity() > 0
    }

    /// Whether either buffer has memory allocated.
    pub fn holds_buffers(&self) -> bool {
        self.input.capacity() > 0 || self.output.capacity() > 0
    }

    /// Frees both buffers when nothing is in flight — every input byte
    /// consumed, every output byte sent — so that an idle connection holds
    /// no buffer memory (nginx frees an idle keep-alive connection's
    /// buffers the same way); the next read allocates again. Returns
    /// whether it freed anything. The reactor calls it for connections
    /// with no I/O for
    /// [`Config::release_idle_after`](crate::reactor::Config::release_idle_after).
    pub fn release_idle_buffers(&mut self) -> bool {
        if !self.holds_buffers() {
            return false;
        }
        let idle = self.in_start == self.input.len() && self.out_start == self.output.len();
        if !idle {
            return false;
        }
        self.input = Vec::new();
        self.in_start = 0;
        self.output = Vec::new();
        self.out_start = 0;
        true
    }

    /// Records a read of `n` bytes into [`read_buffer`](Self::read_buffer).
    /// Returns true when the read filled its room (more is probably
    /// waiting). Input that arrives while closing or lingering is dropped.
    pub fn received(&mut self, n: usize) -> bool {
        let full = n >= self.room;
        self.filled = full;
        if self.phase != Phase::Open {
            self.input.clear();
            self.in_start = 0;
        }
        full
    }

    /// Appends bytes read elsewhere (a scratch buffer, a completion
    /// buffer) to the input; dropped unless open. Fails once the
    /// unconsumed input would pass `limits.max_input`.
    pub fn extend_input(&mut self, data: &[u8], limits: &Limits) -> Result<(), InputOverflow> {
        if self.phase != Phase::Open {
            return Ok(());
        }
        if self.input.len() - self.in_start + data.len() > limits.max_input {
            return Err(InputOverflow);
        }
        if self.in_start == self.input.len() {
            self.input.clear();
            self.in_start = 0;
        } else if self.in_start > self.input.len() / 2 {
            self.input.drain(..self.in_start);
            self.in_start = 0;
        }
        self.input.extend_from_slice(data);
        Ok(())
    }

    /// Offers the unconsumed input to `handler`'s bytes-in/bytes-out form
    /// ([`Handler::on_data`]) until it stops consuming; its replies go to
    /// the output, and [`Action::Close`] starts closing.
    pub fn feed(&mut self, handler: &mut dyn Handler) {
        if self.phase != Phase::Open {
            return;
        }
        let used = offer(
            handler,
            &self.input[self.in_start..],
            &mut self.output,
            &mut self.phase,
        );
        self.consume(used);
    }

    /// [`extend_input`](Self::extend_input) and [`feed`](Self::feed) in
    /// one, without copying when nothing is left over from before: the
    /// handler reads `data` where it lies (a completion buffer) and only
    /// what it leaves is kept.
    pub fn feed_from(
        &mut self,
        data: &[u8],
        handler: &mut dyn Handler,
        limits: &Limits,
    ) -> Result<(), InputOverflow> {
        if self.phase == Phase::Open && self.in_start == self.input.len() {
            let used = offer(handler, data, &mut self.output, &mut self.phase);
            return self.extend_input(&data[used..], limits);
        }
        self.extend_input(data, limits)?;
        self.feed(handler);
        Ok(())
    }

    /// The peer closed its sending side: `handler` sees what it had not
    /// consumed ([`Handler::on_read_closed`]) and may answer; the session
    /// then closes once its output is sent.
    pub fn feed_eof(&mut self, handler: &mut dyn Handler) {
        if self.phase == Phase::Open {
            let rest = &self.input[self.in_start..];
            let _ = handler.on_read_closed(rest, &mut self.output);
        }
        self.eof();
    }

    /// Input the handler has not consumed yet.
    pub fn input(&self) -> &[u8] {
        &self.input[self.in_start..]
    }

    /// Drops `n` bytes from the front of the unconsumed input.
    pub fn consume(&mut self, n: usize) {
        self.in_start = (self.in_start + n).min(self.input.len());
    }

    /// Takes the input buffer out (to hand a slice of it to a handler that
    /// may reach the session meanwhile); give it back with
    /// [`restore_input`](Self::restore_input). Returns the buffer and where
    /// its unconsumed part starts.
    pub(crate) fn take_input(&mut self) -> (Vec<u8>, usize) {
        (std::mem::take(&mut self.input), self.in_start)
    }

    /// Puts back what [`take_input`](Self::take_input) took, `used` more
    /// bytes of it consumed.
    pub(crate) fn restore_input(&mut self, input: Vec<u8>, start: usize, used: usize) {
        self.input = input;
        self.in_start = (start + used).min(self.input.len());
        if self.phase != Phase::Open {
            self.input.clear();
            self.in_start = 0;
        }
    }

    /// The output buffer, for appending replies.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    /// The output still to be written.
    pub fn pending(&self) -> &[u8] {
        &self.output[self.out_start..]
    }

    /// Records that `n` bytes of [`pending`](Self::pending) were written.
    /// Returns true when this emptied output that had been stuck (a write
    /// found the socket full before): the moment to tell the handler its
    /// answer is out.
    pub fn wrote(&mut self, n: usize) -> bool {
        self.out_start = (self.out_start + n).min(self.output.len());
        if self.out_start == self.output.len() {
            self.output.clear();
            self.out_start = 0;
            return self.write_deadline.take().is_some();
        }
        if self.out_start >= COMPACT_AT && self.out_start * 2 >= self.output.len() {
            self.output.drain(..self.out_start);
            self.out_start = 0;
        }
        false
    }

    /// Records that a write found the socket full: the send timeout runs
    /// from the first such write without progress.
    pub fn write_blocked(&mut self, now: Instant, limits: &Limits) {
        if self.write_deadline.is_none() {
            self.write_deadline = Some(now + limits.send_timeout);
        }
    }

    /// Records a short write: progress was made, the timeout starts over.
    pub fn write_short(&mut self, now: Instant, limits: &Limits) {
        self.write_deadline = Some(now + limits.send_timeout);
    }

    /// The peer closed its sending side.
    pub fn eof(&mut self) {
        self.read_closed = true;
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
        }
        self.input.clear();
        self.in_start = 0;
    }

    /// This side wants to close once the output is sent.
    pub fn close(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
        }
    }

    /// What to do once a closing session's output is out.
    pub fn next_step(&self) -> Step {
        match self.phase {
            Phase::Open => Step::Serve,
            Phase::Closing if self.unsent() > 0 => Step::Serve,
            Phase::Closing if self.read_closed => Step::Close,
            Phase::Closing => Step::ShutdownWrite,
            Phase::Lingering if self.read_closed => Step::Close,
            Phase::Lingering => Step::Serve,
        }
    }

    /// Records that this side's write half was shut down: linger until
    /// the peer closes, at most `limits.linger_timeout`.
    pub fn lingering(&mut self, now: Instant, limits: &Limits) {
        self.phase = Phase::Lingering;
        self.linger_deadline = Some(now + limits.linger_timeout);
        self.input.clear();
        self.in_start = 0;
    }

    /// When the connection must be closed if nothing happens before. While
    /// output is waiting the send timeout governs (the peer is slow to
    /// read, not to send); otherwise `handler` (the protocol's header or
    /// keep-alive deadline) does.
    pub fn deadline(&self, handler: impl FnOnce() -> Option<Instant>) -> Option<Instant> {
        let handler = match self.phase {
            Phase::Open if self.unsent() == 0 => handler(),
            _ => None,
        };
        [handler, self.write_deadline, self.linger_deadline]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Offers `input` to `handler` until it stops consuming or closes; returns
/// how much it consumed. Its replies go to `output`; [`Action::Close`]
/// moves `phase` to closing.
fn offer(
    handler: &mut dyn Handler,
    input: &[u8],
    output: &mut Vec<u8>,
    phase: &mut Phase,
) -> usize {
    let mut off = 0;
    while *phase == Phase::Open && off < input.len() {
        let (used, action) = handler.on_data(&input[off..], output);
        off += used.min(input.len() - off);
        if action == Action::Close {
            *phase = Phase::Closing;
        }
        if used == 0 {
            break;
        }
    }
    off
}

/// What the owner of a session's socket should do next.
///
/// Exhaustive on purpose: a driver that skipped a step would leak or cut a
/// connection, so a new step has to fail to compile in every driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Keep serving: read if [`Session::wants_read`], write if
    /// [`Session::wants_write`].
    Serve,
    /// Everything is sent: shut down the write half, then call
    /// [`Session::lingering`].
    ShutdownWrite,
    /// Done: close the socket.
    Close,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_only_after_output_then_lingers() {
        let limits = Limits::default();
        let mut s = Session::new();
        s.output().extend_from_slice(b"bye");
        s.close();
        assert_eq!(s.next_step(), Step::Serve, "output still to send");
        assert!(!s.wants_read(&limits));
        s.wrote(3);
        assert_eq!(s.next_step(), Step::ShutdownWrite);
        s.lingering(Instant::now(), &limits);
        assert!(
            s.wants_read(&limits),
            "a lingering session reads and discards"
        );
        s.eof();
        assert_eq!(s.next_step(), Step::Close);
    }

    #[test]
    fn high_water_stops_reading_until_drained() {
        let limits = Limits {
            high_water: 10,
            ..Limits::default()
        };
        let mut s = Session::new();
        s.output().extend_from_slice(&[0; 10]);
        assert!(!s.wants_read(&limits));
        s.write_blocked(Instant::now(), &limits);
        assert!(!s.wrote(4), "not drained yet");
        assert!(s.wants_read(&limits));
        assert!(s.wrote(6), "drained after a blocked write");
    }

    struct Upper;
    impl Handler for Upper {
        fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
            let Some(end) = input.iter().position(|&b| b == b'\n') else {
                return (0, Action::Continue);
            };
            output.extend(input[..=end].iter().map(u8::to_ascii_uppercase));
            let action = if input.starts_with(b"quit") {
                Action::Close
            } else {
                Action::Continue
            };
            (end + 1, action)
        }
    }

    #[test]
    fn feed_runs_the_handler_until_it_stops_consuming() {
        let limits = Limits::default();
        let mut s = Session::new();
        s.extend_input(b"ab\ncd\nef", &limits).unwrap();
        s.feed(&mut Upper);
        assert_eq!(s.pending(), b"AB\nCD\n");
        assert_eq!(s.input(), b"ef", "a partial line waits for more");
        s.extend_input(b"\nquit\nlate\n", &limits).unwrap();
        s.feed(&mut Upper);
        assert_eq!(s.pending(), b"AB\nCD\nEF\nQUIT\n");
        assert_eq!(s.phase(), Phase::Closing, "input after quit is not served");
    }

    #[test]
    fn feed_from_keeps_only_what_the_handler_leaves() {
        let limits = Limits::default();
        let mut s = Session::new();
        s.feed_from(b"ab\ncd", &mut Upper, &limits).unwrap();
        assert_eq!((s.pending(), s.input()), (&b"AB\n"[..], &b"cd"[..]));
        s.feed_from(b"\n", &mut Upper, &limits).unwrap();
        assert_eq!((s.pending(), s.input()), (&b"AB\nCD\n"[..], &b""[..]));
    }

    #[test]
    fn idle_buffers_are_freed_and_busy_ones_kept() {
        let limits = Limits::default();
        let mut s = Session::new();
        assert!(!s.release_idle_buffers(), "nothing to free yet");
        s.feed_from(b"ab\ncd", &mut Upper, &limits).unwrap();
        assert!(
            !s.release_idle_buffers(),
            "unconsumed input and unsent output stay"
        );
        let n = s.pending().len();
        s.wrote(n);
        assert!(!s.release_idle_buffers(), "a partial line stays");
        s.feed_from(b"\n", &mut Upper, &limits).unwrap();
        let n = s.pending().len();
        s.wrote(n);
        assert!(s.release_idle_buffers(), "all consumed, all sent: freed");
        assert_eq!((s.input.capacity(), s.output.capacity()), (0, 0));
        // And it serves on as before.
        let buf = s.read_buffer(&limits).unwrap();
        assert!(buf.capacity() >= limits.initial_input);
        buf.extend_from_slice(b"ef\n");
        s.received(3);
        s.feed(&mut Upper);
        assert_eq!(s.pending(), b"EF\n");
    }

    #[test]
    fn extend_input_is_bounded() {
        let limits = Limits {
            max_input: 4,
            ..Limits::default()
        };
        let mut s = Session::new();
        s.extend_input(b"1234", &limits).unwrap();
        assert_eq!(s.extend_input(b"5", &limits), Err(InputOverflow));
    }

    #[test]
    fn input_is_bounded() {
        let limits = Limits {
            initial_input: 4,
            read_chunk: 4,
            max_input: 8,
            ..Limits::default()
        };
        let mut s = Session::new();
        for _ in 0..2 {
            let buf = s.read_buffer(&limits).unwrap();
            buf.extend_from_slice(&[1; 4]);
            s.received(4);
        }
        assert_eq!(s.input().len(), 8);
        assert_eq!(s.read_buffer(&limits).err(), Some(InputOverflow));
    }
}
