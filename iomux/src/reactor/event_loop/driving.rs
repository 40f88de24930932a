//! Driving connections: socket readiness in, handler callbacks out, and the
//! bookkeeping after (interest, timers, closing).
//!
//! A callback runs with its handler and input taken out of the connection
//! (`with_handler`), so that it can reach the whole loop through its
//! `Context` — send to other connections, close itself — while the
//! connection stays in its slot. A panic in a callback is caught here, at
//! the dispatch edge: it closes that connection and the loop goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{ConnId, EventLoop, Policy, token};
use crate::conn::Context;
use crate::conn::{CloseReason, Handler};
use crate::conn::{Phase, Step};
use crate::reactor::connection::{Connection, Received};
use crate::{Event, Interest};

/// What a step of I/O on a connection came to: `Ok(true)` when it should
/// be served again without waiting for an event (edge budget spent),
/// `Err` when it is to be closed.
type IoStep = Result<bool, CloseReason>;

impl EventLoop {
    pub(super) fn conn_event(&mut self, id: ConnId, ev: &Event) {
        if self.conn(id).is_none() {
            // Closed earlier in this batch; its fd may belong to someone else now.
            self.stats.stale_events += 1;
            return;
        }
        let step = self.conn_io(id, ev);
        self.after_io(id, step);
    }

    fn conn_io(&mut self, id: ConnId, ev: &Event) -> IoStep {
        let cfg = self.cfg;
        let edge = self.edge_reads;
        let conn = self.conn_mut(id).expect("checked by the caller");
        if ev.is_error() && !ev.is_readable() {
            return Err(conn.socket_error());
        }
        if ev.is_read_closed() {
            conn.fin_seen = true;
        }
        let paused = !conn.session.wants_read(&cfg.limits);
        if ev.is_writable() {
            self.flush_conn(id)?;
        }
        // An edge was spent while paused: nothing will announce the data
        // that waited, so read now that there is room again.
        let resumed = paused && edge && self.wants_read(id);
        let mut more = false;
        if ev.is_readable() || ev.is_read_closed() || resumed {
            more = self.read_conn(id, edge)?;
        }
        Ok(self.settle_conn(id, edge)? || more)
    }

    pub(super) fn wants_read(&self, id: ConnId) -> bool {
        self.conn(id)
            .is_some_and(|c| c.doomed.is_none() && c.session.wants_read(&self.cfg.limits))
    }

