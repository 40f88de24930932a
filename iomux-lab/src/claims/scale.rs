//! The claims of `iomux lab --scale`: epoll and a million connections with a
//! few hundred active; select and poll "only a few thousand". As elsewhere
//! in `claims`, the thresholds decide the wording and this run's cells
//! decide which wording applies.

use super::super::cell::Status;
use super::super::scale::{ScaleCell, ScaleReport};
use super::{Claim, f};

/// The N of "a million connections".
pub const MILLION: usize = 1_000_000;
/// epoll's CPU per request at a million may be at most this multiple of
/// its CPU per request at the smallest N for "handles" to hold.
pub const MILLION_CPU_RATIO: f64 = 1.3;
/// select/poll "keep up" at an N when their CPU per request there is at
/// most this multiple of epoll's at the same N.
pub const KEEP_UP_RATIO: f64 = 1.5;
/// select/poll cost "grows with N" when their CPU per request at their
/// largest N is above this multiple of their smallest N's, and epoll's
/// grew by less.
pub const GROWTH: f64 = 1.5;
/// The most connections "a few thousand" stretches to.
pub const FEW_THOUSAND: usize = 10_000;

/// Both scale claims.
pub fn evaluate(r: &ScaleReport) -> Vec<Claim> {
    vec![epoll_million(r), select_poll_thousands(r)]
}

fn cell<'a>(r: &'a ScaleReport, model: &str, n: usize) -> Option<&'a ScaleCell> {
    r.cells
        .iter()
        .find(|c| c.model == model && c.conns == n && !c.control)
}

/// The model's control cell: its smallest N over the workers of `workers`.
fn control<'a>(r: &'a ScaleReport, model: &str, workers: Option<usize>) -> Option<&'a ScaleCell> {
    r.cells.iter().find(|c| {
        c.model == model
            && c.control
            && c.status == Status::Ok
            && c.workers == workers
            && c.cpu_us_per_req.is_some()
    })
}

fn ok_cells<'a>(r: &'a ScaleReport, model: &str) -> Vec<&'a ScaleCell> {
    let mut v: Vec<&ScaleCell> = r
        .cells
        .iter()
        .filter(|c| c.model == model && c.status == Status::Ok && !c.control)
        .collect();
    v.sort_by_key(|c| c.conns);
    v
}

fn n(v: usize) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn why(c: &ScaleCell) -> String {
    c.reason
        .clone()
        .unwrap_or_else(|| "no reason recorded".into())
}

