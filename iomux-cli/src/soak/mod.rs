//! `iomux soak`: ~19,000 connections against each multiplexing model and
//! uring for a bounded time, with faults, and the checks that the server
//! survives them (issue #21).
//!
//! For each model, an `iomux serve --proto echo` child pinned to CPU 1, and
//! `--workers` client processes (this command again, `--worker I`) on
//! CPU 0 sharing the connections out, so that no process comes near
//! RLIMIT_NOFILE. The run is cut in thirds on one shared clock: the first
//! third carries paced echo clients and slowloris peers only (the p99
//! without faults); the rest adds RST storms (SO_LINGER 0 closes),
//! half-closes (shutdown(SHUT_WR), then the echo read to its end) and a
//! peer that never reads the echo of the 50 MB it pushes. At the end
//! comes SIGTERM, with the echo clients still sending.
//!
//! Checked: the server is alive until SIGTERM and exits 0 within a bound
//! after it; its RSS (sampled every second) under the faults stays within
//! a slack of its peak before them (less than the 50 MB the never-reader
//! pushes); the echo clients' p99 under faults
//! stays within a factor of the one without; every echoed byte matches
//! (SHA-256 per connection); no connection is dropped before SIGTERM; the
//! never-reader is cut off by the send timeout. Requests in flight at
//! SIGTERM are counted: answered, or cut; one cut fails the run (the
//! server's graceful stop answers what it has received).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use clap::Args;

use crate::CliResult;

mod clock;
mod peers;
mod plan;
mod report;
mod server;
mod slowloris;
mod verdict;
mod worker;

use report::WorkerReport;

/// The models a soak can run: the multiplexing ones and uring.
const MODELS: [&str; 4] = ["select", "poll", "epoll", "uring"];

/// Arguments of `iomux soak`.
#[derive(Args, Clone, Debug)]
pub struct SoakArgs {
    /// Models to soak, comma-separated: select, poll, epoll, uring.
    #[arg(long, value_delimiter = ',', default_value = "select,poll,epoll,uring")]
    pub models: Vec<String>,
    /// Connections held against each model (echo clients, slowloris peers
    /// and the faults' connections together).
    #[arg(long, default_value_t = 19_000, value_parser = crate::args::at_least_one)]
    pub conns: usize,
    /// Of those, paced echo clients (one request of 1..4 KiB every 20 ms),
    /// whose p99 is reported.
    #[arg(long, default_value_t = 100, value_parser = crate::args::at_least_one)]
    pub echo: usize,
    /// Client processes sharing the connections out.
    #[arg(long, default_value_t = 2, value_parser = crate::args::at_least_one)]
    pub workers: usize,
    /// How long each model runs (then SIGTERM): `60s`, `2m`.
    #[arg(long, default_value = "60s", value_parser = crate::args::positive_duration)]
    pub duration: Duration,
    /// The server's --send-timeout, which cuts off the never-reading peer.
    #[arg(long, default_value = "2s", value_parser = crate::args::positive_duration)]
    pub send_timeout: Duration,
    /// Under faults, RSS may grow this much (MiB) above its peak before
    /// them (every connection up and echoing).
    #[arg(long, default_value_t = 32)]
    pub rss_slack_mib: u64,
    /// The echo p99 under faults may be at most this many times the one
    /// without (plus 5 ms, for the timer granularity of a shared host).
    #[arg(long, default_value_t = 3.0, value_parser = crate::args::positive)]
    pub p99_factor: f64,
    /// How long the server may take to exit after SIGTERM.
    #[arg(long, default_value = "5s", value_parser = crate::args::positive_duration)]
    pub exit_bound: Duration,
    /// Write the RSS samples here as CSV (model,t_s,rss_kib).
    #[arg(long)]
    pub csv: Option<std::path::PathBuf>,
    /// Leave server and clients unpinned (pinning needs two CPUs).
    #[arg(long)]
    pub no_pin: bool,
    /// Internal: run as client process I of --workers.
    #[arg(long, hide = true)]
    pub worker: Option<usize>,
    /// Internal: the server a worker connects to.
    #[arg(long, hide = true)]
    pub addr: Option<SocketAddr>,
}

