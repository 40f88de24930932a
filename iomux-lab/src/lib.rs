//! The lab, `iomux lab`: runs every I/O model through the matrix of the
//! issue, pinned (server on one core, load on the other), and reports which
//! of the seeds' claims hold on this machine. Every verdict is computed from
//! the numbers measured in this run.
//!
//! What it is for: the measurement and its report — the runs (cells,
//! matrix, the scale lab), the claims and their verdicts, the page, the
//! plots. The `iomux` command (crate `iomux-cli`) calls [`run`] for its
//! `lab` subcommand; everything the lab measures runs as a child process of
//! that same binary (`iomux serve`, `iomux load --json`), so this crate
//! depends on none of the command's code: only on `iomux-harness`, for the
//! load generator's report and the scheduling of measured children.
//!
//! What it is not: a server or a load generator (those are the command's
//! `serve` and `load`), nor a library for other programs; its API is the
//! command's.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

/// The result of a lab run; errors are printed by the command.
pub type LabResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

mod cell;
mod claims;
mod clock;
mod matrix;
mod page;
mod palette;
mod perf;
mod plots;
mod procfs;
mod report;
mod scale;
mod supervised;

#[cfg(any(test, feature = "page-checks"))]
pub mod page_checks;

use iomux_harness::sched;

pub use cell::{CellResult, Status};
pub use claims::{Claim, Situation};
use matrix::{Profile, VARIANTS, all_variants};

/// A cell in which other processes took more than this % of a measured
/// core is run once more.
const CONTENDED: f64 = 20.0;

/// Arguments of `iomux lab`.
#[derive(Args, Clone, Debug)]
pub struct LabArgs {
    /// A short run (under a minute): fewer cells, shorter windows.
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// The full run: N up to 19,000, 3 repeats per cell, medians.
    #[arg(long)]
    pub full: bool,
    /// Where report.md, report.json, the SVG plots and index.html go.
    #[arg(long, default_value = "lab-report")]
    pub out: PathBuf,
    /// Do not count syscalls with perf.
    #[arg(long)]
    pub no_perf: bool,
    /// Drop cells with more connections than this (a reduced matrix for CI).
    #[arg(long, hide = true)]
    pub max_conns: Option<usize>,
    /// Only these servers, comma-separated (blocking, nonblocking, select,
    /// poll, epoll-lt, epoll-et, sigio, uring), or with the opt-in ones:
    /// rt and rt-uring (iomux::rt, `serve --model rt`), e.g.
    /// `--models epoll-lt,uring,rt,rt-uring`.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Measure nothing: write the report (report.md, plots, index.html)
    /// again from an earlier run's report.json, with this version's
    /// verdicts and page.
    #[arg(long, value_name = "REPORT_JSON")]
    pub from_json: Option<PathBuf>,
    /// The scale lab instead of the matrix: N up to a million connections
    /// (`--scale-conns`) with `--scale-active` of them busy, over `serve
    /// --workers` and `load --procs`, for epoll, io_uring, poll, select and
    /// blocking; its report goes to `--out` (default lab-scale-report).
    #[arg(long, conflicts_with = "full")]
    pub scale: bool,
    /// With --scale: the N to run, comma-separated (default
    /// 10000,100000,300000,1000000).
    #[arg(long, value_delimiter = ',', requires = "scale")]
    pub scale_conns: Vec<usize>,
    /// With --scale: the active connections K.
    #[arg(long, default_value_t = 100)]
    pub scale_active: usize,
    /// With --scale: each cell's time bound, seconds; a model that exceeds
    /// it is not run at larger N.
    #[arg(long, default_value_t = 600.0)]
    pub scale_bound: f64,
    /// With --scale: at least this many server workers in every cell (a
    /// control: small N spread over as many workers as a large N needs).
    #[arg(long, requires = "scale")]
    pub scale_workers: Option<usize>,
}

