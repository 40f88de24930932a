//! `EventLoop`: one per thread. Each turn waits, dispatches the events,
//! runs the expired timers, then the tasks posted from other threads.

mod listening;
mod timers;

pub use timers::TimerId;

use std::cell::Cell;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::Config;
use super::connection::{Connection, Gone};
use super::handler::Handler;
use super::timer::TimerHeap;
use crate::{Event, Events, Interest, Mode, Poller, Token, Waker};
use listening::Listener;
use timers::{TimerKey, UserTimer};

// Tokens: a connection is `generation << 32 | slab index` with a generation
// in 1..2^31; the waker and the listeners count down from the top.
const _: () = assert!(usize::BITS == 64, "tokens pack two u32 halves");
const WAKER: Token = Token(usize::MAX);
const LISTENER_BASE: usize = usize::MAX - 1;
const MAX_LISTENERS: usize = 1 << 16;
const GEN_LIMIT: u32 = 1 << 31;

thread_local! {
    static LOOP_ON_THIS_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Makes a handler for each accepted connection.
pub type HandlerFactory = Arc<dyn Fn() -> Box<dyn Handler> + Send + Sync>;

/// Work posted to a loop from another thread.
pub type Task = Box<dyn FnOnce(&mut EventLoop) + Send>;

/// Names a connection of one loop. A closed connection's id never names a
/// later one, even when the socket's fd number is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(Token);

impl ConnId {
    /// The connection an event belongs to, if it is a connection's event.
    pub fn of(event: &Event) -> Option<ConnId> {
        let t = event.token();
        (t.0 >> 32 != 0 && t.0 < (GEN_LIMIT as usize) << 32).then_some(ConnId(t))
    }
    /// The poller token of this connection.
    pub fn token(self) -> Token {
        self.0
    }
    fn split(self) -> (usize, u32) {
        (self.0.0 & 0xffff_ffff, (self.0.0 >> 32) as u32)
    }
}

/// Counters of one loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// Loop turns.
    pub turns: u64,
}

struct ConnSlot {
    generation: u32,
    conn: Option<Connection>,
}

struct Shared {
    tasks: Mutex<Vec<Task>>,
    has_tasks: AtomicBool,
    waker: Waker,
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
    poller: Poller,
    cfg: Config,
    policy: Policy,
    edge_reads: bool,
    /// When the last wait returned (for `Config::collect_interval`).
    last_wait: Option<Instant>,
    events: Option<Events>,
    conns: Vec<ConnSlot>,
    free: Vec<u32>,
    live: usize,
    listeners: Vec<Listener>,
    timers: TimerHeap<TimerKey>,
    user_timers: Vec<UserTimer>,
    free_timers: Vec<u32>,
    pending: Vec<ConnId>,
    pending_scratch: Vec<ConnId>,
    task_scratch: Vec<Task>,
    fd_scratch: Vec<OwnedFd>,
    shared: Arc<Shared>,
    running: bool,
    stats: Stats,
}

/// A `Send + Sync` handle to post work to a loop and to stop it.
#[derive(Clone)]
pub struct LoopHandle {
    shared: Arc<Shared>,
}

impl LoopHandle {
    /// Runs `task` on the loop's thread at the end of its current or next
    /// turn, waking it if it sleeps.
    pub fn post(&self, task: impl FnOnce(&mut EventLoop) + Send + 'static) -> io::Result<()> {
        self.shared.tasks.lock().unwrap().push(Box::new(task));
        self.shared.has_tasks.store(true, Ordering::Release);
        self.shared.waker.wake()
    }

