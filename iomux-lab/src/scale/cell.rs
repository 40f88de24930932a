//! One cell of `iomux lab --scale`: `iomux serve --workers W` pinned to the
//! server CPU, `iomux load --procs P --marks` pinned to the load CPU, N
//! connections with K active, and the server's process tree and the
//! kernel's socket memory sampled around the window.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::super::cell::Status;
use super::super::matrix::Variant;
use super::super::procfs;
use super::super::sched;
use super::super::supervised::Supervised;
use super::sys::{self, Kernel, TreeSample};
use iomux_harness::LoadReport;

/// Connections per server worker and per client process: below the 20,000
/// fds one process may hold, with room for the SO_REUSEPORT hash's
/// unevenness (it gave 60 workers 16,500–16,800 of a million).
pub const PER_PROCESS: usize = 16_000;

/// Everything measured in one scale cell (`None`: not measured).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleCell {
    /// The variant (`epoll-lt`, `uring`, `poll`, `select`, `blocking`).
    pub model: String,
    /// Connections (N).
    pub conns: usize,
    /// Active connections (K).
    pub active: usize,
    /// Server worker processes (`serve --workers`); `None`: one process.
    pub workers: Option<usize>,
    /// Client processes (`load --procs`).
    pub load_procs: usize,
    /// ok, failed (ran but did not finish or lost connections), or
    /// unavailable (not run: `reason` says why).
    pub status: Status,
    /// Why it failed or was not run.
    pub reason: Option<String>,
    /// Requests per second over all K.
    pub rps: Option<f64>,
    /// Median latency, µs.
    pub p50_us: Option<f64>,
    /// 99th percentile, µs.
    pub p99_us: Option<f64>,
    /// Requests in the window.
    pub requests: Option<u64>,
    /// Server CPU (master + workers, user + system) per request, µs.
    pub cpu_us_per_req: Option<f64>,
    /// Server CPU use in the window, % of one core.
    pub cpu_pct: Option<f64>,
    /// Server RSS summed over master and workers before any connection, KiB.
    pub rss_idle_kib: Option<u64>,
    /// The same with the N connections up (end of the window), KiB.
    pub rss_kib: Option<u64>,
    /// (rss − rss_idle) / N, bytes: user space per connection.
    pub user_b_per_conn: Option<f64>,
    /// /proc/meminfo Slab with N up minus before, KiB (both ends).
    pub slab_delta_kib: Option<i64>,
    /// sockstat TCP mem with N up minus before, pages (both ends).
    pub tcp_mem_delta_pages: Option<i64>,
    /// (slab delta + TCP mem delta) / N / 2, bytes: kernel memory per
    /// connection on one side of the loopback.
    pub kernel_b_per_conn: Option<f64>,
    /// sockstat TCP inuse, with N up minus before (≈ 2N).
    pub tcp_inuse_delta: Option<i64>,
    /// Seconds the load took to open the N connections.
    pub connect_s: Option<f64>,
    /// Connections up when the window opened.
    pub connected: Option<usize>,
    /// Connects that failed or never completed.
    pub connect_errors: Option<u64>,
    /// Idle connections checked alive at the end (a byte echoed on each).
    pub idle_checked: Option<u64>,
    /// Connections lost: failed the alive check, or closed by the server.
    pub lost: Option<u64>,
    /// Seconds the alive check took.
    pub check_s: Option<f64>,
    /// Load errors (bad replies, closed, failed connects).
    pub errors: Option<u64>,
    /// CPU time other processes took on the server's or the load's core
    /// in the window, % of a core (the larger): high on a shared machine.
    #[serde(default)]
    pub contention_pct: Option<f64>,
    /// Server threads summed over its processes, with N up.
    pub server_threads: Option<u64>,
    /// Seconds the whole cell took.
    pub elapsed_s: Option<f64>,
    /// The server's `iomux-stats:` exit line (summed over workers).
    pub server_stats: Option<String>,
    /// A control cell: the smallest N over the workers of the largest, to
    /// tell the cost of idle connections from that of spreading K over
    /// more processes. Not plotted; the verdict compares with it.
    #[serde(default)]
    pub control: bool,
}