/// Runs the soak (or, with --worker, one client process of it).
pub fn run(args: SoakArgs) -> CliResult {
    if let Some(index) = args.worker {
        return worker::run(&args, index);
    }
    // Fail on a bad model or share before starting anything.
    if let Some(bad) = args.models.iter().find(|m| !MODELS.contains(&m.as_str())) {
        return Err(format!("--models: {bad} is not one of {}", MODELS.join(", ")).into());
    }
    plan::Share::of(args.conns, args.echo, 0, args.workers)?;
    let pin = !args.no_pin && std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let mut csv = String::from("model,t_s,rss_kib\n");
    let mut failed = Vec::new();
    for model in &args.models {
        let outcome = soak_one(&args, model, pin)?;
        csv.push_str(&outcome.csv);
        if !outcome.failures.is_empty() {
            failed.push(format!("{model} ({})", outcome.failures.join("; ")));
        }
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, csv).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("RSS samples: {}", path.display());
    }
    if failed.is_empty() {
        println!("soak: all {} models passed", args.models.len());
        Ok(())
    } else {
        Err(format!("soak failed: {}", failed.join(", ")).into())
    }
}

/// A model's soak, summed up.
struct Outcome {
    csv: String,
    failures: Vec<String>,
}

fn soak_one(args: &SoakArgs, model: &str, pin: bool) -> Result<Outcome, String> {
    // The drain's bound sits well inside the exit bound: a never-reader
    // still open at SIGTERM is cut at the former, and the exit still makes
    // the latter.
    let mut srv = server::start(
        model,
        args.send_timeout,
        args.exit_bound / 2,
        pin.then_some(1),
    )?;
    let sampler = server::RssSampler::start(srv.pid);
    let mut workers = Vec::new();
    for i in 0..args.workers {
        workers.push(spawn_worker(args, i, srv.addr, pin)?);
    }
    // Every worker has opened its connections: the run may begin.
    for (i, w) in workers.iter_mut().enumerate() {
        let line = w
            .lines
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        if line.trim() != "ready" {
            return Err(format!("{model}: worker {i} did not get ready: {line:?}"));
        }
    }
    let rss_at_go = server::rss_kib(srv.pid).unwrap_or(0);
    let go_ns = clock::now_ns() + 100_000_000;
    let plan = plan::Plan::new(srv.addr, go_ns, args.duration, args.send_timeout);
    for w in &mut workers {
        let stdin = w.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "go {go_ns}").map_err(|e| format!("{model}: go: {e}"))?;
        stdin.flush().map_err(|e| format!("{model}: go: {e}"))?;
    }
    peers::sleep_until(plan.sigterm_ns);
    let alive = srv.alive();
    let sigterm_ns = clock::now_ns();
    let exit = srv.terminate(args.exit_bound);
    let mut total = WorkerReport::default();
    let wait = Duration::from_nanos(plan.end_ns - clock::now_ns().min(plan.end_ns))
        + Duration::from_secs(20);
    for (i, mut w) in workers.into_iter().enumerate() {
        let line = w.lines.recv_timeout(wait).unwrap_or_default();
        match serde_json::from_str::<WorkerReport>(&line) {
            Ok(r) => total.merge(r),
            Err(_) => total.note(format!("worker {i} sent no report: {line:?}")),
        }
        let _ = w.child.kill();
        let _ = w.child.wait();
    }
    let samples = sampler.finish();
    let run = verdict::Run {
        model,
        args,
        plan,
        alive_at_sigterm: alive,
        rss_at_go,
        sigterm_ns,
        exit,
        samples: &samples,
        report: &total,
        server_said: srv.stderr(),
    };
    let failures = run.print();
    Ok(Outcome {
        csv: run.csv(),
        failures,
    })
}

/// A client process and the lines it prints.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
}

fn spawn_worker(
    args: &SoakArgs,
    index: usize,
    addr: SocketAddr,
    pin: bool,
) -> Result<Worker, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("soak")
        .args([
            "--worker",
            &index.to_string(),
            "--workers",
            &args.workers.to_string(),
        ])
        .args([
            "--addr",
            &addr.to_string(),
            "--conns",
            &args.conns.to_string(),
        ])
        .args(["--echo", &args.echo.to_string()])
        .arg("--duration")
        .arg(format!("{}ms", args.duration.as_millis()))
        .arg("--send-timeout")
        .arg(format!("{}ms", args.send_timeout.as_millis()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    iomux_harness::sched::detach(&mut cmd, true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawning worker {index}: {e}"))?;
    iomux_harness::sched::boost(child.id());
    if pin {
        iomux_harness::sched::pin(child.id(), 0);
    }
    let stdout = child.stdout.take().expect("piped");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(Worker { child, lines })
}