/// "epoll handles a million connections with a few hundred active."
pub fn epoll_million(r: &ScaleReport) -> Claim {
    let id = "epoll-million";
    let claim = format!(
        "epoll handles a million concurrent connections with a few hundred active \
         (K = {}): all {} up, none lost, CPU per request at most {MILLION_CPU_RATIO}× that at \
         the smallest N",
        r.active,
        n(MILLION)
    );
    let model = "epoll-lt";
    let Some(big) = cell(r, model, MILLION) else {
        return Claim::new(
            id,
            &claim,
            format!(
                "N = {} was not in this run (N = {}).",
                n(MILLION),
                r.conns.iter().map(|&c| n(c)).collect::<Vec<_>>().join(", ")
            ),
            "not measured: the run had no N = 1,000,000 cell.".into(),
        );
    };
    if big.status == Status::Unavailable {
        return Claim::new(
            id,
            &claim,
            format!("epoll-lt at N = {}: {}", n(MILLION), why(big)),
            "not measured: the 1,000,000 cell was not run.".into(),
        );
    }
    let up = big.connected.unwrap_or(0);
    let lost = big.lost.unwrap_or(0);
    let cerr = big.connect_errors.unwrap_or(0);
    let held = big.status == Status::Ok && up == MILLION && lost == 0 && cerr == 0;
    let base = ok_cells(r, model)
        .into_iter()
        .find(|c| c.conns < MILLION && c.cpu_us_per_req.is_some());
    let ratio = match (base.and_then(|b| b.cpu_us_per_req), big.cpu_us_per_req) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    };
    let mut evidence = format!(
        "epoll-lt at N = {}, K = {} over {} workers: {} connected in {} s, {} connect errors, \
         {} idle checked alive, {} lost; {} req/s, p99 {} µs, CPU {} µs/request",
        n(MILLION),
        big.active,
        big.workers.unwrap_or(1),
        n(up),
        f(big.connect_s, 1),
        cerr,
        big.idle_checked.map_or("–".into(), |v| n(v as usize)),
        lost,
        f(big.rps, 0),
        f(big.p99_us, 0),
        f(big.cpu_us_per_req, 2)
    );
    if let Some(b) = base {
        evidence.push_str(&format!(
            "; at N = {}: CPU {} µs/request (×{} at a million)",
            n(b.conns),
            f(b.cpu_us_per_req, 2),
            f(ratio, 2)
        ));
    }
    let same_w = control(r, model, big.workers);
    let control_ratio = match (same_w.and_then(|c| c.cpu_us_per_req), big.cpu_us_per_req) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    };
    if let Some(c) = same_w {
        evidence.push_str(&format!(
            "; control, N = {} over the same {} workers: CPU {} µs/request (×{} at a million)",
            n(c.conns),
            c.workers.unwrap_or(1),
            f(c.cpu_us_per_req, 2),
            f(control_ratio, 2)
        ));
    }
    if let Some(t) = big.total_b_per_conn() {
        evidence.push_str(&format!(
            "; memory per connection: {} B user + {} B kernel = {} B",
            f(big.user_b_per_conn, 0),
            f(big.kernel_b_per_conn, 0),
            f(Some(t), 0)
        ));
    }
    evidence.push('.');
    let verdict = if !held {
        format!(
            "does not hold on this run: the million cell did not keep every connection ({}).",
            big.reason.as_deref().unwrap_or("see the evidence")
        )
    } else {
        match ratio {
            Some(x) if x <= MILLION_CPU_RATIO => format!(
                "holds: a million connections up and every one alive at the end, and CPU per \
                 request ×{x:.2} that of N = {} (threshold ×{MILLION_CPU_RATIO}).",
                n(base.map_or(0, |b| b.conns))
            ),
            Some(x) => match control_ratio {
                Some(y) if y <= MILLION_CPU_RATIO => format!(
                    "holds: a million connections up and every one alive at the end. CPU per \
                     request is ×{x:.2} that of N = {} (threshold ×{MILLION_CPU_RATIO}), but \
                     ×{y:.2} that of N = {} over the same {} workers: the growth comes from \
                     spreading K = {} over more worker processes (fewer events per wake-up), \
                     not from the idle connections.",
                    n(base.map_or(0, |b| b.conns)),
                    n(same_w.map_or(0, |c| c.conns)),
                    big.workers.unwrap_or(1),
                    big.active
                ),
                Some(y) => format!(
                    "holds in part: a million connections up and every one alive, but CPU per \
                     request ×{x:.2} that of N = {} and ×{y:.2} that of N = {} over the same {} \
                     workers (threshold ×{MILLION_CPU_RATIO}): beyond what spreading K over \
                     more workers explains, the idle connections (or a busier host: see \
                     others' CPU) cost CPU.",
                    n(base.map_or(0, |b| b.conns)),
                    n(same_w.map_or(0, |c| c.conns)),
                    big.workers.unwrap_or(1)
                ),
                None => format!(
                    "holds in part: a million connections up and every one alive, but CPU per \
                     request ×{x:.2} that of N = {} (threshold ×{MILLION_CPU_RATIO}); no \
                     control cell over the same workers tells whether the idle connections or \
                     the extra worker processes cost it.",
                    n(base.map_or(0, |b| b.conns))
                ),
            },
            None => "holds in part: a million connections up and every one alive; the CPU per \
                     request was not compared (no smaller epoll-lt cell with a CPU figure)."
                .into(),
        }
    };
    Claim::new(id, &claim, evidence, verdict)
}

/// How far one of select/poll got, and what it cost against epoll.
struct Reach {
    model: &'static str,
    /// Largest N with an ok cell.
    best: Option<usize>,
    /// Where and why it stopped: the first cell not ok after `best`.
    stop: Option<String>,
    /// CPU per request ÷ epoll's at `best`.
    vs_epoll: Option<f64>,
    /// CPU per request at `best` ÷ at its smallest ok N.
    growth: Option<f64>,
}

fn reach(r: &ScaleReport, model: &'static str) -> Option<Reach> {
    let cells: Vec<&ScaleCell> = r.cells.iter().filter(|c| c.model == model).collect();
    if cells.is_empty() {
        return None;
    }
    let ok = ok_cells(r, model);
    let best = ok.last().map(|c| c.conns);
    let stop = cells
        .iter()
        .filter(|c| c.status != Status::Ok && best.is_none_or(|b| c.conns > b))
        .min_by_key(|c| c.conns)
        .map(|c| format!("N = {}: {}", n(c.conns), why(c)));
    let epoll = |n: usize| cell(r, "epoll-lt", n).filter(|c| c.status == Status::Ok);
    let vs_epoll = best.and_then(|b| {
        let mine = ok.last()?.cpu_us_per_req?;
        let theirs = epoll(b)?.cpu_us_per_req?;
        (theirs > 0.0).then(|| mine / theirs)
    });
    let growth = match (ok.first(), ok.last()) {
        (Some(a), Some(b)) if b.conns > a.conns => match (a.cpu_us_per_req, b.cpu_us_per_req) {
            (Some(x), Some(y)) if x > 0.0 => Some(y / x),
            _ => None,
        },
        _ => None,
    };
    Some(Reach {
        model,
        best,
        stop,
        vs_epoll,
        growth,
    })
}