impl ScaleCell {
    /// A cell with nothing measured yet.
    pub fn new(model: &str, conns: usize, active: usize) -> ScaleCell {
        ScaleCell {
            model: model.to_string(),
            conns,
            active,
            workers: None,
            load_procs: procs_for(conns),
            status: Status::Failed,
            reason: None,
            rps: None,
            p50_us: None,
            p99_us: None,
            requests: None,
            cpu_us_per_req: None,
            cpu_pct: None,
            rss_idle_kib: None,
            rss_kib: None,
            user_b_per_conn: None,
            slab_delta_kib: None,
            tcp_mem_delta_pages: None,
            kernel_b_per_conn: None,
            tcp_inuse_delta: None,
            connect_s: None,
            connected: None,
            connect_errors: None,
            idle_checked: None,
            lost: None,
            check_s: None,
            errors: None,
            contention_pct: None,
            server_threads: None,
            elapsed_s: None,
            server_stats: None,
            control: false,
        }
    }

    /// A cell that was not run, with why.
    pub fn not_run(model: &str, conns: usize, active: usize, why: String) -> ScaleCell {
        let mut c = ScaleCell::new(model, conns, active);
        c.status = Status::Unavailable;
        c.reason = Some(why);
        c
    }

    /// User + kernel bytes per connection.
    pub fn total_b_per_conn(&self) -> Option<f64> {
        Some(self.user_b_per_conn? + self.kernel_b_per_conn?)
    }
}

/// Processes for `n` connections, each below the fd limit.
pub fn procs_for(n: usize) -> usize {
    n.div_ceil(PER_PROCESS).max(1)
}

/// How a scale cell runs.
pub struct Plan<'a> {
    /// The `iomux` binary.
    pub exe: &'a std::path::Path,
    /// CPU of the server's processes.
    pub server_cpu: usize,
    /// CPU of the load's processes.
    pub load_cpu: usize,
    /// Warm-up, seconds.
    pub warmup: f64,
    /// Window, seconds.
    pub measure: f64,
    /// The whole cell's bound, seconds.
    pub bound: f64,
    /// Connects per second asked of the load (over all its processes).
    pub connect_rate: f64,
}

/// Says how the cell is going (connect progress), for the lab's progress.
pub type Tell<'a> = &'a dyn Fn(&str);

fn short(s: &str) -> String {
    let s: Vec<&str> = s
        .lines()
        .filter(|l| !l.starts_with("iomux-stats:") && !l.starts_with("iomux: connected"))
        .collect();
    let s = s.join(" | ");
    if s.len() > 400 {
        format!("{}…", &s[..s.floor_char_boundary(400)])
    } else {
        s
    }
}

/// Runs one cell: `workers` server processes (`None`: a single-process
/// server, the blocking model) and `procs_for(n)` client processes.
pub fn run(
    plan: &Plan,
    v: &Variant,
    n: usize,
    k: usize,
    workers: Option<usize>,
    tell: Tell,
) -> ScaleCell {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(plan.bound);
    let mut r = ScaleCell::new(v.name, n, k);
    r.workers = workers;
    let outcome = measure(plan, v, &mut r, deadline, tell);
    if let Err(e) = outcome {
        r.status = Status::Failed;
        r.reason = Some(e);
    } else {
        judge(&mut r);
    }
    r.elapsed_s = Some(started.elapsed().as_secs_f64());
    r
}

/// Ok when every connection came up, stayed up and answered.
fn judge(r: &mut ScaleCell) {
    let mut problems = Vec::new();
    if r.connected.is_some_and(|c| c < r.conns) {
        problems.push(format!(
            "only {} of {} connections up",
            r.connected.unwrap_or(0),
            r.conns
        ));
    }
    if r.connect_errors.unwrap_or(0) > 0 {
        problems.push(format!("{} connect errors", r.connect_errors.unwrap_or(0)));
    }
    if r.lost.unwrap_or(0) > 0 {
        problems.push(format!("{} connections lost", r.lost.unwrap_or(0)));
    }
    if r.requests.unwrap_or(0) == 0 {
        problems.push("no request completed in the window".into());
    }
    if problems.is_empty() {
        r.status = Status::Ok;
    } else {
        r.status = Status::Failed;
        r.reason = Some(problems.join("; "));
    }
}

