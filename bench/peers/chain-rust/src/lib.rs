//! Shared by the Rust peers of `iomux pipes`: the socket pairs, the chain's
//! bookkeeping and the report line, so each binary holds only its library's
//! calls. The method is iomux-cli/src/pipes/chain.rs's: N socket pairs, the
//! read ends watched, A pairs poked at the start, and a chain of W writes in
//! which a readable pair's bytes are read and one byte per byte read is
//! written to the next pair. Each run first re-adds every watch.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// The command line: `PAIRS ACTIVE WRITES RUNS`.
pub struct Args {
    pub pairs: usize,
    pub active: usize,
    pub writes: usize,
    pub runs: usize,
}

impl Args {
    /// Parses the command line, exiting with a usage line if it is wrong.
    pub fn parse() -> Args {
        let v: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if v.len() != 4 || v.contains(&0) {
            eprintln!("usage: PAIRS ACTIVE WRITES RUNS (each at least 1)");
            std::process::exit(2);
        }
        Args {
            pairs: v[0],
            active: v[1].min(v[0]),
            writes: v[2],
            runs: v[3],
        }
    }
}

/// One pair: the watched read end and the end the chain writes to.
pub struct Pair {
    pub read: UnixStream,
    pub write: UnixStream,
}

/// Opens `n` non-blocking socket pairs.
pub fn open_pairs(n: usize) -> io::Result<Vec<Pair>> {
    (0..n)
        .map(|_| {
            let (read, write) = UnixStream::pair()?;
            read.set_nonblocking(true)?;
            write.set_nonblocking(true)?;
            Ok(Pair { read, write })
        })
        .collect()
}

/// Where a run stands.
pub struct Chain {
    pub count: usize,
    pub fired: usize,
    left: usize,
}

impl Chain {
    /// Pokes the active pairs, spread as bench.c spreads them.
    pub fn start(pairs: &[Pair], active: usize, writes: usize) -> io::Result<Chain> {
        let space = (pairs.len() / active).max(1);
        for i in 0..active {
            (&pairs[(i * space) % pairs.len()].write).write_all(b"e")?;
        }
        Ok(Chain {
            count: 0,
            fired: active,
            left: writes,
        })
    }

    /// A readable pair: one read (a short read means drained, as tokio
    /// assumes for edge-triggered sockets), then one byte onward per byte.
    pub fn on_readable(&mut self, pairs: &[Pair], idx: usize) -> io::Result<()> {
        let mut buf = [0u8; 64];
        let n = match (&pairs[idx].read).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        };
        self.count += n;
        let next = &pairs[(idx + 1) % pairs.len()].write;
        for _ in 0..n {
            if self.left == 0 {
                break;
            }
            let mut w = next;
            w.write_all(b"e")?;
            self.left -= 1;
            self.fired += 1;
        }
        Ok(())
    }

    /// Whether every byte written has been read.
    pub fn done(&self) -> bool {
        self.count >= self.fired
    }
}

/// The timings of the runs: µs per event with and without the re-adding.
#[derive(Default)]
pub struct Timings {
    total: Vec<f64>,
    dispatch: Vec<f64>,
}

impl Timings {
    /// Records one run that started at `t0`, dispatched from `t1`.
    pub fn record(&mut self, t0: Instant, t1: Instant, events: usize) {
        let end = Instant::now();
        self.total
            .push((end - t0).as_secs_f64() * 1e6 / events as f64);
        self.dispatch
            .push((end - t1).as_secs_f64() * 1e6 / events as f64);
    }

    /// Prints the line `iomux pipes` prints for a cell.
    pub fn report(mut self, name: &str, args: &Args) {
        println!(
            "{:<8} {:>7} {:>7} {:>14.3} {:>17.3} {:>5}",
            name,
            args.pairs,
            args.active,
            median(&mut self.total),
            median(&mut self.dispatch),
            args.runs
        );
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
