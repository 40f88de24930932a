//! Every cell in a table, the failed ones with their error; and the list
//! of failed or unavailable cells.

use std::fmt::Write as _;

use super::super::LabReport;
use super::super::cell::Status;
use super::super::report::{HEADER, row};
use super::markup::{esc, model};

/// The table of every cell.
pub fn render(lab: &LabReport) -> String {
    let mut out =
        String::from("<div class=\"wide\"><table id=\"cells-table\" class=\"cells\"><thead><tr>");
    for h in HEADER {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("<th>error</th></tr></thead><tbody>\n");
    for c in &lab.cells {
        let class = match c.status {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Unavailable => "unavailable",
        };
        let _ = write!(out, "<tr class=\"{class}\">");
        for (i, v) in row(c).iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "<td>{}</td>", model(v));
            } else {
                let _ = write!(out, "<td>{}</td>", esc(v));
            }
        }
        let error = match c.status {
            Status::Ok => String::new(),
            _ => esc(c.error.as_deref().unwrap_or("no reason recorded")),
        };
        let _ = writeln!(out, "<td class=\"error\">{error}</td></tr>");
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// The failed and unavailable cells with their errors, if there are any.
pub fn failures(lab: &LabReport) -> Option<String> {
    let bad: Vec<_> = lab
        .cells
        .iter()
        .filter(|c| c.status != Status::Ok)
        .collect();
    if bad.is_empty() {
        return None;
    }
    let mut out = String::from("<ul id=\"failed-cells\" class=\"failed\">\n");
    for c in bad {
        let what = if c.status == Status::Failed {
            "failed"
        } else {
            "unavailable"
        };
        let _ = writeln!(
            out,
            "<li class=\"failed-cell\">{} {} N = {}, K = {}: <b>{what}</b> — <span class=\"error\">{}</span></li>",
            model(&c.model),
            c.sweep.name(),
            c.conns,
            c.active,
            esc(c.error.as_deref().unwrap_or("no reason recorded"))
        );
    }
    out.push_str("</ul>\n");
    Some(out)
}
