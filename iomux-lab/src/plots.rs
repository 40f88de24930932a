//! SVG plots of the lab's cells (plotters): one metric against N per sweep,
//! one line per model, each model in its colour and marker from
//! `palette`. N is on a log scale; so are latency and CPU, whose values span
//! orders of magnitude between models.

use std::io;
use std::path::Path;

use plotters::prelude::*;

use super::LabReport;
use super::cell::{CellResult, Status};
use super::matrix::Sweep;
use super::palette::look_of;

type Metric = fn(&CellResult) -> Option<f64>;

struct Spec {
    sweep: Sweep,
    file: &'static str,
    title: &'static str,
    y: &'static str,
    metric: Metric,
    log_y: bool,
    /// The quantity, with its unit, as the caption names it.
    measures: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    /// What to compare in the plot (the run's own numbers follow it).
    look_for: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        sweep: Sweep::Idle,
        file: "rps_idle.svg",
        title: "requests/s vs N (K = 10 active)",
        y: "requests/s",
        metric: |c| c.rps,
        log_y: false,
        measures: "requests per second the server answered (64-byte echo, closed loop)",
        unit: "req/s",
        higher_is_better: true,
        look_for: "with only 10 connections busy, a model whose line falls as N grows is paying for the idle ones",
    },
    Spec {
        sweep: Sweep::Idle,
        file: "p99_idle.svg",
        title: "p99 latency vs N (K = 10 active)",
        y: "p99 µs (log)",
        metric: |c| c.p99_us,
        log_y: true,
        measures: "99th-percentile round-trip latency seen by the load generator",
        unit: "µs",
        higher_is_better: false,
        look_for: "the same split as CPU per request: each wait that scans every connection delays every reply",
    },
    Spec {
        sweep: Sweep::Idle,
        file: "cpu_idle.svg",
        title: "server CPU per request vs N (K = 10 active)",
        y: "CPU µs/request (log)",
        metric: |c| c.cpu_us_per_req,
        log_y: true,
        measures: "server CPU time per request, all its threads (schedstat)",
        unit: "µs",
        higher_is_better: false,
        look_for: "lines that climb with N scan every connection on each wait (the seeds' O(N)); flat lines follow only the K busy ones",
    },
    Spec {
        sweep: Sweep::Idle,
        file: "rss_idle.svg",
        title: "server RSS per connection vs N",
        y: "KiB per connection",
        metric: |c| c.rss_per_conn_kib,
        log_y: false,
        measures: "server RSS growth per connection: (RSS − RSS before any connection) / N",
        unit: "KiB",
        higher_is_better: false,
        look_for: "the memory each idle connection costs; at small N fixed pools divided by N dominate, read the largest N",
    },
    Spec {
        sweep: Sweep::Active,
        file: "rps_active.svg",
        title: "requests/s vs N (all active, K = N)",
        y: "requests/s",
        metric: |c| c.rps,
        log_y: false,
        measures: "requests per second the server answered (64-byte echo, closed loop)",
        unit: "req/s",
        higher_is_better: true,
        look_for: "with every connection busy a scan finds work everywhere, so the multiplexers should bunch together; the one load generator may cap them all",
    },
    Spec {
        sweep: Sweep::Active,
        file: "p99_active.svg",
        title: "p99 latency vs N (all active)",
        y: "p99 µs (log)",
        metric: |c| c.p99_us,
        log_y: true,
        measures: "99th-percentile round-trip latency seen by the load generator",
        unit: "µs",
        higher_is_better: false,
        look_for: "latency rises with N for everyone (more requests in flight); the gaps between lines are the models' differences",
    },
    Spec {
        sweep: Sweep::Active,
        file: "cpu_active.svg",
        title: "server CPU per request vs N (all active)",
        y: "CPU µs/request (log)",
        metric: |c| c.cpu_us_per_req,
        log_y: true,
        measures: "server CPU time per request, all its threads (schedstat)",
        unit: "µs",
        higher_is_better: false,
        look_for: "whether select and poll match epoll once every connection is busy, and what threads and signals cost per request",
    },
    Spec {
        sweep: Sweep::Active,
        file: "waits_active.svg",
        title: "wait calls per request vs N (all active)",
        y: "wait syscalls per request",
        metric: |c| c.waits_per_req,
        log_y: false,
        measures: "epoll_wait, select, poll, sigtimedwait and io_uring_enter calls per request (perf, counted after the window)",
        unit: "calls",
        higher_is_better: false,
        look_for: "how many requests one wake-up serves; level- and edge-triggered epoll side by side show whether ET saves wake-ups",
    },
    Spec {
        sweep: Sweep::Active,
        file: "syscalls_active.svg",
        title: "system calls per request vs N (all active)",
        y: "syscalls per request",
        metric: |c| c.syscalls_per_req,
        log_y: false,
        measures: "every system call the server made, per request (perf, counted after the window)",
        unit: "calls",
        higher_is_better: false,
        look_for: "a read and a write per request is the floor for readiness models; a completion model (io_uring) can go below it",
    },
];