    /// Asks the loop to stop: [`EventLoop::run`] returns after this turn.
    pub fn stop(&self) -> io::Result<()> {
        self.post(|l| l.stop())
    }
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopHandle").finish_non_exhaustive()
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
        let poller = Poller::with_backend(cfg.backend)?;
        let waker = Waker::new(&poller, WAKER)?;
        let native_edge = cfg.mode.is_edge() && cfg.backend.supports_edge();
        let policy = if cfg.mode.is_oneshot() {
            Policy::Rearm
        } else if native_edge {
            Policy::Fixed
        } else {
            Policy::Toggle
        };
        Ok(EventLoop {
            poller,
            cfg,
            policy,
            edge_reads: asked.is_edge(),
            last_wait: None,
            events: Some(Events::with_capacity(cfg.events)),
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            listeners: Vec::new(),
            timers: TimerHeap::new(),
            user_timers: Vec::new(),
            free_timers: Vec::new(),
            pending: Vec::new(),
            pending_scratch: Vec::new(),
            task_scratch: Vec::new(),
            fd_scratch: Vec::new(),
            shared: Arc::new(Shared {
                tasks: Mutex::new(Vec::new()),
                has_tasks: AtomicBool::new(false),
                waker,
            }),
            running: false,
            stats: Stats::default(),
        })
    }

    /// A handle other threads use to post tasks and stop the loop.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The loop's configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The loop's poller.
    pub fn poller(&self) -> &Poller {
        &self.poller
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
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
        self.live
    }

    /// Serves an already connected socket with `handler`. The socket is
    /// made non-blocking.
    pub fn add_connection(
        &mut self,
        sock: impl Into<OwnedFd>,
        handler: Box<dyn Handler>,
    ) -> io::Result<ConnId> {
        let sock: OwnedFd = sock.into();
        rustix::io::ioctl_fionbio(&sock, true)?;
        self.insert(sock, handler)
    }

    fn insert(&mut self, sock: OwnedFd, handler: Box<dyn Handler>) -> io::Result<ConnId> {
        // Answers go out in one write each; Nagle would hold the second of
        // two back-to-back small answers for an ACK.
        let _ = rustix::net::sockopt::set_tcp_nodelay(&sock, true);
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.conns.push(ConnSlot {
                    generation: 1,
                    conn: None,
                });
                self.conns.len() - 1
            }
        };
        let generation = self.conns[index].generation;
        let id = ConnId(Token(((generation as usize) << 32) | index));
        let interest = match self.policy {
            Policy::Fixed => Interest::READABLE | Interest::WRITABLE,
            _ => Interest::READABLE,
        };
        if let Err(e) = self.poller.register(&sock, id.0, interest, self.cfg.mode) {
            self.free.push(index as u32);
            return Err(e);
        }
        self.conns[index].conn = Some(Connection::new(sock, handler, interest));
        self.live += 1;
        self.stats.accepted += 1;
        self.update_timer(id);
        Ok(id)
    }

    /// Closes a connection now, without flushing. False if it was closed
    /// already.
    pub fn close(&mut self, id: ConnId) -> bool {
        let (index, generation) = id.split();
        let Some(slot) = self.conns.get_mut(index) else {
            return false;
        };
        if slot.generation != generation {
            return false;
        }
        let Some(conn) = slot.conn.take() else {
            return false;
        };
        // Deregister before the fd closes: once closed, its number may be
        // reused by the next accept.
        let _ = self.poller.deregister(conn.sock());
        drop(conn);
        slot.generation = if slot.generation + 1 >= GEN_LIMIT {
            1
        } else {
            slot.generation + 1
        };
        self.free.push(index as u32);
        self.live -= 1;
        self.stats.closed += 1;
        true
    }

    /// Makes [`run`](Self::run) return after the current turn.
    pub fn stop(&mut self) {
        self.running = false;
    }

    /// Runs turns until [`stop`](Self::stop), then closes every connection
    /// and listener.
    pub fn run(&mut self) -> io::Result<()> {
        self.running = true;
        while self.running {
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
    pub fn turn_with(
        &mut self,
        timeout: Option<Duration>,
        mut before: impl FnMut(&mut EventLoop, &Event),
    ) -> io::Result<()> {
        self.stats.turns += 1;
        let mut wait = timeout;
        if !self.pending.is_empty() || self.shared.has_tasks.load(Ordering::Acquire) {
            wait = Some(Duration::ZERO);
        } else if let Some(at) = self.timers.peek() {
            let left = at.saturating_duration_since(Instant::now());
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        if wait != Some(Duration::ZERO) && !self.cfg.collect_interval.is_zero() {
            wait = self.collect(wait);
        }
        let mut events = self.events.take().expect("events are put back every turn");
        let waited = self.poller.wait(&mut events, wait);
        if !self.cfg.collect_interval.is_zero() {
            self.last_wait = Some(Instant::now());
        }
        if let Err(e) = waited {
            self.events = Some(events);
            return Err(e);
        }
        let now = super::clock::tick();
        for ev in events.iter() {
            before(self, &ev);
            self.dispatch(&ev);
        }
        self.events = Some(events);
        self.run_pending();
        // The turn's reading is never later than the real time, so no
        // timer runs early; one that came due meanwhile runs next turn.
        self.run_timers(now);
        self.run_tasks();
        self.prune_timers();
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

    fn dispatch(&mut self, ev: &Event) {
        let token = ev.token();
        if token == WAKER {
            return;
        }
        if let Some(id) = ConnId::of(ev) {
            self.conn_event(id, ev);
            return;
        }
        let i = LISTENER_BASE.wrapping_sub(token.0);
        if i < self.listeners.len() {
            self.accept(i);
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        let (index, generation) = id.split();
        let slot = self.conns.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.conn.as_mut()
    }

    fn conn_event(&mut self, id: ConnId, ev: &Event) {
        let cfg = self.cfg;
        let edge = self.edge_reads;
        let Some(conn) = self.conn_mut(id) else {
            // Closed earlier in this batch; its fd may belong to someone else now.
            self.stats.stale_events += 1;
            return;
        };
        let step = (|| -> Result<bool, Gone> {
            if ev.is_error() && !ev.is_readable() {
                return Err(Gone);
            }
            if ev.is_read_closed() {
                conn.saw_fin();
            }
            let paused = !conn.wants_read(&cfg);
            if ev.is_writable() {
                conn.flush(&cfg)?;
            }
            // An edge was spent while paused: nothing will announce the data
            // that waited, so read now that there is room again.
            let resumed = paused && edge && conn.wants_read(&cfg);
            let mut more = false;
            if ev.is_readable() || ev.is_read_closed() || resumed {
                more = conn.read(&cfg, edge)?;
            }
            let more_lingering = conn.settle(&cfg, edge)?;
            Ok(more || more_lingering)
        })();
        self.after_io(id, step);
    }

    /// Bookkeeping after a connection did I/O: close it, queue it for
    /// another turn, or bring its interest and timer up to date.
    fn after_io(&mut self, id: ConnId, step: Result<bool, Gone>) {
        match step {
            Err(Gone) => {
                self.close(id);
                return;
            }
            Ok(true) => self.pending.push(id),
            Ok(false) => {}
        }
        let cfg = self.cfg;
        if self.policy != Policy::Fixed {
            let (index, _) = id.split();
            let conn = self.conns[index].conn.as_mut().expect("just used");
            let want = conn.wanted(&cfg);
            if self.policy == Policy::Rearm || want != conn.registered {
                if self
                    .poller
                    .modify(conn.sock(), id.0, want, cfg.mode)
                    .is_err()
                {
                    self.close(id);
                    return;
                }
                conn.registered = want;
            }
        }
        self.update_timer(id);
    }

    fn run_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.pending_scratch);
        std::mem::swap(&mut list, &mut self.pending);
        let cfg = self.cfg;
        for id in list.drain(..) {
            let Some(conn) = self.conn_mut(id) else {
                continue;
            };
            let step = conn
                .read(&cfg, true)
                .and_then(|more| conn.settle(&cfg, true).map(|m| more || m));
            self.after_io(id, step);
        }
        self.pending_scratch = list;
    }

    fn run_tasks(&mut self) {
        if !self.shared.has_tasks.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut tasks = std::mem::take(&mut self.task_scratch);
        std::mem::swap(&mut tasks, &mut *self.shared.tasks.lock().unwrap());
        for task in tasks.drain(..) {
            task(self);
        }
        self.task_scratch = tasks;
    }

    fn close_all(&mut self) {
        for index in 0..self.conns.len() {
            let generation = self.conns[index].generation;
            self.close(ConnId(Token(((generation as usize) << 32) | index)));
        }
        for l in self.listeners.drain(..) {
            self.stats.shed += l.acceptor.shed();
            let _ = self.poller.deregister(&l.acceptor);
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.close_all();
        super::clock::clear();
        LOOP_ON_THIS_THREAD.with(|f| f.set(false));
    }
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("backend", &self.cfg.backend)
            .field("mode", &self.cfg.mode)
            .field("connections", &self.live)
            .finish_non_exhaustive()
    }
}
