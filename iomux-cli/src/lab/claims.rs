//! The seeds' claims, each checked against this run's numbers. Nothing here
//! knows an expected result: thresholds decide the wording of a verdict, the
//! measurements decide which wording applies.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

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
    Claim {
        id: id.into(),
        claim: claim.into(),
        evidence: why,
        verdict: "not measured.".into(),
    }
}

fn f(v: Option<f64>, d: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.d$}"))
}

/// Evaluates every claim.
pub fn evaluate(lab: &LabReport) -> Vec<Claim> {
    vec![
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
    ]
}

fn select_limit(lab: &LabReport) -> Claim {
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
    Claim {
        id: "select-1024".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
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

fn scan_cost(lab: &LabReport) -> Claim {
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
    Claim {
        id: "scan-cost".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
}

fn all_active(lab: &LabReport) -> Claim {
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
    Claim {
        id: "all-active".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
}

fn blocking_latency(lab: &LabReport) -> Claim {
    let claim = "thread-per-connection (blocking) gives low latency when connections are few";
    let Some(&n) = sweep_ns(lab, Sweep::Active).first() else {
        return not_measured("blocking-latency", claim, "no all-active cell".into());
    };
    let (Some(b), Some(e)) = (
        ok(lab, "blocking", Sweep::Active, n),
        ok(lab, "epoll-lt", Sweep::Active, n),
    ) else {
        return not_measured(
            "blocking-latency",
            claim,
            missing(lab, "blocking")
                .or(missing(lab, "epoll-lt"))
                .unwrap_or(format!("no result at N = {n}")),
        );
    };
    let (bp, ep) = (b.p50_us.unwrap_or(f64::NAN), e.p50_us.unwrap_or(f64::NAN));
    let evidence = format!(
        "N = K = {n}: blocking p50 {bp:.0} µs, p99 {} µs, {} req/s; epoll-lt p50 {ep:.0} µs, p99 {} µs, {} req/s.",
        f(b.p99_us, 0),
        f(b.rps, 0),
        f(e.p99_us, 0),
        f(e.rps, 0)
    );
    let verdict = if bp <= ep * (1.0 + SAME) {
        format!("holds: blocking p50 is ×{:.2} epoll's at N = {n}.", bp / ep)
    } else {
        format!(
            "does not hold here: blocking p50 is ×{:.2} epoll's at N = {n}.",
            bp / ep
        )
    };
    Claim {
        id: "blocking-latency".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
}

fn blocking_memory(lab: &LabReport) -> Claim {
    let claim = "thread-per-connection costs memory and context switches at high connection counts";
    let Some(&n) = sweep_ns(lab, Sweep::Idle)
        .iter()
        .rev()
        .find(|&&n| ok(lab, "blocking", Sweep::Idle, n).is_some())
    else {
        return not_measured(
            "blocking-memory",
            claim,
            missing(lab, "blocking").unwrap_or("no idle cell".into()),
        );
    };
    let b = ok(lab, "blocking", Sweep::Idle, n).expect("found above");
    let Some(e) = ok(lab, "epoll-lt", Sweep::Idle, n) else {
        return not_measured(
            "blocking-memory",
            claim,
            missing(lab, "epoll-lt").unwrap_or(format!("no epoll-lt cell at N = {n}")),
        );
    };
    let na = sweep_ns(lab, Sweep::Active).into_iter().rev().find(|&m| {
        ok(lab, "blocking", Sweep::Active, m).is_some()
            && ok(lab, "epoll-lt", Sweep::Active, m).is_some()
    });
    let mut evidence = format!(
        "idle sweep N = {n}: blocking {} threads, RSS {} KiB/conn, vcsw {}/req; epoll-lt {} thread(s), RSS {} KiB/conn, vcsw {}/req.",
        b.threads.unwrap_or(0),
        f(b.rss_per_conn_kib, 2),
        f(b.vcsw_per_req, 2),
        e.threads.unwrap_or(0),
        f(e.rss_per_conn_kib, 2),
        f(e.vcsw_per_req, 2)
    );
    let mut csw = None;
    if let Some(m) = na {
        let (ba, ea) = (
            ok(lab, "blocking", Sweep::Active, m).expect("found"),
            ok(lab, "epoll-lt", Sweep::Active, m).expect("found"),
        );
        let _ = write!(
            evidence,
            " All active N = {m}: blocking vcsw {}/req, ivcsw {}/req, CPU {} µs/req; epoll-lt vcsw {}/req, ivcsw {}/req, CPU {} µs/req.",
            f(ba.vcsw_per_req, 2),
            f(ba.ivcsw_per_req, 2),
            f(ba.cpu_us_per_req, 1),
            f(ea.vcsw_per_req, 2),
            f(ea.ivcsw_per_req, 2),
            f(ea.cpu_us_per_req, 1)
        );
        csw = Some((
            ba.vcsw_per_req.unwrap_or(0.0) + ba.ivcsw_per_req.unwrap_or(0.0),
            ea.vcsw_per_req.unwrap_or(0.0) + ea.ivcsw_per_req.unwrap_or(0.0),
        ));
    }
    let mem = match (b.rss_per_conn_kib, e.rss_per_conn_kib) {
        (Some(b), Some(e)) => Some(b / e.max(0.01)),
        _ => None,
    };
    let more_mem = mem.is_some_and(|r| r >= 2.0);
    let more_csw = csw.is_some_and(|(b, e)| b > e * (1.0 + SAME));
    let verdict = match (more_mem, more_csw) {
        (true, true) => format!(
            "holds: ×{:.1} the memory per connection and more context switches per request than epoll.",
            mem.unwrap_or(0.0)
        ),
        (true, false) => format!(
            "holds for memory (×{:.1} per connection), not for context switches here.",
            mem.unwrap_or(0.0)
        ),
        (false, true) => "holds for context switches, not for memory here.".into(),
        (false, false) => "does not hold at these connection counts.".into(),
    };
    Claim {
        id: "blocking-memory".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
}

fn first_ok<'a>(lab: &'a LabReport, model: &str) -> Option<&'a CellResult> {
    lab.cells
        .iter()
        .find(|c| c.model == model && c.idle_cpu_pct.is_some())
}

fn busy_polling(lab: &LabReport) -> Claim {
    let claim = "non-blocking busy polling burns CPU even when nothing happens";
    let Some(nb) = first_ok(lab, "nonblocking") else {
        return not_measured(
            "busy-polling",
            claim,
            missing(lab, "nonblocking").unwrap_or("no idle probe".into()),
        );
    };
    let idle_nb = nb.idle_cpu_pct.unwrap_or(f64::NAN);
    let idle_ep = first_ok(lab, "epoll-lt").and_then(|c| c.idle_cpu_pct);
    let mut evidence = format!(
        "CPU with no client connected: nonblocking {idle_nb:.0}%, epoll-lt {}% of a core.",
        f(idle_ep, 1)
    );
    let n = sweep_ns(lab, Sweep::Idle)
        .into_iter()
        .rev()
        .find(|&n| ok(lab, "nonblocking", Sweep::Idle, n).is_some());
    if let Some(n) = n {
        let c = ok(lab, "nonblocking", Sweep::Idle, n).expect("found");
        let e = ok(lab, "epoll-lt", Sweep::Idle, n);
        let _ = write!(
            evidence,
            " Idle sweep N = {n}, K = 10: nonblocking {}% CPU, {} µs/req, {} req/s; epoll-lt {}% CPU, {} µs/req, {} req/s.",
            f(c.cpu_pct, 0),
            f(c.cpu_us_per_req, 1),
            f(c.rps, 0),
            f(e.and_then(|e| e.cpu_pct), 0),
            f(e.and_then(|e| e.cpu_us_per_req), 1),
            f(e.and_then(|e| e.rps), 0)
        );
    }
    // A busy poller takes whatever CPU the scheduler gives it; on a shared
    // machine that can be well below 100%, hence "half a core" as the bar.
    let verdict = if idle_nb >= BURN && idle_ep.is_none_or(|e| e < 10.0) {
        format!("holds: {idle_nb:.0}% of a core with nothing to do.")
    } else if idle_nb >= BURN {
        format!("holds ({idle_nb:.0}% of a core idle), but epoll was not idle either here.")
    } else {
        format!("does not hold here: {idle_nb:.0}% of a core idle.")
    };
    Claim {
        id: "busy-polling".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
}

fn stat(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn sigio(lab: &LabReport) -> Claim {
    let claim = "signal-driven I/O (SIGIO) works, but is awkward and rarely used: how does it behave under load?";
    if let Some(why) = missing(lab, "sigio") {
        return not_measured("sigio", claim, why);
    }
    // (CPU per request relative to epoll, req/s relative to epoll, sweep, N, waits/req)
    let mut ratios = Vec::new();
    let (mut overflows, mut scans, mut signals) = (0, 0, 0);
    let mut failed = Vec::new();
    for c in lab.cells.iter().filter(|c| c.model == "sigio") {
        if let Some(s) = &c.server_stats {
            overflows += stat(s, "overflows").unwrap_or(0);
            scans += stat(s, "full_scans").unwrap_or(0);
            signals += stat(s, "signals").unwrap_or(0);
        }
        if c.status != Status::Ok {
            failed.push(format!("{} N={}", c.sweep.name(), c.conns));
            continue;
        }
        let Some(e) = ok(lab, "epoll-lt", c.sweep, c.conns) else {
            continue;
        };
        if let (Some(cc), Some(ec), Some(r), Some(er)) =
            (c.cpu_us_per_req, e.cpu_us_per_req, c.rps, e.rps)
        {
            ratios.push((cc / ec, r / er, c.sweep, c.conns, c.waits_per_req));
        }
    }
    let mut evidence = format!(
        "{signals} signals taken, {overflows} RT-queue overflows (SIGIO), {scans} full scans over all cells. \
         Server CPU per request and req/s relative to epoll-lt: "
    );
    for (cpu, rps, s, n, w) in &ratios {
        let _ = write!(
            evidence,
            "{} N={n} CPU ×{cpu:.2}, req/s ×{rps:.2} ({} sigtimedwait/req); ",
            s.name(),
            f(*w, 2)
        );
    }
    if !failed.is_empty() {
        let _ = write!(evidence, "failed cells: {}.", failed.join(", "));
    }
    let lo = ratios.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().map(|r| r.0).fold(0.0, f64::max);
    let verdict = if ratios.is_empty() {
        "not measured: no cell to compare with epoll.".into()
    } else if overflows > 0 {
        format!(
            "degrades under load: the signal queue overflowed {overflows} times, each forcing a full scan; CPU per request ×{lo:.2}–×{hi:.2} epoll's."
        )
    } else if hi <= MATCH_CPU {
        format!(
            "holds up at these loads: one queued signal per readiness change, no overflow, CPU per request ×{lo:.2}–×{hi:.2} epoll's."
        )
    } else {
        format!(
            "works but costs more: CPU per request ×{lo:.2}–×{hi:.2} epoll's (one sigtimedwait per event, no batching), no queue overflow."
        )
    };
    Claim {
        id: "sigio".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
}

fn lt_et(lab: &LabReport) -> Claim {
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
    Claim {
        id: "lt-et".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
}

fn mmap(lab: &LabReport) -> Claim {
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
    Claim {
        id: "epoll-mmap".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
}

fn aio(lab: &LabReport) -> Claim {
    let claim = "asynchronous I/O brings no performance advantage over I/O multiplexing (epoll)";
    if let Some(why) = missing(lab, "uring") {
        return not_measured("aio", claim, why);
    }
    let mut evidence =
        String::from("io_uring vs epoll-lt: server CPU µs/request, syscalls/request, req/s: ");
    // (CPU ratio, syscalls ratio)
    let mut ratios = Vec::new();
    for c in lab
        .cells
        .iter()
        .filter(|c| c.model == "uring" && c.status == Status::Ok)
    {
        let Some(e) = ok(lab, "epoll-lt", c.sweep, c.conns) else {
            continue;
        };
        let (Some(uc), Some(ec)) = (c.cpu_us_per_req, e.cpu_us_per_req) else {
            continue;
        };
        let _ = write!(
            evidence,
            "{} N={}: {uc:.1} vs {ec:.1} µs (×{:.2}), {} vs {} syscalls, {} vs {} req/s; ",
            c.sweep.name(),
            c.conns,
            uc / ec,
            f(c.syscalls_per_req, 2),
            f(e.syscalls_per_req, 2),
            f(c.rps, 0),
            f(e.rps, 0)
        );
        let sys = match (c.syscalls_per_req, e.syscalls_per_req) {
            (Some(u), Some(e)) if e > 0.0 => Some(u / e),
            _ => None,
        };
        ratios.push((uc / ec, sys));
    }
    if ratios.is_empty() {
        return not_measured(
            "aio",
            claim,
            "no cell where both uring and epoll-lt succeeded".into(),
        );
    }
    let cheaper = ratios.iter().filter(|r| r.0 <= 1.0 / (1.0 + SAME)).count();
    let fewer_sys = ratios
        .iter()
        .filter(|r| r.1.is_some_and(|s| s < 0.5))
        .count();
    let sys_note = if fewer_sys > 0 {
        format!(
            " It did make fewer than half epoll's syscalls per request in {fewer_sys} of {} cells.",
            ratios.len()
        )
    } else {
        String::new()
    };
    let verdict = if cheaper == 0 {
        format!(
            "holds on this machine for CPU: io_uring's CPU per request was not clearly (>{:.0}%) below epoll's in any cell.{sys_note}",
            SAME * 100.0
        )
    } else if cheaper == ratios.len() {
        format!(
            "does not hold: io_uring (completion-based, unlike the seed's epoll-based Linux AIO) cost clearly less CPU per request in every cell.{sys_note}"
        )
    } else {
        format!(
            "holds only in part: io_uring cost clearly less CPU per request in {cheaper} of {} cells.{sys_note}",
            ratios.len()
        )
    };
    Claim {
        id: "aio".into(),
        claim: claim.into(),
        evidence,
        verdict,
    }
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