/// The machine the lab ran on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    /// CPUs available.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// RLIMIT_NOFILE (soft).
    pub nofile: u64,
    /// glibc's FD_SETSIZE.
    pub fd_setsize: usize,
    /// Bits in glibc's `fd_set` type: the fds one `fd_set` can name.
    pub fd_set_bits: usize,
    /// CPU the servers ran on.
    pub server_cpu: usize,
    /// CPU the load generator ran on.
    pub load_cpu: usize,
    /// The CPU's model name (/proc/cpuinfo).
    #[serde(default)]
    pub cpu_model: Option<String>,
    /// Memory, MiB (/proc/meminfo).
    #[serde(default)]
    pub mem_total_mib: Option<u64>,
}

/// Everything the lab writes to report.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabReport {
    /// quick, default or full.
    pub profile: String,
    /// The command line that produced it.
    pub command: String,
    /// When the run started, UTC.
    #[serde(default)]
    pub date: Option<String>,
    /// When and from what the page was rendered, if not by the run itself.
    #[serde(default)]
    pub rendered: Option<String>,
    /// Wall time of the whole run, seconds.
    pub elapsed_s: f64,
    /// Warm-up and window per cell, seconds.
    pub warmup_s: f64,
    /// Measurement window per cell, seconds.
    pub measure_s: f64,
    /// Repeats per cell.
    pub repeats: usize,
    /// Whether syscalls were counted with perf.
    pub perf: bool,
    /// Where it ran.
    pub machine: Machine,
    /// The variants, in order.
    pub models: Vec<String>,
    /// Every cell of every model.
    pub cells: Vec<CellResult>,
    /// The seeds' claims with evidence and verdict.
    pub claims: Vec<Claim>,
    /// Which model when: the run's situations, best and worst models.
    #[serde(default)]
    pub advice: Vec<Situation>,
}

fn machine() -> Machine {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    Machine {
        cpus,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("?".into(), |s| s.trim().to_string()),
        nofile,
        fd_setsize: libc::FD_SETSIZE,
        fd_set_bits: std::mem::size_of::<libc::fd_set>() * 8,
        server_cpu: if cpus > 1 { 1 } else { 0 },
        load_cpu: 0,
        cpu_model: procfs::cpu_model(),
        mem_total_mib: procfs::mem_total_kib().map(|k| k / 1024),
    }
}

/// Creates `dir` if need be and proves a file can be written in it.
fn writable_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".iomux-lab-write-probe");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// Computes the verdicts and the advice, prints the summary, writes the report.
fn finish(mut lab: LabReport, out: &std::path::Path) -> LabResult {
    lab.claims = claims::evaluate(&lab);
    lab.advice = claims::which_model_when(&lab);
    println!("{}", report::terminal(&lab));
    let plots = plots::render(&lab)?;
    plots::write(&plots, out)?;
    report::write(&lab, out, &plots)?;
    println!(
        "report: {}/report.md, report.json, index.html ({} plots)",
        out.display(),
        plots.len()
    );
    Ok(())
}

/// Writes the report again from an earlier run's report.json.
fn rerender(from: &std::path::Path, out: &std::path::Path) -> LabResult {
    let text = std::fs::read_to_string(from)
        .map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    if serde_json::from_str::<serde_json::Value>(&text)
        .is_ok_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some("scale"))
    {
        return scale::rerender(&text, from, out);
    }
    let mut lab: LabReport = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a lab report: {e}", from.display()))?;
    writable_dir(out).map_err(|e| format!("cannot write the report to {}: {e}", out.display()))?;
    lab.rendered = Some(format!(
        "rendered {} from {} by `{}`",
        clock::now(),
        from.display(),
        std::env::args().collect::<Vec<_>>().join(" ")
    ));
    finish(lab, out)
}

