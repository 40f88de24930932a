//! The load generator's latency histograms, and what it fills of its
//! report ([`LoadReport`], shared with the lab) from them.

use hdrhistogram::Histogram;

pub use iomux_harness::LoadReport;

/// The recorded values of `h` with their counts.
pub fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// Adds `buckets` (from [`buckets`]) into `h`.
pub fn add_buckets(h: &mut Histogram<u64>, buckets: &[(u64, u64)]) {
    for &(value, count) in buckets {
        h.saturating_record_n(value.max(1), count);
    }
}

/// A latency histogram in nanoseconds, 3 significant digits, up to a minute.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Fills the latency fields from `h` (nanoseconds).
pub fn set_latencies(r: &mut LoadReport, h: &Histogram<u64>) {
    let us = |ns: u64| ns as f64 / 1000.0;
    if h.is_empty() {
        return;
    }
    r.p50_us = us(h.value_at_quantile(0.50));
    r.p99_us = us(h.value_at_quantile(0.99));
    r.p999_us = us(h.value_at_quantile(0.999));
    r.max_us = us(h.max());
}