fn measure(
    plan: &Plan,
    v: &Variant,
    r: &mut ScaleCell,
    deadline: Instant,
    tell: Tell,
) -> Result<(), String> {
    let mut cmd = Command::new(plan.exe);
    cmd.args(["serve", "--model", v.model, "--proto", "echo"])
        .args(["--addr", "127.0.0.1:0"]);
    cmd.args(v.serve_flags());
    if let Some(w) = r.workers {
        cmd.args(["--workers", &w.to_string()]);
    }
    sched::pin_at_exec(&mut cmd, plan.server_cpu);
    let mut server =
        Supervised::spawn(&mut cmd).map_err(|e| format!("cannot start the server: {e}"))?;
    let result = with_server(plan, r, &mut server, deadline, tell);
    // SIGTERM: the master forwards it, the workers drain and report.
    let status = server.terminate(Duration::from_secs(60));
    let _ = server.kill_group();
    let err = server.stderr();
    r.server_stats = err
        .lines()
        .rfind(|l| l.starts_with("iomux-stats:"))
        .map(|l| l.trim_start_matches("iomux-stats:").trim().to_string());
    result.map_err(|e| {
        let tail = short(&err);
        if tail.is_empty() {
            e
        } else {
            format!("{e}; server ({status}): {tail}")
        }
    })
}

fn with_server(
    plan: &Plan,
    r: &mut ScaleCell,
    server: &mut Supervised,
    deadline: Instant,
    tell: Tell,
) -> Result<(), String> {
    let ready_by = deadline.min(Instant::now() + Duration::from_secs(60));
    let addr: SocketAddr = match server.line(ready_by) {
        Ok((_, l)) => l
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("server's first line is {l:?}"))?,
        Err(e) => return Err(format!("server did not start: {e}")),
    };
    let master = server.pid();
    // The idle baseline: every worker up, no connection yet.
    let idle = sys::sample_tree(master);
    r.rss_idle_kib = Some(idle.rss_kib);
    let k0 = sys::kernel();
    let mut cmd = Command::new(plan.exe);
    cmd.args([
        "load", "--marks", "--json", "--proto", "echo", "--size", "64",
    ])
    .args(["--addr", &addr.to_string()])
    .args(["--procs", &r.load_procs.to_string()])
    .args(["--conns", &r.conns.to_string()])
    .args(["--active", &r.active.to_string()])
    .args(["--connect-rate", &plan.connect_rate.to_string()])
    .args(["--warmup", &plan.warmup.to_string()])
    .args(["--duration", &plan.measure.to_string()]);
    sched::pin_at_exec(&mut cmd, plan.load_cpu);
    let mut load =
        Supervised::spawn(&mut cmd).map_err(|e| format!("cannot start the load: {e}"))?;
    let cores = (plan.server_cpu, plan.load_cpu);
    let result = follow(r, cores, master, &mut load, k0, deadline, tell);
    let status = if result.is_ok() {
        // It closes its connections and exits; bounded like the rest.
        load.wait(Duration::from_secs(150))
    } else {
        load.kill_group()
    };
    let _ = load.kill_group();
    result.map_err(|e| {
        let tail = short(&load.stderr());
        if tail.is_empty() {
            e
        } else {
            format!("{e}; load ({status}): {tail}")
        }
    })
}

