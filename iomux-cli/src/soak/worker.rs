//! One soak client process (`iomux soak --worker I`): opens its share of
//! the connections, says "ready", waits for "go <ns>" on stdin, runs its
//! peers on the shared schedule, and prints its report as one JSON line.

use std::io::{BufRead, Write};
use std::net::TcpStream;

use super::plan::{Plan, Share};
use super::report::WorkerReport;
use super::{SoakArgs, peers, slowloris};
use crate::CliResult;

/// Runs worker `index` of `args.workers`.
pub fn run(args: &SoakArgs, index: usize) -> CliResult {
    let addr = args.addr.ok_or("--worker needs --addr")?;
    let share = Share::of(args.conns, args.echo, index, args.workers)?;
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    if let Some(limit) = limit
        && share.total() as u64 + 64 > limit
    {
        return Err(format!(
            "worker {index}: {} connections do not fit RLIMIT_NOFILE {limit}: raise --workers",
            share.total()
        )
        .into());
    }
    let mut report = WorkerReport::default();
    // One at a time: the server's accept queue never overflows, so no SYN
    // is dropped (a dropped SYN costs a second's retry). From an address of
    // this worker's own, 127.0.0.(10 + I), so that no address holds more
    // than a share of the ephemeral ports (see `peers::connect_from`).
    let source = std::net::Ipv4Addr::new(127, 0, 0, 10 + (index % 200) as u8);
    let open = |n: usize, report: &mut WorkerReport| -> Vec<TcpStream> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            match peers::connect_from(source, addr) {
                Ok(s) => v.push(s),
                Err(e) => {
                    report.connect_errors += 1;
                    report.note(format!("connect: {e}"));
                }
            }
        }
        report.connected += v.len() as u64;
        v
    };
    let echo = open(share.echo, &mut report);
    let idle = open(share.slowloris, &mut report);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let go_ns: u64 = line
        .strip_prefix("go ")
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| format!("worker {index}: expected \"go <ns>\", got {line:?}"))?;
    let plan = Plan::new(addr, go_ns, args.duration, args.send_timeout);
    let seed0 = (index as u64) << 32;
    let mut threads = Vec::new();
    for (i, s) in echo.into_iter().enumerate() {
        threads.push(std::thread::spawn(move || {
            peers::echo_client(s, seed0 + i as u64, plan)
        }));
    }
    threads.push(std::thread::spawn(move || slowloris::run(idle, plan)));
    let storm = share.storm;
    threads.push(std::thread::spawn(move || peers::rst_storm(storm, plan)));
    for i in 0..share.half_closers {
        let seed = seed0 + 1_000_000 + i as u64;
        threads.push(std::thread::spawn(move || peers::half_closer(seed, plan)));
    }
    if share.never_readers > 0 {
        threads.push(std::thread::spawn(move || peers::never_reader(plan)));
    }
    for t in threads {
        match t.join() {
            Ok(r) => report.merge(r),
            Err(_) => report.note("a peer thread panicked".into()),
        }
    }
    writeln!(out, "{}", serde_json::to_string(&report)?)?;
    out.flush()?;
    Ok(())
}
