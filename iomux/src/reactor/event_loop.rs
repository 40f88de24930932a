//! `EventLoop`: one per thread. Each turn waits, dispatches the events,
//! runs the expired timers, then the tasks posted from other threads.
//!
//! Not for: threads or listeners shared between loops (that is
//! `LoopGroup`), nor async tasks (`iomux::rt`); one loop is one thread's
//! poller, connections, timers and task queue.

mod completion;
mod draining;
mod driving;
mod idle;
mod listening;
mod sending;
mod timers;
mod watch;

pub use sending::Backpressure;
pub use timers::TimerId;
pub use watch::WatchId;

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::Driver;
use super::config::Config;
use super::connection::{CompletionIo, Connection};
use super::token::{self, Named, WAKER};
use crate::conn::{CloseReason, ConnId, Handler, HandlerFactory};
use crate::slab::Slab;
use crate::socket::PeerAddr;
use crate::{Backend, Event, Events, Interest, Mode, Poller, Waker};
use completion::Uring;
use driving::Pass;
use listening::Listener;
pub(super) use sending::DrainNotice;
use sending::{Backpressure as Refused, gone_conn, gone_loop};
use timers::{TimerKey, Timers};
use watch::WatchSlot;

thread_local! {
    static LOOP_ON_THIS_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The number of the loop that last turned on this thread (0: none),
    /// for [`ConnId::of`].
    static TURNING: Cell<u32> = const { Cell::new(0) };
}

/// The next loop's number: every loop of the process has its own, so that
/// the ids of connections on different loops differ.
static NEXT_LOOP: AtomicU32 = AtomicU32::new(1);

fn next_loop_number() -> u32 {
    loop {
        let n = NEXT_LOOP.fetch_add(1, Ordering::Relaxed);
        if n != 0 {
            return n;
        }
    }
}

/// Work posted to a loop from another thread.
pub type Task = Box<dyn FnOnce(&mut EventLoop) + Send>;

impl ConnId {
    /// The connection an event belongs to, if it is a connection's event.
    /// Events reach user code only on the loop's thread (the `before` of
    /// [`EventLoop::turn_with`]), and the id is of the loop that turns on
    /// the calling thread.
    pub fn of(event: &Event) -> Option<ConnId> {
        match token::decode(event.token()) {
            Named::Conn(key) => Some(token::conn_id(TURNING.with(Cell::get), key)),
            _ => None,
        }
    }
}

/// Connection `id` in `conns`, the connections of loop `me`, if it is
/// open. A function of the slab alone, so that the loop can hold a
/// connection while it uses its other fields.
fn lookup(conns: &mut Slab<Connection>, me: u32, id: ConnId) -> Option<&mut Connection> {
    if id.loop_id() != me {
        return None;
    }
    conns.get_mut(token::conn_key(id))
}

/// Counters of one loop.
///
/// Non-exhaustive: counters get added; read the fields, build none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections accepted or added.
    pub accepted: u64,
    /// Connections closed.
    pub closed: u64,
    /// Connections shed at accept because fds ran out.
    pub shed: u64,
    /// Events dropped because their connection had been closed earlier in
    /// the same batch (its fd possibly reused by then).
    pub stale_events: u64,
    /// Connections closed by a deadline (header, keep-alive, send, linger).
    pub timed_out: u64,
    /// Handler (or watch callback) panics caught: each closed its
    /// connection (or removed its watch) and the loop went on.
    pub panics: u64,
    /// Loop turns.
    pub turns: u64,
    /// Connections still open when a graceful stop's deadline passed, and
    /// so closed with their work unfinished
    /// ([`EventLoop::shutdown_gracefully`]).
    pub cut: u64,
    /// The completion driver's counters (all zero on the readiness driver).
    pub completion: CompletionStats,
}

/// Counters of the completion driver's ring ([`Stats::completion`]).
///
/// Non-exhaustive: counters get added; read the fields, build none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompletionStats {
    /// Sockets that went into the ring's fixed-file table.
    pub fixed: u64,
    /// Completions handled.
    pub completions: u64,
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Sends the kernel took only part of (the rest went again).
    pub short_sends: u64,
    /// Multishot recvs that ended and were armed again (buffers ran out,
    /// a CQ overflow, back-pressure).
    pub recv_rearms: u64,
    /// Enters that found completions in the kernel's overflow list.
    pub overflows: u64,
    /// Pushes that found the submission queue full.
    pub sq_full: u64,
}

