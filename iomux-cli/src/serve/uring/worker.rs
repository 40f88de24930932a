//! One thread's completion loop: a ring, its buffer ring, its connections.
//!
//! Each turn submits what the last turn queued, sleeps in `io_uring_enter`
//! until at least one completion (or the next deadline), and handles every
//! completion in the CQ. Handling a completion never blocks and never makes
//! a system call except `shutdown` and `close`.

mod accept;
mod drain;
mod stop;
pub(super) use stop::stop_eventfd;

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use iomux::conn::Limits;
use iomux::socket::SpareFd;
use iomux::time::TimerHeap;
use iomux::uring::{BufRing, Completion, Ring, Sqe, Target, UserData, op};

use super::Factory;
use super::conn::Conn;
use super::ops::{Op, decode, encode};
use super::ring::{fixed_table_size, open_ring};

/// The provided buffers: 2048 of 8 KiB (16 MiB of address space per ring;
/// pages become resident as the kernel first writes into them), consumed
/// incrementally where the kernel can (6.12: small messages share a
/// buffer). Enough for a completion from every one of thousands of
/// connections between two turns; when they do run out, the recv ends with
/// ENOBUFS and is re-armed.
const BUFFERS: u16 = 2048;
const BUFFER_SIZE: usize = 8 * 1024;
const BUFFER_GROUP: u16 = 0;
/// How often connections with a send in flight are checked for progress.
const SWEEP: Duration = Duration::from_secs(1);
/// Counters printed at exit.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stats {
    pub accepted: u64,
    /// Connections whose socket went into the registered file table.
    pub fixed: u64,
    pub closed: u64,
    pub completions: u64,
    /// `io_uring_enter` calls.
    pub enters: u64,
    pub short_sends: u64,
    pub recv_rearms: u64,
    /// Enters that found completions in the kernel's overflow list.
    pub overflows: u64,
    /// Pushes that found the SQ full.
    pub sq_full: u64,
    pub shed: u64,
    /// Connections still open at the shutdown deadline, and so cut.
    pub cut: u64,
}

pub(super) struct Worker {
    // Dropped first: the kernel lets go of every request before anything
    // they point into is dropped (the buffer ring is never freed at all).
    ring: Ring,
    /// Size of the ring's registered file table (0: none). A connection in
    /// slot s < this has its socket at index s, and its recv and send name
    /// it by index: the kernel then skips the fd-table lookup (`fget`, about
    /// 2 % of the server's CPU at 1,000 busy connections) of every send.
    fixed_files: u32,
    bufs: BufRing,
    listener: TcpListener,
    factory: Factory,
    /// High water, input cap, send and linger timeouts: the reactor's
    /// defaults, so that every model behaves alike.
    limits: Limits,
    next_sweep: Instant,
    slots: Vec<Option<Conn>>,
    generations: Vec<u32>,
    free: Vec<usize>,
    live: usize,
    accept_armed: bool,
    /// Out of fds: a poll on the listener stands in for the accept (an
    /// accept fails at once with EMFILE, connection or not, so re-arming it
    /// would spin).
    listen_polled: bool,
    accept_retry: Option<Instant>,
    /// A spare fd (on /dev/null) given up to shed a connection when accept
    /// runs out of fds (see `shed`).
    spare: SpareFd,
    /// Deadlines by (slot, generation), lazily invalidated: an entry
    /// counts only if the slot's connection still has that deadline.
    timers: TimerHeap<(usize, u32)>,
    cqes: Vec<Completion>,
    /// What tells this ring to stop: the signalfd (the first ring) or an
    /// eventfd the first ring writes (the others).
    signal: Option<OwnedFd>,
    /// `signal` is an eventfd the first ring writes, not the signalfd.
    pub is_peer: bool,
    /// The eventfds of the other rings, written when a signal arrives.
    pub peers: Vec<OwnedFd>,
    /// How long the graceful stop may take (`--shutdown-timeout`).
    pub grace: Duration,
    /// The deadline of the graceful stop under way.
    draining: Option<Instant>,
    pub stats: Stats,
}

impl Worker {
    pub(super) fn new(
        listener: TcpListener,
        factory: Factory,
        signal: Option<OwnedFd>,
        entries: u32,
        limits: Limits,
    ) -> io::Result<Worker> {
        let mut ring = open_ring(entries)?;
        // Without it (an old kernel, no memory) requests name fds instead.
        let fixed_files = match ring.register_files(fixed_table_size()) {
            Ok(()) => ring.files(),
            Err(_) => 0,
        };
        let bufs = BufRing::incremental(&ring, BUFFER_GROUP, BUFFERS, BUFFER_SIZE)
            .map_err(|e| io::Error::new(e.kind(), format!("provided-buffer ring: {e}")))?;
        Ok(Worker {
            ring,
            fixed_files,
            bufs,
            listener,
            factory,
            limits,
            next_sweep: Instant::now() + SWEEP,
            slots: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            live: 0,
            accept_armed: false,
            listen_polled: false,
            accept_retry: None,
            spare: SpareFd::new(),
            timers: TimerHeap::new(),
            cqes: Vec::new(),
            signal,
            is_peer: false,
            peers: Vec::new(),
            grace: Duration::from_secs(10),
            draining: None,
            stats: Stats::default(),
        })
    }

