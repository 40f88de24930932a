//! The scale lab's outputs: the terminal table, report.md, report.json,
//! index.html, and the plots against N on a log axis.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::super::cell::Status;
use super::super::plots::{self, Series};
use super::{MEMORY_NOTE, ScaleCell, ScaleReport, page};

/// One plot of the scale report.
pub struct ScalePlot {
    /// File name beside the report.
    pub file: &'static str,
    /// Title.
    pub title: &'static str,
    /// What is measured.
    pub measures: &'static str,
    /// What to look for.
    pub look_for: &'static str,
    /// The SVG.
    pub svg: String,
    /// Models drawn.
    pub models: Vec<String>,
}

type Metric = fn(&ScaleCell) -> Option<f64>;

struct Spec {
    file: &'static str,
    title: &'static str,
    y: &'static str,
    log_y: bool,
    metric: Metric,
    /// Appended to the model's name in the legend (two metrics in one plot).
    suffix: &'static str,
    measures: &'static str,
    look_for: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        file: "scale_cpu.svg",
        title: "server CPU per request vs N (K = 100 active)",
        y: "CPU µs/request (log)",
        log_y: true,
        metric: |c| c.cpu_us_per_req,
        suffix: "",
        measures: "server CPU per request: utime + stime of the master and every worker over the window, divided by the requests answered in it",
        look_for: "a flat line pays for the K busy connections only; a rising one pays for the idle ones too",
    },
    Spec {
        file: "scale_user_mem.svg",
        title: "user-space memory per connection vs N",
        y: "bytes per connection",
        log_y: false,
        metric: |c| c.user_b_per_conn,
        suffix: "",
        measures: "(RSS of master + workers with N up − the same before any connection) / N",
        look_for: "what the server process keeps per idle connection (the goal is ≤ 256 B)",
    },
    Spec {
        file: "scale_kernel_mem.svg",
        title: "kernel memory per connection vs N (one side)",
        y: "bytes per connection",
        log_y: false,
        metric: |c| c.kernel_b_per_conn,
        suffix: "",
        measures: "(Δ Slab + Δ sockstat TCP mem pages) / N / 2: both ends of the loopback are on this machine",
        look_for: "the socket, inode, dentry, epoll item and TCP state per connection: the model changes little of it",
    },
    Spec {
        file: "scale_connect.svg",
        title: "time to open N connections",
        y: "seconds (log)",
        log_y: true,
        metric: |c| c.connect_s,
        suffix: "",
        measures: "seconds from the first connect to the last one settled (30,000 connects/s asked)",
        look_for: "where the server's accept path, not the client's pace, sets the time",
    },
    Spec {
        file: "scale_rps.svg",
        title: "requests/s vs N (K = 100 active)",
        y: "requests/s",
        log_y: false,
        metric: |c| c.rps,
        suffix: "",
        measures: "requests per second over the K active connections (64-byte echo, closed loop)",
        look_for: "with the same K busy, a falling line is the cost of the idle ones",
    },
];

fn series(r: &ScaleReport, spec: &Spec) -> Series {
    r.models
        .iter()
        .filter_map(|m| {
            let mut pts: Vec<(f64, f64)> = r
                .cells
                .iter()
                .filter(|c| &c.model == m && c.status == Status::Ok && !c.control)
                .filter_map(|c| Some((c.conns as f64, (spec.metric)(c)?)))
                .filter(|(_, y)| y.is_finite() && (!spec.log_y || *y > 0.0))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (!pts.is_empty()).then(|| (format!("{m}{}", spec.suffix), pts))
        })
        .collect()
}

/// Every plot that has data.
pub fn plots(r: &ScaleReport) -> io::Result<Vec<ScalePlot>> {
    let mut out = Vec::new();
    for spec in SPECS {
        let s = series(r, spec);
        if s.is_empty() {
            continue;
        }
        let svg = plots::line_plot(spec.title, spec.y, spec.log_y, &s)
            .map_err(|e| io::Error::other(format!("plot {}: {e}", spec.file)))?;
        out.push(ScalePlot {
            file: spec.file,
            title: spec.title,
            measures: spec.measures,
            look_for: spec.look_for,
            svg,
            models: s.into_iter().map(|(m, _)| m).collect(),
        });
    }
    Ok(out)
}

fn num(v: Option<f64>, d: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.d$}"))
}

fn int<T: ToString>(v: Option<T>) -> String {
    v.map_or("–".into(), |x| x.to_string())
}

/// The columns of the cells table.
pub const HEADER: [&str; 18] = [
    "model",
    "N",
    "K",
    "workers",
    "status",
    "req/s",
    "p99 µs",
    "CPU µs/req",
    "user B/conn",
    "kernel B/conn",
    "total B/conn",
    "connect s",
    "connected",
    "connect errors",
    "checked alive",
    "lost",
    "others' CPU %",
    "cell s",
];

fn status(c: &ScaleCell) -> &'static str {
    match c.status {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
        Status::Unavailable => "not run",
    }
}

/// The workers column: `1 (single)` for a one-process server.
fn workers(c: &ScaleCell) -> String {
    match (c.workers, c.control) {
        (None, _) => "1 (single)".into(),
        (Some(w), false) => w.to_string(),
        (Some(w), true) => format!("{w} (control)"),
    }
}