/// Lines of (x, y) points, one per model (its name picks its look).
pub type Series = Vec<(String, Vec<(f64, f64)>)>;

/// The share of the plot's height the data may use, below the legend.
const DATA_HEIGHT: f64 = 0.62;

/// One plot as the report shows it.
#[derive(Clone, Debug)]
pub struct Plot {
    /// File name beside the report; its stem is the plot's anchor.
    pub file: String,
    /// Title drawn in the plot.
    pub title: String,
    /// The sweep it shows.
    pub sweep: Sweep,
    /// The SVG document.
    pub svg: String,
    /// What is measured.
    pub measures: String,
    /// What to compare.
    pub look_for: String,
    /// This run's numbers at the largest N, assembled from the series.
    pub this_run: Option<String>,
    /// Models with a failed or unavailable cell in this sweep, with why.
    pub missing: Vec<String>,
    /// The models drawn, in legend order.
    pub models: Vec<String>,
}

impl Plot {
    /// The anchor the page gives the plot.
    pub fn anchor(&self) -> String {
        anchor(&self.file)
    }
}

/// The page anchor of a plot file (`cpu_idle.svg` → `plot-cpu_idle`).
pub fn anchor(file: &str) -> String {
    format!("plot-{}", file.trim_end_matches(".svg"))
}

fn series(lab: &LabReport, spec: &Spec) -> Series {
    lab.models
        .iter()
        .filter_map(|m| {
            let mut pts: Vec<(f64, f64)> = lab
                .cells
                .iter()
                .filter(|c| &c.model == m && c.sweep == spec.sweep && c.status == Status::Ok)
                .filter_map(|c| Some((c.conns as f64, (spec.metric)(c)?)))
                .filter(|(_, y)| y.is_finite() && (!spec.log_y || *y > 0.0))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (!pts.is_empty()).then(|| (m.clone(), pts))
        })
        .collect()
}

/// Draws every plot that has data; nothing is written.
pub fn render(lab: &LabReport) -> io::Result<Vec<Plot>> {
    let mut out = Vec::new();
    for spec in SPECS {
        let s = series(lab, spec);
        if s.is_empty() {
            continue;
        }
        let svg = line_plot(spec.title, spec.y, spec.log_y, &s)
            .map_err(|e| io::Error::other(format!("plot {}: {e}", spec.file)))?;
        out.push(Plot {
            file: spec.file.to_string(),
            title: spec.title.to_string(),
            sweep: spec.sweep,
            svg,
            measures: spec.measures.to_string(),
            look_for: spec.look_for.to_string(),
            this_run: this_run(spec, &s),
            missing: missing(lab, spec.sweep),
            models: s.iter().map(|(m, _)| m.clone()).collect(),
        });
    }
    Ok(out)
}

/// Writes each plot's SVG file into `dir`.
pub fn write(plots: &[Plot], dir: &Path) -> io::Result<()> {
    for p in plots {
        std::fs::write(dir.join(&p.file), &p.svg)?;
    }
    Ok(())
}

/// Three significant figures or so: 305245, 292, 3.2, 0.14.
fn figure(v: f64) -> String {
    let digits = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    format!("{v:.digits$}")
}

