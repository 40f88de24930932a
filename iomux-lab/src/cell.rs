//! Running one cell: a server and a load generator as pinned child
//! processes, with the server's counters sampled around the load's window.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::matrix::{Cell, Profile, Sweep, Variant};
use super::perf::{self, Perf};
use super::procfs::{self, Sample};
use super::sched;
use super::supervised::Supervised;
use iomux_harness::LoadReport;

/// How a cell ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Measured.
    Ok,
    /// The server started but the cell could not be measured, or the
    /// replies were wrong.
    Failed,
    /// The server did not start (e.g. the model is not built in).
    Unavailable,
}

/// Everything measured in one cell (`None`: not measured or not countable).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellResult {
    /// The variant's name.
    pub model: String,
    /// Which sweep.
    pub sweep: Sweep,
    /// Connections (N).
    pub conns: usize,
    /// Active connections (K).
    pub active: usize,
    /// How the cell ended.
    pub status: Status,
    /// Why it failed, or a note.
    pub error: Option<String>,
    /// Requests per second.
    pub rps: Option<f64>,
    /// Latency percentiles, µs.
    pub p50_us: Option<f64>,
    /// 99th percentile, µs.
    pub p99_us: Option<f64>,
    /// 99.9th percentile, µs.
    pub p999_us: Option<f64>,
    /// Maximum, µs.
    pub max_us: Option<f64>,
    /// Requests in the window.
    pub requests: Option<u64>,
    /// Load errors (bad replies, closed connections, failed connects).
    pub errors: Option<u64>,
    /// Connections up when the window opened.
    pub connected: Option<usize>,
    /// Seconds the load generator took to open them.
    pub connect_s: Option<f64>,
    /// Server CPU per request, µs (user + system, all threads).
    pub cpu_us_per_req: Option<f64>,
    /// Server CPU use during the window, % of one core.
    pub cpu_pct: Option<f64>,
    /// Server CPU use with no client connected, % of one core.
    pub idle_cpu_pct: Option<f64>,
    /// Server RSS before any connection, KiB.
    pub rss_base_kib: Option<u64>,
    /// Server RSS at the end of the window, KiB.
    pub rss_kib: Option<u64>,
    /// (RSS − base) / N, KiB.
    pub rss_per_conn_kib: Option<f64>,
    /// Voluntary context switches per request.
    pub vcsw_per_req: Option<f64>,
    /// Involuntary context switches per request.
    pub ivcsw_per_req: Option<f64>,
    /// Server threads.
    pub threads: Option<u64>,
    /// Server open fds.
    pub fds: Option<u64>,
    /// Server's highest fd number.
    pub max_fd: Option<u64>,
    /// All syscalls per request (perf).
    pub syscalls_per_req: Option<f64>,
    /// Wait syscalls (epoll_wait, select, poll, sigtimedwait, io_uring_enter…) per request.
    pub waits_per_req: Option<f64>,
    /// read + recvfrom calls per request.
    pub reads_per_req: Option<f64>,
    /// Raw syscall counts in the window, by name.
    pub syscalls: BTreeMap<String, u64>,
    /// Why syscalls were not counted.
    pub perf_note: Option<String>,
    /// CPU time that other processes took on the server's and the load's
    /// cores during the window, % of a core (the larger of the two): the
    /// machine was shared when this is high.
    pub contention_pct: Option<f64>,
    /// Whether the server's memory map holds an eventpoll mapping.
    pub eventpoll_mapped: Option<bool>,
    /// Whether the server holds an epoll fd.
    pub has_epoll_fd: Option<bool>,
    /// The server's own `iomux-stats:` exit line.
    pub server_stats: Option<String>,
    /// Runs this result is the median of.
    pub repeats: usize,
}

impl CellResult {
    fn new(variant: &Variant, cell: &Cell) -> CellResult {
        CellResult {
            model: variant.name.to_string(),
            sweep: cell.sweep,
            conns: cell.conns,
            active: cell.active,
            status: Status::Failed,
            error: None,
            rps: None,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            max_us: None,
            requests: None,
            errors: None,
            connected: None,
            connect_s: None,
            cpu_us_per_req: None,
            cpu_pct: None,
            idle_cpu_pct: None,
            rss_base_kib: None,
            rss_kib: None,
            rss_per_conn_kib: None,
            vcsw_per_req: None,
            ivcsw_per_req: None,
            threads: None,
            fds: None,
            max_fd: None,
            syscalls_per_req: None,
            waits_per_req: None,
            reads_per_req: None,
            syscalls: BTreeMap::new(),
            perf_note: None,
            contention_pct: None,
            eventpoll_mapped: None,
            has_epoll_fd: None,
            server_stats: None,
            repeats: 1,
        }
    }