/// A cell's row.
pub fn row(c: &ScaleCell) -> [String; 18] {
    [
        c.model.clone(),
        c.conns.to_string(),
        c.active.to_string(),
        workers(c),
        status(c).into(),
        num(c.rps, 0),
        num(c.p99_us, 0),
        num(c.cpu_us_per_req, 2),
        num(c.user_b_per_conn, 0),
        num(c.kernel_b_per_conn, 0),
        num(c.total_b_per_conn(), 0),
        num(c.connect_s, 1),
        int(c.connected),
        int(c.connect_errors),
        int(c.idle_checked),
        int(c.lost),
        num(c.contention_pct, 0),
        num(c.elapsed_s, 0),
    ]
}

/// One line per finished cell.
pub fn progress_line(c: &ScaleCell) -> String {
    let mut s = format!(
        "{:<9} N={:<8} K={:<4} W={:<11} {:<7}",
        c.model,
        c.conns,
        c.active,
        workers(c),
        status(c)
    );
    if c.connected.is_some() {
        let _ = write!(
            s,
            " {} req/s  p99 {} µs  CPU {} µs/req  user {} B + kernel {} B/conn  connect {} s  lost {}",
            num(c.rps, 0),
            num(c.p99_us, 0),
            num(c.cpu_us_per_req, 2),
            num(c.user_b_per_conn, 0),
            num(c.kernel_b_per_conn, 0),
            num(c.connect_s, 1),
            int(c.lost)
        );
    }
    if let Some(e) = &c.reason {
        let _ = write!(s, " — {}", e.chars().take(240).collect::<String>());
    }
    s
}

/// The summary printed at the end.
pub fn terminal(r: &ScaleReport) -> String {
    let mut out = String::new();
    for c in &r.cells {
        let _ = writeln!(out, "{}", progress_line(c));
    }
    let _ = writeln!(
        out,
        "\n{} cells in {:.0} s (K = {}, bound {:.0} s a cell)",
        r.cells.len(),
        r.elapsed_s,
        r.active,
        r.bound_s
    );
    for c in &r.claims {
        let _ = writeln!(out, "- {} — {}", c.claim, c.verdict);
    }
    out
}

/// report.md.
pub fn markdown(r: &ScaleReport, plots: &[ScalePlot]) -> String {
    let m = &r.machine;
    let mut out = String::from("# iomux lab --scale report\n\n");
    let _ = writeln!(
        out,
        "`{}` — {}; {} CPUs, kernel {}, RLIMIT_NOFILE {}, kernel.pid_max {}, threads-max {}; \
         server on CPU {}, load on CPU {}. N = {}, K = {}, warm-up {} s, window {} s, each cell \
         bounded at {:.0} s; at most {} connections per server worker and per client process; \
         {} connects/s asked.\n",
        r.command,
        r.date.as_deref().unwrap_or("?"),
        m.cpus,
        m.kernel,
        m.nofile,
        int(r.pid_max),
        int(r.threads_max),
        m.server_cpu,
        m.load_cpu,
        r.conns
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        r.active,
        r.warmup_s,
        r.measure_s,
        r.bound_s,
        r.per_process,
        r.connect_rate
    );
    if let Some(x) = &r.rendered {
        let _ = writeln!(out, "{x}\n");
    }
    let _ = writeln!(out, "## Verdicts\n");
    for c in &r.claims {
        let _ = writeln!(
            out,
            "- **{}** — {} Evidence: {}",
            c.claim, c.verdict, c.evidence
        );
    }
    let _ = writeln!(out, "\n## Cells\n");
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|{}|", ["---"; 18].join("|"));
    for c in &r.cells {
        let _ = writeln!(out, "| {} |", row(c).join(" | "));
    }
    let bad: Vec<&ScaleCell> = r.cells.iter().filter(|c| c.reason.is_some()).collect();
    if !bad.is_empty() {
        let _ = writeln!(out, "\n## Cells not run or failed, and why\n");
        for c in bad {
            let _ = writeln!(
                out,
                "- {} N = {}: {}",
                c.model,
                c.conns,
                c.reason.as_deref().unwrap_or("")
            );
        }
    }
    let _ = writeln!(out, "\n## How memory is counted\n\n{MEMORY_NOTE}\n");
    let _ = writeln!(out, "## Plots\n");
    for p in plots {
        let _ = writeln!(
            out,
            "- ![{t}]({f}) **{t}** — {m}. Look for: {l}.",
            t = p.title,
            f = p.file,
            m = p.measures,
            l = p.look_for
        );
    }
    out
}

/// Writes report.md, report.json, index.html and the SVGs into `dir`.
pub fn write(r: &ScaleReport, dir: &Path, plots: &[ScalePlot]) -> io::Result<()> {
    for p in plots {
        std::fs::write(dir.join(p.file), &p.svg)?;
    }
    std::fs::write(dir.join("report.md"), markdown(r, plots))?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(r).map_err(io::Error::other)?,
    )?;
    std::fs::write(dir.join("index.html"), page::html(r, plots))?;
    Ok(())
}
