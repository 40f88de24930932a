//! The schedule every process of one soak run follows, on the shared
//! monotonic clock, and how the connections are shared out among workers.

use std::net::SocketAddr;
use std::time::Duration;

/// Echo requests are paced at one per connection per this interval.
pub const ECHO_INTERVAL: Duration = Duration::from_millis(20);
/// Largest echo request, bytes.
pub const ECHO_MAX: usize = 4 * 1024;
/// Connections opened and reset together, per burst, over all workers.
pub const STORM_BATCH: usize = 100;
/// Time between two RST bursts.
pub const STORM_EVERY: Duration = Duration::from_millis(100);
/// Peers that half-close in a loop, over all workers.
pub const HALF_CLOSERS: usize = 4;
/// Largest payload a half-closing peer sends before SHUT_WR.
pub const HALF_CLOSE_MAX: usize = 256 * 1024;
/// What the never-reading peer tries to push.
pub const NEVER_READ_BYTES: usize = 50 << 20;
/// How long after SIGTERM the workers wait for the server to close their
/// connections before they give up.
pub const AFTER_SIGTERM: Duration = Duration::from_secs(10);

/// When things happen, as CLOCK_MONOTONIC nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// The server.
    pub addr: SocketAddr,
    /// The run begins: echo and slowloris traffic, no faults yet.
    pub go_ns: u64,
    /// The p99 without faults is measured from here (a sixth of the way
    /// in, at most 5 s): the first slowloris bytes make the server grow
    /// its buffers for every connection, which is not steady state.
    pub baseline_from_ns: u64,
    /// The faults begin (a third of the way in): the p99 after this is
    /// compared with the one before.
    pub faults_from_ns: u64,
    /// The faults and the slowloris bytes stop, so that the last echoes
    /// can be checked before the signal.
    pub faults_until_ns: u64,
    /// The orchestrator sends SIGTERM.
    pub sigterm_ns: u64,
    /// Workers stop waiting for the server.
    pub end_ns: u64,
    /// The server's --send-timeout.
    pub send_timeout: Duration,
}

impl Plan {
    /// The schedule of a run of `duration` starting at `go_ns`.
    pub fn new(addr: SocketAddr, go_ns: u64, duration: Duration, send_timeout: Duration) -> Plan {
        let d = duration.as_nanos() as u64;
        let quiet_end = (d / 10).min(1_000_000_000);
        Plan {
            addr,
            go_ns,
            baseline_from_ns: go_ns + (d / 6).min(5_000_000_000),
            faults_from_ns: go_ns + d / 3,
            faults_until_ns: go_ns + d - quiet_end,
            sigterm_ns: go_ns + d,
            end_ns: go_ns + d + AFTER_SIGTERM.as_nanos() as u64,
            send_timeout,
        }
    }
}

/// How many connections of each kind one worker holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Paced echo clients (their p99 is the one reported).
    pub echo: usize,
    /// Slowloris peers: one byte a second, each echoed.
    pub slowloris: usize,
    /// Connections per RST burst.
    pub storm: usize,
    /// Half-closing peers.
    pub half_closers: usize,
    /// Never-reading peers (one, on worker 0).
    pub never_readers: usize,
}

/// `total` split over `workers`: worker `index`'s part.
fn part(total: usize, index: usize, workers: usize) -> usize {
    total / workers + usize::from(index < total % workers)
}

impl Share {
    /// Worker `index`'s share of `conns` connections with `echo` of them
    /// echo clients; the slowloris peers fill up what the others leave.
    pub fn of(conns: usize, echo: usize, index: usize, workers: usize) -> Result<Share, String> {
        let fixed = echo + STORM_BATCH + HALF_CLOSERS + 1;
        if conns <= fixed {
            return Err(format!(
                "--conns {conns} leaves no slowloris peers: the echo clients and faults take {fixed}"
            ));
        }
        Ok(Share {
            echo: part(echo, index, workers),
            slowloris: part(conns - fixed, index, workers),
            storm: part(STORM_BATCH, index, workers),
            half_closers: part(HALF_CLOSERS, index, workers),
            never_readers: usize::from(index == 0),
        })
    }

    /// Connections this share holds at its peak.
    pub fn total(&self) -> usize {
        self.echo + self.slowloris + self.storm + self.half_closers + self.never_readers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        for workers in 1..=5 {
            let sum: usize = (0..workers)
                .map(|i| Share::of(19_000, 100, i, workers).unwrap().total())
                .sum();
            assert_eq!(sum, 19_000, "{workers} workers");
        }
    }

    #[test]
    fn too_few_connections_is_an_error() {
        assert!(Share::of(150, 100, 0, 1).is_err());
    }
}
