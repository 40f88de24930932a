//! One model's soak judged and printed: the checks of issue #21, the RSS
//! curve, the p99s, and what happened to the requests in flight at SIGTERM.

use std::process::ExitStatus;
use std::time::Duration;

use super::SoakArgs;
use super::plan::Plan;
use super::report::{WorkerReport, histogram};

/// Everything one model's run produced.
pub struct Run<'a> {
    pub model: &'a str,
    pub args: &'a SoakArgs,
    pub plan: Plan,
    pub alive_at_sigterm: bool,
    /// The server's RSS once every connection was up, KiB.
    pub rss_at_go: u64,
    pub sigterm_ns: u64,
    /// Exit status and time from SIGTERM, or None: killed after the bound.
    pub exit: Option<(ExitStatus, Duration)>,
    /// (CLOCK_MONOTONIC ns, KiB).
    pub samples: &'a [(u64, u64)],
    pub report: &'a WorkerReport,
    pub server_said: Vec<String>,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// What SIGTERM did to the echo requests around it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Written before the signal, not answered before it.
    pub at_sigterm: usize,
    /// Of those, answered in full after the signal.
    pub answered: usize,
    /// Of those, cut: the connection ended first.
    pub cut: usize,
    /// Longest an answer came after the signal, ns.
    pub last_answer_ns: u64,
}

/// Classifies the requests of `r` around `sigterm_ns`.
pub fn in_flight(r: &WorkerReport, sigterm_ns: u64) -> InFlight {
    let mut f = InFlight::default();
    for q in r.last_requests.iter().filter(|q| q.sent_ns < sigterm_ns) {
        match q.answered_ns {
            Some(at) if at <= sigterm_ns => {}
            Some(at) => {
                f.at_sigterm += 1;
                f.answered += 1;
                f.last_answer_ns = f.last_answer_ns.max(at - sigterm_ns);
            }
            None => {
                f.at_sigterm += 1;
                f.cut += 1;
            }
        }
    }
    f
}