/// Buffers the loop reuses turn after turn, so that a turn allocates
/// nothing in steady state.
#[derive(Default)]
struct Scratch {
    /// The connections served again this turn (swapped with `pending`).
    pending: Vec<ConnId>,
    tasks: Vec<Task>,
    fds: Vec<(OwnedFd, Option<PeerAddr>)>,
}

/// Posted tasks, and whether the loop still takes them.
struct Queue {
    tasks: Vec<Task>,
    /// False once the loop is gone (dropped, or its thread unwound).
    open: bool,
}

/// What other threads see of one connection slot, without a round trip
/// to the loop.
#[derive(Default)]
struct SlotView {
    /// The generation of the open connection in the slot (0: none).
    generation: AtomicU32,
    /// Its unsent output, as the loop last published it.
    unsent: AtomicUsize,
    /// Bytes [`LoopHandle::send`] took for the slot that the loop has not
    /// queued yet. Only ever changed by paired amounts (taken by a sender,
    /// given back by the task that carries the bytes, whichever connection
    /// of the slot it finds), so never reset.
    in_flight: AtomicUsize,
}

struct Shared {
    /// The loop's number ([`LoopHandle::loop_id`]).
    id: u32,
    queue: Mutex<Queue>,
    has_tasks: AtomicBool,
    waker: Wake,
    /// `Limits::high_water` and `Config::max_posted_tasks`, for senders.
    high_water: usize,
    max_tasks: usize,
    /// Each slot's generation and output, so that other threads can tell a
    /// gone connection, and a backed-up one, at once. Written by the loop
    /// (and `in_flight` by senders); the write lock is taken only to grow it.
    slots: RwLock<Vec<SlotView>>,
}

impl Shared {
    fn slots(&self) -> std::sync::RwLockReadGuard<'_, Vec<SlotView>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection opened in slot `index` (`generation`), or closed (0).
    fn mark(&self, index: usize, generation: u32) {
        let set = |slot: &SlotView| {
            slot.unsent.store(0, Ordering::Release);
            slot.generation.store(generation, Ordering::Release);
        };
        if let Some(slot) = self.slots().get(index) {
            set(slot);
            return;
        }
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        while slots.len() <= index {
            slots.push(SlotView::default());
        }
        set(&slots[index]);
    }

    /// The loop's count of slot `index`'s unsent output.
    fn publish(&self, index: usize, unsent: usize) {
        if let Some(slot) = self.slots().get(index) {
            slot.unsent.store(unsent, Ordering::Release);
        }
    }

    fn is_open(&self, id: ConnId) -> bool {
        self.backlog(id).is_some()
    }

    /// Unsent output plus bytes on their way from other threads; `None`
    /// if `id` is not an open connection of this loop.
    fn backlog(&self, id: ConnId) -> Option<usize> {
        let (index, generation) = id.split();
        let slots = self.slots();
        let slot = slots.get(index)?;
        (id.loop_id() == self.id && slot.generation.load(Ordering::Acquire) == generation).then(
            || {
                slot.unsent
                    .load(Ordering::Acquire)
                    .saturating_add(slot.in_flight.load(Ordering::Acquire))
            },
        )
    }

