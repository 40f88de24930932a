//! What a soak worker measured, sent to the orchestrator as one JSON line,
//! and the sums over workers.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A latency histogram in nanoseconds, 3 significant digits, up to a minute.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// A latency histogram as (nanoseconds, count) pairs, which merge exactly
/// across processes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latencies(pub Vec<(u64, u64)>);

impl Latencies {
    /// The recorded values of `h`.
    pub fn from_histogram(h: &Histogram<u64>) -> Latencies {
        Latencies(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    /// Adds these values to `h`.
    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for &(value, count) in &self.0 {
            let _ = h.record_n(value, count);
        }
    }
}

/// One echo request near the end of the run: when it was fully sent and
/// when its whole echo came back (None: the connection ended first).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct LastRequest {
    /// CLOCK_MONOTONIC ns at which the request was written.
    pub sent_ns: u64,
    /// CLOCK_MONOTONIC ns at which its echo was complete.
    pub answered_ns: Option<u64>,
}

/// Counts and verdicts of one worker (and their sum).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Connections that were up when the run started.
    pub connected: u64,
    /// Connections that could not be opened.
    pub connect_errors: u64,
    /// Echo latencies before the faults began.
    pub baseline: Latencies,
    /// Echo latencies while the faults ran.
    pub under_faults: Latencies,
    /// Echo requests answered in full.
    pub echo_requests: u64,
    /// Slowloris peers (one byte a second, each echoed).
    pub slowloris: u64,
    /// Bytes compared: echoed back and hashed equal to what was sent.
    pub bytes_verified: u64,
    /// Connections whose SHA-256 of echoed bytes differed from what was sent.
    pub hash_mismatches: u64,
    /// Connections the server closed before SIGTERM (none should be).
    pub dropped_early: u64,
    /// Slowloris bytes still unanswered when the run ended.
    pub unanswered_bytes: u64,
    /// Connections closed with SO_LINGER 0 (an RST) right after a write.
    pub resets_sent: u64,
    /// Half-closes (shutdown(SHUT_WR), then the rest read) done.
    pub half_closes: u64,
    /// Half-closes whose echo came back short or wrong.
    pub half_close_failures: u64,
    /// Never-reading peers the server cut off (send timeout).
    pub stuck_cut: u64,
    /// Bytes those peers had pushed before being cut, summed.
    pub stuck_pushed: u64,
    /// Latest a never-reading peer was cut off, ms after it connected.
    pub cut_latest_ms: u64,
    /// Earliest, ms after it connected (None: never cut); never less than
    /// the send timeout.
    pub cut_earliest_ms: Option<u64>,
    /// Echo requests around SIGTERM.
    pub last_requests: Vec<LastRequest>,
    /// Anything unexpected, one line each (kept short).
    pub notes: Vec<String>,
}

impl WorkerReport {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: WorkerReport) {
        self.connected += other.connected;
        self.connect_errors += other.connect_errors;
        self.baseline.0.extend(other.baseline.0);
        self.under_faults.0.extend(other.under_faults.0);
        self.echo_requests += other.echo_requests;
        self.slowloris += other.slowloris;
        self.bytes_verified += other.bytes_verified;
        self.hash_mismatches += other.hash_mismatches;
        self.dropped_early += other.dropped_early;
        self.unanswered_bytes += other.unanswered_bytes;
        self.resets_sent += other.resets_sent;
        self.half_closes += other.half_closes;
        self.half_close_failures += other.half_close_failures;
        self.stuck_cut += other.stuck_cut;
        self.stuck_pushed += other.stuck_pushed;
        self.cut_latest_ms = self.cut_latest_ms.max(other.cut_latest_ms);
        self.cut_earliest_ms = match (self.cut_earliest_ms, other.cut_earliest_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_requests.extend(other.last_requests);
        self.notes.extend(other.notes);
    }

    /// Records something unexpected, keeping at most a few of each run.
    pub fn note(&mut self, what: String) {
        if self.notes.len() < 20 {
            self.notes.push(what);
        }
    }
}