    /// Serves until told to stop (a signal on the signalfd, or the first
    /// ring's word on the eventfd), then drains: returns once every
    /// connection is closed.
    pub(super) fn run(&mut self) -> io::Result<()> {
        self.arm_accept();
        self.arm_stop();
        loop {
            self.bufs.publish();
            self.enter()?;
            let mut batch = std::mem::take(&mut self.cqes);
            self.ring.reap(&mut batch);
            self.stats.completions += batch.len() as u64;
            let mut stop = false;
            for cqe in &batch {
                stop |= self.complete(cqe);
            }
            batch.clear();
            self.cqes = batch;
            if stop {
                // After the whole batch, so that the last read comes after
                // every completed recv.
                self.begin_drain(Instant::now() + self.grace);
            }
            self.expire();
            self.cut_if_due(Instant::now());
            if self.draining.is_some() && self.live == 0 {
                let ring = self.ring.stats();
                self.stats.enters = ring.enters;
                self.stats.overflows = ring.cq_overflows;
                self.stats.sq_full = ring.sq_full;
                return Ok(());
            }
        }
    }

    /// Submits and sleeps until a completion or the next deadline.
    fn enter(&mut self) -> io::Result<()> {
        let sweep = (self.live > 0).then_some(self.next_sweep);
        let wake = [self.timers.peek(), self.accept_retry, sweep, self.draining]
            .into_iter()
            .flatten()
            .min();
        let timeout = wake.map(|at| at.saturating_duration_since(Instant::now()));
        self.ring.enter(1, timeout)
    }

    /// Queues a request (the core submits a full SQ and goes on).
    fn push(&mut self, e: Sqe) {
        self.ring.push(e);
    }

    /// Handles one completion; true when the server must stop.
    fn complete(&mut self, cqe: &Completion) -> bool {
        let Some((op, slot, generation)) = decode(cqe.user_data()) else {
            return false;
        };
        let res = cqe.result();
        match op {
            Op::Accept => self.on_accept(res, cqe.more()),
            Op::Recv => self.on_recv(slot, generation, cqe),
            Op::Send => self.on_send(slot, generation, res),
            Op::Cancel => {}
            Op::Signal => return self.on_stop(),
            Op::Listen => {
                // A connection waits: try accepting again.
                self.listen_polled = false;
                if !self.accept_armed && self.draining.is_none() {
                    self.arm_accept();
                }
            }
        }
        false
    }

    fn take(&mut self, slot: usize, generation: u32) -> Option<Conn> {
        match self.slots.get_mut(slot) {
            Some(s) if s.as_ref().is_some_and(|c| c.generation == generation) => s.take(),
            _ => None,
        }
    }

    fn on_recv(&mut self, slot: usize, generation: u32, cqe: &Completion) {
        // Picked first, whatever becomes of the connection: pieces of an
        // incremental buffer are counted in the order they complete.
        let buf = self.bufs.pick(cqe);
        let Some(mut c) = self.take(slot, generation) else {
            // Cannot happen (a slot is freed only after its recv ended), but
            // a buffer must never be lost.
            if let Some(b) = buf {
                self.bufs.release(b);
            }
            return;
        };
        if !cqe.more() {
            c.recv_armed = false;
            c.recv_cancelling = false;
            self.stats.recv_rearms += 1;
        }
        let res = cqe.result();
        if res > 0 {
            if let Some(b) = buf {
                c.feed(self.bufs.bytes(&b), &self.limits);
                self.bufs.release(b);
            }
        } else if res == 0 {
            c.eof();
        } else if res != -libc::ENOBUFS && res != -libc::ECANCELED {
            // ENOBUFS: every buffer was in use; settle arms a new recv, and
            // the buffers given back meanwhile are published before it is
            // submitted. ECANCELED: ours. Anything else (ECONNRESET): done.
            c.teardown = true;
        }
        self.settle(slot, c);
    }

    fn on_send(&mut self, slot: usize, generation: u32, res: i32) {
        let Some(mut c) = self.take(slot, generation) else {
            return;
        };
        c.send_inflight = false;
        c.send_cancelling = false;
        if res >= 0 {
            c.sent += res as usize;
            c.sent_total += res as u64;
            if c.sent >= c.sending.len() {
                c.sending.clear();
                c.sent = 0;
            } else {
                self.stats.short_sends += 1;
            }
        } else {
            // EPIPE, ECONNRESET, or our own cancel while closing.
            c.teardown = true;
        }
        self.settle(slot, c);
    }

