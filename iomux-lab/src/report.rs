//! The lab's outputs: the terminal table, report.md, report.json and
//! index.html; and the median of repeated cells.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::LabReport;
use super::cell::{CellResult, Status};
use super::page;
use super::plots::Plot;

/// The median of repeated runs of one cell, field by field over the runs
/// that succeeded; if none did, the first run (with its error).
pub fn median(runs: Vec<CellResult>) -> CellResult {
    let ok: Vec<&CellResult> = runs.iter().filter(|r| r.status == Status::Ok).collect();
    if runs.len() == 1 || ok.is_empty() {
        return runs.into_iter().next().expect("at least one run");
    }
    fn med(v: Vec<f64>) -> Option<f64> {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    }
    let mut m = ok[0].clone();
    macro_rules! f64s {
        ($($f:ident),*) => { $( m.$f = med(ok.iter().filter_map(|r| r.$f).collect()); )* };
    }
    macro_rules! ints {
        ($($f:ident),*) => { $( m.$f = med(ok.iter().filter_map(|r| r.$f.map(|v| v as f64)).collect()).map(|v| v as _); )* };
    }
    f64s!(
        rps,
        p50_us,
        p99_us,
        p999_us,
        max_us,
        cpu_us_per_req,
        cpu_pct,
        idle_cpu_pct,
        rss_per_conn_kib,
        vcsw_per_req,
        ivcsw_per_req,
        syscalls_per_req,
        waits_per_req,
        reads_per_req,
        contention_pct,
        connect_s
    );
    ints!(
        requests,
        errors,
        rss_kib,
        rss_base_kib,
        threads,
        fds,
        max_fd
    );
    m.repeats = ok.len();
    m
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "–".into(),
    }
}

fn status(r: &CellResult) -> &'static str {
    match r.status {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
        Status::Unavailable => "n/a",
    }
}

/// The cells table's columns.
pub const HEADER: [&str; 17] = [
    "model",
    "sweep",
    "N",
    "K",
    "status",
    "req/s",
    "p50 µs",
    "p99 µs",
    "CPU µs/req",
    "CPU %",
    "RSS MiB",
    "RSS/conn KiB",
    "vcsw/req",
    "ivcsw/req",
    "waits/req",
    "syscalls/req",
    "others %",
];

/// One cell's values, in the order of [`HEADER`].
pub fn row(r: &CellResult) -> [String; 17] {
    [
        r.model.clone(),
        r.sweep.name().into(),
        r.conns.to_string(),
        r.active.to_string(),
        status(r).into(),
        num(r.rps, 0),
        num(r.p50_us, 0),
        num(r.p99_us, 0),
        num(r.cpu_us_per_req, 1),
        num(r.cpu_pct, 0),
        num(r.rss_kib.map(|k| k as f64 / 1024.0), 1),
        num(r.rss_per_conn_kib, 2),
        num(r.vcsw_per_req, 2),
        num(r.ivcsw_per_req, 2),
        num(r.waits_per_req, 2),
        num(r.syscalls_per_req, 1),
        num(r.contention_pct, 0),
    ]
}

/// One line per finished cell, above the progress bar.
pub fn progress_line(r: &CellResult) -> String {
    let mut s = format!(
        "{:<12} {:<6} N={:<6} K={:<5} {:<6}",
        r.model,
        r.sweep.name(),
        r.conns,
        r.active,
        status(r)
    );
    if r.status == Status::Ok {
        let _ = write!(
            s,
            " {:>8} req/s  p99 {:>7} µs  CPU {:>6} µs/req",
            num(r.rps, 0),
            num(r.p99_us, 0),
            num(r.cpu_us_per_req, 1)
        );
    } else if let Some(e) = &r.error {
        let _ = write!(s, " {}", e.chars().take(100).collect::<String>());
    }
    s
}

