//! Where and how the run was made: machine, kernel, date, command line,
//! profile.

use std::fmt::Write as _;

use super::super::LabReport;
use super::markup::esc;

fn date(lab: &LabReport) -> String {
    lab.date.clone().unwrap_or_else(|| "not recorded".into())
}

/// The run in one line, for the page's header.
pub fn one_line(lab: &LabReport) -> String {
    format!(
        "{} profile, {} cells in {:.0} s, {} on Linux {} ({} CPUs) — <a href=\"#machine\">machine and command</a>",
        esc(&lab.profile),
        lab.cells.len(),
        lab.elapsed_s,
        esc(&lab
            .date
            .as_ref()
            .map_or("date not recorded".into(), |d| format!("run {d}"))),
        esc(&lab.machine.kernel),
        lab.machine.cpus
    )
}

/// The machine block.
pub fn render(lab: &LabReport) -> String {
    let m = &lab.machine;
    let mut rows: Vec<(&str, String)> = vec![
        ("date", date(lab)),
        ("command", format!("<code>{}</code>", esc(&lab.command))),
        (
            "profile",
            format!(
                "{}: warm-up {} s and window {} s per cell, {} repeat(s) (medians); {} cells in {:.0} s",
                esc(&lab.profile),
                lab.warmup_s,
                lab.measure_s,
                lab.repeats,
                lab.cells.len(),
                lab.elapsed_s
            ),
        ),
        (
            "CPU",
            format!(
                "{} × {}",
                m.cpus,
                esc(m.cpu_model.as_deref().unwrap_or("model not recorded"))
            ),
        ),
        (
            "memory",
            m.mem_total_mib
                .map_or("not recorded".into(), |v| format!("{v} MiB")),
        ),
        ("kernel", esc(&m.kernel)),
        (
            "limits",
            format!(
                "RLIMIT_NOFILE {}; glibc FD_SETSIZE {} (fd_set holds {} bits)",
                m.nofile, m.fd_setsize, m.fd_set_bits
            ),
        ),
        (
            "pinning",
            format!(
                "servers on CPU {}, load generator on CPU {}",
                m.server_cpu, m.load_cpu
            ),
        ),
        (
            "syscalls counted",
            if lab.perf {
                "yes (perf syscall tracepoints, in a phase after each window)".into()
            } else {
                "no".into()
            },
        ),
    ];
    if let Some(r) = &lab.rendered {
        rows.push(("page", esc(r)));
    }
    let mut out = String::from("<dl id=\"machine-block\" class=\"machine\">\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl>\n");
    out
}
