//! Tunables of an event loop.
//!
//! Not for: per-connection protocol settings (a handler's own) or anything
//! the loop changes after it starts; a `Config` is read once, by
//! [`EventLoop::new`](super::EventLoop::new).

use std::time::Duration;

use super::Driver;
use crate::conn::Limits;
use crate::{Backend, Mode};

/// How an [`EventLoop`](super::EventLoop) waits and how its connections
/// read and write. `Config::default()` is epoll, level-triggered.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Readiness through the Poller (the default) or io_uring completions
    /// ([`Driver`]).
    pub driver: Driver,
    /// The readiness mechanism (the readiness driver's).
    pub backend: Backend,
    /// How connections are registered. `Edge` reads until EAGAIN (within
    /// `edge_budget`); `Level` reads once per event; the oneshot modes re-arm
    /// after every event. On backends without native edges
    /// ([`Backend::supports_edge`]) the loop asks the poller for the level
    /// fallback explicitly (`Edge` as [`Mode::EdgeOrLevel`], `EdgeOneshot` as
    /// `Oneshot`) and the interest is managed as in level mode.
    pub mode: Mode,
    /// Events taken per wait.
    pub events: usize,
    /// Bytes one connection may read per loop tick in edge mode before the
    /// others get their turn.
    pub edge_budget: usize,
    /// Tasks other threads may have waiting in a loop's queue
    /// ([`LoopHandle::post`](super::LoopHandle::post), `send`,
    /// `when_drained`, connections handed over by a round-robin listener).
    /// Past it they are refused with `WouldBlock`
    /// ([`Backpressure::QueueFull`](super::Backpressure::QueueFull)): the
    /// poster is told at once and the loop's thread is never blocked. A
    /// connection handed over to a full loop is served by the loop that
    /// accepted it. Requests to stop are always taken.
    pub max_posted_tasks: usize,
    /// Connections accepted per listener per tick.
    pub accept_batch: usize,
    /// libev's `io_collect_interval`: when not zero, the loop lets at least
    /// this long pass between the end of one wait and the start of the next,
    /// sleeping off what its own work did not use, so that readiness piles
    /// up and one wait returns many events. Under a steady flood of small
    /// requests that saves system calls and wake-ups; the price is up to
    /// this much latency per request, and a closed-loop client with few
    /// connections is slowed to one batch per interval. Timers still run on
    /// time (the sleep ends at the next deadline), and a turn that starts
    /// with work already queued (pending reads, posted tasks) does not
    /// sleep. Zero (the default) waits as soon as the turn's work is done.
    pub collect_interval: Duration,
    /// A connection with no I/O for at least this long (between this and
    /// twice this), nothing unconsumed and nothing unsent, gives its input
    /// and output buffers back; its next read allocates again. An idle
    /// connection then costs no buffer memory, as in nginx, while a busy
    /// one keeps its buffers and the request path allocates nothing.
    /// `None`: buffers are kept for the connection's life.
    pub release_idle_after: Option<Duration>,
    /// Each connection's buffer sizes, back-pressure and timeouts.
    pub limits: Limits,
    /// The completion driver's submission queue entries (its completion
    /// queue gets eight times as many, room for a burst of multishot
    /// completions; only twice as many below the default, so that a test
    /// can make the completion queue overflow). A full SQ is submitted and
    /// the loop goes on; overflowed completions are kept by the kernel and
    /// collected by the next enter.
    pub ring_entries: u32,
}

/// The default [`Config::ring_entries`].
pub(crate) const RING_ENTRIES: u32 = 4096;

impl Default for Config {
    fn default() -> Config {
        Config {
            driver: Driver::Readiness,
            backend: Backend::Epoll,
            mode: Mode::Level,
            events: 1024,
            edge_budget: 256 * 1024,
            max_posted_tasks: 64 * 1024,
            accept_batch: 64,
            release_idle_after: Some(Duration::from_secs(1)),
            collect_interval: Duration::ZERO,
            limits: Limits::default(),
            ring_entries: RING_ENTRIES,
        }
    }
}

/// Builder-style setters: the struct is `#[non_exhaustive]` (it will grow),
/// so outside the crate it is made from [`Default`] and these, e.g.
/// `Config::default().with_backend(…)`. The fields stay public to read
/// and assign.
impl Config {
    /// This with [`driver`](Self::driver) set to `driver`.
    #[must_use]
    pub fn with_driver(mut self, driver: Driver) -> Self {
        self.driver = driver;
        self
    }

    /// This with [`ring_entries`](Self::ring_entries) set to `ring_entries`
    /// (at least 1).
    #[must_use]
    pub fn with_ring_entries(mut self, ring_entries: u32) -> Self {
        self.ring_entries = ring_entries.max(1);
        self
    }

    /// This with [`backend`](Self::backend) set to `backend`.
    #[must_use]
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// This with [`mode`](Self::mode) set to `mode`.
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// This with [`events`](Self::events) set to `events`.
    #[must_use]
    pub fn with_events(mut self, events: usize) -> Self {
        self.events = events;
        self
    }

    /// This with [`edge_budget`](Self::edge_budget) set to `edge_budget`.
    #[must_use]
    pub fn with_edge_budget(mut self, edge_budget: usize) -> Self {
        self.edge_budget = edge_budget;
        self
    }

    /// This with [`max_posted_tasks`](Self::max_posted_tasks) set to `max_posted_tasks`.
    #[must_use]
    pub fn with_max_posted_tasks(mut self, max_posted_tasks: usize) -> Self {
        self.max_posted_tasks = max_posted_tasks;
        self
    }

    /// This with [`accept_batch`](Self::accept_batch) set to `accept_batch`.
    #[must_use]
    pub fn with_accept_batch(mut self, accept_batch: usize) -> Self {
        self.accept_batch = accept_batch;
        self
    }

    /// This with [`collect_interval`](Self::collect_interval) set to `collect_interval`.
    #[must_use]
    pub fn with_collect_interval(mut self, collect_interval: Duration) -> Self {
        self.collect_interval = collect_interval;
        self
    }

    /// This with [`release_idle_after`](Self::release_idle_after) set to `release_idle_after`.
    #[must_use]
    pub fn with_release_idle_after(mut self, release_idle_after: Option<Duration>) -> Self {
        self.release_idle_after = release_idle_after;
        self
    }

    /// This with [`limits`](Self::limits) set to `limits`.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