/// The table for the terminal: aligned columns, then failures, then claims.
pub fn terminal(lab: &LabReport) -> String {
    let rows: Vec<[String; 17]> = lab.cells.iter().map(row).collect();
    let mut width = HEADER.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cols: &[String], out: &mut String| {
        for (i, (c, w)) in cols.iter().zip(width).enumerate() {
            let pad = w - c.chars().count();
            if i < 5 {
                let _ = write!(out, "{c}{} ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{}{c} ", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&HEADER.map(String::from), &mut out);
    for r in &rows {
        line(r, &mut out);
    }
    let _ = writeln!(
        out,
        "\n{} cells in {:.0} s ({} profile)",
        lab.cells.len(),
        lab.elapsed_s,
        lab.profile
    );
    for c in &lab.claims {
        let _ = writeln!(out, "- {} — {}", c.claim, c.verdict);
    }
    out
}

fn markdown_table(lab: &LabReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|{}|", ["---"; 17].join("|"));
    for r in &lab.cells {
        let _ = writeln!(out, "| {} |", row(r).join(" | "));
    }
    out
}

/// report.md: the setup, the table, errors, plots, and the claims.
pub fn markdown(lab: &LabReport, plots: &[Plot]) -> String {
    let m = &lab.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# iomux lab report\n");
    let _ = writeln!(
        out,
        "`{}` — {} profile, {} cells in {:.0} s. Kernel {}, {} CPUs, RLIMIT_NOFILE {}. \
         Servers pinned to CPU {}, load generator to CPU {}. Each cell: warm-up {} s, window {} s, {} repeat(s) (medians). \
         Echo, 64-byte requests, closed loop. Syscalls counted with perf tracepoints: {}.\n",
        lab.command,
        lab.profile,
        lab.cells.len(),
        lab.elapsed_s,
        m.kernel,
        m.cpus,
        m.nofile,
        m.server_cpu,
        m.load_cpu,
        lab.warmup_s,
        lab.measure_s,
        lab.repeats,
        if lab.perf { "yes" } else { "no" }
    );
    let _ = writeln!(
        out,
        "Columns: CPU = server CPU time (its threads' runtimes, /proc/PID/task/*/schedstat) per request and as % \
         of one core; RSS from \
         /proc/PID/status, RSS/conn = (RSS − RSS before any connection) / N; vcsw/ivcsw = voluntary/involuntary \
         context switches of all server threads per request; waits = epoll_wait/select/poll/sigtimedwait/io_uring_enter \
         calls per request; others % = CPU that other processes took on the busier of the two measured \
         cores during the window (high: the machine was shared, the cell is noisy).\n"
    );
    out.push_str(&markdown_table(lab));
    let failures: Vec<&CellResult> = lab
        .cells
        .iter()
        .filter(|c| c.status != Status::Ok)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failed or unavailable cells\n");
        for c in failures {
            let _ = writeln!(
                out,
                "- {} {} N={} K={}: {} — {}",
                c.model,
                c.sweep.name(),
                c.conns,
                c.active,
                status(c),
                c.error.as_deref().unwrap_or("")
            );
        }
    }
    let stats: Vec<&CellResult> = lab
        .cells
        .iter()
        .filter(|c| c.server_stats.is_some())
        .collect();
    if !stats.is_empty() {
        let _ = writeln!(out, "\n## Servers' own counters (at exit)\n");
        for c in stats {
            let _ = writeln!(
                out,
                "- {} {} N={}: {}",
                c.model,
                c.sweep.name(),
                c.conns,
                c.server_stats.as_deref().unwrap_or("")
            );
        }
    }
    if !plots.is_empty() {
        let _ = writeln!(out, "\n## Plots\n");
        for p in plots {
            let _ = writeln!(out, "![{}]({})\n", p.title, p.file);
            if let Some(t) = &p.this_run {
                let _ = writeln!(out, "{t}\n");
            }
        }
    }
    if !lab.advice.is_empty() {
        let _ = writeln!(out, "\n## Which model when\n");
        for s in &lab.advice {
            let _ = writeln!(out, "- {}", s.sentence);
        }
    }
    let _ = writeln!(out, "\n## The seeds' claims, measured\n");
    for c in &lab.claims {
        let _ = write!(
            out,
            "- **{}** — {} Evidence: {}",
            c.claim, c.verdict, c.evidence
        );
        if !c.original.is_empty() {
            let _ = write!(
                out,
                " Seed: “{}” ({}; “{}”)",
                c.original, c.source, c.translation
            );
        }
        out.push('\n');
    }
    out
}

/// Writes report.md, report.json and index.html into `dir`.
pub fn write(lab: &LabReport, dir: &Path, plots: &[Plot]) -> io::Result<()> {
    std::fs::write(dir.join("report.md"), markdown(lab, plots))?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(lab).map_err(io::Error::other)?,
    )?;
    std::fs::write(dir.join("index.html"), page::html(lab, plots))?;
    Ok(())
}