    /// A result for a cell that was not run because the variant is unavailable.
    pub fn unavailable(variant: &Variant, cell: &Cell, why: &str) -> CellResult {
        let mut r = CellResult::new(variant, cell);
        r.status = Status::Unavailable;
        r.error = Some(why.to_string());
        r
    }
}

/// Where the lab runs things.
pub struct Setup<'a> {
    /// The `iomux` binary.
    pub exe: &'a Path,
    /// CPU for the servers.
    pub server_cpu: usize,
    /// CPU for the load generator.
    pub load_cpu: usize,
    /// Whether to count syscalls with perf.
    pub perf: bool,
}

fn short(s: &str) -> String {
    let s = s
        .lines()
        .filter(|l| !l.starts_with("iomux-stats:"))
        .collect::<Vec<_>>()
        .join(" | ");
    if s.len() > 300 {
        format!("{}…", &s[..s.floor_char_boundary(300)])
    } else {
        s
    }
}

/// Runs one cell. `probe_idle`: also measure the server's CPU with no client.
pub fn run(
    setup: &Setup,
    variant: &Variant,
    cell: &Cell,
    profile: &Profile,
    probe_idle: bool,
) -> CellResult {
    let mut r = CellResult::new(variant, cell);
    let mut cmd = Command::new(setup.exe);
    cmd.args([
        "serve",
        "--model",
        variant.model,
        "--proto",
        "echo",
        "--addr",
        "127.0.0.1:0",
    ]);
    cmd.args(variant.serve_flags());
    let mut server = match Supervised::spawn(&mut cmd) {
        Ok(s) => s,
        Err(e) => {
            return CellResult::unavailable(
                variant,
                cell,
                &format!("cannot start the server: {e}"),
            );
        }
    };
    let ready = server
        .line(Instant::now() + Duration::from_secs(10))
        .map(|(_, l)| l);
    let addr: SocketAddr = match ready
        .as_deref()
        .map(|l| l.strip_prefix("listening on ").and_then(|a| a.parse().ok()))
    {
        Ok(Some(a)) => a,
        Ok(None) | Err(_) => {
            let why = match ready {
                Ok(l) => format!("unexpected first line {l:?}"),
                Err(e) => e,
            };
            let status = server.terminate(Duration::from_secs(2));
            let err = server.stderr();
            let mut r = CellResult::unavailable(
                variant,
                cell,
                &format!("server did not start ({why}, {status}): {}", short(&err)),
            );
            r.status = Status::Unavailable;
            return r;
        }
    };
    sched::pin(server.pid(), setup.server_cpu);
    let pid = server.pid();
    let base = procfs::sample(pid).ok();
    r.rss_base_kib = base.map(|b| b.rss_kib);
    if probe_idle && let Some(b) = base {
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(profile.idle_probe));
        if let Ok(after) = procfs::sample(pid) {
            let pct = (after.cpu_s - b.cpu_s) / t.elapsed().as_secs_f64() * 100.0;
            r.idle_cpu_pct = Some(pct.max(0.0));
        }
    }

    let mut load_cmd = Command::new(setup.exe);
    load_cmd
        .args([
            "load", "--marks", "--json", "--proto", "echo", "--size", "64",
        ])
        .args([
            "--addr",
            &addr.to_string(),
            "--conns",
            &cell.conns.to_string(),
            "--active",
            &cell.active.to_string(),
            "--duration",
            &profile.measure.to_string(),
            "--warmup",
            &profile.warmup.to_string(),
            "--count",
            &(if setup.perf { profile.count } else { 0.0 }).to_string(),
        ]);
    let outcome = match Supervised::spawn(&mut load_cmd) {
        Ok(mut load) => {
            sched::pin(load.pid(), setup.load_cpu);
            let out = drive(setup, &mut load, pid, cell, profile, &mut r);
            load.release();
            let status = load.wait(Duration::from_secs(30));
            out.map_err(|e| format!("{e}; load {status}: {}", short(&load.stderr())))
        }
        Err(e) => Err(format!("cannot start the load generator: {e}")),
    };
    let alive = matches!(server.child.try_wait(), Ok(None));
    let status = server.terminate(Duration::from_secs(15));
    let err = server.stderr();
    r.server_stats = err
        .lines()
        .find(|l| l.starts_with("iomux-stats:"))
        .map(|l| l.trim_start_matches("iomux-stats:").trim().to_string());
    match outcome {
        Err(e) => {
            r.status = Status::Failed;
            let server_note = if alive {
                String::new()
            } else {
                format!("; server died ({status}): {}", short(&err))
            };
            r.error = Some(format!("{e}{server_note}"));
        }
        Ok(()) => judge(&mut r, alive, &status, &err),
    }
    r
}