    /// Takes `n` bytes of connection `id`'s budget for a send from another
    /// thread: refused once its backlog has reached the high-water mark.
    /// Returns the backlog with the `n` bytes.
    fn reserve(&self, id: ConnId, n: usize) -> io::Result<usize> {
        let (index, generation) = id.split();
        let slots = self.slots();
        let slot = slots
            .get(index)
            .filter(|s| {
                id.loop_id() == self.id && s.generation.load(Ordering::Acquire) == generation
            })
            .ok_or_else(gone_conn)?;
        let unsent = slot.unsent.load(Ordering::Acquire);
        let mut backlog = unsent;
        slot.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                backlog = unsent.saturating_add(f);
                if backlog >= self.high_water {
                    return None;
                }
                f.checked_add(n)
            })
            .map_err(|_| {
                io::Error::from(Refused::HighWater {
                    unsent: backlog,
                    high_water: self.high_water,
                })
            })?;
        if slot.generation.load(Ordering::Acquire) != generation {
            // Closed meanwhile (and the slot perhaps reused): give it back.
            slot.in_flight.fetch_sub(n, Ordering::AcqRel);
            return Err(gone_conn());
        }
        Ok(backlog.saturating_add(n))
    }

    /// Gives back what [`reserve`](Self::reserve) took for slot `index`.
    fn release(&self, index: usize, n: usize) {
        if let Some(slot) = self.slots().get(index) {
            slot.in_flight.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// Queues `run(item)` for the loop's thread and wakes it. Refused, with
    /// `item` given back, when the loop has exited (`NotConnected`) or,
    /// if `bounded`, when `max_tasks` wait already (`WouldBlock`,
    /// [`Backpressure::QueueFull`]).
    fn admit<T: Send + 'static>(
        &self,
        item: T,
        bounded: bool,
        run: impl FnOnce(T, &mut EventLoop) + Send + 'static,
    ) -> Result<(), (T, io::Error)> {
        {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if !q.open {
                return Err((item, gone_loop()));
            }
            if bounded && q.tasks.len() >= self.max_tasks {
                let full = Refused::QueueFull {
                    limit: self.max_tasks,
                };
                return Err((item, full.into()));
            }
            q.tasks
                .push(Box::new(move |el: &mut EventLoop| run(item, el)));
        }
        self.has_tasks.store(true, Ordering::Release);
        // The task is queued; a failed wake only delays it to the loop's
        // next turn.
        if let Err(e) = self.waker.wake() {
            log::warn!("cannot wake an event loop: {e}");
        }
        Ok(())
    }
}

/// How a posted task wakes the loop's thread.
enum Wake {
    /// A `Waker` registered with the loop's poller.
    Poller(Waker),
    /// An eventfd the loop's ring polls (`completion/mod.rs`).
    Ring(OwnedFd),
}

impl Wake {
    fn wake(&self) -> io::Result<()> {
        match self {
            Wake::Poller(w) => w.wake(),
            Wake::Ring(fd) => crate::eventfd::signal(fd.as_fd()),
        }
    }
}

/// What the loop waits on ([`Config::driver`]).
enum Io {
    /// Readiness: the poller, and the events of its last wait (put back
    /// every turn).
    Readiness(Poller, Option<Events>),
    /// Completions: the ring and what it keeps.
    Completion(Box<Uring>),
}

impl Io {
    /// The poller, on a path only the readiness driver takes.
    fn poller(&self) -> &Poller {
        match self {
            Io::Readiness(p, _) => p,
            Io::Completion(_) => unreachable!("a readiness path on the completion driver"),
        }
    }

    /// The ring, on the completion driver.
    fn ring_mut(&mut self) -> Option<&mut Uring> {
        match self {
            Io::Readiness(..) => None,
            Io::Completion(u) => Some(u),
        }
    }
}

/// How connection interest is kept in step with what the connection needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    /// Native edges: registered readable and writable once, never modified.
    Fixed,
    /// Level: add WRITABLE while output is pending, drop READABLE while
    /// reading is paused, with a modify only when that changes.
    Toggle,
    /// Oneshot: re-armed after every event.
    Rearm,
}

/// A reactor: a [`Poller`], the connections and listeners registered with
/// it, timers, and a queue of tasks from other threads. One per thread.
pub struct EventLoop {
    /// First, so that it is dropped first: on the completion driver the
    /// kernel lets go of every request before what they point into goes.
    io: Io,
    cfg: Config,
    policy: Policy,
    edge_reads: bool,
    /// When the last wait returned (for `Config::collect_interval`).
    last_wait: Option<Instant>,
    /// The open connections, under the slab keys their tokens carry
    /// (`token.rs`).
    conns: Slab<Connection>,
    listeners: Vec<Listener>,
    timers: Timers,
    /// Connections whose edge budget ran out: served again this turn.
    pending: Vec<ConnId>,
    watches: Slab<WatchSlot>,
    scratch: Scratch,
    shared: Arc<Shared>,
    running: bool,
    /// The deadline of the graceful stop under way, if one is.
    draining: Option<Instant>,
    /// When idle connections next give their buffers back (`idle.rs`);
    /// `None` while no connection may hold any.
    idle_sweep_at: Option<Instant>,
    stats: Stats,
}