/// Runs the lab.
pub fn run(args: LabArgs) -> LabResult {
    if let Some(from) = &args.from_json {
        return rerender(from, &args.out);
    }
    if args.scale {
        return scale::run(&args);
    }
    let date = clock::now();
    let profile = Profile::new(args.quick, args.full, args.max_conns);
    sched::prompt();
    let exe = std::env::current_exe()?;
    let machine = machine();
    let perf = !args.no_perf && cell::perf_available();
    let setup = cell::Setup {
        exe: &exe,
        server_cpu: machine.server_cpu,
        load_cpu: machine.load_cpu,
        perf,
    };
    if let Some(unknown) = args
        .models
        .iter()
        .find(|m| !all_variants().any(|v| v.name == m.as_str()))
    {
        let known: Vec<&str> = all_variants().map(|v| v.name).collect();
        return Err(format!(
            "unknown model {unknown:?}; the lab knows {}",
            known.join(", ")
        )
        .into());
    }
    if profile.cells.is_empty() {
        return Err(format!(
            "no cell has at most {} connections (--max-conns)",
            args.max_conns.unwrap_or(0)
        )
        .into());
    }
    // Minutes of measuring must not end in a report with nowhere to go.
    writable_dir(&args.out)
        .map_err(|e| format!("cannot write the report to {}: {e}", args.out.display()))?;
    // The default set, or those named, in table order.
    let variants: Vec<_> = if args.models.is_empty() {
        VARIANTS.iter().collect()
    } else {
        all_variants()
            .filter(|v| args.models.iter().any(|m| m == v.name))
            .collect()
    };
    let total = (variants.len() * profile.cells.len() * profile.repeats) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let mut cells = Vec::new();
    let mut retries = 0;
    for v in &variants {
        let mut unavailable: Option<String> = None;
        for (i, c) in profile.cells.iter().enumerate() {
            if let Some(why) = &unavailable {
                cells.push(CellResult::unavailable(v, c, why));
                bar.inc(profile.repeats as u64);
                continue;
            }
            let mut runs = Vec::new();
            for rep in 0..profile.repeats {
                bar.set_message(format!(
                    "{} {} N={} K={}",
                    v.name,
                    c.sweep.name(),
                    c.conns,
                    c.active
                ));
                let mut r = cell::run(&setup, v, c, &profile, i == 0 && rep == 0);
                if r.contention_pct.is_some_and(|p| p > CONTENDED) && retries < profile.max_retries
                {
                    retries += 1;
                    // Another process took a good part of a measured core:
                    // run the cell once more and keep the quieter run.
                    bar.set_message(format!(
                        "{} {} N={} again (machine busy)",
                        v.name,
                        c.sweep.name(),
                        c.conns
                    ));
                    let again = cell::run(&setup, v, c, &profile, i == 0 && rep == 0);
                    if again.status == Status::Ok
                        && again.contention_pct.unwrap_or(100.0) < r.contention_pct.unwrap_or(100.0)
                    {
                        r = again;
                    }
                }
                runs.push(r);
                bar.inc(1);
            }
            let r = report::median(runs);
            if r.status == Status::Unavailable {
                unavailable = r.error.clone();
            }
            // indicatif draws nothing when stderr is not a terminal: keep a
            // line per cell in logs anyway.
            if bar.is_hidden() {
                eprintln!("{}", report::progress_line(&r));
            } else {
                bar.println(report::progress_line(&r));
            }
            cells.push(r);
        }
    }
    bar.finish_and_clear();
    let lab = LabReport {
        profile: profile.name.to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        date: Some(date),
        rendered: None,
        elapsed_s: started.elapsed().as_secs_f64(),
        warmup_s: profile.warmup,
        measure_s: profile.measure,
        repeats: profile.repeats,
        perf,
        machine,
        models: variants.iter().map(|v| v.name.to_string()).collect(),
        cells,
        claims: Vec::new(),
        advice: Vec::new(),
    };
    finish(lab, &args.out)
}
