//! index.html: the report a person reads in a browser. One self-contained
//! file (the plots are inline SVG, the style is inline), made of sections
//! in reading order: the seeds' claims, which model when, the plots of each
//! sweep, failed cells, every cell, the machine. A new sweep or comparison
//! adds a section to [`sections`].

mod advice_table;
mod cells_table;
mod claims_table;
mod figures;
mod machine;
pub(super) mod markup;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use super::LabReport;
use super::matrix::Sweep;
use super::plots::Plot;
use markup::esc;

/// One part of the page, with its entry in the contents.
pub struct Section {
    /// Anchor.
    pub id: &'static str,
    /// Heading.
    pub title: String,
    /// The section's HTML, below its heading.
    pub body: String,
}

/// The page's sections, in order.
fn sections(lab: &LabReport, plots: &[Plot]) -> Vec<Section> {
    let mut out = vec![
        Section {
            id: "claims",
            title: "The seeds' claims, measured".into(),
            body: claims_table::render(lab, plots),
        },
        Section {
            id: "which-model-when",
            title: "Which model when".into(),
            body: advice_table::render(&lab.advice),
        },
    ];
    for (id, sweep) in [("plots-idle", Sweep::Idle), ("plots-active", Sweep::Active)] {
        let shown: Vec<&Plot> = plots.iter().filter(|p| p.sweep == sweep).collect();
        if !shown.is_empty() {
            out.push(Section {
                id,
                title: format!("Plots: {} sweep", sweep.name()),
                body: figures::render(&shown),
            });
        }
    }
    if let Some(body) = cells_table::failures(lab) {
        out.push(Section {
            id: "failed",
            title: "Failed or unavailable cells".into(),
            body,
        });
    }
    out.push(Section {
        id: "cells",
        title: "Every cell".into(),
        body: cells_table::render(lab),
    });
    out.push(Section {
        id: "machine",
        title: "Machine and run".into(),
        body: machine::render(lab),
    });
    out
}

/// The whole page.
pub fn html(lab: &LabReport, plots: &[Plot]) -> String {
    let sections = sections(lab, plots);
    document(
        "iomux lab: which I/O model should I use?",
        Some(&machine::one_line(lab)),
        &sections,
    )
}

/// A page: the title, the run's line (already HTML), the contents, and
/// the sections; the style inline.
pub(super) fn document(title: &str, run: Option<&str>, sections: &[Section]) -> String {
    let mut out = String::from("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(out, "<title>{}</title>\n<style>", esc(title));
    out.push_str(include_str!("page.css"));
    let _ = writeln!(
        out,
        "</style></head>\n<body>\n<header><h1>{}</h1>",
        esc(title)
    );
    if let Some(run) = run {
        let _ = writeln!(out, "<p class=\"run\">{run}</p>");
    }
    out.push_str("<nav><ul>");
    for s in sections {
        let _ = write!(out, "<li><a href=\"#{}\">{}</a></li>", s.id, esc(&s.title));
    }
    out.push_str(
        "<li><a href=\"report.md\">report.md</a></li><li><a href=\"report.json\">report.json</a></li></ul></nav>\n</header>\n<main>\n",
    );
    for s in sections {
        let _ = writeln!(
            out,
            "<section id=\"{}\"><h2>{}</h2>\n{}</section>",
            s.id,
            esc(&s.title),
            s.body
        );
    }
    out.push_str("</main>\n</body></html>\n");
    out
}