/// A `Send + Sync` handle to post work to a loop, send to its
/// connections, and stop it.
///
/// Handles compare equal, and hash alike, when they are of the same loop
/// (by its number, [`loop_id`](Self::loop_id)), so a handle can key a map
/// of per-loop state. (Clippy's `mutable_key_type` lint sees the queue
/// inside and cannot tell that only the fixed number is hashed: allow it
/// there, or key by `loop_id()`.)
#[derive(Clone)]
pub struct LoopHandle {
    shared: Arc<Shared>,
}

impl PartialEq for LoopHandle {
    fn eq(&self, other: &LoopHandle) -> bool {
        self.shared.id == other.shared.id
    }
}

impl Eq for LoopHandle {}

impl std::hash::Hash for LoopHandle {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.shared.id.hash(state);
    }
}

impl LoopHandle {
    /// Runs `task` on the loop's thread at the end of its current or next
    /// turn, waking it if it sleeps. Fails with `NotConnected` if the loop
    /// has exited, and with `WouldBlock` ([`Backpressure::QueueFull`]) if
    /// [`Config::max_posted_tasks`](super::Config::max_posted_tasks) tasks
    /// wait already: the poster decides whether to retry later, drop the
    /// work or slow its source down; nothing blocks.
    pub fn post(&self, task: impl FnOnce(&mut EventLoop) + Send + 'static) -> io::Result<()> {
        self.shared
            .admit(task, true, |task, el| task(el))
            .map_err(|(_, e)| e)
    }

    /// Like [`post`](Self::post) but never refused for a full queue: for
    /// the requests that must get through (stop, graceful stop).
    pub(super) fn post_always(
        &self,
        task: impl FnOnce(&mut EventLoop) + Send + 'static,
    ) -> io::Result<()> {
        self.shared
            .admit(task, false, |task, el| task(el))
            .map_err(|(_, e)| e)
    }

    /// The loop's number: unique among the loops of the process, and part
    /// of every [`ConnId`] of the loop ([`ConnId::loop_id`]).
    pub fn loop_id(&self) -> u32 {
        self.shared.id
    }

    /// Whether `other` is a handle of the same loop (`self == other`).
    pub fn is_same_loop(&self, other: &LoopHandle) -> bool {
        self == other
    }

    /// Whether connection `id` of this loop is open (it may close before
    /// anything sent to it arrives).
    pub fn is_open(&self, id: ConnId) -> bool {
        self.shared.is_open(id)
    }

    /// Whether the loop still takes posted work.
    pub fn is_alive(&self) -> bool {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open
    }