impl Run<'_> {
    /// The RSS once every connection was up, its peak before the faults
    /// (every connection has buffers by then), its peak under the faults,
    /// and at SIGTERM, KiB.
    fn rss(&self) -> (u64, u64, u64, u64) {
        let between = |from: u64, to: u64| {
            self.samples
                .iter()
                .filter(move |(t, _)| *t >= from && *t < to)
                .map(|s| s.1)
        };
        let at_go = self.rss_at_go;
        let baseline = between(self.plan.go_ns, self.plan.faults_from_ns)
            .max()
            .unwrap_or(at_go)
            .max(at_go);
        let faults = between(self.plan.faults_from_ns, self.sigterm_ns)
            .max()
            .unwrap_or(baseline);
        let end = between(self.plan.go_ns, self.sigterm_ns)
            .next_back()
            .unwrap_or(at_go);
        (at_go, baseline, faults, end)
    }

    /// The samples as CSV rows, time in seconds from the start of the run.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        for (t, kib) in self.samples {
            let s = (*t as f64 - self.plan.go_ns as f64) / 1e9;
            out.push_str(&format!("{},{s:.1},{kib}\n", self.model));
        }
        out
    }

    /// Prints the summary; returns the checks that failed.
    pub fn print(&self) -> Vec<String> {
        let r = self.report;
        let a = self.args;
        let mut failures = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(what);
            }
        };
        let d = a.duration.as_secs_f64();
        println!(
            "soak {}: {} connections: {} held throughout ({} echo clients, {} slowloris peers), the rest for the faults; {d:.0} s: p99 without faults from {:.0} s, faults from {:.0} s to {:.0} s",
            self.model,
            a.conns,
            r.connected,
            a.echo,
            r.slowloris,
            (self.plan.baseline_from_ns - self.plan.go_ns) as f64 / 1e9,
            (self.plan.faults_from_ns - self.plan.go_ns) as f64 / 1e9,
            (self.plan.faults_until_ns - self.plan.go_ns) as f64 / 1e9,
        );
        check(
            r.connect_errors == 0,
            format!("{} connects failed", r.connect_errors),
        );
        check(
            self.alive_at_sigterm,
            "the server died before SIGTERM".into(),
        );
        match self.exit {
            Some((status, took)) => {
                println!(
                    "  SIGTERM: the server exited ({status}) after {:.1} ms",
                    took.as_secs_f64() * 1e3
                );
                check(
                    status.success(),
                    format!("exit status {status} after SIGTERM"),
                );
            }
            None => {
                println!(
                    "  SIGTERM: the server did not exit within {:?}; killed",
                    a.exit_bound
                );
                check(
                    false,
                    format!("no exit within {:?} of SIGTERM", a.exit_bound),
                );
            }
        }
        let (at_go, baseline, peak, end) = self.rss();
        let bound = baseline + a.rss_slack_mib * 1024;
        println!(
            "  RSS: {:.1} MiB with every connection up, {:.1} MiB peak before the faults, {:.1} MiB peak under them (bound {:.1} MiB), {:.1} MiB at SIGTERM; curve (MiB, every {} s): {}",
            mib(at_go),
            mib(baseline),
            mib(peak),
            mib(bound),
            mib(end),
            self.curve_step(),
            self.curve()
        );
        check(
            peak <= bound,
            format!(
                "RSS peaked at {:.1} MiB under faults, above {:.1} MiB",
                mib(peak),
                mib(bound)
            ),
        );
        let (mut base, mut faults) = (histogram(), histogram());
        r.baseline.add_to(&mut base);
        r.under_faults.add_to(&mut faults);
        let (p99_base, p99_faults) = (base.value_at_quantile(0.99), faults.value_at_quantile(0.99));
        let allowed = (p99_base as f64 * a.p99_factor) as u64 + 5_000_000;
        println!(
            "  echo p99: {:.2} ms without faults ({} requests), {:.2} ms under faults ({} requests): {:.2}x (allowed {:.2} ms); {} echo requests in all",
            ms(p99_base),
            base.len(),
            ms(p99_faults),
            faults.len(),
            p99_faults as f64 / p99_base.max(1) as f64,
            ms(allowed),
            r.echo_requests
        );
        check(
            !base.is_empty() && !faults.is_empty(),
            "no echo latencies measured".into(),
        );
        check(
            p99_faults <= allowed,
            format!(
                "p99 under faults {:.2} ms > {:.2} ms",
                ms(p99_faults),
                ms(allowed)
            ),
        );
        println!(
            "  bytes verified: {} ({:.1} MiB; SHA-256 per connection), {} mismatches, {} slowloris bytes unanswered, {} connections dropped before SIGTERM",
            r.bytes_verified,
            r.bytes_verified as f64 / (1 << 20) as f64,
            r.hash_mismatches,
            r.unanswered_bytes,
            r.dropped_early
        );
        check(
            r.hash_mismatches == 0,
            format!("{} echoes differ from what was sent", r.hash_mismatches),
        );
        check(
            r.unanswered_bytes == 0,
            format!("{} slowloris bytes never echoed", r.unanswered_bytes),
        );
        check(
            r.dropped_early == 0,
            format!("{} connections dropped before SIGTERM", r.dropped_early),
        );
        println!(
            "  faults: {} RSTs, {} half-closes ({} failed), never-reader cut {} times ({:.1} MiB pushed in all, each cut {}..{} ms after its connect; send timeout {:?})",
            r.resets_sent,
            r.half_closes,
            r.half_close_failures,
            r.stuck_cut,
            r.stuck_pushed as f64 / (1 << 20) as f64,
            r.cut_earliest_ms.unwrap_or(0),
            r.cut_latest_ms,
            a.send_timeout
        );
        let earliest = Duration::from_millis(r.cut_earliest_ms.unwrap_or(u64::MAX));
        check(
            earliest >= a.send_timeout,
            format!(
                "the never-reader was cut {earliest:?} after its connect, sooner than the send timeout"
            ),
        );
        check(
            r.half_close_failures == 0,
            format!("{} half-closes failed", r.half_close_failures),
        );
        check(r.half_closes > 0, "no half-close completed".into());
        check(r.resets_sent > 0, "no RST sent".into());
        check(r.stuck_cut > 0, "the never-reader was never cut off".into());
        let f = in_flight(r, self.sigterm_ns);
        println!(
            "  in flight at SIGTERM: {} echo requests: {} answered (the last {:.1} ms after the signal), {} cut",
            f.at_sigterm,
            f.answered,
            ms(f.last_answer_ns),
            f.cut
        );
        check(
            f.at_sigterm > 0,
            "no echo request was in flight at SIGTERM: the graceful stop went untested".into(),
        );
        check(
            f.cut == 0,
            format!(
                "{} of {} echo requests in flight at SIGTERM were cut",
                f.cut, f.at_sigterm
            ),
        );
        for line in &self.server_said {
            println!("  server: {line}");
        }
        for n in &r.notes {
            println!("  note: {n}");
        }
        println!(
            "  verdict: {}",
            if failures.is_empty() {
                "ok".to_string()
            } else {
                format!("FAILED: {}", failures.join("; "))
            }
        );
        failures
    }

    fn curve_step(&self) -> u64 {
        (self.args.duration.as_secs() / 12).max(1)
    }

    /// RSS in MiB every `curve_step` seconds from the start of the run.
    fn curve(&self) -> String {
        let step = self.curve_step() * 1_000_000_000;
        let mut next = self.plan.go_ns;
        let mut out = Vec::new();
        for (t, kib) in self.samples.iter().filter(|(t, _)| *t >= self.plan.go_ns) {
            if *t >= next {
                out.push(format!("{:.0}", mib(*kib)));
                next += step;
            }
        }
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::report::LastRequest;

    #[test]
    fn requests_around_the_signal_are_classified() {
        let q = |sent_ns, answered_ns| LastRequest {
            sent_ns,
            answered_ns,
        };
        let r = WorkerReport {
            last_requests: vec![
                q(10, Some(20)),  // answered before the signal at 100
                q(90, Some(130)), // in flight, answered 30 after
                q(95, None),      // in flight, cut
                q(120, None),     // sent after the signal: not in flight
            ],
            ..WorkerReport::default()
        };
        assert_eq!(
            in_flight(&r, 100),
            InFlight {
                at_sigterm: 2,
                answered: 1,
                cut: 1,
                last_answer_ns: 30
            }
        );
    }
}
