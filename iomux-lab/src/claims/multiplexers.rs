//! The seeds' claims about the multiplexers: select's fd limit, the cost of
//! scanning the whole set, all-active connections, level vs edge, and
//! epoll's supposed shared memory with the kernel.

use std::fmt::Write as _;

use super::super::LabReport;
use super::super::cell::{CellResult, Status};
use super::super::matrix::Sweep;
use super::{Claim, FLAT, MATCH_CPU, SAME, f, missing, not_measured, ok, sweep_ns};

pub(super) fn select_limit(lab: &LabReport) -> Claim {
    let claim = "select can watch at most 1024 fds";
    let limit = lab.machine.fd_setsize as u64;
    let selects: Vec<&CellResult> = lab.cells.iter().filter(|c| c.model == "select").collect();
    if let Some(why) = missing(lab, "select") {
        return not_measured("select-1024", claim, why);
    }
    let best = selects
        .iter()
        .filter(|c| c.status == Status::Ok)
        .max_by_key(|c| c.max_fd.unwrap_or(0));
    let failed_high = selects
        .iter()
        .find(|c| c.status == Status::Failed && c.conns as u64 >= limit);
    let top = best.and_then(|c| c.max_fd).unwrap_or(0);
    let evidence = format!(
        "glibc: FD_SETSIZE = {limit}, and its fd_set type holds {} bits (FD_SET on a higher fd writes past it); \
         iomux's select backend sizes its bitmaps to the highest fd it watches. Highest fd served by the select model: {top}{}.",
        lab.machine.fd_set_bits,
        best.map_or(String::new(), |c| format!(
            " (N = {}, {} req/s)",
            c.conns,
            f(c.rps, 0)
        ))
    );
    let verdict = if top >= limit {
        format!(
            "holds only for glibc's fd_set, not for select(2): iomux's select served fds up to {top} > {limit}."
        )
    } else if let Some(c) = failed_high {
        format!(
            "holds here: iomux's select failed at N = {}: {}",
            c.conns,
            c.error.as_deref().unwrap_or("")
        )
    } else {
        format!(
            "holds for glibc's fd_set; this run stayed below fd {limit}, so iomux's select was not tested past it."
        )
    };
    Claim::new("select-1024", claim, evidence, verdict)
}

/// CPU per request at the smallest and largest N of the idle sweep.
fn growth(lab: &LabReport, model: &str) -> Option<(f64, f64, usize, usize)> {
    let ns = sweep_ns(lab, Sweep::Idle);
    let cells: Vec<&CellResult> = ns
        .iter()
        .filter_map(|&n| ok(lab, model, Sweep::Idle, n))
        .collect();
    let (lo, hi) = (cells.first()?, cells.last()?);
    if lo.conns == hi.conns {
        return None;
    }
    Some((lo.cpu_us_per_req?, hi.cpu_us_per_req?, lo.conns, hi.conns))
}

pub(super) fn scan_cost(lab: &LabReport) -> Claim {
    let claim = "select and poll cost more as N grows (they scan every fd on every call); epoll's cost grows only with the active K";
    let mut evidence = String::from("Server CPU per request, idle sweep (K = 10): ");
    let mut g = Vec::new();
    for m in ["select", "poll", "epoll-lt"] {
        match growth(lab, m) {
            Some((lo, hi, nlo, nhi)) => {
                let _ = write!(
                    evidence,
                    "{m} {lo:.1} µs at N={nlo} → {hi:.1} µs at N={nhi} (×{:.1}); ",
                    hi / lo
                );
                g.push(Some(hi / lo));
            }
            None => {
                let _ = write!(evidence, "{m} not measured at two N; ");
                g.push(None);
            }
        }
    }
    let (Some(s), Some(p), Some(e)) = (g[0], g[1], g[2]) else {
        return not_measured("scan-cost", claim, evidence);
    };
    let verdict = if s >= FLAT && p >= FLAT && (e < FLAT || e < s.min(p) / 2.0) {
        format!("holds: select ×{s:.1}, poll ×{p:.1}, epoll ×{e:.1} per request over the sweep.")
    } else if s < FLAT && p < FLAT {
        "does not hold at these N: select and poll stayed flat.".to_string()
    } else {
        format!("holds only in part: select ×{s:.1}, poll ×{p:.1}, epoll ×{e:.1}.")
    };
    Claim::new("scan-cost", claim, evidence, verdict)
}