    /// Asks the loop to stop: [`EventLoop::run`] returns after this turn.
    /// Taken even when the task queue is full.
    pub fn stop(&self) -> io::Result<()> {
        self.post_always(|l| l.stop())
    }
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopHandle")
            .field("loop_id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// A loop for the current thread. Fails with `AlreadyExists` if this
    /// thread has a loop already.
    pub fn new(cfg: Config) -> io::Result<EventLoop> {
        if LOOP_ON_THIS_THREAD.with(|f| f.replace(true)) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "this thread already has an event loop (one loop per thread)",
            ));
        }
        let made = Self::build(cfg);
        if made.is_err() {
            LOOP_ON_THIS_THREAD.with(|f| f.set(false));
        }
        made
    }

    fn build(mut cfg: Config) -> io::Result<EventLoop> {
        let asked = cfg.mode;
        // The reactor's documented fallback where edges are not native
        // (`Config::mode`): the poller is asked for it explicitly.
        cfg.mode = match cfg.mode {
            Mode::Edge => Mode::EdgeOrLevel,
            Mode::EdgeOneshot if !cfg.backend.supports_edge() => Mode::Oneshot,
            other => other,
        };
        let (io, waker) = match cfg.driver {
            Driver::Readiness => {
                let poller = Poller::with_backend(cfg.backend)?;
                let waker = Waker::new(&poller, WAKER)?;
                let events = Some(Events::with_capacity(cfg.events));
                (Io::Readiness(poller, events), Wake::Poller(waker))
            }
            Driver::Completion => {
                let wake = crate::eventfd::new()?;
                let uring = Uring::open(&cfg, wake.as_raw_fd())?;
                (Io::Completion(Box::new(uring)), Wake::Ring(wake))
            }
        };
        let completion = cfg.driver == Driver::Completion;
        let native_edge = cfg.mode.is_edge() && cfg.backend.supports_edge();
        let policy = if completion {
            // Nothing to keep in step: a connection's recv is armed or
            // cancelled by the ring's own settling (`completion/conn.rs`).
            Policy::Fixed
        } else if cfg.mode.is_oneshot() {
            Policy::Rearm
        } else if native_edge {
            Policy::Fixed
        } else {
            Policy::Toggle
        };
        Ok(EventLoop {
            io,
            cfg,
            policy,
            edge_reads: asked.is_edge() && !completion,
            last_wait: None,
            conns: Slab::default(),
            listeners: Vec::new(),
            timers: Timers::default(),
            pending: Vec::new(),
            watches: Slab::default(),
            scratch: Scratch::default(),
            shared: Arc::new(Shared {
                id: next_loop_number(),
                queue: Mutex::new(Queue {
                    tasks: Vec::new(),
                    open: true,
                }),
                slots: RwLock::new(Vec::new()),
                has_tasks: AtomicBool::new(false),
                waker,
                high_water: cfg.limits.high_water,
                max_tasks: cfg.max_posted_tasks,
            }),
            running: false,
            draining: None,
            idle_sweep_at: None,
            stats: Stats::default(),
        })
    }

    /// A handle other threads use to post tasks and stop the loop.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The loop's number ([`LoopHandle::loop_id`]).
    pub fn loop_id(&self) -> u32 {
        self.shared.id
    }

    /// The loop's configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The loop's readiness mechanism. (The poller itself stays private:
    /// its tokens are the loop's. Watch other fds with
    /// [`watch`](Self::watch).) On the completion driver, which has no
    /// poller, [`Backend::IoUring`]: what it waits on is a ring.
    pub fn backend(&self) -> Backend {
        match &self.io {
            Io::Readiness(p, _) => p.backend(),
            Io::Completion(_) => Backend::IoUring,
        }
    }

    /// The loop's driver ([`Config::driver`]).
    pub fn driver(&self) -> Driver {
        self.cfg.driver
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        if let Io::Completion(u) = &self.io {
            s.completion = u.stats();
        }
        // `stats.shed` holds the counts of listeners already closed.
        s.shed += self
            .listeners
            .iter()
            .map(|l| l.acceptor.shed())
            .sum::<u64>();
        s
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Serves an already connected socket (TCP or Unix) with `handler`,
    /// whose [`on_open`](Handler::on_open) runs before this returns. The
    /// socket is made non-blocking.
    pub fn add_connection(
        &mut self,
        sock: impl Into<OwnedFd>,
        handler: Box<dyn Handler>,
    ) -> io::Result<ConnId> {
        let sock: OwnedFd = sock.into();
        rustix::io::ioctl_fionbio(&sock, true)?;
        let peer = rustix::net::getpeername(&sock)
            .ok()
            .flatten()
            .and_then(PeerAddr::from_any);
        self.insert(sock, handler, peer)
    }

    fn insert(
        &mut self,
        sock: OwnedFd,
        handler: Box<dyn Handler>,
        peer: Option<PeerAddr>,
    ) -> io::Result<ConnId> {
        // Answers go out in one write each; Nagle would hold the second of
        // two back-to-back small answers for an ACK.
        let _ = rustix::net::sockopt::set_tcp_nodelay(&sock, true);
        let key = self.conns.next_key();
        let id = token::conn_id(self.shared.id, key);
        let interest = match self.policy {
            Policy::Fixed => Interest::READABLE | Interest::WRITABLE,
            _ => Interest::READABLE,
        };
        let ring = match &mut self.io {
            Io::Readiness(poller, _) => {
                poller.register(&sock, id.token(), interest, self.cfg.mode)?;
                None
            }
            // Its recv is armed when it is first settled (`after_io`).
            Io::Completion(u) => Some(Box::new(CompletionIo {
                fixed: u.fix(&sock),
                ..CompletionIo::default()
            })),
        };
        let mut conn = Connection::new(sock, handler, peer, interest);
        conn.ring = ring;
        let inserted = self.conns.insert(conn);
        debug_assert_eq!(inserted, key, "the token named the slot it got");
        let (index, generation) = id.split();
        self.shared.mark(index, generation);
        self.stats.accepted += 1;
        self.opened(id);
        if self.draining.is_some() {
            self.drain_conn(id);
        }
        Ok(id)
    }

    /// Closes a connection now, without flushing; its handler's
    /// [`on_close`](Handler::on_close) says [`CloseReason::Closed`]. False
    /// if it was closed already. Called from the connection's own callback,
    /// the close happens as the callback returns.
    pub fn close(&mut self, id: ConnId) -> bool {
        self.close_with(id, CloseReason::Closed)
    }

    pub(super) fn close_with(&mut self, id: ConnId, reason: CloseReason) -> bool {
        let Some(conn) = self.conn_mut(id) else {
            return false;
        };
        if conn.in_callback {
            // One of its callbacks is running: close when it returns.
            conn.doomed.get_or_insert(reason);
            return true;
        }
        // The slot's next occupant gets a new generation: events still
        // queued under this token are stale.
        let Some(mut conn) = self.conns.remove(token::conn_key(id)) else {
            return false;
        };
        let waiting = std::mem::take(&mut conn.drain_waiters);
        let handler = match &mut self.io {
            Io::Readiness(poller, _) => {
                // Deregister before the fd closes: once closed, its number
                // may be reused by the next accept.
                let _ = poller.deregister(conn.sock());
                conn.into_handler()
            }
            Io::Completion(u) => {
                // Cancel before close: the socket stays open until the
                // kernel has let go of it (`completion/conn.rs`).
                let (sock, handler, ring) = conn.into_parts();
                if let Some(ring) = ring {
                    u.bury(token::conn_key(id), sock, ring);
                }
                handler
            }
        };
        self.shared.mark(id.split().0, 0);
        self.stats.closed += 1;
        if let Some(handler) = handler {
            self.closed(handler, reason);
        }
        for notice in waiting {
            self.notify(notice, Err(sending::closed_undrained()));
        }
        true
    }

    /// The peer address of a connection, if it is open and the socket said.
    pub fn peer_addr(&self, id: ConnId) -> Option<&PeerAddr> {
        self.conn(id)?.peer.as_ref()
    }

    /// Bytes queued on a connection and not yet written; `None` if it is
    /// closed.
    pub fn unsent(&self, id: ConnId) -> Option<usize> {
        Some(self.conn(id)?.unsent())
    }

    /// Ids of the open connections.
    pub fn connection_ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        let me = self.shared.id;
        self.conns
            .iter()
            .map(move |(key, _)| token::conn_id(me, key))
    }

    fn conn(&self, id: ConnId) -> Option<&Connection> {
        if id.loop_id() != self.shared.id {
            return None;
        }
        self.conns.get(token::conn_key(id))
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        lookup(&mut self.conns, self.shared.id, id)
    }

    /// Makes [`run`](Self::run) return after the current turn.
    pub fn stop(&mut self) {
        self.running = false;
    }

    /// Runs turns until [`stop`](Self::stop), or until a graceful stop
    /// ([`shutdown_gracefully`](Self::shutdown_gracefully)) has no
    /// connection left, then closes every connection and listener.
    pub fn run(&mut self) -> io::Result<()> {
        self.running = true;
        while self.running && !self.drained() {
            self.turn(None)?;
        }
        self.close_all();
        Ok(())
    }

    /// One turn: wait at most `timeout` (less if a timer is due sooner),
    /// dispatch, run timers and tasks.
    pub fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.turn_with(timeout, |_, _| {})
    }

    /// Like [`turn`](Self::turn), calling `before` ahead of dispatching each
    /// event (for instrumentation and tests; `before` may close
    /// connections, which turns their later events in the batch stale).
    /// On the completion driver there are no readiness events, and
    /// `before` is never called.
    pub fn turn_with(
        &mut self,
        timeout: Option<Duration>,
        mut before: impl FnMut(&mut EventLoop, &Event),
    ) -> io::Result<()> {
        self.stats.turns += 1;
        TURNING.with(|t| t.set(self.shared.id));
        let mut wait = timeout;
        if !self.pending.is_empty() || self.shared.has_tasks.load(Ordering::Acquire) {
            wait = Some(Duration::ZERO);
        } else if let Some(at) = self
            .timers
            .heap
            .peek()
            .into_iter()
            .chain(self.idle_sweep_at)
            .min()
        {
            let left = at.saturating_duration_since(Instant::now());
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        if wait != Some(Duration::ZERO) && !self.cfg.collect_interval.is_zero() {
            wait = self.collect(wait);
        }
        let now = match &mut self.io {
            Io::Readiness(poller, slot) => {
                let mut events = slot.take().expect("events are put back every turn");
                let waited = poller.wait(&mut events, wait);
                if !self.cfg.collect_interval.is_zero() {
                    self.last_wait = Some(Instant::now());
                }
                if let Err(e) = waited {
                    self.put_back(events);
                    return Err(e);
                }
                let now = crate::time::tick();
                for ev in events.iter() {
                    before(self, &ev);
                    self.dispatch(&ev);
                }
                self.put_back(events);
                now
            }
            Io::Completion(_) => {
                let waited = self.complete(wait);
                if !self.cfg.collect_interval.is_zero() {
                    self.last_wait = Some(Instant::now());
                }
                waited?
            }
        };
        self.run_pending();
        // The turn's reading is never later than the real time, so no
        // timer runs early; one that came due meanwhile runs next turn.
        self.run_timers(now);
        self.run_tasks();
        self.prune_timers();
        self.sweep_idle(now);
        Ok(())
    }

    /// Sleeps off what is left of the collect interval since the last wait
    /// returned, no later than the next timer; returns the wait's timeout
    /// less the time slept.
    fn collect(&mut self, wait: Option<Duration>) -> Option<Duration> {
        let Some(last) = self.last_wait else {
            return wait;
        };
        let mut nap = self.cfg.collect_interval.saturating_sub(last.elapsed());
        if let Some(w) = wait {
            nap = nap.min(w);
        }
        if nap.is_zero() {
            return wait;
        }
        std::thread::sleep(nap);
        wait.map(|w| w.saturating_sub(nap))
    }

    /// Gives the readiness driver its events back after a turn.
    fn put_back(&mut self, events: Events) {
        if let Io::Readiness(_, slot) = &mut self.io {
            *slot = Some(events);
        }
    }

    fn dispatch(&mut self, ev: &Event) {
        match token::decode(ev.token()) {
            Named::Conn(key) => self.conn_event(token::conn_id(self.shared.id, key), ev),
            Named::Watch(key) => self.watch_event(WatchId(key), ev),
            Named::Listener(i) if i < self.listeners.len() => {
                self.accept(i);
            }
            // The waker only ends the wait: its tasks run after the events.
            Named::Waker | Named::Listener(_) | Named::Nothing => {}
        }
    }

    fn run_tasks(&mut self) {
        if !self.shared.has_tasks.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut tasks = std::mem::take(&mut self.scratch.tasks);
        std::mem::swap(
            &mut tasks,
            &mut self
                .shared
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .tasks,
        );
        for task in tasks.drain(..) {
            task(self);
        }
        self.scratch.tasks = tasks;
    }

    fn close_all(&mut self) {
        let ids: Vec<ConnId> = self.connection_ids().collect();
        for id in ids {
            self.close_with(id, CloseReason::Shutdown);
        }
        self.close_listeners();
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // From now on posting fails, and what was posted is dropped (an
        // accepted socket in a task is closed: its peer sees the end).
        let orphans = {
            let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.open = false;
            std::mem::take(&mut q.tasks)
        };
        drop(orphans);
        self.close_all();
        self.unwatch_all();
        if let Some(ring) = self.io.ring_mut() {
            // The kernel lets go of every request (and of what they point
            // into, the sends' bytes) before the loop's memory is freed.
            ring.shut_down();
        }
        crate::time::clear();
        LOOP_ON_THIS_THREAD.with(|f| f.set(false));
        let me = self.shared.id;
        TURNING.with(|t| {
            if t.get() == me {
                t.set(0);
            }
        });
    }
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("backend", &self.cfg.backend)
            .field("mode", &self.cfg.mode)
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}