/// epoll's CPU per request growth between two N, if both were measured.
fn epoll_growth(r: &ScaleReport, from: usize, to: usize) -> Option<f64> {
    let a = cell(r, "epoll-lt", from)?.cpu_us_per_req?;
    let b = cell(r, "epoll-lt", to)?.cpu_us_per_req?;
    (a > 0.0).then(|| b / a)
}

/// "select and poll only manage a few thousand connections."
pub fn select_poll_thousands(r: &ScaleReport) -> Claim {
    let id = "select-poll-thousands";
    let claim = format!(
        "select and poll only manage a few thousand connections: they stop (fail, or exceed \
         the {:.0} s bound of a cell) at N ≤ {}, or their CPU per request is above \
         {KEEP_UP_RATIO}× epoll's at the largest N they reach, or grows more than \
         {GROWTH}× over the N they reach while epoll's does not",
        r.bound_s,
        n(FEW_THOUSAND)
    );
    let reaches: Vec<Reach> = ["poll", "select"]
        .into_iter()
        .filter_map(|m| reach(r, m))
        .collect();
    if reaches.is_empty() {
        return Claim::new(
            id,
            &claim,
            "neither poll nor select was in this run.".into(),
            "not measured.".into(),
        );
    }
    let smallest_ok = |m: &str| ok_cells(r, m).first().map(|c| c.conns);
    let mut evidence = Vec::new();
    let mut limited = Vec::new(); // models the claim fits
    let mut keep_up = Vec::new(); // models that contradict it
    let mut undecided = Vec::new();
    for x in &reaches {
        let mut e = format!(
            "{}: largest N held {}",
            x.model,
            x.best.map_or("none".into(), n)
        );
        if let Some(s) = &x.stop {
            e.push_str(&format!("; stopped at {s}"));
        }
        if let Some(v) = x.vs_epoll {
            e.push_str(&format!("; CPU/request ×{v:.2} epoll's there"));
        }
        let eg = match (smallest_ok(x.model), x.best) {
            (Some(a), Some(b)) if b > a => epoll_growth(r, a, b),
            _ => None,
        };
        if let Some(g) = x.growth {
            e.push_str(&format!(
                "; its CPU/request grew ×{g:.2} from N = {} (epoll's ×{})",
                smallest_ok(x.model).map_or("?".into(), n),
                f(eg, 2)
            ));
        }
        evidence.push(e);
        let stopped_small = x.best.is_none_or(|b| b <= FEW_THOUSAND) && x.stop.is_some();
        let costly = x.vs_epoll.is_some_and(|v| v > KEEP_UP_RATIO);
        let grows = x.growth.is_some_and(|g| g > GROWTH) && eg.is_none_or(|e| e <= GROWTH);
        if stopped_small || costly || grows {
            limited.push(x.model);
        } else if x.best.is_some() && x.vs_epoll.is_some() {
            keep_up.push(x.model);
        } else {
            undecided.push(x.model);
        }
    }
    let per_worker = format!(
        " Each server worker holds at most {} connections here, so a select or poll worker \
         scans at most that many fds per call whatever N is.",
        n(r.per_process)
    );
    let evidence = format!("{}.{per_worker}", evidence.join("; "));
    let verdict = if !undecided.is_empty() && limited.is_empty() && keep_up.is_empty() {
        format!(
            "not measured: {} had no cell to compare with epoll.",
            undecided.join(", ")
        )
    } else if keep_up.is_empty() && undecided.is_empty() {
        format!(
            "holds: {} stop early or fall behind epoll as N grows.",
            limited.join(" and ")
        )
    } else if limited.is_empty() {
        format!(
            "does not hold on this machine: {} held the largest N they were run at within \
             {KEEP_UP_RATIO}× epoll's CPU per request (spread over worker processes).",
            keep_up.join(" and ")
        )
    } else {
        format!(
            "holds in part: {} fall behind, {} keep up.",
            limited.join(", "),
            keep_up
                .iter()
                .chain(undecided.iter())
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Claim::new(id, &claim, evidence, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Machine;

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            kernel: "test".into(),
            nofile: 20_000,
            fd_setsize: 1024,
            fd_set_bits: 1024,
            server_cpu: 1,
            load_cpu: 0,
            cpu_model: None,
            mem_total_mib: None,
        }
    }

    fn ok(model: &str, n: usize, workers: usize, cpu: f64) -> ScaleCell {
        let mut c = ScaleCell::new(model, n, 100);
        c.status = Status::Ok;
        c.workers = Some(workers);
        c.connected = Some(n);
        c.connect_errors = Some(0);
        c.lost = Some(0);
        c.idle_checked = Some(n as u64 - 100);
        c.cpu_us_per_req = Some(cpu);
        c.rps = Some(1000.0);
        c
    }

    fn report(conns: &[usize], cells: Vec<ScaleCell>) -> ScaleReport {
        ScaleReport {
            kind: "scale".into(),
            command: "test".into(),
            date: None,
            rendered: None,
            elapsed_s: 0.0,
            conns: conns.to_vec(),
            active: 100,
            warmup_s: 0.0,
            measure_s: 1.0,
            bound_s: 600.0,
            per_process: 16_000,
            connect_rate: 30_000.0,
            pid_max: None,
            threads_max: None,
            machine: machine(),
            models: vec!["epoll-lt".into(), "poll".into(), "select".into()],
            cells,
            claims: Vec::new(),
        }
    }

    #[test]
    fn no_million_cell_is_not_measured() {
        let r = report(&[10_000], vec![ok("epoll-lt", 10_000, 1, 5.0)]);
        assert!(epoll_million(&r).verdict.starts_with("not measured"));
    }

    #[test]
    fn a_flat_million_holds_and_a_steep_one_holds_in_part() {
        let flat = report(
            &[10_000, MILLION],
            vec![
                ok("epoll-lt", 10_000, 1, 5.0),
                ok("epoll-lt", MILLION, 63, 6.0),
            ],
        );
        assert!(epoll_million(&flat).verdict.starts_with("holds:"));
        let steep = report(
            &[10_000, MILLION],
            vec![
                ok("epoll-lt", 10_000, 1, 5.0),
                ok("epoll-lt", MILLION, 63, 10.0),
            ],
        );
        let v = epoll_million(&steep).verdict;
        assert!(
            v.starts_with("holds in part") && v.contains("no control"),
            "{v}"
        );
        // The control over the same workers explains the growth.
        let mut control = ok("epoll-lt", 10_000, 63, 9.5);
        control.control = true;
        let mut cells = steep.cells.clone();
        cells.push(control);
        let explained = report(&[10_000, MILLION], cells);
        let v = epoll_million(&explained).verdict;
        assert!(
            v.starts_with("holds:") && v.contains("same 63 workers"),
            "{v}"
        );
    }

    #[test]
    fn a_lost_connection_at_a_million_does_not_hold() {
        let mut big = ok("epoll-lt", MILLION, 63, 5.0);
        big.lost = Some(3);
        big.status = Status::Failed;
        big.reason = Some("3 connections lost".into());
        let r = report(
            &[10_000, MILLION],
            vec![ok("epoll-lt", 10_000, 1, 5.0), big],
        );
        assert!(epoll_million(&r).verdict.starts_with("does not hold"));
    }

    #[test]
    fn select_and_poll_that_keep_up_contradict_the_claim() {
        let r = report(
            &[10_000, 100_000],
            vec![
                ok("epoll-lt", 10_000, 1, 5.0),
                ok("epoll-lt", 100_000, 7, 5.0),
                ok("poll", 10_000, 1, 5.5),
                ok("poll", 100_000, 7, 6.0),
                ok("select", 10_000, 1, 5.5),
                ok("select", 100_000, 7, 6.0),
            ],
        );
        let v = select_poll_thousands(&r).verdict;
        assert!(v.starts_with("does not hold"), "{v}");
        let costly = report(
            &[10_000, 100_000],
            vec![
                ok("epoll-lt", 10_000, 1, 5.0),
                ok("epoll-lt", 100_000, 7, 5.0),
                ok("poll", 10_000, 1, 30.0),
                ok("poll", 100_000, 7, 400.0),
                ok("select", 10_000, 1, 5.5),
                ok("select", 100_000, 7, 6.0),
            ],
        );
        let v = select_poll_thousands(&costly).verdict;
        assert!(v.starts_with("holds in part") && v.contains("poll"), "{v}");
        let none = report(&[10_000], vec![ok("epoll-lt", 10_000, 1, 5.0)]);
        assert!(
            select_poll_thousands(&none)
                .verdict
                .starts_with("not measured")
        );
    }
}
