//! `iomux lab --scale`: the seeds' "a million connections, a few hundred
//! active" at its own scale. N = 10,000 … 1,000,000 connections with K = 100
//! active, for epoll (level), io_uring, poll and select over `serve
//! --workers W` (one process may hold 20,000 fds here, so W = ⌈N / 16,000⌉)
//! and `load --procs P` (the same), and for the blocking model in one
//! process as far as it goes. A model whose cell fails or exceeds its time
//! bound is not run at larger N (that point is its result); a cell that
//! cannot be reached (memory, fds, threads, a predicted connect time beyond
//! the bound) is recorded with its reason and the lab goes on.
//!
//! It writes its own report (report.md, report.json, index.html and
//! `scale_*.svg`) into `--out` (default `lab-scale-report`).

mod cell;
mod page;
mod report;
mod sys;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

pub use cell::ScaleCell;
use cell::{PER_PROCESS, Plan, procs_for};

use super::cell::Status;
use super::claims::{self, Claim};
use super::matrix::{VARIANTS, Variant};
use super::{LabArgs, Machine, clock, machine, sched, writable_dir};
use crate::LabResult;

/// The models of the scale lab, in order.
pub const SCALE_MODELS: &[&str] = &["epoll-lt", "uring", "poll", "select", "blocking"];

/// N when `--scale-conns` is not given.
pub const DEFAULT_CONNS: &[usize] = &[10_000, 100_000, 300_000, 1_000_000];

/// Models that get a control cell (see `ScaleCell::control`).
const CONTROLLED: &[&str] = &["epoll-lt", "uring"];

/// Memory a connection costs, both ends of the loopback and user space
/// together, for the estimate before a cell (measured here: 9–11 KiB).
const EST_B_PER_CONN: u64 = 12 * 1024;

/// Connects per second asked of the load (over all its processes).
const CONNECT_RATE: f64 = 30_000.0;

/// What the scale lab writes to report.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleReport {
    /// Always "scale": tells this report from the ordinary lab's.
    pub kind: String,
    /// The command line.
    pub command: String,
    /// When the run started, UTC.
    pub date: Option<String>,
    /// When and from what the page was rendered, if not by the run itself.
    #[serde(default)]
    pub rendered: Option<String>,
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// The N of the run.
    pub conns: Vec<usize>,
    /// K, the active connections.
    pub active: usize,
    /// Warm-up per cell, seconds.
    pub warmup_s: f64,
    /// Window per cell, seconds.
    pub measure_s: f64,
    /// Each cell's time bound, seconds.
    pub bound_s: f64,
    /// Connections per server worker and per client process at most.
    pub per_process: usize,
    /// Connects per second asked of the load.
    pub connect_rate: f64,
    /// kernel.pid_max: the kernel's cap on tasks (threads) system-wide.
    pub pid_max: Option<u64>,
    /// kernel.threads-max.
    pub threads_max: Option<u64>,
    /// Where it ran.
    pub machine: Machine,
    /// The models, in order.
    pub models: Vec<String>,
    /// Every cell.
    pub cells: Vec<ScaleCell>,
    /// The verdicts.
    pub claims: Vec<Claim>,
}

/// How the memory figures are made, for the report.
pub const MEMORY_NOTE: &str = "User space: the RSS of the server's master and workers summed, \
with the N connections up (end of the window) minus the same before any connection (every \
worker started, idle), divided by N. Kernel: /proc/meminfo Slab plus /proc/net/sockstat TCP mem \
(pages × 4 KiB), with the N connections up minus before the load started, divided by N and \
halved: both ends of every loopback connection are sockets of this machine, and the client's \
end costs the kernel about what the server's does. Both kernel figures are system-wide, so \
other processes' allocations in the meantime are counted too.";