fn value(v: f64, unit: &str) -> String {
    format!("{} {unit}", figure(v))
}

/// The best and the worst model at the largest N every line reaches.
fn this_run(spec: &Spec, series: &Series) -> Option<String> {
    let n = series
        .iter()
        .filter_map(|(_, p)| p.last().map(|l| l.0))
        .fold(f64::NEG_INFINITY, f64::max);
    let mut at: Vec<(&str, f64)> = series
        .iter()
        .filter_map(|(m, p)| p.iter().find(|q| q.0 == n).map(|q| (m.as_str(), q.1)))
        .collect();
    if at.len() < 2 {
        return None;
    }
    at.sort_by(|a, b| a.1.total_cmp(&b.1));
    if spec.higher_is_better {
        at.reverse();
    }
    let ((best, b), (worst, w)) = (at[0], at[at.len() - 1]);
    // A ratio to nothing says nothing; a small share reads better as 1/x.
    let ratio = match (b > 0.0, w > 0.0, spec.higher_is_better) {
        (true, true, true) if w * 10.0 < b => format!(", 1/{:.0} of {best}'s", b / w),
        (true, _, _) => format!(", ×{}", figure(w / b)),
        _ => String::new(),
    };
    let (word_best, word_worst) = if spec.higher_is_better {
        ("most", "fewest")
    } else {
        ("lowest", "highest")
    };
    Some(format!(
        "At N = {n:.0}: {word_best} {best} ({}), {word_worst} {worst} ({}{ratio}).",
        value(b, spec.unit),
        value(w, spec.unit)
    ))
}

/// Models whose cells of `sweep` did not succeed, with the first error.
fn missing(lab: &LabReport, sweep: Sweep) -> Vec<String> {
    lab.models
        .iter()
        .filter_map(|m| {
            let bad: Vec<&CellResult> = lab
                .cells
                .iter()
                .filter(|c| &c.model == m && c.sweep == sweep && c.status != Status::Ok)
                .collect();
            let first = bad.first()?;
            let ns: Vec<String> = bad.iter().map(|c| c.conns.to_string()).collect();
            Some(format!(
                "{m} at N = {}: {}",
                ns.join(", "),
                first.error.as_deref().unwrap_or("no result")
            ))
        })
        .collect()
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One SVG plot: a line per series against N on a log x axis (`log_y`:
/// the y axis too). Empty series are not allowed.
pub fn line_plot(title: &str, y: &str, log_y: bool, series: &Series) -> io::Result<String> {
    let mut svg = String::new();
    draw(&mut svg, title, y, log_y, series).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(svg)
}

fn draw(
    svg: &mut String,
    title: &str,
    y_desc: &str,
    log_y: bool,
    series: &Series,
) -> Result<(), Box<dyn std::error::Error>> {
    let ty = |y: f64| if log_y { y.log10() } else { y };
    let xs = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| x.log10()));
    let ys = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| ty(y)));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let (x0, x1) = (x0 - 0.1, x1 + 0.1);
    // The legend takes the top third of the plot: the data stays below it.
    let lo = if log_y { y0 - 0.1 } else { 0.0 };
    let top = if log_y { y1 + 0.05 } else { y1.max(1e-9) };
    let (y0, y1) = (lo, lo + (top - lo) / DATA_HEIGHT);
    let root = SVGBackend::with_string(svg, (820, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("connections N (log scale)")
        .y_desc(y_desc)
        // Labels at the powers of ten only: the mesh steps are fractions
        // of a decade, whose round values would mislead.
        .x_label_formatter(&|v| {
            if (v - v.round()).abs() < 0.01 {
                label(10f64.powf(v.round()))
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| label(if log_y { 10f64.powf(*v) } else { *v }))
        .draw()?;
    for (name, pts) in series {
        let look = look_of(name);
        let line: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x.log10(), ty(y))).collect();
        let stroke = look.color().stroke_width(2);
        chart
            .draw_series(LineSeries::new(line.clone(), stroke))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (20, 0)], stroke)
                    + look.marker((10, 0), 3)
            });
        chart.draw_series(line.into_iter().map(|p| look.marker(p, 4)))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
