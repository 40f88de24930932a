//! index.html of `iomux lab --scale`: the verdicts, the plots against N
//! (log axis), every cell with its reason, how memory is counted, and the
//! machine. The style is the ordinary lab page's.

use std::fmt::Write as _;

use super::super::page::markup::{esc, model};
use super::super::page::{Section, document};
use super::report::{HEADER, ScalePlot, row};
use super::{MEMORY_NOTE, ScaleReport};
use crate::cell::Status;

fn claims(r: &ScaleReport) -> String {
    let mut out = String::from(
        "<table id=\"claims-table\" class=\"claims\"><thead><tr><th>#</th><th>the claim, as tested</th>\
         <th>verdict on this machine</th><th>evidence (this run)</th></tr></thead><tbody>\n",
    );
    for (i, c) in r.claims.iter().enumerate() {
        let outcome = c.outcome();
        let _ = writeln!(
            out,
            "<tr id=\"claim-{id}\" class=\"claim\" data-claim=\"{id}\"><td>{n}</td><td>{claim}</td>\
             <td class=\"verdict\"><span class=\"badge {kind}\">{label}</span> {verdict}</td>\
             <td class=\"evidence\">{evidence}</td></tr>",
            id = esc(&c.id),
            n = i + 1,
            claim = esc(&c.claim),
            kind = outcome.label().replace(' ', "-"),
            label = outcome.label(),
            verdict = esc(&c.verdict),
            evidence = esc(&c.evidence),
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

fn figures(plots: &[ScalePlot]) -> String {
    let mut out = String::new();
    for p in plots {
        let _ = write!(
            out,
            "<figure id=\"plot-{anchor}\" class=\"plot\" data-plot=\"{file}\" data-models=\"{models}\">{svg}\n\
             <figcaption><p><b>Measured:</b> {m}, against the number of connections N (log scale).</p>\
             <p><b>Look for:</b> {l}.</p><p>Models: {names}</p></figcaption></figure>\n",
            anchor = esc(p.file.trim_end_matches(".svg")),
            file = esc(p.file),
            models = esc(&p.models.join(",")),
            svg = p.svg,
            m = esc(p.measures),
            l = esc(p.look_for),
            names = p
                .models
                .iter()
                .map(|m| model(m))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    out
}

fn cells(r: &ScaleReport) -> String {
    let mut out = String::from(
        "<div class=\"wide\"><table id=\"scale-cells-table\" class=\"cells\"><thead><tr>",
    );
    for h in HEADER {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("<th>reason</th></tr></thead><tbody>\n");
    for c in &r.cells {
        let class = match c.status {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Unavailable => "unavailable",
        };
        let _ = write!(
            out,
            "<tr class=\"{class}\" data-model=\"{}\" data-n=\"{}\">",
            esc(&c.model),
            c.conns
        );
        for (i, v) in row(c).iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "<td>{}</td>", model(v));
            } else {
                let _ = write!(out, "<td>{}</td>", esc(v));
            }
        }
        let _ = writeln!(
            out,
            "<td class=\"error\">{}</td></tr>",
            esc(c.reason.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table></div>\n");
    out
}

fn machine(r: &ScaleReport) -> String {
    let m = &r.machine;
    let mut out = String::from("<ul id=\"machine\">");
    for (k, v) in [
        ("command", format!("<code>{}</code>", esc(&r.command))),
        ("date", esc(r.date.as_deref().unwrap_or("?"))),
        (
            "CPUs",
            format!(
                "{} ({})",
                m.cpus,
                esc(m.cpu_model.as_deref().unwrap_or("?"))
            ),
        ),
        ("kernel", esc(&m.kernel)),
        ("RLIMIT_NOFILE", m.nofile.to_string()),
        (
            "kernel.pid_max / threads-max",
            format!(
                "{} / {}",
                r.pid_max.map_or("?".into(), |v| v.to_string()),
                r.threads_max.map_or("?".into(), |v| v.to_string())
            ),
        ),
        ("memory", format!("{} MiB", m.mem_total_mib.unwrap_or(0))),
        (
            "pinning",
            format!("server on CPU {}, load on CPU {}", m.server_cpu, m.load_cpu),
        ),
        (
            "cells",
            format!(
                "K = {}, warm-up {} s, window {} s, bound {:.0} s a cell, ≤ {} connections a process, {} connects/s asked; run took {:.0} s",
                r.active,
                r.warmup_s,
                r.measure_s,
                r.bound_s,
                r.per_process,
                r.connect_rate,
                r.elapsed_s
            ),
        ),
    ] {
        let _ = write!(out, "<li><b>{}</b>: {v}</li>", esc(k));
    }
    if let Some(x) = &r.rendered {
        let _ = write!(out, "<li><b>rendered</b>: {}</li>", esc(x));
    }
    out.push_str("</ul>\n");
    out
}

/// The whole page.
pub fn html(r: &ScaleReport, plots: &[ScalePlot]) -> String {
    let sections = [
        Section {
            id: "claims",
            title: "A million connections: the claims, measured".into(),
            body: claims(r),
        },
        Section {
            id: "plots-scale",
            title: "Plots: cost against N".into(),
            body: figures(plots),
        },
        Section {
            id: "cells",
            title: "Every cell, with why a cell was not run".into(),
            body: cells(r),
        },
        Section {
            id: "memory",
            title: "How memory is counted".into(),
            body: format!("<p>{}</p>\n", esc(MEMORY_NOTE)),
        },
        Section {
            id: "machine",
            title: "Machine and run".into(),
            body: machine(r),
        },
    ];
    document("iomux lab --scale: a million connections", None, &sections)
}