/// Runs `iomux lab --scale`.
pub fn run(args: &LabArgs) -> LabResult {
    let out = out_dir(&args.out);
    let conns: Vec<usize> = if args.scale_conns.is_empty() {
        DEFAULT_CONNS.to_vec()
    } else {
        let mut c = args.scale_conns.clone();
        c.sort_unstable();
        c.dedup();
        c
    };
    if conns.contains(&0) {
        return Err("--scale-conns: N must be at least 1".into());
    }
    let k = args.scale_active.max(1);
    let wanted: Vec<&str> = SCALE_MODELS
        .iter()
        .copied()
        .filter(|m| args.models.is_empty() || args.models.iter().any(|w| w == m))
        .collect();
    if let Some(bad) = args
        .models
        .iter()
        .find(|m| !SCALE_MODELS.contains(&m.as_str()))
    {
        return Err(format!(
            "unknown model {bad:?}; the scale lab knows {}",
            SCALE_MODELS.join(", ")
        )
        .into());
    }
    let variants: Vec<&Variant> = wanted
        .iter()
        .filter_map(|m| VARIANTS.iter().find(|v| v.name == *m))
        .collect();
    writable_dir(&out).map_err(|e| format!("cannot write the report to {}: {e}", out.display()))?;
    let date = clock::now();
    sched::prompt();
    let exe = std::env::current_exe()?;
    let machine = machine();
    let (warmup, measure) = if args.quick { (0.5, 1.0) } else { (2.0, 5.0) };
    let plan = Plan {
        exe: &exe,
        server_cpu: machine.server_cpu,
        load_cpu: machine.load_cpu,
        warmup,
        measure,
        bound: args.scale_bound,
        connect_rate: CONNECT_RATE,
    };
    let pid_max = sys::sysctl("kernel/pid_max");
    let threads_max = sys::sysctl("kernel/threads-max");
    let bar = ProgressBar::new((variants.len() * conns.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let started = Instant::now();
    let mut cells = Vec::new();
    for v in &variants {
        // Set once a cell of this model fails: larger N are not run.
        let mut stopped: Option<String> = None;
        // (N, connects/s) of the model's last good cell.
        let mut pace: Option<(usize, f64)> = None;
        for &n in &conns {
            let why = stopped
                .clone()
                .or_else(|| unreachable(v, n, &machine, pid_max, threads_max, pace, &plan));
            if let Some(why) = why {
                let c = ScaleCell::not_run(v.name, n, k.min(n), why);
                say(line(&c));
                cells.push(c);
                bar.inc(1);
                continue;
            }
            let workers = (v.model != "blocking")
                .then(|| procs_for(n).max(args.scale_workers.unwrap_or(1)).min(n));
            let c = run_cell(&plan, v, n, k.min(n), workers, &bar, false);
            if c.status == Status::Ok {
                if let Some(s) = c.connect_s.filter(|s| *s > 0.0) {
                    pace = Some((n, n as f64 / s));
                }
            } else if c.connected.is_none() {
                // It never got as far as a measured window (time bound,
                // a server that would not start or died): larger N would
                // not either. A measured cell that lost connections does
                // not stop the model.
                stopped = Some(format!(
                    "not run: {} already failed at N = {n} ({})",
                    v.name,
                    c.reason.as_deref().unwrap_or("no reason recorded")
                ));
            }
            say(line(&c));
            cells.push(c);
            bar.inc(1);
        }
        if let Some((n, w)) = control_for(&cells, v.name) {
            bar.inc_length(1);
            let c = run_cell(&plan, v, n, k.min(n), Some(w), &bar, true);
            say(line(&c));
            cells.push(c);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let scale = ScaleReport {
        kind: "scale".into(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        date: Some(date),
        rendered: None,
        elapsed_s: started.elapsed().as_secs_f64(),
        conns,
        active: k,
        warmup_s: warmup,
        measure_s: measure,
        bound_s: args.scale_bound,
        per_process: PER_PROCESS,
        connect_rate: CONNECT_RATE,
        pid_max,
        threads_max,
        machine,
        models: variants.iter().map(|v| v.name.to_string()).collect(),
        cells,
        claims: Vec::new(),
    };
    finish(scale, &out)
}

/// Runs one cell with the progress bar told how it goes.
fn run_cell(
    plan: &Plan,
    v: &Variant,
    n: usize,
    k: usize,
    workers: Option<usize>,
    bar: &ProgressBar,
    control: bool,
) -> ScaleCell {
    let label = format!(
        "{} N={n} K={k}{}",
        v.name,
        if control { " (control)" } else { "" }
    );
    bar.set_message(label.clone());
    let last_said = std::cell::Cell::new(Instant::now());
    let tell = |what: &str| {
        bar.set_message(format!("{label}: {what}"));
        // Off a terminal the bar draws nothing: a line every 10 s.
        if bar.is_hidden() && last_said.get().elapsed() >= Duration::from_secs(10) {
            last_said.set(Instant::now());
            eprintln!("  {label}: {what}");
        }
    };
    let before = sys::kernel();
    let mut c = cell::run(plan, v, n, k, workers, &tell);
    c.control = control;
    settle(before);
    c
}

/// The control cell a model gets, if any: (the smallest N, the workers of
/// the largest N), when both ran and the largest had more workers.
fn control_for(cells: &[ScaleCell], model: &str) -> Option<(usize, usize)> {
    if !CONTROLLED.contains(&model) {
        return None;
    }
    let ok: Vec<&ScaleCell> = cells
        .iter()
        .filter(|c| c.model == model && c.status == Status::Ok && !c.control)
        .collect();
    let small = ok.iter().min_by_key(|c| c.conns)?;
    let big = ok.iter().max_by_key(|c| c.conns)?;
    let w = big.workers?;
    (w > small.workers.unwrap_or(1)).then_some((small.conns, w))
}

/// `--out`, or `lab-scale-report` where the ordinary lab's default stands.
fn out_dir(out: &Path) -> PathBuf {
    if out == Path::new("lab-report") {
        PathBuf::from("lab-scale-report")
    } else {
        out.to_path_buf()
    }
}

/// Verdicts, summary, files.
fn finish(mut scale: ScaleReport, out: &Path) -> LabResult {
    scale.claims = claims::evaluate_scale(&scale);
    println!("{}", report::terminal(&scale));
    let plots = report::plots(&scale)?;
    report::write(&scale, out, &plots)?;
    println!(
        "report: {}/report.md, report.json, index.html ({} plots)",
        out.display(),
        plots.len()
    );
    Ok(())
}

/// Writes the report again from an earlier scale run's report.json.
pub fn rerender(text: &str, from: &Path, out: &Path) -> LabResult {
    let mut scale: ScaleReport = serde_json::from_str(text)
        .map_err(|e| format!("{} is not a scale lab report: {e}", from.display()))?;
    writable_dir(out).map_err(|e| format!("cannot write the report to {}: {e}", out.display()))?;
    scale.rendered = Some(format!(
        "rendered {} from {} by `{}`",
        clock::now(),
        from.display(),
        std::env::args().collect::<Vec<_>>().join(" ")
    ));
    finish(scale, out)
}

/// Why a cell cannot be reached, if it cannot.
fn unreachable(
    v: &Variant,
    n: usize,
    machine: &Machine,
    pid_max: Option<u64>,
    threads_max: Option<u64>,
    pace: Option<(usize, f64)>,
    plan: &Plan,
) -> Option<String> {
    let room = machine.nofile.saturating_sub(64) as usize;
    if v.model == "blocking" && n > room {
        let mut why = format!(
            "not reachable: the blocking model is one process (serve --workers refuses it: \
             it has no shared listener), and one process may hold {} fds (RLIMIT_NOFILE), \
             fewer than N = {n}",
            machine.nofile
        );
        let tasks = [pid_max, threads_max].into_iter().flatten().min();
        if let Some(t) = tasks.filter(|&t| n as u64 > t) {
            why.push_str(&format!(
                "; its thread per connection would also need {n} threads, beyond the kernel's \
                 {t} tasks (kernel.pid_max {}, threads-max {})",
                pid_max.map_or("?".into(), |p| p.to_string()),
                threads_max.map_or("?".into(), |p| p.to_string())
            ));
        }
        return Some(why);
    }
    if let Some(avail) = sys::kernel().map(|k| k.available_kib) {
        let need = n as u64 * EST_B_PER_CONN / 1024;
        // A quarter kept back for everything else on the machine.
        if need > avail / 4 * 3 {
            return Some(format!(
                "not reachable: memory estimate {} MiB ({} KiB a connection, both ends and user \
                 space) beyond 3/4 of the {} MiB available",
                need / 1024,
                EST_B_PER_CONN / 1024,
                avail / 1024
            ));
        }
    }
    if let Some((n0, rate)) = pace {
        let predicted = n as f64 / rate;
        if predicted > plan.bound {
            return Some(format!(
                "not run: at the {rate:.0} connects/s {} reached at N = {n0}, {n} connections \
                 would take {predicted:.0} s, beyond the {:.0} s bound",
                v.name, plan.bound
            ));
        }
    }
    None
}

/// Waits (bounded) until the kernel has freed the last cell's sockets, so
/// that the next cell's "before" is not inflated by them.
fn settle(before: Option<sys::Kernel>) {
    let Some(b) = before else { return };
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        match sys::kernel() {
            Some(k) if k.tcp_inuse <= b.tcp_inuse + 1000 => return,
            None => return,
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// One line per cell for the progress output.
fn line(c: &ScaleCell) -> String {
    report::progress_line(c)
}
