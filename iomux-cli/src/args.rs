//! Parsers for command-line values that must make sense before anything
//! runs: a count of 0, or a time or rate that is negative, infinite or NaN,
//! is refused with a message naming the rule, never bent into something
//! else or left to panic later.

use std::time::Duration;

/// A count that must be at least 1 (threads, connections, bytes, runs).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A rate that must be finite and above 0.
pub fn positive(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err("must be above 0".into())
    }
}

/// A duration flag: a number (decimals allowed) with an optional unit,
/// `us` (or `µs`), `ms`, `s` (the default) or `m`: `100us`, `500ms`, `1.5s`,
/// `2`, `1m`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let not_a_duration = || format!("not a duration: {s:?} (e.g. 500ms, 1.5s, 2m)");
    if num.is_empty() {
        return Err(not_a_duration());
    }
    let scale = match unit {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" => 60.0,
        _ => return Err(format!("unknown unit in {s:?} (us, ms, s, m)")),
    };
    let n: f64 = num.parse().map_err(|_| not_a_duration())?;
    Duration::try_from_secs_f64(n * scale).map_err(|_| format!("duration out of range: {s:?}"))
}

/// A duration above 0 (no time at all for a request head cannot be meant).
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    match duration(s)? {
        Duration::ZERO => Err("must be above 0".into()),
        d => Ok(d),
    }
}

/// Seconds as a duration flag (`1.5`, `1500ms`, `2m`), for flags kept as
/// `f64` seconds; not negative.
pub fn seconds(s: &str) -> Result<f64, String> {
    duration(s).map(|d| d.as_secs_f64())
}

/// Seconds as a duration flag, above 0.
pub fn positive_seconds(s: &str) -> Result<f64, String> {
    positive_duration(s).map(|d| d.as_secs_f64())
}

fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e: std::num::ParseFloatError| e.to_string())?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err("must be a finite number".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_mean_anything() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err());
        assert!(at_least_one("-1").is_err());
        assert_eq!(positive("0.5"), Ok(0.5));
        for bad in ["0", "-1", "inf", "NaN", "x"] {
            assert!(positive(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_timeout_must_allow_some_time() {
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("0").is_err());
        assert_eq!(positive_duration("1ms"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn durations() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(duration("100µs"), Ok(Duration::from_micros(100)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "1h", "-1s", "1..2s", "99999999999999999999999999m"] {
            assert!(duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn seconds_take_units_or_a_bare_number() {
        assert_eq!(seconds("1.5"), Ok(1.5));
        assert_eq!(seconds("250ms"), Ok(0.25));
        assert_eq!(seconds("0"), Ok(0.0));
        assert_eq!(positive_seconds("2m"), Ok(120.0));
        for bad in ["0", "0ms", "-1", "inf", "NaN", "1h"] {
            assert!(positive_seconds(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
