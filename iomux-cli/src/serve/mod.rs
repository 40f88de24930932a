//! `iomux serve`: the same echo/HTTP server in each I/O model.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::CliResult;
use crate::proto::{Limits, Proto};

mod reactor_model;
mod rt_model;
pub mod shutdown;
mod uring;

mod blocking;
mod blocking_drain;
mod model_common;
mod nonblocking;
mod sigio;
mod small_thread;
mod workers;

/// The I/O model a server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// One thread per connection, blocking reads and writes.
    Blocking,
    /// One thread busy-polling non-blocking sockets.
    Nonblocking,
    /// The reactor over select(2).
    Select,
    /// The reactor over poll(2).
    Poll,
    /// The reactor over epoll(7).
    Epoll,
    /// Signal-driven I/O (O_ASYNC + F_SETSIG).
    Sigio,
    /// Completion-based io_uring.
    Uring,
    /// iomux::rt, the async runtime, over the driver `--driver` names.
    Rt,
}

/// Readiness triggering for the multiplexing models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TriggerMode {
    /// Level-triggered.
    Level,
    /// Edge-triggered.
    Edge,
    /// Oneshot, re-armed after each event.
    Oneshot,
}

/// How the loops of `--threads N` share the address (select, poll, epoll).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SharingArg {
    /// One SO_REUSEPORT listener per loop; the kernel spreads connections.
    Reuseport,
    /// One listener in every loop, registered with EPOLLEXCLUSIVE (epoll).
    Exclusive,
    /// One listener on the first loop, which hands connections out in turn.
    RoundRobin,
}

/// How the processes of `--workers P` share the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WorkerSharing {
    /// One SO_REUSEPORT listener per worker; the kernel spreads connections.
    Reuseport,
    /// One listener, opened by the master and inherited by every worker,
    /// registered with EPOLLEXCLUSIVE (epoll).
    Exclusive,
}

/// Arguments of `iomux serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// The I/O model.
    #[arg(long, value_enum, default_value = "epoll")]
    pub model: Model,
    /// Triggering mode (select, poll, epoll).
    #[arg(long, value_enum, default_value = "level")]
    pub mode: TriggerMode,
    /// The protocol.
    #[arg(long, value_enum, default_value = "http")]
    pub proto: Proto,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Event-loop threads (multiplexing models), at least 1.
    #[arg(long, default_value_t = 1, value_parser = crate::args::at_least_one)]
    pub threads: usize,
    /// How the loops of --threads share the address (select, poll, epoll).
    #[arg(long, value_enum, default_value = "reuseport")]
    pub sharing: SharingArg,
    /// The rt model's driver: readiness on epoll, poll or select, or
    /// io_uring readiness polls (uring-poll) or completions (uring).
    #[arg(long, default_value = "epoll", value_parser = parse_driver)]
    pub driver: iomux::rt::DriverKind,
    /// HTTP: time allowed for a request once begun, and for the first one
    /// (e.g. 60s, 500ms).
    #[arg(long, default_value = "60s", value_parser = crate::args::positive_duration)]
    pub header_timeout: Duration,
    /// HTTP: how long an idle connection is kept between requests (0: closed
    /// as soon as its answers are out).
    #[arg(long, default_value = "75s", value_parser = crate::args::duration)]
    pub keepalive_timeout: Duration,
    /// HTTP: requests served on one connection before it is closed.
    #[arg(long, default_value_t = 1000)]
    pub max_requests: u32,
    /// HTTP: largest request head in bytes (431 beyond).
    #[arg(long, default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,
    /// HTTP: longest request target in bytes (414 beyond).
    #[arg(long, default_value_t = 8 * 1024)]
    pub max_uri_bytes: usize,
    /// HTTP: largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How long a reply may stay unsent (the peer reads nothing) before the
    /// connection is closed; nginx's `send_timeout`. Every model.
    #[arg(long, alias = "write-timeout", default_value = "60s", value_parser = crate::args::positive_duration)]
    pub send_timeout: Duration,
    /// select, poll, epoll: let at least this long pass between one wait
    /// and the next (libev's io_collect_interval, e.g. 100us), so that each
    /// wait collects many events; costs up to as much latency per request.
    /// 0 (the default): wait as soon as the work is done.
    #[arg(long, default_value = "0", value_parser = crate::args::duration)]
    pub collect_interval: Duration,
    /// Worker processes under a master that restarts them and forwards
    /// SIGINT/SIGTERM (select, poll, epoll, uring); `--threads` applies
    /// inside each worker.
    #[arg(long, value_parser = crate::args::at_least_one)]
    pub workers: Option<usize>,
    /// How the processes of --workers share the address.
    #[arg(long, value_enum, default_value = "reuseport")]
    pub worker_sharing: WorkerSharing,
    /// Set by the master of --workers in each worker it starts.
    #[arg(long, hide = true)]
    pub worker_index: Option<usize>,
    /// Set by the master of `--worker-sharing exclusive`: the inherited
    /// listener's fd.
    #[arg(long, hide = true)]
    pub listen_fd: Option<i32>,
    /// On SIGINT/SIGTERM: how long requests already received may take to be
    /// answered and sent before the connections still open are cut (nginx's
    /// worker_shutdown_timeout). A second signal exits at once.
    #[arg(long, default_value = "10s", value_parser = crate::args::duration)]
    pub shutdown_timeout: Duration,
    /// Lowers the soft RLIMIT_NOFILE at startup (for tests of fd exhaustion).
    #[arg(long, hide = true)]
    pub nofile: Option<u64>,
    /// uring: submission queue entries (the CQ gets twice as many); tiny
    /// values exercise the full-SQ and CQ-overflow paths in tests.
    #[arg(long, hide = true)]
    pub uring_entries: Option<u32>,
}

impl ServeArgs {
    /// The HTTP limits the flags describe.
    pub fn limits(&self) -> Limits {
        Limits {
            header_timeout: self.header_timeout,
            keepalive_timeout: self.keepalive_timeout,
            max_requests: self.max_requests,
            max_header_bytes: self.max_header_bytes,
            max_uri_bytes: self.max_uri_bytes,
            max_body_bytes: self.max_body_bytes,
            ..Limits::default()
        }
    }
}

fn parse_driver(s: &str) -> Result<iomux::rt::DriverKind, iomux::ParseNameError> {
    s.parse()
}

fn lower_nofile(limit: u64) -> std::io::Result<()> {
    let mut r = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    r.current = Some(limit);
    rustix::process::setrlimit(rustix::process::Resource::Nofile, r)?;
    Ok(())
}

/// Prints the one line a supervisor waits for.
pub fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> CliResult {
    if let Some(n) = args.workers {
        return workers::supervise(&args, n);
    }
    if args.worker_index.is_some() {
        workers::become_worker()?;
    }
    if let Some(n) = args.nofile {
        lower_nofile(n)?;
    }
    match args.model {
        Model::Select | Model::Poll | Model::Epoll => reactor_model::run(&args),
        Model::Blocking => blocking::run(&args),
        Model::Nonblocking => nonblocking::run(&args),
        Model::Sigio => sigio::run(&args),
        Model::Uring => uring::run(&args),
        Model::Rt => rt_model::run(&args),
    }
}
