//! SVG plots of the lab's cells (plotters): one metric against N per sweep,
//! one line per model. N is on a log scale; so are latency and CPU, whose
//! values span orders of magnitude between models.

use std::io;
use std::path::Path;

use plotters::prelude::*;

use super::LabReport;
use super::cell::{CellResult, Status};
use super::matrix::Sweep;

type Metric = fn(&CellResult) -> Option<f64>;

struct Spec {
    sweep: Sweep,
    file: &'static str,
    title: &'static str,
    y: &'static str,
    metric: Metric,
    log_y: bool,
}

const SPECS: &[Spec] = &[
    Spec {
        sweep: Sweep::Idle,
        file: "rps_idle.svg",
        title: "requests/s vs N (K = 10 active)",
        y: "requests/s",
        metric: |c| c.rps,
        log_y: false,
    },
    Spec {
        sweep: Sweep::Idle,
        file: "p99_idle.svg",
        title: "p99 latency vs N (K = 10 active)",
        y: "p99 µs (log)",
        metric: |c| c.p99_us,
        log_y: true,
    },
    Spec {
        sweep: Sweep::Idle,
        file: "cpu_idle.svg",
        title: "server CPU per request vs N (K = 10 active)",
        y: "CPU µs/request (log)",
        metric: |c| c.cpu_us_per_req,
        log_y: true,
    },
    Spec {
        sweep: Sweep::Idle,
        file: "rss_idle.svg",
        title: "server RSS per connection vs N",
        y: "KiB per connection",
        metric: |c| c.rss_per_conn_kib,
        log_y: false,
    },
    Spec {
        sweep: Sweep::Active,
        file: "rps_active.svg",
        title: "requests/s vs N (all active, K = N)",
        y: "requests/s",
        metric: |c| c.rps,
        log_y: false,
    },
    Spec {
        sweep: Sweep::Active,
        file: "p99_active.svg",
        title: "p99 latency vs N (all active)",
        y: "p99 µs (log)",
        metric: |c| c.p99_us,
        log_y: true,
    },
    Spec {
        sweep: Sweep::Active,
        file: "cpu_active.svg",
        title: "server CPU per request vs N (all active)",
        y: "CPU µs/request (log)",
        metric: |c| c.cpu_us_per_req,
        log_y: true,
    },
];

type Series = Vec<(String, Vec<(f64, f64)>)>;

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

/// Writes the plots into `dir`; returns (file name, title) of each.
pub fn write(lab: &LabReport, dir: &Path) -> io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for spec in SPECS {
        let s = series(lab, spec);
        if s.is_empty() {
            continue;
        }
        draw(&dir.join(spec.file), spec, &s)
            .map_err(|e| io::Error::other(format!("plot {}: {e}", spec.file)))?;
        out.push((spec.file.to_string(), spec.title.to_string()));
    }
    Ok(out)
}

fn label(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn draw(path: &Path, spec: &Spec, series: &Series) -> Result<(), Box<dyn std::error::Error>> {
    let ty = |y: f64| if spec.log_y { y.log10() } else { y };
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
    let (y0, y1) = if spec.log_y {
        (y0 - 0.1, y1 + 0.1 + (y1 - y0) * 0.05)
    } else {
        (0.0, y1.max(1e-9) * 1.1)
    };
    let root = SVGBackend::new(path, (820, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(spec.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let log_y = spec.log_y;
    chart
        .configure_mesh()
        .x_desc("connections N (log scale)")
        .y_desc(spec.y)
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
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let line: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x.log10(), ty(y))).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
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
