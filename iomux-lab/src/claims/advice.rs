//! "Which model when": for every situation the run measured (N connections,
//! K of them active) the models that did best, the ones to avoid and why.
//! As with the claims, nothing here is written in advance: the thresholds
//! below decide, and every sentence is put together from this run's values.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::super::LabReport;
use super::super::cell::{CellResult, Status};
use super::super::matrix::Sweep;
use super::{BURN, sweep_ns};

/// Within this factor of the best req/s or CPU per request counts as "as
/// good" (runs on a shared machine move by about this much).
const NEAR: f64 = 1.25;
/// p99 latency moves more from run to run: within this factor is as good.
const NEAR_TAIL: f64 = 1.5;
/// This factor worse than the best on any of them: avoid.
const AVOID: f64 = 2.0;
/// Memory the connections take (RSS growth) that counts as a cost, MiB.
const MEMORY_MATTERS_MIB: f64 = 100.0;

/// The best model on one measure, and the ones close to it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pick {
    /// The best model.
    pub best: String,
    /// Its value.
    pub value: f64,
    /// The unit of `value`.
    pub unit: String,
    /// Other models within the threshold of it.
    pub near: Vec<String>,
}

/// One row of the table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Situation {
    /// Anchor on the page.
    pub id: String,
    /// Connections, active ones and their share, in words.
    pub label: String,
    /// The sweep, if the row is one of a sweep's cells.
    pub sweep: Option<Sweep>,
    /// Connections (N).
    pub conns: usize,
    /// Active connections (K).
    pub active: usize,
    /// Most requests per second.
    pub rps: Option<Pick>,
    /// Lowest p99 latency.
    pub p99: Option<Pick>,
    /// Lowest server CPU per request.
    pub cpu: Option<Pick>,
    /// Least memory per connection.
    pub memory: Option<Pick>,
    /// Models as good as the best on req/s and CPU, with no cost to avoid.
    pub use_models: Vec<String>,
    /// Models to avoid here, each with its reasons.
    pub avoid: Vec<(String, String)>,
    /// Models without a result here, with why.
    pub failed: Vec<(String, String)>,
    /// The row in one sentence.
    pub sentence: String,
}

impl Situation {
    /// A row that is not one cell of a sweep (no client; the summary).
    fn beyond_sweeps(
        id: &str,
        label: &str,
        use_models: Vec<String>,
        avoid: Vec<(String, String)>,
    ) -> Situation {
        Situation {
            id: id.into(),
            label: label.into(),
            sweep: None,
            conns: 0,
            active: 0,
            rps: None,
            p99: None,
            cpu: None,
            memory: None,
            use_models,
            avoid,
            failed: Vec::new(),
            sentence: String::new(),
        }
    }
}

fn cells(lab: &LabReport, sweep: Sweep, n: usize) -> Vec<&CellResult> {
    lab.cells
        .iter()
        .filter(|c| c.sweep == sweep && c.conns == n && c.status == Status::Ok)
        .collect()
}

/// The best of `cells` on `metric` and those within `near` of it.
fn pick(
    cells: &[&CellResult],
    metric: impl Fn(&CellResult) -> Option<f64>,
    higher_is_better: bool,
    near: f64,
    unit: &str,
) -> Option<Pick> {
    let mut vals: Vec<(&str, f64)> = cells
        .iter()
        .filter_map(|c| Some((c.model.as_str(), metric(c).filter(|v| v.is_finite())?)))
        .collect();
    vals.sort_by(|a, b| a.1.total_cmp(&b.1));
    if higher_is_better {
        vals.reverse();
    }
    let &(best, value) = vals.first()?;
    let close = |v: f64| {
        if higher_is_better {
            v * near >= value
        } else {
            v <= value * near
        }
    };
    Some(Pick {
        best: best.into(),
        value,
        unit: unit.into(),
        near: vals[1..]
            .iter()
            .filter(|(_, v)| close(*v))
            .map(|(m, _)| m.to_string())
            .collect(),
    })
}

