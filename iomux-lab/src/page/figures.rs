//! The plots, inline, each with its caption: what is measured, on which
//! sweep, what to look for, this run's numbers, and what is missing.

use std::fmt::Write as _;

use super::super::palette::look_of;
use super::super::plots::Plot;
use super::markup::{esc, model};

/// The legend shared by every plot: a model's colour is the same in all.
fn legend(plots: &[&Plot]) -> String {
    let mut models: Vec<&str> = Vec::new();
    for p in plots {
        for m in &p.models {
            if !models.contains(&m.as_str()) {
                models.push(m);
            }
        }
    }
    let items: Vec<String> = models
        .iter()
        .map(|m| {
            format!(
                "<li data-marker=\"{:?}\">{}</li>",
                look_of(m).marker,
                model(m)
            )
        })
        .collect();
    format!("<ul class=\"palette\">{}</ul>\n", items.join(""))
}

/// The figures of one sweep.
pub fn render(plots: &[&Plot]) -> String {
    let mut out = legend(plots);
    for p in plots {
        let _ = write!(
            out,
            "<figure id=\"{}\" class=\"plot\" data-plot=\"{}\" data-models=\"{}\">{}\n<figcaption>\
             <p><b>Measured:</b> {} against the number of connections N (log scale). \
             <b>Sweep:</b> {}.</p><p><b>Look for:</b> {}.</p>",
            p.anchor(),
            esc(&p.file),
            esc(&p.models.join(",")),
            p.svg,
            esc(&p.measures),
            esc(&p.sweep.describe()),
            esc(&p.look_for)
        );
        if let Some(t) = &p.this_run {
            let _ = write!(out, "<p><b>This run:</b> {}</p>", esc(t));
        }
        if !p.missing.is_empty() {
            let _ = write!(
                out,
                "<p class=\"missing\"><b>Not plotted (no result):</b> {}</p>",
                esc(&p.missing.join("; "))
            );
        }
        out.push_str("</figcaption></figure>\n");
    }
    out
}
