//! Driving connections: socket readiness in, handler callbacks out, and the
//! bookkeeping after (interest, timers, closing).
//!
//! A pass over a connection (`serve`) looks it up once and holds it: the
//! socket calls and the session's steps are `Connection` methods. A
//! callback (`call`) takes the handler out of the connection, runs it with
//! the whole loop in its `Context` — to send to other connections, close
//! itself — and hands the connection back, found again under its key: the
//! callback may have grown or changed the slab, so the pass cannot keep
//! its reference across it, and this is the one place that looks it up
//! again. A close asked for during a callback waits for it to return
//! (`Connection::doomed`), so the connection is always there. A panic in a
//! callback is caught in `call`, at the dispatch edge: it closes that
//! connection and the loop goes on.
//!
//! Not for: the socket calls themselves (`reactor/connection.rs`) or the
//! buffering rules (`conn::Session`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use super::{ConnId, EventLoop, Policy, lookup, token};
use crate::conn::Context;
use crate::conn::Step;
use crate::conn::{CloseReason, Handler};
use crate::reactor::connection::{Connection, Received, Taken};
use crate::{Event, Interest};

/// What a pass over a connection came to: `Ok(true)` when it should be
/// served again without waiting for an event (edge budget spent), `Err`
/// when it is to be closed.
type IoStep = Result<bool, CloseReason>;

/// What a pass over a connection starts with.
#[derive(Clone, Copy)]
pub(super) enum Pass<'e> {
    /// Readiness from the poller.
    Event(&'e Event),
    /// Its edge budget ran out last turn: read on, then settle.
    Read,
    /// Output was queued outside its callbacks: write it, then settle.
    Flush,
    /// A close was asked for outside its callbacks: move it along.
    Settle,
    /// A graceful stop: read what the socket holds one last time, let the
    /// handler answer, then close once that is sent (`draining.rs`).
    Drain,
    /// The completion driver's recv brought bytes or the FIN
    /// (`CompletionIo::take_received`): offer them, then settle.
    Received,
    /// The completion driver's send completed; `drained`: output that had
    /// to wait is all out (tell the handler). Queue what came meanwhile.
    Sent { drained: bool },
}

/// How a run of reads goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Level-triggered: one read per event.
    Once,
    /// Until EAGAIN (or a short read), within the edge budget; `Ok(true)`
    /// when the budget ran out with data probably left.
    Edge,
    /// A drain's last read: until EAGAIN or the budget, whatever the mode.
    Last,
}

/// Why a pass ended early.
enum Halt {
    /// The connection is not open (closed earlier in this batch).
    Gone,
    Close(CloseReason),
}

impl From<CloseReason> for Halt {
    fn from(reason: CloseReason) -> Halt {
        Halt::Close(reason)
    }
}

impl EventLoop {
    pub(super) fn conn_event(&mut self, id: ConnId, ev: &Event) {
        match self.serve(id, Pass::Event(ev)) {
            Some(step) => self.after_io(id, step),
            // Closed earlier in this batch; its fd may belong to someone else now.
            None => self.stats.stale_events += 1,
        }
    }

    /// One pass over connection `id`; `None` if it is not open.
    pub(super) fn serve(&mut self, id: ConnId, pass: Pass<'_>) -> Option<IoStep> {
        match self.pass(id, pass) {
            Ok(more) => Some(Ok(more)),
            Err(Halt::Close(reason)) => Some(Err(reason)),
            Err(Halt::Gone) => None,
        }
    }

