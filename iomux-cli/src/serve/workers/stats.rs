//! The workers' exit reports, summed. The master reads each worker's stderr
//! (and passes it on, prefixed with the worker's number); the models print
//! their counters there when they exit, in one of two shapes:
//!
//! - `iomux: loop 0: 12 accepted, 0 shed (out of fds), 3 timed out, ...`
//!   (the reactor models: a count, then its name);
//! - `iomux-stats: model=uring ... accepted=12 closed=12 ...` (uring:
//!   `name=count`; non-numeric values and `threads` are not counters).
//!
//! A worker killed with SIGKILL prints nothing: its counters are lost, and
//! the summary says how many reports it summed.

/// Counters in the order they were first seen, so the summary reads like
/// the workers' own lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters(pub Vec<(String, u64)>);

impl Counters {
    /// Adds `n` to the counter `name`.
    pub fn add(&mut self, name: &str, n: u64) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v += n,
            None => self.0.push((name.to_string(), n)),
        }
    }

    /// Adds every counter of `other`.
    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    /// Reads the counters in one line of a worker's stderr, if it is a
    /// statistics line; returns whether it was.
    pub fn parse_line(&mut self, line: &str) -> bool {
        if let Some(rest) = line.strip_prefix("iomux: loop ") {
            let Some((_, counts)) = rest.split_once(": ") else {
                return false;
            };
            for part in counts.split(", ") {
                if let Some((n, name)) = part.split_once(' ')
                    && let Ok(n) = n.parse()
                {
                    self.add(name, n);
                }
            }
            true
        } else if let Some(rest) = line.strip_prefix("iomux-stats: ") {
            for pair in rest.split_whitespace() {
                if let Some((name, n)) = pair.split_once('=')
                    && name != "threads"
                    && let Ok(n) = n.parse()
                {
                    self.add(name, n);
                }
            }
            true
        } else {
            false
        }
    }

    /// `12 accepted, 0 shed (out of fds), ...`
    pub fn summary(&self) -> String {
        if self.0.is_empty() {
            return "no counters".into();
        }
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{v} {k}")).collect();
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_both_shapes() {
        let mut a = Counters::default();
        assert!(a.parse_line(
            "iomux: loop 0: 12 accepted, 1 shed (out of fds), 3 timed out, 0 stale events dropped, 9 turns"
        ));
        assert!(a.parse_line("iomux: loop 1: 8 accepted, 0 shed (out of fds), 0 timed out, 0 stale events dropped, 1 turns"));
        assert!(!a.parse_line("iomux: SIGTERM, shutting down"));
        let mut b = Counters::default();
        assert!(b.parse_line(
            "iomux-stats: model=uring threads=2 counters_of=ring0 accepted=5 closed=4"
        ));
        a.merge(&b);
        assert_eq!(a.0[0], ("accepted".to_string(), 25));
        assert_eq!(a.0[1], ("shed (out of fds)".to_string(), 1));
        assert!(a.0.contains(&("closed".to_string(), 4)));
        assert!(!a.0.iter().any(|(k, _)| k == "threads"));
        assert!(a.summary().starts_with("25 accepted, 1 shed (out of fds)"));
    }
}
