//! The seeds' claims, each checked against this run's numbers. Nothing here
//! knows an expected result: thresholds decide the wording of a verdict, the
//! measurements decide which wording applies.

use serde::{Deserialize, Serialize};

mod advice;
mod models;
mod multiplexers;
mod quotes;
mod scale;

pub use advice::{Pick, Situation, which_model_when};
pub use scale::evaluate as evaluate_scale;

use models::{aio, blocking_latency, blocking_memory, busy_polling, sigio};
use multiplexers::{all_active, lt_et, mmap, scan_cost, select_limit};

use super::LabReport;
use super::cell::{CellResult, Status};
use super::matrix::Sweep;

/// One claim with its evidence and verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claim {
    /// Short identifier.
    pub id: String,
    /// The claim, as the seeds make it.
    pub claim: String,
    /// The numbers that decide it.
    pub evidence: String,
    /// holds / does not hold / holds only when … / not measured.
    pub verdict: String,
    /// The claim in the seed's own words (Chinese).
    #[serde(default)]
    pub original: String,
    /// An English translation of `original`.
    #[serde(default)]
    pub translation: String,
    /// The seed it comes from.
    #[serde(default)]
    pub source: String,
}

impl Claim {
    /// A claim as its check words it, without the seed's quote yet.
    fn new(id: &str, claim: &str, evidence: String, verdict: String) -> Claim {
        Claim {
            id: id.into(),
            claim: claim.into(),
            evidence,
            verdict,
            original: String::new(),
            translation: String::new(),
            source: String::new(),
        }
    }

    /// What the verdict amounts to, from its first words.
    pub fn outcome(&self) -> Outcome {
        let v = self.verdict.as_str();
        if v.starts_with("not measured") || v.starts_with("not decided") {
            Outcome::NotMeasured
        } else if v.starts_with("does not hold") {
            Outcome::DoesNotHold
        } else if ["holds:", "holds here", "holds up"]
            .iter()
            .any(|p| v.starts_with(p))
        {
            Outcome::Holds
        } else {
            Outcome::InPart
        }
    }
}

/// A verdict in one word, for the page's badges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The claim holds on this machine.
    Holds,
    /// It does not.
    DoesNotHold,
    /// It holds in part, or with a condition.
    InPart,
    /// The run could not decide it.
    NotMeasured,
}

impl Outcome {
    /// The badge's words.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Holds => "holds",
            Outcome::DoesNotHold => "does not hold",
            Outcome::InPart => "in part",
            Outcome::NotMeasured => "not measured",
        }
    }
}

/// Ratios closer to 1 than this count as "the same".
const SAME: f64 = 0.15;
/// select/poll "match" epoll when their CPU per request is at most this multiple.
const MATCH_CPU: f64 = 1.25;
/// CPU use (% of a core) with no client that counts as burning.
const BURN: f64 = 50.0;
/// A cost that grows less than this between the smallest and largest N is "flat".
const FLAT: f64 = 1.5;

fn ok<'a>(lab: &'a LabReport, model: &str, sweep: Sweep, n: usize) -> Option<&'a CellResult> {
    lab.cells
        .iter()
        .find(|c| c.model == model && c.sweep == sweep && c.conns == n && c.status == Status::Ok)
}

fn sweep_ns(lab: &LabReport, sweep: Sweep) -> Vec<usize> {
    let mut ns: Vec<usize> = lab
        .cells
        .iter()
        .filter(|c| c.sweep == sweep)
        .map(|c| c.conns)
        .collect();
    ns.sort_unstable();
    ns.dedup();
    ns
}

/// Why a model has no result (its first error), or None if it has one.
fn missing(lab: &LabReport, model: &str) -> Option<String> {
    let cells: Vec<&CellResult> = lab.cells.iter().filter(|c| c.model == model).collect();
    if cells.is_empty() {
        return Some(format!("{model} was not in this run"));
    }
    if cells.iter().any(|c| c.status == Status::Ok) {
        return None;
    }
    Some(format!(
        "{model}: {}",
        cells[0].error.as_deref().unwrap_or("no result")
    ))
}

fn not_measured(id: &str, claim: &str, why: String) -> Claim {
    Claim::new(id, claim, why, "not measured.".into())
}

fn f(v: Option<f64>, d: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.d$}"))
}

/// Evaluates every claim, each with its seed's words.
pub fn evaluate(lab: &LabReport) -> Vec<Claim> {
    let mut claims = vec![
        select_limit(lab),
        scan_cost(lab),
        all_active(lab),
        blocking_latency(lab),
        blocking_memory(lab),
        busy_polling(lab),
        sigio(lab),
        lt_et(lab),
        mmap(lab),
        aio(lab),
    ];
    for c in &mut claims {
        if let Some(q) = quotes::quote(&c.id) {
            c.original = q.original.into();
            c.translation = q.translation.into();
            c.source = q.source.into();
        }
    }
    claims
}