    fn pass(&mut self, id: ConnId, pass: Pass<'_>) -> Result<bool, Halt> {
        let limits = self.cfg.limits;
        let edge_budget = self.cfg.edge_budget;
        let edge = self.edge_reads;
        let mut conn = lookup(&mut self.conns, self.shared.id, id).ok_or(Halt::Gone)?;
        // The first run of reads, if one is due; and whether settling reads
        // on once this side is shut down (edges that came while closing
        // were not read; what they announced, often the peer's FIN, is).
        let (mut reading, settle_reads) = match pass {
            Pass::Event(ev) => {
                if ev.is_error() && !ev.is_readable() {
                    return Err(conn.socket_error().into());
                }
                if ev.is_read_closed() {
                    conn.fin_seen = true;
                }
                let paused = !conn.session.wants_read(&limits);
                if ev.is_writable()
                    && let Some(handler) = conn.write(&limits)?
                {
                    conn = self.write_complete(id, handler)?;
                }
                // An edge was spent while paused: nothing will announce the
                // data that waited, so read now that there is room again.
                let resumed = paused && edge && conn.wants_read(&limits);
                let due = ev.is_readable() || ev.is_read_closed() || resumed;
                let how = if edge { Reading::Edge } else { Reading::Once };
                (due.then_some(how), edge)
            }
            Pass::Read => (Some(Reading::Edge), true),
            Pass::Flush => {
                if let Some(handler) = conn.write(&limits)? {
                    conn = self.write_complete(id, handler)?;
                }
                (None, edge)
            }
            Pass::Settle => (None, edge),
            Pass::Drain => (Some(Reading::Last), edge),
            Pass::Received => (Some(Reading::Last), edge),
            Pass::Sent { drained } => {
                if drained && !conn.in_callback {
                    let handler = conn.begin_callback();
                    conn = self.write_complete(id, handler)?;
                } else {
                    conn.flush(&limits)?;
                }
                (None, edge)
            }
        };
        // On the completion driver, what arrived while reading was paused
        // waits in the session: offered once reading resumes, whatever
        // brought the connection here.
        if reading.is_none() && conn.ring.as_ref().is_some_and(|r| r.data > 0 || r.eof) {
            reading = Some(Reading::Last);
        }
        let draining = matches!(pass, Pass::Drain);
        let mut arrived = draining && !conn.session.input().is_empty();
        let mut first = true;
        let mut more = false;
        loop {
            if let Some(how) = reading.take() {
                let mut budget = edge_budget;
                more |= loop {
                    if !conn.wants_read(&limits) {
                        break false;
                    }
                    match conn.recv(&limits, draining)? {
                        Received::Again => break false,
                        Received::Eof => {
                            arrived = true;
                            // The handler sees what it had not consumed, and
                            // may answer; then nothing more will arrive, and
                            // the connection closes once its output is sent.
                            let told = match conn.begin_input() {
                                Some(taken) => {
                                    let (told, back) = self.offer(id, taken, true);
                                    conn = back;
                                    told
                                }
                                None => Ok(()),
                            };
                            conn.session.eof();
                            told?;
                            if let Some(handler) = conn.write(&limits)? {
                                conn = self.write_complete(id, handler)?;
                            }
                            break false;
                        }
                        Received::Data { n, full } => {
                            arrived = true;
                            let fin_seen = conn.fin_seen;
                            if let Some(taken) = conn.begin_input() {
                                let (used, back) = self.offer(id, taken, false);
                                conn = back;
                                used?;
                                if let Some(handler) = conn.write(&limits)? {
                                    conn = self.write_complete(id, handler)?;
                                }
                            }
                            // A short read drained the socket: new data will
                            // raise a new edge, so the extra read that would
                            // say EAGAIN is saved (nginx does the same).
                            match how {
                                Reading::Once => break false,
                                Reading::Edge if !full && !fin_seen => break false,
                                _ => {}
                            }
                            budget = budget.saturating_sub(n);
                            if budget == 0 {
                                break how == Reading::Edge;
                            }
                        }
                    }
                };
            }
            if draining && first {
                if !arrived && conn.unsent() == 0 && conn.doomed.is_none() {
                    // Idle: nothing in flight, nothing owed.
                    return Err(CloseReason::Shutdown.into());
                }
                conn.session.close();
            }
            first = false;
            // Move a closing connection along: once its output is out, shut
            // down this side and linger, or close if the peer is gone too.
            if let Some(reason) = conn.doomed {
                return Err(reason.into());
            }
            match conn.next_step() {
                Step::Serve => return Ok(more && !draining),
                Step::Close => return Err(conn.done_reason().into()),
                Step::ShutdownWrite => {
                    conn.shutdown_write(&limits)?;
                    if settle_reads {
                        reading = Some(Reading::Edge);
                    }
                }
            }
        }
    }

