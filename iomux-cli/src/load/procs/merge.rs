//! One result from the children's: counts summed, latency percentiles from
//! the merged histograms (never averaged), rates summed (the windows open
//! together, on the parent's `GO`), the client's CPU per request over all
//! of them.

use super::super::report::{self, LoadReport};

/// Merges the children's reports.
pub fn merge(children: &[LoadReport]) -> LoadReport {
    let mut hist = report::histogram();
    let mut cpu_us = None::<f64>;
    let mut r = LoadReport {
        procs: Some(children.len()),
        idle_checked: Some(0),
        lost: Some(0),
        ..LoadReport::default()
    };
    for c in children {
        report::add_buckets(&mut hist, &c.latency_ns);
        r.requests += c.requests;
        r.rps += c.rps;
        r.bad_replies += c.bad_replies;
        r.closed += c.closed;
        r.connect_errors += c.connect_errors;
        r.errors += c.errors;
        r.conns += c.conns;
        r.connected += c.connected;
        r.active += c.active;
        r.connect_s = r.connect_s.max(c.connect_s);
        r.duration_s = r.duration_s.max(c.duration_s);
        r.check_s = r.check_s.into_iter().chain(c.check_s).reduce(f64::max);
        r.lost = r.lost.zip(c.lost).map(|(a, b)| a + b);
        r.idle_checked = r.idle_checked.zip(c.idle_checked).map(|(a, b)| a + b);
        if let Some(per_req) = c.client_cpu_us_per_req {
            *cpu_us.get_or_insert(0.0) += per_req * c.requests as f64;
        }
    }
    if r.requests > 0 {
        r.client_cpu_us_per_req = cpu_us.map(|us| us / r.requests as f64);
    }
    report::set_latencies(&mut r, &hist);
    r.lost = r.lost.or(Some(r.closed));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(latencies_us: &[u64], lost: u64) -> LoadReport {
        let mut h = report::histogram();
        for &us in latencies_us {
            h.record(us * 1000).unwrap();
        }
        LoadReport {
            requests: latencies_us.len() as u64,
            rps: latencies_us.len() as f64,
            conns: 10,
            connected: 10,
            idle_checked: Some(9),
            lost: Some(lost),
            latency_ns: report::buckets(&h),
            ..LoadReport::default()
        }
    }

    #[test]
    fn percentiles_come_from_the_merged_histogram() {
        // 99 fast requests in one child, one slow in the other: the median
        // of the whole is fast, although one child's median is slow.
        let fast = child(&[100; 99], 0);
        let slow = child(&[10_000], 2);
        let r = merge(&[fast, slow]);
        assert_eq!(r.requests, 100);
        assert_eq!(r.procs, Some(2));
        assert_eq!(r.conns, 20);
        assert_eq!(r.idle_checked, Some(18));
        assert_eq!(r.lost, Some(2));
        assert!((r.p50_us - 100.0).abs() < 1.0, "p50 {}", r.p50_us);
        assert!((r.max_us - 10_000.0).abs() < 10.0, "max {}", r.max_us);
        assert!(
            r.latency_ns.is_empty(),
            "the merged report carries no buckets"
        );
    }
}
