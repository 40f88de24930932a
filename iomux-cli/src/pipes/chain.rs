//! libevent's bench.c: a chain of writes through N pairs, A active.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use iomux::{Backend, Events, Interest, Mode, Poller, Token};
use rustix::event::{EventfdFlags, eventfd};
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

use super::{PipesArgs, median};
use crate::CliResult;

/// One pair: the poller watches `read`; a callback writes to `write`.
struct Pair {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl Pair {
    fn new(eventfd_mode: bool) -> io::Result<Pair> {
        if eventfd_mode {
            let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
            return Ok(Pair {
                read: fd,
                write: None,
            });
        }
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        Ok(Pair {
            read: a,
            write: Some(b),
        })
    }

    fn writer(&self) -> &OwnedFd {
        self.write.as_ref().unwrap_or(&self.read)
    }

    fn poke(&self) -> io::Result<()> {
        let bytes: &[u8] = if self.write.is_some() {
            b"e"
        } else {
            &[1, 0, 0, 0, 0, 0, 0, 0]
        };
        rustix::io::write(self.writer(), bytes)?;
        Ok(())
    }

    /// Consumes what is readable; returns how many events it stands for.
    fn take(&self) -> io::Result<usize> {
        let mut buf = [0u8; 8];
        match rustix::io::read(self.read.as_fd(), &mut buf) {
            Ok(n) if self.write.is_some() => Ok(n),
            Ok(_) => Ok(u64::from_ne_bytes(buf) as usize),
            Err(rustix::io::Errno::AGAIN) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

struct Timing {
    total: Duration,
    dispatch: Duration,
    events: usize,
}

fn run_once(poller: &Poller, pairs: &[Pair], active: usize, writes: usize) -> io::Result<Timing> {
    let n = pairs.len();
    let start = Instant::now();
    // bench.c re-adds every event at each run; so do we.
    for (i, p) in pairs.iter().enumerate() {
        let _ = poller.deregister(&p.read);
        poller.register(&p.read, Token(i), Interest::READABLE, Mode::Level)?;
    }
    let space = (n / active.max(1)).max(1);
    let mut fired = 0;
    for i in 0..active {
        pairs[(i * space) % n].poke()?;
        fired += 1;
    }
    let dispatch_start = Instant::now();
    let mut count = 0;
    let mut left = writes;
    let mut events = Events::with_capacity(1024);
    while count < fired {
        poller.wait(&mut events, None)?;
        for ev in events.iter() {
            let idx = ev.token().0;
            let got = pairs[idx].take()?;
            count += got;
            for _ in 0..got {
                if left > 0 {
                    // The next pair in the chain, as bench.c's `widx`.
                    let next = (idx + 1) % n;
                    pairs[next].poke()?;
                    left -= 1;
                    fired += 1;
                }
            }
        }
    }
    Ok(Timing {
        total: start.elapsed(),
        dispatch: dispatch_start.elapsed(),
        events: count,
    })
}

/// Time for all the runs of one cell. A scan over 5,000 fds per event makes
/// one run of 10,000 writes take ~10 s on poll and select; their µs/event
/// hardly varies, so three runs tell as much as fifteen.
const CELL_BUDGET: Duration = Duration::from_secs(3);

/// How many runs fit the budget, given the first: `wanted` at most, and at
/// least three (or `wanted`, if fewer) for a median.
fn runs_within_budget(wanted: usize, first: Duration) -> usize {
    let wanted = wanted.max(1);
    let fit = (CELL_BUDGET.as_secs_f64() / first.as_secs_f64().max(1e-9)) as usize;
    fit.clamp(wanted.min(3), wanted)
}

pub(super) fn run(args: &PipesArgs, backends: &[Backend]) -> CliResult {
    let fds = args.fds.clone().unwrap_or_else(|| {
        if args.eventfd {
            vec![100, 1000, 10_000]
        } else {
            vec![100, 1000, 5000]
        }
    });
    let actives = args.active.clone().unwrap_or_else(|| vec![1, 100]);
    let kind = if args.eventfd {
        "eventfds"
    } else {
        "socket pairs"
    };
    println!(
        "pipes: libevent bench.c method, {kind}, {} writes per run, median of up to {} runs \
         (fewer, at least 3, where they would take over {}s)",
        args.writes,
        args.runs,
        CELL_BUDGET.as_secs()
    );
    println!(
        "{:<8} {:>7} {:>7} {:>14} {:>17} {:>5}",
        "backend", "pairs", "active", "µs/event", "dispatch µs/ev", "runs"
    );
    for &backend in backends {
        let poller = match Poller::with_backend(backend) {
            Ok(p) => p,
            Err(e) => {
                println!("{:<8} unavailable: {e}", backend.name());
                continue;
            }
        };
        for &n in &fds {
            let pairs: Vec<Pair> = (0..n)
                .map(|_| Pair::new(args.eventfd))
                .collect::<io::Result<_>>()
                .map_err(|e| format!("cannot open {n} {kind}: {e}{}", super::fd_limit_note()))?;
            for &active in &actives {
                // More active pairs than pairs: all of them.
                let active = active.min(n);
                let mut total = Vec::new();
                let mut dispatch = Vec::new();
                let mut runs = args.runs.max(1);
                let mut i = 0;
                while i < runs {
                    let t = run_once(&poller, &pairs, active, args.writes)?;
                    if i == 0 {
                        runs = runs_within_budget(args.runs, t.total);
                    }
                    total.push(t.total.as_secs_f64() * 1e6 / t.events as f64);
                    dispatch.push(t.dispatch.as_secs_f64() * 1e6 / t.events as f64);
                    i += 1;
                }
                println!(
                    "{:<8} {:>7} {:>7} {:>14.3} {:>17.3} {:>5}",
                    backend.name(),
                    n,
                    active,
                    median(&mut total),
                    median(&mut dispatch),
                    runs
                );
            }
            for p in &pairs {
                let _ = poller.deregister(&p.read);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_cells_get_fewer_runs_but_at_least_three() {
        let ms = Duration::from_millis;
        assert_eq!(runs_within_budget(15, ms(10)), 15);
        assert_eq!(runs_within_budget(15, ms(500)), 6);
        assert_eq!(runs_within_budget(15, ms(10_000)), 3);
        assert_eq!(runs_within_budget(2, ms(10_000)), 2);
        assert_eq!(runs_within_budget(0, ms(1)), 1);
    }
}
