//! The load generator's result: counts, rates and latency percentiles, as
//! `iomux load --json` prints it and the lab reads it back.

use serde::{Deserialize, Serialize};

/// What one `iomux load` run measured (the `--json` line).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoadReport {
    /// Requests completed (and checked) inside the measurement window.
    pub requests: u64,
    /// `requests` per second of the window.
    pub rps: f64,
    /// Latency percentiles and maximum, microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest request.
    pub max_us: f64,
    /// All errors: wrong replies, closed connections, failed connects.
    pub errors: u64,
    /// Replies with wrong bytes, status or body.
    pub bad_replies: u64,
    /// Connections the server closed or reset.
    pub closed: u64,
    /// Connects that failed or never completed.
    pub connect_errors: u64,
    /// Connections asked for.
    pub conns: usize,
    /// Connections that were up when the window started.
    pub connected: usize,
    /// Connections kept busy.
    pub active: usize,
    /// Seconds it took to open the connections.
    pub connect_s: f64,
    /// Length of the measurement window, seconds.
    pub duration_s: f64,
    /// The client's own CPU time (user + system) per request in the window,
    /// µs (`--engine uring`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_us_per_req: Option<f64>,
    /// `io_uring_enter` calls per request in the window (`--engine uring`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enters_per_req: Option<f64>,
    /// Client processes whose results were merged (`--procs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procs: Option<usize>,
    /// Idle connections checked alive at the end, one echoed byte each
    /// (`--procs`, echo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_checked: Option<u64>,
    /// Connections lost: idle ones that failed the alive check, plus those
    /// the server closed or reset during the run (`--procs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// Seconds the alive check took (the slowest process's, `--procs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_s: Option<f64>,
    /// The window's latency histogram, as (nanoseconds, count) pairs: what a
    /// child of `--procs` hands its parent to merge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_ns: Vec<(u64, u64)>,
}

impl LoadReport {
    /// The human-readable summary.
    pub fn summary(&self) -> String {
        format!(
            "{} requests in {:.2} s: {:.0} req/s\nlatency p50 {:.1} µs  p99 {:.1} µs  p99.9 {:.1} µs  max {:.1} µs\n\
             connections {}/{} up in {:.2} s, {} active\nerrors {} (bad replies {}, closed {}, connect {})",
            self.requests,
            self.duration_s,
            self.rps,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.connected,
            self.conns,
            self.connect_s,
            self.active,
            self.errors,
            self.bad_replies,
            self.closed,
            self.connect_errors
        ) + &match (self.client_cpu_us_per_req, self.enters_per_req) {
            (Some(cpu), Some(enters)) => {
                format!("\nclient CPU {cpu:.3} µs/request, {enters:.3} io_uring_enter/request")
            }
            _ => String::new(),
        } + &match (self.procs, self.idle_checked, self.lost) {
            (Some(procs), checked, Some(lost)) => format!(
                "\n{procs} client processes; idle connections checked alive {} in {:.1} s; lost {lost}",
                checked.map_or("no (http)".into(), |n| n.to_string()),
                self.check_s.unwrap_or(0.0)
            ),
            _ => String::new(),
        }
    }
}