/// Marks a measured cell ok or failed.
fn judge(r: &mut CellResult, alive: bool, status: &str, err: &str) {
    let mut problems = Vec::new();
    if !alive {
        problems.push(format!("server died ({status}): {}", short(err)));
    }
    if r.requests.unwrap_or(0) == 0 {
        problems.push("no request completed".into());
    }
    if r.connected.is_some_and(|c| c < r.conns) {
        problems.push(format!(
            "only {} of {} connections up",
            r.connected.unwrap_or(0),
            r.conns
        ));
    }
    if r.errors.unwrap_or(0) > 0 {
        problems.push(format!("{} load errors", r.errors.unwrap_or(0)));
    }
    if problems.is_empty() {
        r.status = Status::Ok;
    } else {
        r.status = Status::Failed;
        r.error = Some(problems.join("; "));
    }
}

/// Follows the load's marks, sampling the server around the window.
fn drive(
    setup: &Setup,
    load: &mut Supervised,
    pid: u32,
    cell: &Cell,
    profile: &Profile,
    r: &mut CellResult,
) -> Result<(), String> {
    // Connects are paced at 20,000/s by default; slow accepters (thread
    // spawns) take longer, hence the generous bound.
    let deadline = Instant::now()
        + Duration::from_secs_f64(
            cell.conns as f64 / 2000.0 + profile.warmup + profile.measure + 30.0,
        );
    let mut starting: Option<std::thread::JoinHandle<std::io::Result<Perf>>> = None;
    let mut perf: Option<Perf> = None;
    let mut start: Option<(Instant, Sample)> = None;
    let mut others: Option<Busy> = None;
    loop {
        let (at, line) = load
            .line(deadline)
            .map_err(|e| format!("load generator {e}"))?;
        match line.as_str() {
            "WARM" if setup.perf => {
                // perf attaches to every thread, which takes a while with
                // thousands of them: start it beside the warm-up and window.
                let threads = procfs::sample(pid).map_or(1, |s| s.threads);
                let tag = format!("{}-{}-{}", r.model, cell.sweep.name(), cell.conns);
                starting = Some(std::thread::spawn(move || {
                    sched::prompt();
                    Perf::start(pid, threads, &tag)
                }));
            }
            "MEASURE" => {
                let s =
                    procfs::sample(pid).map_err(|e| format!("server gone at window start: {e}"))?;
                start = Some((Instant::now(), s));
                others = Busy::sample(setup, pid, load.pid());
            }
            l if l.starts_with('{') => {
                // The load keeps its connections open until released, so the
                // server's threads and buffers are all still there. Its window
                // closed at `at`; sampling now adds a little idle time, which
                // costs no CPU.
                let end =
                    procfs::sample(pid).map_err(|e| format!("server gone at window end: {e}"))?;
                if let (Some(a), Some(b)) = (others, Busy::sample(setup, pid, load.pid())) {
                    r.contention_pct = Some(a.others_until(&b));
                }
                let (fds, max_fd) = procfs::fds(pid);
                r.fds = Some(fds);
                r.max_fd = Some(max_fd);
                r.eventpoll_mapped = procfs::maps_mention_eventpoll(pid);
                r.has_epoll_fd = Some(procfs::has_epoll_fd(pid));
                let report: LoadReport =
                    serde_json::from_str(l).map_err(|e| format!("bad load report: {e}"))?;
                record(r, &report, start, end, at);
                if !setup.perf {
                    return Ok(());
                }
            }
            // Syscalls are counted in a phase of their own after the timed
            // window: perf's per-thread counters slow context switches, and
            // would tax the thread-per-connection model most.
            "COUNT-START" => {
                let started = starting.take().map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("perf thread panicked")))
                });
                match started.map(|p| p.and_then(|mut p| p.enable().map(|_| p))) {
                    Some(Ok(p)) => perf = Some(p),
                    Some(Err(e)) => r.perf_note = Some(e.to_string()),
                    None => {}
                }
            }
            l if l.starts_with("COUNT-END") => {
                let counted: u64 = l["COUNT-END".len()..].trim().parse().unwrap_or(0);
                if let Some(mut p) = perf.take() {
                    let _ = p.disable();
                    match p.finish() {
                        Err(e) => r.perf_note = Some(e.to_string()),
                        Ok(_) if counted == 0 => {
                            r.perf_note = Some("no request completed while counting".into())
                        }
                        Ok(c) => {
                            let per = |v: Option<u64>| v.map(|v| v as f64 / counted as f64);
                            r.syscalls_per_req = per(c.get("all"));
                            r.waits_per_req = per(c.waits());
                            r.reads_per_req = match (c.get("read"), c.get("recvfrom")) {
                                (None, None) => None,
                                (a, b) => per(Some(a.unwrap_or(0) + b.unwrap_or(0))),
                            };
                            r.syscalls = c.calls;
                        }
                    }
                }
                return Ok(());
            }
            _ => {}
        }
    }
}

