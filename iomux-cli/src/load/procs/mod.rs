//! `iomux load --procs P`: the load spread over P client processes, so that
//! N can exceed what one process may hold (RLIMIT_NOFILE is 20,000 here).
//!
//! The parent re-executes this binary P times (`--proc-child`), each with
//! its share of `--conns`, `--active`, `--connect-rate` and `--rate`, and a
//! `--source-offset` so that the connections of all of them go round the
//! same loopback source addresses (connect.rs). It shows the connect
//! progress, sends `GO` once every child has its connections settled (so
//! the measurement windows coincide), and merges the children's results
//! into one report (merge.rs). The protocol with a child is in child.rs.

pub mod child;
mod merge;

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{Engine, LoadArgs, LoadReport};
use crate::CliResult;
use crate::reexec;

/// fds a client process keeps besides its connections (stdio, the
/// poller, the binary's own files), with room to spare.
const SPARE_FDS: u64 = 64;

/// Flags the parent acts on or hands out in shares.
const PARENT_ONLY: [&str; 6] = [
    "--procs",
    "--conns",
    "--active",
    "--connect-rate",
    "--rate",
    "--source-offset",
];
const PARENT_SWITCHES: [&str; 3] = ["--json", "--progress", "--marks"];

/// A line from a child, or its end.
enum Heard {
    Up(usize, usize),
    Warm(usize),
    Result(usize, Box<LoadReport>),
    Gone(usize),
}

/// One client process.
struct Client {
    child: Child,
    stdin: ChildStdin,
}

