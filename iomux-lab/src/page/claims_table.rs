//! The claims table: each claim in the seed's words (Chinese and English),
//! as the lab tests it, its verdict, the evidence, and the plots that show it.

use std::fmt::Write as _;

use super::super::LabReport;
use super::super::plots::{Plot, anchor};
use super::markup::esc;

/// The plots in which each claim can be seen (the cells table always).
fn shown_in(id: &str) -> &'static [&'static str] {
    match id {
        "select-1024" => &["rps_idle.svg"],
        "scan-cost" => &["cpu_idle.svg", "rps_idle.svg"],
        "all-active" => &["cpu_active.svg", "rps_active.svg"],
        "blocking-latency" => &["p99_active.svg"],
        "blocking-memory" => &["rss_idle.svg", "cpu_active.svg"],
        "busy-polling" => &["cpu_idle.svg"],
        "sigio" => &["cpu_active.svg", "cpu_idle.svg", "waits_active.svg"],
        "aio" => &["cpu_active.svg", "syscalls_active.svg", "cpu_idle.svg"],
        "lt-et" => &["waits_active.svg", "syscalls_active.svg"],
        _ => &[],
    }
}

/// Links to the claim's plots that this page has, then to the table.
fn links(id: &str, plots: &[Plot]) -> String {
    let mut out = Vec::new();
    for file in shown_in(id) {
        if let Some(p) = plots.iter().find(|p| p.file == *file) {
            out.push(format!(
                "<a href=\"#{}\">{}</a>",
                anchor(file),
                esc(&p.title)
            ));
        }
    }
    if id == "busy-polling" {
        out.push("<a href=\"#when-no-clients\">no client connected</a>".into());
    }
    out.push("<a href=\"#cells\">the cells table</a>".into());
    out.join("<br>")
}

/// The table.
pub fn render(lab: &LabReport, plots: &[Plot]) -> String {
    let mut out = String::from(
        "<table id=\"claims-table\" class=\"claims\"><thead><tr><th>#</th><th>the seeds' claim</th>\
         <th>verdict on this machine</th><th>evidence (this run)</th><th>shown in</th></tr></thead><tbody>\n",
    );
    for (i, c) in lab.claims.iter().enumerate() {
        let outcome = c.outcome();
        let kind = outcome.label().replace(' ', "-");
        let _ = writeln!(
            out,
            "<tr id=\"claim-{id}\" class=\"claim\" data-claim=\"{id}\"><td>{n}</td>\
             <td><p class=\"zh\" lang=\"zh\">{zh}</p><p class=\"en\">{en}</p>\
             <p class=\"tested\">tested as: {claim}</p><p class=\"src\">{src}</p></td>\
             <td class=\"verdict\"><span class=\"badge {kind}\">{label}</span> {verdict}</td>\
             <td class=\"evidence\">{evidence}</td><td class=\"links\">{links}</td></tr>",
            id = esc(&c.id),
            n = i + 1,
            zh = esc(&c.original),
            en = esc(&c.translation),
            claim = esc(&c.claim),
            src = esc(&c.source),
            label = outcome.label(),
            verdict = esc(&c.verdict),
            evidence = esc(&c.evidence),
            links = links(&c.id, plots),
        );
    }
    out.push_str("</tbody></table>\n");
    out
}
