//! The page rendered from the sample report with one cell made to fail
//! and one model's idle cells taken away: every claim with its verdict, a
//! caption per plot, one colour per model in every plot, the machine, the
//! failed cell with its error.

use super::super::cell::Status;
use super::super::matrix::Sweep;
use super::super::palette::look_of;
use super::super::plots::{self, Plot};
use super::super::{LabReport, claims};
use super::html;

use crate::page_checks::{between, series_colours};

const ERROR: &str = "server did not start (exit status: 1): synthetic <failure> & more";

fn lab() -> LabReport {
    let mut lab: LabReport =
        serde_json::from_str(include_str!("../../../docs/lab-sample/report.json"))
            .expect("the sample report parses");
    for c in &mut lab.cells {
        if c.model == "poll" && c.sweep == Sweep::Active && c.conns == 100 {
            c.status = Status::Failed;
            c.error = Some(ERROR.into());
        }
        // blocking has no idle-sweep line: the other models keep their colours.
        if c.model == "blocking" && c.sweep == Sweep::Idle {
            c.status = Status::Unavailable;
            c.error = Some("not built here".into());
        }
    }
    lab.date = Some("2026-12-02 15:00 UTC".into());
    lab.machine.cpu_model = Some("Test CPU @ 3 GHz".into());
    lab.machine.mem_total_mib = Some(7890);
    lab.claims = claims::evaluate(&lab);
    lab.advice = claims::which_model_when(&lab);
    lab
}

fn page(lab: &LabReport) -> (String, Vec<Plot>) {
    let plots = plots::render(lab).expect("plots draw");
    (html(lab, &plots), plots)
}

#[test]
fn the_claims_table_comes_first_with_every_verdict() {
    let lab = lab();
    let (html, _) = page(&lab);
    let table = between(&html, "<table id=\"claims-table\"", "</table>");
    let first_section = html.find("<section").expect("sections");
    assert_eq!(
        html[first_section..].find("<table"),
        html[first_section..].find("<table id=\"claims-table\""),
        "the claims table is the page's first table"
    );
    assert_eq!(lab.claims.len(), 10);
    for c in &lab.claims {
        let row = between(table, &format!("data-claim=\"{}\"", c.id), "</tr>");
        assert!(row.contains(&c.original), "{}: the Chinese original", c.id);
        assert!(
            row.contains(&c.translation.replace('\'', "&#39;")),
            "{}: the English",
            c.id
        );
        let verdict = super::markup::esc(&c.verdict);
        assert!(row.contains(&verdict), "{}: its verdict {verdict}", c.id);
        assert!(row.contains("class=\"badge "), "{}: a badge", c.id);
        assert!(
            row.contains("href=\"#"),
            "{}: a link to where it shows",
            c.id
        );
    }
    // Links go to plots that exist on the page.
    let scan = between(table, "data-claim=\"scan-cost\"", "</tr>");
    assert!(scan.contains("href=\"#plot-cpu_idle\""), "{scan}");
    assert!(html.contains("<figure id=\"plot-cpu_idle\""));
}

#[test]
fn every_plot_is_inline_with_a_caption() {
    let lab = lab();
    let (html, plots) = page(&lab);
    assert_eq!(plots.len(), 9, "nine plots (syscalls were counted)");
    for p in &plots {
        let fig = between(
            &html,
            &format!("<figure id=\"{}\"", p.anchor()),
            "</figure>",
        );
        assert!(fig.contains("<svg"), "{}: inline SVG", p.file);
        let cap = between(fig, "<figcaption>", "</figcaption>");
        for part in ["Measured:", "Sweep:", "Look for:", "This run:"] {
            assert!(
                cap.contains(part),
                "{}: the caption says {part} {cap}",
                p.file
            );
        }
        assert!(cap.contains(p.sweep.name()), "{}: names its sweep", p.file);
    }
    let cpu = plots.iter().find(|p| p.file == "cpu_idle.svg").unwrap();
    assert!(
        cpu.this_run
            .as_deref()
            .is_some_and(|t| t.starts_with("At N = 10000: lowest uring")),
        "{:?}",
        cpu.this_run
    );
    // The failed and unavailable cells are named under the plots they miss from.
    let rps_active = between(&html, "<figure id=\"plot-rps_active\"", "</figure>");
    assert!(
        rps_active.contains("poll at N = 100: server did not start"),
        "{rps_active}"
    );
    let rps_idle = between(&html, "<figure id=\"plot-rps_idle\"", "</figure>");
    assert!(rps_idle.contains("blocking at N = 100, 1000, 10000: not built here"));
}

#[test]
fn a_model_has_its_palette_colour_in_every_plot() {
    let lab = lab();
    let (html, plots) = page(&lab);
    for p in &plots {
        let expected: Vec<String> = p.models.iter().map(|m| look_of(m).hex()).collect();
        assert_eq!(
            series_colours(&p.svg, p.models.len()),
            expected,
            "{}: lines of {:?}",
            p.file,
            p.models
        );
    }
    let idle = plots.iter().find(|p| p.file == "rps_idle.svg").unwrap();
    assert!(
        !idle.models.contains(&"blocking".to_string()),
        "blocking has no idle line"
    );
    // The page's swatches use the same colours.
    for m in &lab.models {
        let swatch = format!("data-model=\"{m}\" data-colour=\"{}\"", look_of(m).hex());
        assert!(html.contains(&swatch), "{swatch}");
    }
}

#[test]
fn the_machine_block_says_where_when_and_how() {
    let lab = lab();
    let (html, _) = page(&lab);
    let block = between(&html, "<dl id=\"machine-block\"", "</dl>");
    for part in [
        "2026-12-02 15:00 UTC",
        "Test CPU @ 3 GHz",
        "7890 MiB",
        lab.machine.kernel.as_str(),
        "<code>target/release/iomux lab --out /tmp/lab1</code>",
        "default: warm-up 0.5 s and window 1 s per cell, 1 repeat(s)",
        "RLIMIT_NOFILE 20000",
    ] {
        assert!(
            block.contains(part),
            "the machine block has {part:?}: {block}"
        );
    }
}

#[test]
fn a_failed_cell_is_shown_with_its_error() {
    let lab = lab();
    let (html, _) = page(&lab);
    let escaped = super::markup::esc(ERROR);
    let failed = between(&html, "<ul id=\"failed-cells\"", "</ul>");
    assert!(
        failed.contains(&format!(
            "active N = 100, K = 100: <b>failed</b> — <span class=\"error\">{escaped}</span>"
        )),
        "{failed}"
    );
    let cells = between(&html, "<table id=\"cells-table\"", "</table>");
    assert!(
        cells.contains(&format!("<td class=\"error\">{escaped}</td>")),
        "the cells table too"
    );
    assert!(!html.contains("<failure>"), "errors are escaped");
    let when = between(&html, "<tr id=\"when-active-100\"", "</tr>");
    assert!(when.contains("no result from poll"), "{when}");
}
