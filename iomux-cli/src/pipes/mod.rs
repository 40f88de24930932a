//! `iomux pipes`: the classic dispatch micro-benchmark.
//!
//! Two measurements, both printed as tables:
//! - `chain` (the default): the method of libevent's test/bench.c. N socket
//!   pairs (or eventfds), A of them made active, and a chain of W writes in
//!   which each read callback writes one byte to the next pair. It prints µs
//!   per event for each backend, both as bench.c counts it (re-registering
//!   every fd, then dispatching) and for the dispatch alone.
//! - `--wait`: one bare `Poller::wait` with a zero timeout over N watched
//!   eventfds of which K are ready, against the raw syscall on the same fds,
//!   measured alternately in one run; it prints the ratio. With
//!   `--oneshot`, the fds are registered oneshot and every reported fd is
//!   re-armed after the wait (`Poller::modify` against the raw re-arm), and
//!   a second ratio times `modify` alone against `epoll_ctl(EPOLL_CTL_MOD)`.

use clap::Args;

use crate::CliResult;

mod bare_wait;
mod chain;

/// Arguments of `iomux pipes`.
#[derive(Args, Clone, Debug)]
pub struct PipesArgs {
    /// Time one bare wait against the raw syscall instead of the chain.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: register the fds oneshot and re-arm every reported fd
    /// after each wait (`Poller::modify` against the raw re-arm), and time
    /// `modify` alone against the raw re-arm syscall, `epoll_ctl(EPOLL_CTL_MOD)`.
    #[arg(long, requires = "wait")]
    pub oneshot: bool,
    /// Numbers of watched fds (comma-separated, each at least 1).
    #[arg(long, value_delimiter = ',', value_parser = crate::args::at_least_one)]
    pub fds: Option<Vec<usize>>,
    /// Active pairs for the chain (at least 1), or ready fds for --wait
    /// (comma-separated). Above the number of fds, all of them.
    #[arg(long, value_delimiter = ',')]
    pub active: Option<Vec<usize>>,
    /// Writes in each chain run.
    #[arg(long, default_value_t = 10_000, value_parser = crate::args::at_least_one)]
    pub writes: usize,
    /// Use eventfds instead of socket pairs for the chain (one fd each, so
    /// up to ~19,000 fit under RLIMIT_NOFILE).
    #[arg(long)]
    pub eventfd: bool,
    /// Runs per cell (rounds for --wait); the median is reported. The chain
    /// does fewer (at least 3) in a cell whose runs would take over 3 s.
    #[arg(long, default_value_t = 15, value_parser = crate::args::at_least_one)]
    pub runs: usize,
    /// Backends to measure (comma-separated): epoll, poll, select, uring.
    #[arg(long, value_delimiter = ',', default_value = "epoll,poll,select,uring")]
    pub backends: Vec<String>,
    /// Pin the benchmark thread to this CPU.
    #[arg(long)]
    pub cpu: Option<usize>,
}

/// Runs the benchmark.
pub fn run(args: PipesArgs) -> CliResult {
    if let Some(cpu) = args.cpu {
        pin_to_cpu(cpu).map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
    }
    if !args.wait && args.active.as_ref().is_some_and(|a| a.contains(&0)) {
        return Err("--active: the chain needs at least 1 active pair".into());
    }
    let mut backends = Vec::new();
    for name in &args.backends {
        backends.push(name.parse::<iomux::Backend>()?);
    }
    if args.wait {
        bare_wait::run(&args, &backends)
    } else {
        chain::run(&args, &backends)
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> std::io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set)?;
    Ok(())
}

/// The soft RLIMIT_NOFILE, for error messages about running out of fds.
fn fd_limit_note() -> String {
    match rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        Some(limit) => format!(" (RLIMIT_NOFILE is {limit} here)"),
        None => String::new(),
    }
}

/// The median of some measurements (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
