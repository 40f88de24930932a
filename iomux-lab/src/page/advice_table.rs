//! The "which model when" table: one row per measured situation, each
//! cell the best model on a measure and those close to it (decided in
//! `claims/advice.rs`), then the row's sentence.

use std::fmt::Write as _;

use super::super::claims::{Pick, Situation};
use super::markup::{esc, model};

fn value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn pick(p: &Option<Pick>) -> String {
    let Some(p) = p else {
        return "–".into();
    };
    let mut out = format!("{} {} {}", model(&p.best), value(p.value), esc(&p.unit));
    if !p.near.is_empty() {
        let near: Vec<String> = p.near.iter().map(|m| model(m)).collect();
        let _ = write!(out, "<br><small>close: {}</small>", near.join(" "));
    }
    out
}

/// The table.
pub fn render(rows: &[Situation]) -> String {
    let mut out = String::from(
        "<p>Each row is one situation this run measured; the thresholds in <code>iomux-lab/src/claims/advice.rs</code> \
         decide what is “close” to the best and what is to be avoided, and the sentence is assembled from \
         the values.</p>\n<table id=\"advice-table\" class=\"advice\"><thead><tr><th>situation</th>\
         <th>most req/s</th><th>lowest p99 µs</th><th>lowest CPU µs/req</th><th>least RSS/conn</th>\
         <th>use</th><th>avoid</th><th>in one sentence, with the reasons</th></tr></thead><tbody>\n",
    );
    for r in rows {
        let uses: Vec<String> = r.use_models.iter().map(|m| model(m)).collect();
        // The reasons are in the row's sentence.
        let avoid: Vec<String> = r.avoid.iter().map(|(m, _)| model(m)).collect();
        let _ = writeln!(
            out,
            "<tr id=\"{}\"><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"sentence\">{}</td></tr>",
            esc(&r.id),
            esc(&r.label),
            pick(&r.rps),
            pick(&r.p99),
            pick(&r.cpu),
            pick(&r.memory),
            if uses.is_empty() {
                "–".into()
            } else {
                uses.join(" ")
            },
            if avoid.is_empty() {
                "–".into()
            } else {
                avoid.join(" ")
            },
            esc(&r.sentence)
        );
    }
    out.push_str("</tbody></table>\n");
    out
}
