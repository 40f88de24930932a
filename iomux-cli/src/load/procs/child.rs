//! The client side of `iomux load --procs`: what a child process does
//! besides the ordinary load. It tells the parent how many connections are
//! up (`UP n` lines on stdout), says `WARM` once they are all settled, waits
//! for `GO` on stdin so that every child opens its window at once, checks
//! its idle connections alive at the end, and prints `RESULT <json>`: its
//! report with the raw latency histogram for the parent to merge.

use std::io::{self, BufRead, Read, Write};
use std::time::{Duration, Instant};

use iomux::{Events, Poller};

use super::super::{Conn, LoadReport, State};

/// How often the connect progress is told.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The alive check gives up after this long without an answer.
const QUIET: Duration = Duration::from_secs(10);

/// The longest the alive check of `conns` connections may take.
pub fn check_bound(conns: u64) -> Duration {
    // 100 round trips a second for each process's share: on this host a
    // million took 80 s at 7,000/s when the host was crowded.
    Duration::from_secs(60) + Duration::from_millis(10 * conns)
}

/// The byte each idle connection must echo at the end.
const PROBE: u8 = b'?';

/// Tells the parent how many connections are up, at most every 100 ms.
pub fn progress(last: &mut Option<Instant>, connected: usize) {
    let now = Instant::now();
    if last.is_none_or(|t| now - t >= PROGRESS_EVERY) {
        *last = Some(now);
        say(&format!("UP {connected}"));
    }
}

/// Says `WARM` and waits for the parent's `GO`.
pub fn ready_then_wait(connected: usize) -> io::Result<()> {
    say(&format!("UP {connected}"));
    say("WARM");
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    if line.trim() == "GO" {
        Ok(())
    } else {
        Err(io::Error::other(
            "the parent of --procs went away before GO",
        ))
    }
}

/// Prints the result line the parent merges.
pub fn print_result(report: &LoadReport) {
    let json = serde_json::to_string(report).expect("a report serialises");
    say(&format!("RESULT {json}"));
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Sends one byte on every idle connection and waits (bounded) for it to
/// come back; records how many were checked and how many were lost (no
/// echo, a wrong byte, closed or reset). Busy connections are taken out of
/// the poller first, so that only the check's replies wake it.
pub fn check_idle(
    poller: &Poller,
    conns: &mut [Option<Conn>],
    events: &mut Events,
    report: &mut LoadReport,
) -> io::Result<()> {
    let started = Instant::now();
    let mut waiting = vec![false; conns.len()];
    let mut pending = 0u64;
    let mut lost = 0u64;
    for (i, slot) in conns.iter_mut().enumerate() {
        let Some(conn) = slot else { continue };
        if !matches!(conn.state, State::Idle) {
            let _ = poller.deregister(&conn.sock);
            continue;
        }
        match conn.sock.write(&[PROBE]) {
            Ok(1) => {
                waiting[i] = true;
                pending += 1;
            }
            _ => lost += 1,
        }
    }
    let checked = pending + lost;
    // Every process checks at once, and a million one-byte round trips
    // take the two cores of this host tens of seconds: wait as long as
    // answers keep coming, and give up after QUIET without one (or at a
    // hard bound).
    let hard = started + check_bound(checked);
    let mut quiet_until = Instant::now() + QUIET;
    let mut byte = [0u8; 2];
    while pending > 0 {
        let left = hard
            .min(quiet_until)
            .saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        poller.wait(events, Some(left))?;
        for ev in events.iter() {
            let i = ev.token().0;
            if !waiting.get(i).copied().unwrap_or(false) {
                continue;
            }
            let Some(conn) = conns[i].as_mut() else {
                continue;
            };
            let good = match conn.sock.read(&mut byte) {
                Ok(1) => byte[0] == PROBE,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                _ => false,
            };
            waiting[i] = false;
            pending -= 1;
            quiet_until = Instant::now() + QUIET;
            if !good {
                lost += 1;
            }
        }
    }
    // Whatever has not answered in time is lost too.
    lost += pending;
    report.idle_checked = Some(checked);
    report.check_s = Some(started.elapsed().as_secs_f64());
    report.lost = Some(lost + report.closed);
    Ok(())
}
