//! Connections on the completion driver: one multishot recv each into the
//! provided-buffer ring, one send at a time (the rest of a short one
//! resubmitted from where it stopped, what is written meanwhile queued
//! behind it), and cancel before close.
//!
//! A connection closed with a request still in the kernel becomes a
//! zombie: its socket and its send's bytes are kept, its requests are
//! cancelled, and only their last completions free them. So no recv
//! completes on an fd number that was reused, and the kernel never reads
//! freed bytes.
//!
//! Not for: what the bytes mean (the loop's passes, `driving.rs`).

use std::os::fd::{AsRawFd, OwnedFd};

use super::{GROUP, Uring, Zombie, ops, user_data};
use crate::conn::{CloseReason, ConnId, Limits, Phase};
use crate::reactor::connection::{CompletionIo, Connection};
use crate::reactor::event_loop::driving::Pass;
use crate::reactor::event_loop::{EventLoop, Io};
use crate::reactor::token;
use crate::slab::Key;
use crate::uring::{Completion, Target, op};

impl Uring {
    /// Brings a connection's requests in step with what it needs: its
    /// send submitted if output waits and none is in flight, its recv
    /// armed while it reads and cancelled while it does not
    /// (back-pressure, pause, closing).
    pub(in crate::reactor) fn settle_conn(
        &mut self,
        id: ConnId,
        conn: &mut Connection,
        limits: &Limits,
    ) {
        let key = token::conn_key(id);
        let wants = conn.wants_read(limits);
        let raw = conn.sock().as_raw_fd();
        let Some(r) = conn.ring.as_deref_mut() else {
            return;
        };
        let target = r.fixed.map_or(Target::Fd(raw), Target::Fixed);
        if !r.send_inflight && r.in_flight() > 0 {
            // SAFETY: `sending` is not touched while `send_inflight`, and a
            // closed connection's bytes stay with its zombie until the
            // send's completion (`bury`).
            let e = unsafe { op::send(target, &r.sending[r.sent..], user_data(ops::SEND, key)) };
            r.send_inflight = true;
            // The send timeout runs from a send without progress.
            r.send_deadline
                .get_or_insert(crate::time::now() + limits.send_timeout);
            self.push(e);
        }
        if wants {
            if !r.recv_armed {
                let e = op::recv_multi(target, GROUP, user_data(ops::RECV, key));
                r.recv_armed = true;
                self.push(e);
            }
        } else if r.recv_armed && !r.recv_cancelling {
            // Its final completion (ECANCELED) clears `recv_armed`.
            r.recv_cancelling = true;
            self.cancel(user_data(ops::RECV, key));
        }
    }

    /// A connection under `key` closed: its socket is closed now if the
    /// kernel holds no request of it, else once the cancelled requests
    /// have completed.
    pub(in crate::reactor) fn bury(&mut self, key: Key, sock: OwnedFd, io: Box<CompletionIo>) {
        let mut z = Zombie { sock, io };
        if z.io.recv_armed && !z.io.recv_cancelling {
            z.io.recv_cancelling = true;
            self.cancel(user_data(ops::RECV, key));
        }
        if z.io.send_inflight {
            self.cancel(user_data(ops::SEND, key));
        }
        if z.io.quiescent() {
            self.release(z);
        } else {
            self.zombies.insert(key, z);
        }
    }

    /// Nothing names the socket any more: out of the fixed-file table,
    /// then closed.
    fn release(&mut self, z: Zombie) {
        if let Some(slot) = z.io.fixed {
            self.unfix(slot);
        }
        drop(z.sock);
    }

    /// A zombie's recv ended.
    pub(super) fn recv_ended(&mut self, key: Key) {
        if let Some(z) = self.zombies.get_mut(&key) {
            z.io.recv_armed = false;
            self.release_if_done(key);
        }
    }