/// Runs the load over `procs` client processes and prints the merged report.
pub fn run(args: &LoadArgs, procs: usize) -> CliResult {
    if args.engine != Engine::Poller || args.pipeline > 1 {
        return Err("--procs runs the poller engine, without --pipeline".into());
    }
    let n = args.conns;
    if procs > n {
        return Err(format!("--procs {procs} is more than --conns {n}").into());
    }
    let room = fd_room();
    let per_proc = n.div_ceil(procs);
    if per_proc as u64 > room {
        return Err(format!(
            "--conns {n} over --procs {procs} is {per_proc} connections a process, and one process \
             may hold {room} (RLIMIT_NOFILE less {SPARE_FDS}): use --procs {} or more",
            n.div_ceil(room.max(1) as usize)
        )
        .into());
    }
    let (tx, rx) = mpsc::channel();
    let mut clients = Vec::with_capacity(procs);
    let mut offset = 0;
    for j in 0..procs {
        let conns = share(n, procs, j);
        let active = share(args.active.min(n), procs, j);
        match spawn(args, procs, j, conns, active, offset, tx.clone()) {
            Ok(c) => clients.push(c),
            Err(e) => {
                kill_all(&mut clients);
                return Err(format!("cannot start client process {j}: {e}").into());
            }
        }
        offset += conns;
    }
    drop(tx);
    let result = drive(args, &mut clients, &rx);
    if result.is_err() {
        kill_all(&mut clients);
    }
    let report = result?;
    let line = if args.json {
        serde_json::to_string(&report).expect("a report serialises")
    } else {
        report.summary()
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    // The children close their connections after their results: bounded,
    // as everything else.
    let end = Instant::now() + Duration::from_secs(120);
    for j in 0..clients.len() {
        while clients[j].child.try_wait()?.is_none() {
            if Instant::now() > end {
                kill_all(&mut clients);
                return Err(
                    "client processes still closing connections after 120 s: killed".into(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Child `j`'s share of `total` split over `procs`.
fn share(total: usize, procs: usize, j: usize) -> usize {
    total / procs + usize::from(j < total % procs)
}

/// Connections one process can hold: its soft fd limit, less the spare.
fn fd_room() -> u64 {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit.current.unwrap_or(u64::MAX).saturating_sub(SPARE_FDS)
}

fn spawn(
    args: &LoadArgs,
    procs: usize,
    j: usize,
    conns: usize,
    active: usize,
    offset: usize,
    tx: mpsc::Sender<Heard>,
) -> io::Result<Client> {
    let argv: Vec<_> = std::env::args_os().collect();
    let mut child = Command::new(std::env::current_exe()?)
        .arg("load")
        .args(reexec::passed_through(
            &argv,
            "load",
            &PARENT_ONLY,
            &PARENT_SWITCHES,
        ))
        .args([
            "--conns",
            &conns.to_string(),
            "--active",
            &active.to_string(),
        ])
        .args([
            "--connect-rate",
            &(args.connect_rate / procs as f64).to_string(),
        ])
        .args(["--source-offset", &offset.to_string(), "--proc-child"])
        // Each child paces its share of the connections at its share of
        // the rate.
        .args(
            args.rate
                .map(|r| {
                    let all = args.active.min(args.conns).max(1) as f64;
                    ["--rate".to_string(), (r * active as f64 / all).to_string()]
                })
                .into_iter()
                .flatten(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::Builder::new()
        .name(format!("client-{j}"))
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let heard = if let Some(n) = line.strip_prefix("UP ") {
                    n.parse().ok().map(|n| Heard::Up(j, n))
                } else if line == "WARM" {
                    Some(Heard::Warm(j))
                } else if let Some(json) = line.strip_prefix("RESULT ") {
                    serde_json::from_str(json)
                        .ok()
                        .map(|r| Heard::Result(j, Box::new(r)))
                } else {
                    None
                };
                if let Some(h) = heard {
                    let _ = tx.send(h);
                }
            }
            let _ = tx.send(Heard::Gone(j));
        })?;
    Ok(Client { child, stdin })
}

/// Waits for every child to connect, starts their windows together, and
/// merges their results.
fn drive(args: &LoadArgs, clients: &mut [Client], rx: &Receiver<Heard>) -> io::Result<LoadReport> {
    let procs = clients.len();
    let n = args.conns;
    let connect_bound = Duration::from_secs_f64(n as f64 / args.connect_rate + 330.0);
    let progress = Progress::new(n as u64, args.progress);
    let mut up = vec![0usize; procs];
    let mut warm = vec![false; procs];
    let deadline = Instant::now() + connect_bound;
    while warm.iter().any(|w| !w) {
        match next(rx, deadline, "connecting")? {
            Heard::Up(j, k) => {
                up[j] = k;
                progress.show(up.iter().sum::<usize>() as u64);
            }
            Heard::Warm(j) => warm[j] = true,
            Heard::Gone(j) => return Err(gone(j, &mut clients[j])),
            Heard::Result(..) => {}
        }
    }
    progress.done(up.iter().sum::<usize>() as u64);
    for c in clients.iter_mut() {
        c.stdin.write_all(b"GO\n")?;
        c.stdin.flush()?;
    }
    let go = Instant::now();
    // With --marks (for `iomux lab --scale`): WARM now, MEASURE when the
    // children's windows open and MEASURED when they close (they opened
    // them on GO, give or take a pipe write), before the alive check.
    let mut marks: Vec<(Instant, &str)> = if args.marks {
        mark("WARM")?;
        let start = go + Duration::from_secs_f64(args.warmup.max(0.0));
        vec![
            (start, "MEASURE"),
            (start + Duration::from_secs_f64(args.duration), "MEASURED"),
        ]
    } else {
        Vec::new()
    };
    let window = Duration::from_secs_f64(args.warmup.max(0.0) + args.duration);
    let per_proc = n.div_ceil(procs) as u64;
    let run_bound = window + child::check_bound(per_proc) + Duration::from_secs(60);
    let deadline = Instant::now() + run_bound;
    let mut results: Vec<Option<LoadReport>> = (0..procs).map(|_| None).collect();
    while results.iter().any(Option::is_none) {
        if let Some(&(at, what)) = marks.first() {
            if Instant::now() >= at {
                mark(what)?;
                marks.remove(0);
                continue;
            }
            match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(Heard::Result(j, r)) => results[j] = Some(*r),
                Ok(Heard::Gone(j)) if results[j].is_none() => return Err(gone(j, &mut clients[j])),
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other("every client process went away"));
                }
            }
            continue;
        }
        match next(rx, deadline, "running")? {
            Heard::Result(j, r) => results[j] = Some(*r),
            Heard::Gone(j) if results[j].is_none() => return Err(gone(j, &mut clients[j])),
            _ => {}
        }
    }
    let results: Vec<LoadReport> = results.into_iter().flatten().collect();
    Ok(merge::merge(&results))
}

/// One line of `--marks` on stdout, at once.
fn mark(what: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{what}")?;
    out.flush()
}

/// The next line from any child, or an error once `deadline` passes.
fn next(rx: &Receiver<Heard>, deadline: Instant, doing: &str) -> io::Result<Heard> {
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(h) => Ok(h),
        Err(RecvTimeoutError::Timeout) => Err(io::Error::other(format!(
            "the client processes were still {doing} at the deadline"
        ))),
        Err(RecvTimeoutError::Disconnected) => {
            Err(io::Error::other("every client process went away"))
        }
    }
}

/// The error for child `j`, which ended before it was done.
fn gone(j: usize, client: &mut Client) -> io::Error {
    let status = client
        .child
        .wait()
        .map_or_else(|e| e.to_string(), |s| s.to_string());
    io::Error::other(format!(
        "client process {j} ended early ({status}); its error is above"
    ))
}

fn kill_all(clients: &mut [Client]) {
    for c in clients {
        let _ = c.child.kill();
        let _ = c.child.wait();
    }
}

/// The connect progress on stderr: a bar on a terminal; with `--progress`
/// elsewhere, a line a second.
struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    total: u64,
    last_line: std::cell::Cell<Option<Instant>>,
}

impl Progress {
    fn new(total: u64, forced: bool) -> Progress {
        let terminal = io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("connecting {bar:40} {pos}/{len} {per_sec} {elapsed}")
                    .expect("a valid template"),
            );
            bar
        });
        Progress {
            bar,
            lines: forced && !terminal,
            total,
            last_line: std::cell::Cell::new(None),
        }
    }

    fn show(&self, up: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(up);
        } else if self.lines {
            let now = Instant::now();
            if self
                .last_line
                .get()
                .is_none_or(|t| now - t >= Duration::from_secs(1))
            {
                self.last_line.set(Some(now));
                eprintln!("iomux: connected {up}/{}", self.total);
            }
        }
    }

    fn done(&self, up: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(up);
            bar.finish();
        } else if self.lines {
            eprintln!("iomux: connected {up}/{}", self.total);
        }
    }
}
