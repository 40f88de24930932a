//! The seeds' claims about the I/O models: thread-per-connection's latency
//! and memory, busy polling, signal-driven I/O, and asynchronous I/O.

use std::fmt::Write as _;

use super::super::LabReport;
use super::super::cell::{CellResult, Status};
use super::super::matrix::Sweep;
use super::{BURN, Claim, MATCH_CPU, SAME, f, missing, not_measured, ok, sweep_ns};

pub(super) fn blocking_latency(lab: &LabReport) -> Claim {
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
    Claim::new("blocking-latency", claim, evidence, verdict)
}

pub(super) fn blocking_memory(lab: &LabReport) -> Claim {
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
    Claim::new("blocking-memory", claim, evidence, verdict)
}

fn first_ok<'a>(lab: &'a LabReport, model: &str) -> Option<&'a CellResult> {
    lab.cells
        .iter()
        .find(|c| c.model == model && c.idle_cpu_pct.is_some())
}

pub(super) fn busy_polling(lab: &LabReport) -> Claim {
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
    Claim::new("busy-polling", claim, evidence, verdict)
}

fn stat(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

pub(super) fn sigio(lab: &LabReport) -> Claim {
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
    Claim::new("sigio", claim, evidence, verdict)
}

pub(super) fn aio(lab: &LabReport) -> Claim {
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
    // The lab's client is the same for every model; say what that costs
    // this comparison in particular.
    evidence.push_str(
        "The client here is `iomux load` (epoll, two syscalls per request), which can saturate \
         its core before the servers do; `scripts/bench-uring.sh` with CLIENT=uring measures \
         the two servers with an io_uring client that makes none.",
    );
    Claim::new("aio", claim, evidence, verdict)
}