    /// A zombie's send completed.
    pub(super) fn send_ended(&mut self, key: Key) {
        if let Some(z) = self.zombies.get_mut(&key) {
            z.io.send_inflight = false;
            self.release_if_done(key);
        }
    }

    fn release_if_done(&mut self, key: Key) {
        if self.zombies.get(&key).is_some_and(|z| z.io.quiescent())
            && let Some(z) = self.zombies.remove(&key)
        {
            self.release(z);
        }
    }
}

impl EventLoop {
    /// A completion of connection `key`'s multishot recv: bytes (appended
    /// to its input, the provided buffer given back at once), the FIN, or
    /// the recv's end.
    pub(super) fn on_recv(&mut self, key: Key, cqe: &Completion) {
        let limits = self.cfg.limits;
        let Io::Completion(u) = &mut self.io else {
            return;
        };
        // Picked first, whatever becomes of the connection: pieces of an
        // incremental buffer are counted in the order they complete.
        let buf = u.bufs.pick(cqe);
        let res = cqe.result();
        let more = cqe.more();
        let Some(conn) = self.conns.get_mut(key) else {
            if let Some(b) = buf {
                u.bufs.release(b);
            }
            if !more {
                u.recv_ended(key);
            }
            return;
        };
        let Some(r) = conn.ring.as_deref_mut() else {
            return;
        };
        if !more {
            r.recv_armed = false;
            r.recv_cancelling = false;
            u.counters.recv_rearms += 1;
        }
        let mut failed = None;
        if res > 0 {
            if let Some(b) = buf {
                let took = conn.session.extend_input(u.bufs.bytes(&b), &limits);
                u.bufs.release(b);
                match took {
                    Ok(()) => r.data += res as usize,
                    Err(_) => failed = Some(CloseReason::Error(libc::ENOBUFS)),
                }
            }
        } else if res == 0 {
            if conn.session.phase() == Phase::Open {
                conn.peer_closed_first = true;
            }
            r.eof = true;
        } else if res != -libc::ENOBUFS && res != -libc::ECANCELED {
            // ENOBUFS: every buffer was in use; settling arms a new recv,
            // submitted after the buffers given back meanwhile are
            // published. ECANCELED: ours. Anything else (ECONNRESET): done.
            failed = Some(CloseReason::from_errno(-res));
        }
        let arrived = r.data > 0 || r.eof;
        let id = token::conn_id(self.shared.id, key);
        if let Some(reason) = failed {
            self.close_with(id, reason);
            return;
        }
        let pass = if arrived {
            Pass::Received
        } else {
            Pass::Settle
        };
        if let Some(step) = self.serve(id, pass) {
            self.after_io(id, step);
        }
    }

    /// A send of connection `key` completed: the rest of a short one goes
    /// again, output that had to wait and is all out tells the handler.
    pub(super) fn on_send(&mut self, key: Key, res: i32) {
        let limits = self.cfg.limits;
        let Io::Completion(u) = &mut self.io else {
            return;
        };
        let Some(conn) = self.conns.get_mut(key) else {
            u.send_ended(key);
            return;
        };
        let Some(r) = conn.ring.as_deref_mut() else {
            return;
        };
        r.send_inflight = false;
        let id = token::conn_id(self.shared.id, key);
        if res < 0 {
            // EPIPE, ECONNRESET: the peer is gone.
            self.close_with(id, CloseReason::from_errno(-res));
            return;
        }
        r.sent += res as usize;
        let drained = if r.in_flight() > 0 {
            // Short: the socket buffer is full; the peer is slow to read.
            u.counters.short_sends += 1;
            r.stuck = true;
            r.send_deadline = Some(crate::time::now() + limits.send_timeout);
            false
        } else {
            r.send_deadline = None;
            conn.session.unsent() == 0 && std::mem::take(&mut r.stuck)
        };
        if let Some(step) = self.serve(id, Pass::Sent { drained }) {
            self.after_io(id, step);
        }
    }
}