pub(super) fn all_active(lab: &LabReport) -> Claim {
    let claim = "when every connection is active, select and poll match epoll";
    // Server CPU per request decides (the load generator, one thread, may
    // cap req/s before any server does); req/s is shown alongside.
    let mut evidence = String::from(
        "N = K; server CPU µs/request and req/s, select and poll relative to epoll-lt: ",
    );
    let mut matched = Vec::new();
    for n in sweep_ns(lab, Sweep::Active) {
        let cells = ["epoll-lt", "select", "poll"].map(|m| ok(lab, m, Sweep::Active, n));
        let [Some(e), Some(sel), Some(pol)] = cells else {
            continue;
        };
        let (Some(ec), Some(er)) = (e.cpu_us_per_req, e.rps) else {
            continue;
        };
        let _ = write!(evidence, "N={n}: epoll {ec:.1} µs, {er:.0}/s");
        let mut all = true;
        for (m, c) in [("select", sel), ("poll", pol)] {
            let (Some(cc), Some(cr)) = (c.cpu_us_per_req, c.rps) else {
                all = false;
                continue;
            };
            let _ = write!(
                evidence,
                "; {m} {cc:.1} µs (×{:.2}), {cr:.0}/s (×{:.2})",
                cc / ec,
                cr / er
            );
            all &= cc / ec <= MATCH_CPU;
        }
        evidence.push_str(". ");
        matched.push((n, all));
    }
    if matched.is_empty() {
        let why = ["epoll-lt", "select", "poll"]
            .iter()
            .find_map(|m| missing(lab, m))
            .unwrap_or_else(|| "no all-active N where epoll, select and poll all succeeded".into());
        return not_measured("all-active", claim, why);
    }
    let yes: Vec<usize> = matched
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| *n)
        .collect();
    let pct = (MATCH_CPU - 1.0) * 100.0;
    let verdict = if yes.len() == matched.len() {
        format!("holds: select and poll within {pct:.0}% of epoll's CPU per request at every N.")
    } else if yes.is_empty() {
        format!(
            "does not hold: select or poll cost more than {pct:.0}% over epoll per request at every N."
        )
    } else {
        let at: Vec<String> = yes.iter().map(|n| n.to_string()).collect();
        let not: Vec<String> = matched
            .iter()
            .filter(|(_, m)| !*m)
            .map(|(n, _)| n.to_string())
            .collect();
        format!(
            "holds only in part: select and poll within {pct:.0}% of epoll's CPU per request at N = {}, not at N = {}.",
            at.join(", "),
            not.join(", ")
        )
    };
    Claim::new("all-active", claim, evidence, verdict)
}

pub(super) fn lt_et(lab: &LabReport) -> Claim {
    let claim =
        "edge-triggered epoll (ET) needs fewer wake-ups and syscalls than level-triggered (LT)";
    let mut evidence = String::from("epoll_wait calls / all syscalls per request, LT vs ET: ");
    // log(ET/LT) per cell, for wait calls and for all syscalls.
    let (mut waits, mut calls) = (Vec::new(), Vec::new());
    for c in lab
        .cells
        .iter()
        .filter(|c| c.model == "epoll-lt" && c.status == Status::Ok)
    {
        let Some(e) = ok(lab, "epoll-et", c.sweep, c.conns) else {
            continue;
        };
        let (Some(lw), Some(ew), Some(ls), Some(es)) = (
            c.waits_per_req,
            e.waits_per_req,
            c.syscalls_per_req,
            e.syscalls_per_req,
        ) else {
            continue;
        };
        let _ = write!(
            evidence,
            "{} N={}: {lw:.2}/{ls:.2} vs {ew:.2}/{es:.2}; ",
            c.sweep.name(),
            c.conns
        );
        if lw > 0.0 && ew > 0.0 {
            waits.push((ew / lw).ln());
        }
        if ls > 0.0 && es > 0.0 {
            calls.push((es / ls).ln());
        }
    }
    if calls.is_empty() {
        let why = missing(lab, "epoll-et")
            .or(missing(lab, "epoll-lt"))
            .unwrap_or_else(|| "syscalls were not counted (perf)".into());
        return not_measured("lt-et", claim, why);
    }
    // Geometric means: one noisy cell does not decide.
    let gmean = |v: &[f64]| (!v.is_empty()).then(|| (v.iter().sum::<f64>() / v.len() as f64).exp());
    let (w, c) = (gmean(&waits), gmean(&calls).unwrap_or(1.0));
    let _ = write!(
        evidence,
        "geometric mean ET/LT: wait calls ×{}, all syscalls ×{c:.2}.",
        f(w, 2)
    );
    let fewer = |r: f64| r <= 1.0 - SAME;
    let verdict = if fewer(c) || w.is_some_and(fewer) {
        format!(
            "holds: ET made ×{} the wait calls and ×{c:.2} the syscalls of LT per request.",
            f(w, 2)
        )
    } else if c >= 1.0 - SAME / 3.0 && w.is_none_or(|w| w >= 1.0 - SAME / 3.0) {
        format!(
            "does not hold: ET made ×{} the wait calls and ×{c:.2} the syscalls of LT per request. In this closed loop one read consumes each readiness, so LT has nothing to report twice and ET nothing to save.",
            f(w, 2)
        )
    } else {
        format!(
            "holds only marginally: ET made ×{} the wait calls and ×{c:.2} the syscalls of LT.",
            f(w, 2)
        )
    };
    Claim::new("lt-et", claim, evidence, verdict)
}