fn idle_burn(lab: &LabReport, model: &str) -> Option<f64> {
    lab.cells
        .iter()
        .find(|c| c.model == model && c.idle_cpu_pct.is_some())
        .and_then(|c| c.idle_cpu_pct)
        .filter(|&p| p >= BURN)
}

fn list(models: &[String]) -> String {
    match models {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Why `c` is to be avoided next to the best values, if it is.
fn costs(lab: &LabReport, c: &CellResult, s: &Situation) -> Vec<String> {
    let mut why = Vec::new();
    if let (Some(p), Some(v)) = (&s.cpu, c.cpu_us_per_req)
        && v >= p.value * AVOID
    {
        why.push(format!("CPU per request ×{:.1} {}'s", v / p.value, p.best));
    }
    if let (Some(p), Some(v)) = (&s.rps, c.rps)
        && v * AVOID <= p.value
    {
        why.push(if v * 10.0 < p.value && v > 0.0 {
            format!("req/s 1/{:.0} of {}'s", p.value / v, p.best)
        } else {
            format!("req/s ×{:.2} {}'s", v / p.value, p.best)
        });
    }
    if let (Some(p), Some(v)) = (&s.p99, c.p99_us)
        && v >= p.value * AVOID
    {
        why.push(format!("p99 ×{:.1} {}'s", v / p.value, p.best));
    }
    if let Some(kib) = c.rss_per_conn_kib {
        let total = kib * c.conns as f64 / 1024.0;
        if total >= MEMORY_MATTERS_MIB {
            why.push(format!(
                "{total:.0} MiB for the connections, {} KiB each",
                num(kib)
            ));
        }
    }
    if let Some(p) = idle_burn(lab, &c.model) {
        why.push(format!("{p:.0} % of a core with no client"));
    }
    why
}

fn share(n: usize, k: usize) -> String {
    let pct = k as f64 / n.max(1) as f64 * 100.0;
    let digits = if pct >= 10.0 { 0 } else { 1 };
    format!("{pct:.digits$} %")
}

fn situation(lab: &LabReport, sweep: Sweep, n: usize) -> Option<Situation> {
    let here = cells(lab, sweep, n);
    let all: Vec<&CellResult> = lab
        .cells
        .iter()
        .filter(|c| c.sweep == sweep && c.conns == n)
        .collect();
    let k = all.first()?.active;
    let mut s = Situation {
        id: format!("when-{}-{n}", sweep.name()),
        label: format!("N = {n}, K = {k} active ({})", share(n, k)),
        sweep: Some(sweep),
        conns: n,
        active: k,
        rps: pick(&here, |c| c.rps, true, NEAR, "req/s"),
        p99: pick(&here, |c| c.p99_us, false, NEAR_TAIL, "µs"),
        cpu: pick(&here, |c| c.cpu_us_per_req, false, NEAR, "µs"),
        memory: pick(&here, |c| c.rss_per_conn_kib, false, NEAR, "KiB"),
        use_models: Vec::new(),
        avoid: Vec::new(),
        failed: all
            .iter()
            .filter(|c| c.status != Status::Ok)
            .map(|c| {
                let why = c.error.as_deref().unwrap_or("no result");
                (c.model.clone(), why.to_string())
            })
            .collect(),
        sentence: String::new(),
    };
    let as_good = |p: &Option<Pick>, m: &str| {
        p.as_ref()
            .is_some_and(|p| p.best == m || p.near.iter().any(|x| x == m))
    };
    for c in &here {
        let why = costs(lab, c, &s);
        if !why.is_empty() {
            s.avoid.push((c.model.clone(), why.join(", ")));
        } else if as_good(&s.rps, &c.model) && as_good(&s.cpu, &c.model) {
            s.use_models.push(c.model.clone());
        }
    }
    s.sentence = sentence(&s);
    Some(s)
}

fn sentence(s: &Situation) -> String {
    let mut out = format!("{}: ", s.label);
    let best = |p: &Option<Pick>, what: &str| {
        p.as_ref()
            .map(|p| format!("{what} ({} {} {})", p.best, num(p.value), p.unit))
    };
    let bests: Vec<String> = [
        best(&s.rps, "the most req/s"),
        best(&s.cpu, "the lowest CPU per request"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if s.use_models.is_empty() {
        let _ = write!(
            out,
            "no model came within ×{NEAR} of both {} without a cost to avoid",
            bests.join(" and ")
        );
    } else {
        let _ = write!(
            out,
            "use {} — within ×{NEAR} of {}",
            list(&s.use_models),
            bests.join(" and ")
        );
    }
    if !s.avoid.is_empty() {
        let avoid: Vec<String> = s.avoid.iter().map(|(m, w)| format!("{m} ({w})")).collect();
        let _ = write!(out, "; avoid {}", avoid.join("; "));
    }
    if !s.failed.is_empty() {
        let failed: Vec<String> = s.failed.iter().map(|(m, _)| m.clone()).collect();
        let _ = write!(out, "; no result from {}", list(&failed));
    }
    out.push('.');
    out
}

/// The row for a server with no client at all: which models burn CPU.
fn no_clients(lab: &LabReport) -> Option<Situation> {
    let mut probes: Vec<(&str, f64)> = lab
        .models
        .iter()
        .filter_map(|m| {
            let c = lab
                .cells
                .iter()
                .find(|c| &c.model == m && c.idle_cpu_pct.is_some())?;
            Some((c.model.as_str(), c.idle_cpu_pct?))
        })
        .collect();
    if probes.is_empty() {
        return None;
    }
    probes.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (quiet, burning): (Vec<_>, Vec<_>) = probes.iter().partition(|(_, p)| *p < BURN);
    let most_quiet = quiet.iter().map(|q: &&(&str, f64)| q.1).fold(0.0, f64::max);
    let mut s = Situation::beyond_sweeps(
        "when-no-clients",
        "no client connected",
        quiet.iter().map(|(m, _)| m.to_string()).collect(),
        burning
            .iter()
            .map(|(m, p)| (m.to_string(), format!("{p:.0} % of a core doing nothing")))
            .collect(),
    );
    let mut out = format!("{}: ", s.label);
    if !quiet.is_empty() {
        let _ = write!(
            out,
            "{} used at most {most_quiet:.1} % of a core",
            list(&s.use_models)
        );
    }
    if !burning.is_empty() {
        let avoid: Vec<String> = s.avoid.iter().map(|(m, w)| format!("{m} ({w})")).collect();
        let sep = if quiet.is_empty() { "" } else { "; " };
        let _ = write!(
            out,
            "{sep}avoid {} — {BURN:.0} % or more counts as burning",
            avoid.join(", ")
        );
    }
    out.push('.');
    s.sentence = out;
    Some(s)
}

/// Every situation of the run, then the row that sums them up.
pub fn which_model_when(lab: &LabReport) -> Vec<Situation> {
    let mut rows: Vec<Situation> = [Sweep::Idle, Sweep::Active]
        .into_iter()
        .flat_map(|sweep| {
            sweep_ns(lab, sweep)
                .into_iter()
                .filter_map(move |n| situation(lab, sweep, n))
        })
        .collect();
    let summary = overall(lab, &rows);
    rows.extend(no_clients(lab));
    rows.extend(summary);
    rows
}

/// The models to use in every measured situation, and those to avoid in some.
fn overall(lab: &LabReport, rows: &[Situation]) -> Option<Situation> {
    if rows.is_empty() {
        return None;
    }
    let everywhere: Vec<String> = lab
        .models
        .iter()
        .filter(|m| rows.iter().all(|r| r.use_models.contains(m)))
        .filter(|m| idle_burn(lab, m).is_none())
        .cloned()
        .collect();
    let somewhere: Vec<String> = lab
        .models
        .iter()
        .filter_map(|m| {
            let at: Vec<String> = rows
                .iter()
                .filter(|r| r.avoid.iter().any(|(a, _)| a == m))
                .map(|r| format!("N = {}, K = {}", r.conns, r.active))
                .collect();
            match at.len() {
                0 => None,
                n if n == rows.len() => Some(format!("{m} in all {n}")),
                n => Some(format!("{m} in {n} of {} ({})", rows.len(), at.join("; "))),
            }
        })
        .collect();
    let mut out = String::from("over every situation measured: ");
    if everywhere.is_empty() {
        let count = |m: &String| rows.iter().filter(|r| r.use_models.contains(m)).count();
        let most = lab.models.iter().map(count).max().unwrap_or(0);
        let often: Vec<String> = lab
            .models
            .iter()
            .filter(|m| most > 0 && count(m) == most && idle_burn(lab, m).is_none())
            .cloned()
            .collect();
        out.push_str("no model was among the best in all of them");
        if !often.is_empty() {
            let _ = write!(out, ", {} in {most} of {}", list(&often), rows.len());
        }
    } else {
        let _ = write!(out, "{} among the best in all of them", list(&everywhere));
    }
    if !somewhere.is_empty() {
        let _ = write!(out, "; to avoid: {}", somewhere.join("; "));
    }
    out.push('.');
    let mut s = Situation::beyond_sweeps("when-overall", "overall", everywhere, Vec::new());
    s.sentence = out;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LabReport {
        serde_json::from_str(include_str!("../../../docs/lab-sample/report.json"))
            .expect("the sample report parses")
    }

    fn row<'a>(rows: &'a [Situation], id: &str) -> &'a Situation {
        rows.iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no row {id}"))
    }

    #[test]
    fn a_model_far_behind_on_cpu_is_to_be_avoided_with_its_ratio() {
        let mut lab = sample();
        for c in &mut lab.cells {
            if c.sweep == Sweep::Idle && c.conns == 1000 {
                c.cpu_us_per_req = Some(if c.model == "poll" { 30.0 } else { 10.0 });
                c.rps = Some(100_000.0);
                c.p99_us = Some(50.0);
                c.rss_per_conn_kib = Some(1.0);
            }
        }
        let rows = which_model_when(&lab);
        let r = row(&rows, "when-idle-1000");
        let poll = r
            .avoid
            .iter()
            .find(|(m, _)| m == "poll")
            .expect("poll avoided");
        assert!(poll.1.contains("CPU per request ×3.0"), "{poll:?}");
        assert!(!r.use_models.contains(&"poll".to_string()), "{r:?}");
        assert!(r.use_models.contains(&"epoll-lt".to_string()), "{r:?}");
        assert!(
            r.sentence.contains("poll (CPU per request ×3.0 "),
            "{}",
            r.sentence
        );
        assert!(r.label.contains("K = 10 active (1.0 %)"), "{}", r.label);
    }

    #[test]
    fn a_failed_cell_is_named_and_a_burner_is_avoided() {
        let mut lab = sample();
        for c in &mut lab.cells {
            if c.model == "uring" && c.sweep == Sweep::Active && c.conns == 10 {
                c.status = Status::Failed;
                c.error = Some("only 3 of 10 connections up".into());
            }
        }
        let rows = which_model_when(&lab);
        let r = row(&rows, "when-active-10");
        assert_eq!(
            r.failed,
            vec![(
                "uring".to_string(),
                "only 3 of 10 connections up".to_string()
            )]
        );
        assert!(
            r.sentence.ends_with("no result from uring."),
            "{}",
            r.sentence
        );
        let idle = row(&rows, "when-no-clients");
        let burn = lab
            .cells
            .iter()
            .find(|c| c.model == "nonblocking" && c.idle_cpu_pct.is_some())
            .and_then(|c| c.idle_cpu_pct)
            .expect("the sample probes nonblocking idle");
        assert!(burn >= BURN, "the sample's nonblocking burns ({burn})");
        assert!(
            idle.avoid.iter().any(|(m, _)| m == "nonblocking"),
            "{idle:?}"
        );
        let overall = rows.last().expect("a summary row");
        assert_eq!(overall.id, "when-overall");
        assert!(!overall.use_models.contains(&"nonblocking".to_string()));
    }
}