    /// Reads what the socket has and feeds the handler. `edge`: read until
    /// EAGAIN, within `cfg.edge_budget`; otherwise one read. Returns true
    /// when the budget ran out with data probably left.
    fn read_conn(&mut self, id: ConnId, edge: bool) -> IoStep {
        let cfg = self.cfg;
        let mut budget = cfg.edge_budget;
        while self.wants_read(id) {
            let conn = self.conn_mut(id).expect("wants_read saw it");
            match conn.recv(&cfg.limits)? {
                Received::Eof => {
                    self.deliver_eof(id)?;
                    return Ok(false);
                }
                Received::Data { n, full } => {
                    let fin_seen = conn.fin_seen;
                    self.deliver(id)?;
                    // A short read drained the socket: new data will raise
                    // a new edge, so the extra read that would say EAGAIN
                    // is saved (nginx does the same).
                    if !edge || (!full && !fin_seen) {
                        return Ok(false);
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return Ok(true);
                    }
                }
                Received::Again => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Offers the unconsumed input to the handler and sends what it wrote.
    pub(super) fn deliver(&mut self, id: ConnId) -> Result<(), CloseReason> {
        let conn = self.conn_mut(id).expect("just read");
        if conn.session.phase() != Phase::Open {
            return Ok(()); // closing or lingering: input was discarded
        }
        let (input, start) = conn.session.take_input();
        let used = self.with_handler(id, |h, cx| h.on_message(cx, &input[start..]));
        let conn = self
            .conn_mut(id)
            .expect("a connection outlives its callbacks");
        conn.session
            .restore_input(input, start, *used.as_ref().unwrap_or(&0));
        used?;
        self.flush_conn(id)
    }

    pub(super) fn deliver_eof(&mut self, id: ConnId) -> Result<(), CloseReason> {
        let conn = self.conn_mut(id).expect("just read");
        let mut told = Ok(());
        if conn.session.phase() == Phase::Open {
            // The handler sees what it had not consumed, and may answer.
            let (input, start) = conn.session.take_input();
            told = self.with_handler(id, |h, cx| h.on_peer_closed(cx, &input[start..]));
            let conn = self
                .conn_mut(id)
                .expect("a connection outlives its callbacks");
            conn.session.restore_input(input, start, 0);
        }
        // Nothing more will arrive: the connection closes once its output
        // is sent.
        self.conn_mut(id)
            .expect("a connection outlives its callbacks")
            .session
            .eof();
        told?;
        self.flush_conn(id)
    }

    /// Writes pending output; tells the handler when output that had to
    /// wait is all out (and writes what it adds then).
    pub(super) fn flush_conn(&mut self, id: ConnId) -> Result<(), CloseReason> {
        let cfg = self.cfg;
        let conn = self.conn_mut(id).expect("flushing an open connection");
        if conn.flush(&cfg.limits)? && !conn.in_callback {
            self.with_handler(id, |h, cx| h.on_write_complete(cx))?;
            self.conn_mut(id)
                .expect("a connection outlives its callbacks")
                .flush(&cfg.limits)?;
        }
        Ok(())
    }

    /// Moves a closing connection along: once its output is out, shut down
    /// this side and linger, or close if the peer is gone too.
    pub(super) fn settle_conn(&mut self, id: ConnId, edge: bool) -> IoStep {
        let cfg = self.cfg;
        let mut more = false;
        loop {
            let conn = self.conn_mut(id).expect("settling an open connection");
            if let Some(reason) = conn.doomed {
                return Err(reason);
            }
            match conn.session.next_step() {
                Step::Serve => return Ok(more),
                Step::Close => return Err(conn.done_reason()),
                Step::ShutdownWrite => {
                    conn.shutdown_write(&cfg.limits)?;
                    if edge {
                        // Edges that came while closing were not read; what
                        // they announced (often the peer's FIN) is read now.
                        more = self.read_conn(id, true)?;
                    }
                }
            }
        }
    }

    /// Bookkeeping after a connection did I/O: close it, queue it for
    /// another turn, or bring its interest and timer up to date.
    pub(super) fn after_io(&mut self, id: ConnId, step: IoStep) {
        match step {
            Err(reason) => {
                self.close_with(id, reason);
                return;
            }
            Ok(true) => self.pending.push(id),
            Ok(false) => {}
        }
        self.publish(id);
        self.mark_busy(id);
        let cfg = self.cfg;
        if self.policy != Policy::Fixed {
            if self.conn(id).is_none() {
                return;
            }
            let conn = self
                .conns
                .get_mut(token::conn_key(id))
                .expect("checked above");
            let want = wanted(conn, &cfg);
            if self.policy == Policy::Rearm || want != conn.registered {
                if let Err(e) = self.poller.modify(conn.sock(), id.token(), want, cfg.mode) {
                    self.close_with(id, CloseReason::from_errno(e.raw_os_error().unwrap_or(0)));
                    return;
                }
                conn.registered = want;
            }
        }
        self.update_timer(id);
    }

    /// Serves the connections whose edge budget ran out last turn.
    pub(super) fn run_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.scratch.pending);
        std::mem::swap(&mut list, &mut self.pending);
        for id in list.drain(..) {
            if self.conn(id).is_none() {
                continue;
            }
            let step = self
                .read_conn(id, true)
                .and_then(|more| Ok(self.settle_conn(id, true)? || more));
            self.after_io(id, step);
        }
        self.scratch.pending = list;
    }

    /// Runs a callback of `id`'s handler outside the I/O path (on_open, a
    /// timer), then flushes and settles the connection.
    pub(super) fn callback(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut dyn Handler, &mut Context<'_>),
    ) {
        if self.conn(id).is_none_or(|c| c.in_callback) {
            return; // closed, or its own callback is running
        }
        let edge = self.edge_reads;
        let step = self
            .with_handler(id, f)
            .and_then(|()| self.flush_conn(id))
            .and_then(|()| self.settle_conn(id, edge));
        self.after_io(id, step);
    }

    /// A new connection: its handler's `on_open`, then the usual upkeep.
    pub(super) fn opened(&mut self, id: ConnId) {
        self.callback(id, |h, cx| h.on_open(cx));
        if self.conn(id).is_some() {
            self.update_timer(id);
        }
    }

    /// A timer a handler armed came due.
    pub(crate) fn fire_conn_timer(&mut self, id: ConnId, key: u64) {
        self.callback(id, |h, cx| h.on_timer(cx, key));
    }

    /// Runs `f` with the handler of `id` and a context of this loop. The
    /// handler is out of its slot meanwhile; a panic drops it, counts, and
    /// makes the connection close (`Err`). A close asked for during the
    /// callback comes back as `Err` too.
    pub(super) fn with_handler<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut dyn Handler, &mut Context<'_>) -> R,
    ) -> Result<R, CloseReason> {
        let conn = self.conn_mut(id).expect("calling an open connection");
        let mut handler = conn
            .handler
            .take()
            .expect("callbacks of one connection do not nest");
        conn.in_callback = true;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut cx = Context { host: self, id };
            f(&mut *handler, &mut cx)
        }));
        let stats = &mut self.stats;
        let conn = self
            .conns
            .get_mut(token::conn_key(id))
            .expect("a connection outlives its callbacks");
        conn.in_callback = false;
        match outcome {
            Ok(r) => {
                conn.handler = Some(handler);
                match conn.doomed {
                    Some(reason) => Err(reason),
                    None => Ok(r),
                }
            }
            Err(_) => {
                // The handler's state is suspect: it is dropped, not asked
                // again (no on_close).
                stats.panics += 1;
                log::error!("a connection handler panicked; closing that connection");
                if catch_unwind(AssertUnwindSafe(|| drop(handler))).is_err() {
                    log::error!("and its handler panicked again while dropped");
                }
                let reason = CloseReason::Error(libc::ECANCELED);
                conn.doomed = Some(reason);
                Err(reason)
            }
        }
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
    let read = conn.doomed.is_none() && conn.session.wants_read(&cfg.limits);
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
