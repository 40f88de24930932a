//! `iomux serve`: the same echo/HTTP server in each I/O model.

use std::io::Write;
use std::net::SocketAddr;

use clap::{Args, ValueEnum};

use crate::CliResult;
use crate::proto::Proto;

mod uring;

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
    /// Event-loop threads (multiplexing models).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Prints the one line a supervisor waits for.
pub fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> CliResult {
    if args.model == Model::Uring {
        return uring::run(&args);
    }
    Err(format!("the {:?} model is not implemented yet", args.model).into())
}