    /// Offers the input taken out of connection `id` to its handler
    /// (`on_message`, or `on_peer_closed` once the peer's FIN was read),
    /// and gives back what it did not consume.
    fn offer(
        &mut self,
        id: ConnId,
        taken: Taken,
        peer_closed: bool,
    ) -> (Result<(), CloseReason>, &mut Connection) {
        let Taken {
            handler,
            input,
            start,
        } = taken;
        let (used, conn) = self.call(id, handler, |h, cx| {
            if peer_closed {
                h.on_peer_closed(cx, &input[start..]);
                0
            } else {
                h.on_message(cx, &input[start..])
            }
        });
        conn.session
            .restore_input(input, start, *used.as_ref().unwrap_or(&0));
        (used.map(drop), conn)
    }

    /// Output that had to wait is all out: tells the handler (taken out by
    /// `Connection::write`), and writes what it adds then.
    fn write_complete(
        &mut self,
        id: ConnId,
        handler: Box<dyn Handler>,
    ) -> Result<&mut Connection, CloseReason> {
        let limits = self.cfg.limits;
        let (told, conn) = self.call(id, handler, |h, cx| h.on_write_complete(cx));
        told?;
        conn.flush(&limits)?;
        Ok(conn)
    }

    /// Bookkeeping after a connection did I/O: close it, queue it for
    /// another turn, or publish its output, bring its interest and timer
    /// up to date, and tell who waits for its output to drain.
    pub(super) fn after_io(&mut self, id: ConnId, step: IoStep) {
        match step {
            Err(reason) => {
                self.close_with(id, reason);
                return;
            }
            Ok(true) => self.pending.push(id),
            Ok(false) => {}
        }
        let cfg = self.cfg;
        let Some(conn) = lookup(&mut self.conns, self.shared.id, id) else {
            return;
        };
        // Other threads see its unsent count (stored only when it changed).
        let unsent = conn.unsent();
        let drained = if unsent == 0 && !conn.drain_waiters.is_empty() {
            std::mem::take(&mut conn.drain_waiters)
        } else {
            Vec::new()
        };
        if conn.published != unsent {
            conn.published = unsent;
            self.shared.publish(id.split().0, unsent);
        }
        // It did I/O: its buffers are kept past the next idle sweep.
        if let Some(after) = cfg.release_idle_after {
            conn.busy = true;
            if self.idle_sweep_at.is_none() {
                self.idle_sweep_at = Some(Instant::now() + after);
            }
        }
        let mut failed = None;
        if let Some(ring) = self.io.ring_mut() {
            // Submit its send, arm or cancel its recv.
            ring.settle_conn(id, conn, &cfg.limits);
        } else if self.policy != Policy::Fixed {
            let want = wanted(conn, &cfg);
            if self.policy == Policy::Rearm || want != conn.registered {
                match self
                    .io
                    .poller()
                    .modify(conn.sock(), id.token(), want, cfg.mode)
                {
                    Ok(()) => conn.registered = want,
                    Err(e) => {
                        failed = Some(CloseReason::from_errno(e.raw_os_error().unwrap_or(0)));
                    }
                }
            }
        }
        if failed.is_none() {
            self.timers.schedule(id, conn);
        }
        for notice in drained {
            self.notify(notice, Ok(()));
        }
        if let Some(reason) = failed {
            self.close_with(id, reason);
        }
    }