pub(super) fn mmap(lab: &LabReport) -> Claim {
    let claim =
        "epoll shares a block of memory with user space through mmap, so events need no copy";
    let cells: Vec<&CellResult> = lab
        .cells
        .iter()
        .filter(|c| c.model.starts_with("epoll") && c.status == Status::Ok)
        .collect();
    if cells.is_empty() {
        return not_measured(
            "epoll-mmap",
            claim,
            missing(lab, "epoll-lt").unwrap_or("no epoll cell".into()),
        );
    }
    let mapped = cells
        .iter()
        .filter(|c| c.eventpoll_mapped == Some(true))
        .count();
    let with_fd = cells
        .iter()
        .filter(|c| c.has_epoll_fd == Some(true))
        .count();
    let waits: u64 = cells
        .iter()
        .map(|c| {
            ["epoll_wait", "epoll_pwait", "epoll_pwait2"]
                .iter()
                .map(|s| c.syscalls.get(*s).copied().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    let mmaps: u64 = cells
        .iter()
        .map(|c| c.syscalls.get("mmap").copied().unwrap_or(0))
        .sum();
    let counted = cells.iter().any(|c| !c.syscalls.is_empty());
    let mut evidence = format!(
        "{} epoll cells: an epoll fd in /proc/PID/fd in {with_fd}, an eventpoll mapping in /proc/PID/maps in {mapped}.",
        cells.len()
    );
    if counted {
        let _ = write!(
            evidence,
            " While serving, the servers made {waits} epoll_wait/epoll_pwait/epoll_pwait2 calls and {mmaps} mmap calls (perf syscall tracepoints)."
        );
    }
    evidence.push_str(
        " Kernel path: epoll_wait → do_epoll_wait → ep_poll → ep_send_events (fs/eventpoll.c), which copies each ready \
         event with epoll_put_uevent → __put_user (include/linux/eventpoll.h) into the caller's array; eventpoll has no mmap file operation.",
    );
    let verdict = if mapped == 0 && with_fd > 0 && (!counted || waits > mmaps) {
        "does not hold: no shared mapping exists, and every epoll_wait copies the ready events into the caller's buffer.".to_string()
    } else if mapped > 0 {
        "holds? an eventpoll mapping was seen — inspect /proc/PID/maps.".to_string()
    } else {
        "not decided: no epoll fd was seen.".to_string()
    };
    Claim::new("epoll-mmap", claim, evidence, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample report of a default run, with the all-active CPU figures
    /// set so that select and poll match epoll at some N and not at others.
    fn sample_with_active_cpu(cpu: impl Fn(&str, usize) -> f64) -> LabReport {
        let mut lab: LabReport =
            serde_json::from_str(include_str!("../../../docs/lab-sample/report.json"))
                .expect("the sample report parses");
        for c in &mut lab.cells {
            if c.sweep == Sweep::Active
                && ["epoll-lt", "select", "poll"].contains(&c.model.as_str())
            {
                c.cpu_us_per_req = Some(cpu(&c.model, c.conns));
            }
        }
        lab
    }

    #[test]
    fn all_active_names_where_it_holds_and_where_not() {
        let lab = sample_with_active_cpu(|model, n| match (model, n) {
            ("epoll-lt", _) => 10.0,
            ("poll", 100) => 14.0,
            _ => 11.0,
        });
        let v = all_active(&lab).verdict;
        assert_eq!(
            v,
            "holds only in part: select and poll within 25% of epoll's CPU per request at N = 10, 1000, not at N = 100.",
        );
        let lab = sample_with_active_cpu(|_, _| 10.0);
        assert!(all_active(&lab).verdict.starts_with("holds: "), "all match");
        let lab = sample_with_active_cpu(|model, _| if model == "select" { 20.0 } else { 10.0 });
        assert!(
            all_active(&lab).verdict.starts_with("does not hold"),
            "select never matches"
        );
    }
}