    /// Moves a connection on after something happened to it: sends what is
    /// pending, advances its close, arms or cancels its recv, and either puts
    /// it back or closes it once the kernel is done with its fd.
    fn settle(&mut self, slot: usize, mut c: Conn) {
        let generation = c.generation;
        let target = if c.fixed {
            Target::Fixed(slot as u32)
        } else {
            Target::Fd(c.fd.as_raw_fd())
        };
        if !c.teardown && !c.send_inflight {
            c.take_replies();
            if c.sent < c.sending.len() {
                // A new send, or the rest of a short one.
                // SAFETY: `sending` is not touched while `send_inflight`,
                // and a `Conn` is not dropped while a request of it is in
                // the kernel (see `quiescent`).
                let e = unsafe {
                    op::send(
                        target,
                        &c.sending[c.sent..],
                        encode(Op::Send, slot, generation),
                    )
                };
                c.send_inflight = true;
                self.push(e);
            }
        }
        c.advance_close(&self.limits);
        if c.wants_recv(self.limits.high_water) {
            if !c.recv_armed {
                let e = op::recv_multi(target, BUFFER_GROUP, encode(Op::Recv, slot, generation));
                c.recv_armed = true;
                self.push(e);
            }
        } else if c.recv_armed && !c.recv_cancelling {
            // Back-pressure or closing: stop the multishot recv. Its final
            // completion (ECANCELED) clears `recv_armed`.
            c.recv_cancelling = true;
            self.cancel(encode(Op::Recv, slot, generation));
        }
        if c.teardown && c.send_inflight && !c.send_cancelling {
            c.send_cancelling = true;
            self.cancel(encode(Op::Send, slot, generation));
        }
        if c.teardown && c.quiescent() {
            // Cancel before close: nothing of ours names this fd any more,
            // so its number can be reused safely. Dropping `c` closes it,
            // once the registered table has let go of the socket too (if
            // that fails, the socket lives on in the table until the slot's
            // next connection replaces it).
            if c.fixed {
                let _ = self.ring.clear_file(slot as u32);
            }
            self.generations[slot] = UserData::next_generation(generation);
            self.free.push(slot);
            self.live -= 1;
            self.stats.closed += 1;
            return;
        }
        if let Some(t) = c.deadline
            && c.timer_at != Some(t)
        {
            c.timer_at = Some(t);
            self.timers.push(t, (slot, generation));
        }
        self.slots[slot] = Some(c);
    }

    fn cancel(&mut self, target: UserData) {
        self.push(op::cancel(target, encode(Op::Cancel, 0, 0)));
    }

    /// Closes connections whose send has made no progress for the send
    /// timeout (a peer that stopped reading). A sweep a second costs less
    /// than a timer per send.
    fn sweep(&mut self, now: Instant) {
        for slot in 0..self.slots.len() {
            let Some(c) = self.slots[slot].as_mut() else {
                continue;
            };
            if !c.send_inflight || c.teardown || c.sent_total != c.swept_total {
                c.swept_total = c.sent_total;
                c.stalled_since = None;
                continue;
            }
            let since = *c.stalled_since.get_or_insert(now);
            if now.duration_since(since) >= self.limits.send_timeout {
                let generation = c.generation;
                if let Some(mut c) = self.take(slot, generation) {
                    c.teardown = true;
                    self.settle(slot, c);
                }
            }
        }
    }

    /// Closes connections whose deadline passed; re-arms a delayed accept.
    fn expire(&mut self) {
        let now = Instant::now();
        if self.accept_retry.is_some_and(|t| t <= now) {
            self.accept_retry = None;
            if !self.accept_armed {
                self.arm_accept();
            }
        }
        while let Some(due) = self.timers.pop_due(now) {
            let (t, (slot, generation)) = (due.at, due.key);
            if let Some(mut c) = self.take(slot, generation) {
                if c.deadline == Some(t) {
                    c.teardown = true;
                }
                self.settle(slot, c);
            }
        }
        if self.live > 0 && now >= self.next_sweep {
            self.next_sweep = now + SWEEP;
            self.sweep(now);
        }
        // Keep stale entries from piling up (each request of a keep-alive
        // connection moves its deadline).
        if self.timers.len() > 2 * self.live + 1024 {
            let slots = &self.slots;
            self.timers.retain(|d| {
                let (slot, generation) = d.key;
                slots[slot]
                    .as_ref()
                    .is_some_and(|c| c.generation == generation && c.timer_at == Some(d.at))
            });
        }
    }
}