    /// Serves the connections whose edge budget ran out last turn.
    pub(super) fn run_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.scratch.pending);
        std::mem::swap(&mut list, &mut self.pending);
        for id in list.drain(..) {
            if let Some(step) = self.serve(id, Pass::Read) {
                self.after_io(id, step);
            }
        }
        self.scratch.pending = list;
    }

    /// Runs a callback of `id`'s handler outside the I/O path (on_open, a
    /// timer), then writes and settles the connection.
    pub(super) fn callback(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut dyn Handler, &mut Context<'_>),
    ) {
        let Some(conn) = self.conn_mut(id) else {
            return; // closed
        };
        if conn.in_callback {
            return; // its own callback is running
        }
        let handler = conn.begin_callback();
        let step = match self.call(id, handler, f).0 {
            // The connection outlives its callbacks: the pass finds it.
            Ok(()) => self.serve(id, Pass::Flush).unwrap_or(Ok(false)),
            Err(reason) => Err(reason),
        };
        self.after_io(id, step);
    }

    /// A new connection: its handler's `on_open`, then the usual upkeep.
    pub(super) fn opened(&mut self, id: ConnId) {
        self.callback(id, |h, cx| h.on_open(cx));
        self.update_timer(id);
    }

    /// A timer a handler armed came due.
    pub(crate) fn fire_conn_timer(&mut self, id: ConnId, key: u64) {
        self.callback(id, |h, cx| h.on_timer(cx, key));
    }

    /// Runs `f` with `handler`, taken out of connection `id`
    /// (`Connection::begin_callback`), and a context of this loop, then
    /// puts it back and gives the connection back with what `f` returned.
    /// A panic drops the handler, counts, and makes the connection close
    /// (`Err`); so does a close asked for during the callback.
    pub(super) fn call<R>(
        &mut self,
        id: ConnId,
        mut handler: Box<dyn Handler>,
        f: impl FnOnce(&mut dyn Handler, &mut Context<'_>) -> R,
    ) -> (Result<R, CloseReason>, &mut Connection) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut cx = Context { host: self, id };
            f(&mut *handler, &mut cx)
        }));
        let outcome = match outcome {
            Ok(r) => Some((r, handler)),
            Err(_) => {
                // The handler's state is suspect: it is dropped, not asked
                // again (no on_close).
                self.stats.panics += 1;
                log::error!("a connection handler panicked; closing that connection");
                if catch_unwind(AssertUnwindSafe(|| drop(handler))).is_err() {
                    log::error!("and its handler panicked again while dropped");
                }
                None
            }
        };
        let conn = self
            .conns
            .get_mut(token::conn_key(id))
            .expect("a connection outlives its callbacks");
        let result = match outcome {
            Some((r, handler)) => conn.end_callback(handler, r),
            None => Err(conn.callback_panicked()),
        };
        (result, conn)
    }

    /// The connection of a running callback (its context's target).
    pub(crate) fn conn_in_callback(&mut self, id: ConnId) -> &mut Connection {
        self.conn_mut(id)
            .expect("a connection outlives its callbacks")
    }

    /// Tells a closed connection's handler why, containing a panic there.
    pub(super) fn closed(&mut self, mut handler: Box<dyn Handler>, reason: CloseReason) {
        if std::thread::panicking() {
            // The loop's thread is unwinding: a second panic would abort.
            std::mem::forget(handler);
            return;
        }
        let told = catch_unwind(AssertUnwindSafe(move || handler.on_close(reason)));
        if told.is_err() {
            self.stats.panics += 1;
            log::error!("a connection handler panicked in on_close");
        }
    }
}

/// The interest a level-triggered registration should have now.
fn wanted(conn: &Connection, cfg: &crate::reactor::Config) -> Interest {
    let read = conn.wants_read(&cfg.limits);
    match (read, conn.session.wants_write()) {
        (true, true) => Interest::READABLE | Interest::WRITABLE,
        (false, true) => Interest::WRITABLE,
        // Paused by its owner with nothing to write: readable data must
        // not wake a level-triggered loop again and again, so only what is
        // always reported (errors, hang-up) and urgent data remain.
        (false, false) if conn.session.paused() => Interest::PRIORITY,
        // (false, false) otherwise does not last: settling closes it.
        _ => Interest::READABLE,
    }
}