/// Follows the load's marks: UP lines, WARM, MEASURE, MEASURED, the report.
fn follow(
    r: &mut ScaleCell,
    cores: (usize, usize),
    master: u32,
    load: &mut Supervised,
    k0: Option<Kernel>,
    deadline: Instant,
    tell: Tell,
) -> Result<(), String> {
    let mut up = 0usize;
    let mut phase = "connecting";
    let mut start: Option<(Instant, TreeSample)> = None;
    let mut end: Option<(Instant, TreeSample)> = None;
    let mut busy0: Option<Busy> = None;
    let t0 = Instant::now();
    loop {
        let line = match load.line(deadline) {
            Ok((_, l)) => l,
            Err(e) if e == "timed out" => {
                return Err(format!(
                    "time bound exceeded while {phase} ({up}/{} connected after {:.0} s)",
                    r.conns,
                    t0.elapsed().as_secs_f64()
                ));
            }
            Err(e) => return Err(format!("load {e} while {phase} ({up}/{} up)", r.conns)),
        };
        if let Some(u) = line.strip_prefix("UP ") {
            up = u.parse().unwrap_or(up);
            tell(&format!(
                "connecting {up}/{} ({:.0} s)",
                r.conns,
                t0.elapsed().as_secs_f64()
            ));
        } else if line == "WARM" {
            up = r.conns.max(up);
            phase = "warming up";
            tell("warming up");
        } else if line == "MEASURE" {
            phase = "measuring";
            start = Some((Instant::now(), sys::sample_tree(master)));
            busy0 = Busy::sample(cores, master, load.pid());
            tell("measuring");
        } else if line == "MEASURED" {
            phase = "checking the idle connections alive";
            let s = sys::sample_tree(master);
            let at = Instant::now();
            if let (Some(a), Some(b)) = (busy0, Busy::sample(cores, master, load.pid())) {
                r.contention_pct = Some(a.others_until(&b));
            }
            // The connections are all still up: memory now, before the
            // alive check queues a byte on each.
            record_memory(r, &s, k0, sys::kernel());
            end = Some((at, s));
            tell("checking every idle connection alive");
        } else if line.starts_with('{') {
            let report: LoadReport =
                serde_json::from_str(&line).map_err(|e| format!("bad load report: {e}"))?;
            record(r, &report, start, end);
            return Ok(());
        }
    }
}

/// The two measured cores' busy time, and how much of it was ours.
#[derive(Clone, Copy)]
struct Busy {
    at: Instant,
    server_core: f64,
    load_core: f64,
    server: f64,
    load: f64,
}

impl Busy {
    fn sample((server_cpu, load_cpu): (usize, usize), server: u32, load: u32) -> Option<Busy> {
        Some(Busy {
            at: Instant::now(),
            server_core: procfs::cpu_busy(server_cpu)?,
            load_core: procfs::cpu_busy(load_cpu)?,
            server: sys::sample_tree(server).cpu_s,
            load: sys::sample_tree(load).cpu_s,
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

fn record_memory(r: &mut ScaleCell, s: &TreeSample, k0: Option<Kernel>, k1: Option<Kernel>) {
    let n = r.conns as f64;
    r.rss_kib = Some(s.rss_kib);
    r.server_threads = Some(s.threads);
    if let Some(idle) = r.rss_idle_kib {
        r.user_b_per_conn = Some((s.rss_kib as f64 - idle as f64) * 1024.0 / n);
    }
    if let (Some(a), Some(b)) = (k0, k1) {
        let slab = b.slab_kib as i64 - a.slab_kib as i64;
        let pages = b.tcp_mem_pages as i64 - a.tcp_mem_pages as i64;
        r.slab_delta_kib = Some(slab);
        r.tcp_mem_delta_pages = Some(pages);
        r.tcp_inuse_delta = Some(b.tcp_inuse as i64 - a.tcp_inuse as i64);
        // Both ends of each loopback connection are on this machine: half
        // of the growth is one side's.
        let bytes = slab as f64 * 1024.0 + pages as f64 * 4096.0;
        r.kernel_b_per_conn = Some(bytes / n / 2.0);
    }
}

fn record(
    r: &mut ScaleCell,
    report: &LoadReport,
    start: Option<(Instant, TreeSample)>,
    end: Option<(Instant, TreeSample)>,
) {
    r.rps = Some(report.rps);
    r.p50_us = Some(report.p50_us);
    r.p99_us = Some(report.p99_us);
    r.requests = Some(report.requests);
    r.errors = Some(report.errors);
    r.connected = Some(report.connected);
    r.connect_errors = Some(report.connect_errors);
    r.connect_s = Some(report.connect_s);
    r.idle_checked = report.idle_checked;
    r.lost = report.lost;
    r.check_s = report.check_s;
    if let (Some((t0, a)), Some((t1, b))) = (start, end) {
        let secs = (t1 - t0).as_secs_f64();
        let reqs = report.rps * secs;
        if secs > 0.0 {
            r.cpu_pct = Some((b.cpu_s - a.cpu_s) / secs * 100.0);
        }
        if reqs > 0.0 {
            r.cpu_us_per_req = Some((b.cpu_s - a.cpu_s) / reqs * 1e6);
        }
    }
}