/// What the two measured cores did, and how much of it was ours.
#[derive(Clone, Copy)]
struct Busy {
    at: Instant,
    server_core: f64,
    load_core: f64,
    server: f64,
    load: f64,
}

impl Busy {
    fn sample(setup: &Setup, server: u32, load: u32) -> Option<Busy> {
        Some(Busy {
            at: Instant::now(),
            server_core: procfs::cpu_busy(setup.server_cpu)?,
            load_core: procfs::cpu_busy(setup.load_cpu)?,
            server: procfs::cpu_seconds(server).ok()?,
            load: procfs::cpu_seconds(load).ok()?,
        })
    }

    /// % of a core that others took on the busier of the two cores.
    fn others_until(&self, end: &Busy) -> f64 {
        let secs = (end.at - self.at).as_secs_f64().max(1e-3);
        let on_server = (end.server_core - self.server_core) - (end.server - self.server);
        let on_load = (end.load_core - self.load_core) - (end.load - self.load);
        (on_server.max(on_load) / secs * 100.0).clamp(0.0, 100.0)
    }
}

fn record(
    r: &mut CellResult,
    report: &LoadReport,
    start: Option<(Instant, Sample)>,
    end: Sample,
    t_end: Instant,
) {
    r.rps = Some(report.rps);
    r.p50_us = Some(report.p50_us);
    r.p99_us = Some(report.p99_us);
    r.p999_us = Some(report.p999_us);
    r.max_us = Some(report.max_us);
    r.requests = Some(report.requests);
    r.errors = Some(report.errors);
    r.connected = Some(report.connected);
    r.connect_s = Some(report.connect_s);
    r.rss_kib = Some(end.rss_kib);
    r.threads = Some(end.threads);
    if let Some(base) = r.rss_base_kib {
        r.rss_per_conn_kib = Some(end.rss_kib.saturating_sub(base) as f64 / r.conns as f64);
    }
    if let Some((t0, s0)) = start {
        let secs = (t_end - t0).as_secs_f64();
        // Requests the server answered between the two samples, at the window's rate.
        let reqs = report.rps * secs;
        if secs > 0.0 {
            r.cpu_pct = Some((end.cpu_s - s0.cpu_s) / secs * 100.0);
        }
        if reqs > 0.0 {
            r.cpu_us_per_req = Some((end.cpu_s - s0.cpu_s) / reqs * 1e6);
            r.vcsw_per_req = Some(end.vcsw.saturating_sub(s0.vcsw) as f64 / reqs);
            r.ivcsw_per_req = Some(end.ivcsw.saturating_sub(s0.ivcsw) as f64 / reqs);
        }
    }
}

/// Whether perf can count syscalls here.
pub fn perf_available() -> bool {
    perf::available()
}
