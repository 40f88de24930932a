//! The soak's peers that each run on a thread of their own: paced echo
//! clients (whose latency is the one reported), RST storms, half-closes,
//! and a peer that never reads its echo.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use sha2::{Digest, Sha256};

use super::clock::{Bytes, now_ns};
use super::plan::{self, Plan};
use super::report::{LastRequest, Latencies, WorkerReport, histogram};

/// Sleeps until `at_ns` on the monotonic clock (pacing, not synchronisation).
pub fn sleep_until(at_ns: u64) {
    let now = now_ns();
    if at_ns > now {
        std::thread::sleep(Duration::from_nanos(at_ns - now));
    }
}

/// A paced echo client: one request of 1..4 KiB every 20 ms (back to back
/// once the faults are over, until the server goes away after SIGTERM),
/// each echo read whole and compared through a SHA-256 of each direction.
pub fn echo_client(mut s: TcpStream, seed: u64, plan: Plan) -> WorkerReport {
    let mut r = WorkerReport::default();
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut bytes = Bytes::new(seed);
    let (mut sent, mut echoed) = (Sha256::new(), Sha256::new());
    let mut verified = 0u64;
    let (mut baseline, mut faults) = (histogram(), histogram());
    let mut req = vec![0u8; plan::ECHO_MAX];
    let mut resp = vec![0u8; plan::ECHO_MAX];
    let interval = plan::ECHO_INTERVAL.as_nanos() as u64;
    // Spread the clients over the interval.
    let mut next = plan.go_ns + seed % interval;
    while now_ns() < plan.end_ns {
        // Paced while measured; back to back in the last stretch, so that
        // SIGTERM finds requests in flight.
        if now_ns() < plan.faults_until_ns {
            sleep_until(next);
            next += interval;
        }
        let n = bytes.size(plan::ECHO_MAX);
        bytes.fill(&mut req[..n]);
        let t0 = now_ns();
        // The time the request was all written, kept when the read fails:
        // in flight at SIGTERM means written in full before it.
        let mut written_ns = None;
        let outcome = s
            .write_all(&req[..n])
            .map(|()| *written_ns.insert(now_ns()))
            .and_then(|sent_ns| s.read_exact(&mut resp[..n]).map(|()| sent_ns));
        let t1 = now_ns();
        let sent_ns = match outcome {
            Ok(sent_ns) => sent_ns,
            Err(e) => {
                if t1 < plan.sigterm_ns {
                    r.dropped_early += 1;
                    r.note(format!("echo client {seed}: {e} before SIGTERM"));
                } else if let Some(sent_ns) = written_ns
                    && t0 >= plan.sigterm_ns - 1_000_000_000
                {
                    // Written around the signal, never answered: the
                    // connection ended first. (One whose write had not
                    // ended was not received: the server may refuse it.)
                    r.last_requests.push(LastRequest {
                        sent_ns,
                        answered_ns: None,
                    });
                }
                break;
            }
        };
        sent.update(&req[..n]);
        echoed.update(&resp[..n]);
        verified += n as u64;
        r.echo_requests += 1;
        let latency = t1 - t0;
        if t0 < plan.baseline_from_ns {
            // warming up
        } else if t0 < plan.faults_from_ns {
            let _ = baseline.record(latency);
        } else if t0 < plan.faults_until_ns {
            let _ = faults.record(latency);
        }
        if t0 >= plan.sigterm_ns - 1_000_000_000 {
            r.last_requests.push(LastRequest {
                sent_ns,
                answered_ns: Some(t1),
            });
        }
    }
    if sent.finalize() == echoed.finalize() {
        r.bytes_verified += verified;
    } else {
        r.hash_mismatches += 1;
        r.note(format!("echo client {seed}: the echo's SHA-256 differs"));
    }
    r.baseline = Latencies::from_histogram(&baseline);
    r.under_faults = Latencies::from_histogram(&faults);
    r
}

/// Bursts of `batch` connections, each written to and closed with
/// SO_LINGER 0 (an RST instead of a FIN), every 100 ms while the faults run.
pub fn rst_storm(batch: usize, plan: Plan) -> WorkerReport {
    let mut r = WorkerReport::default();
    sleep_until(plan.faults_from_ns);
    let mut next = now_ns();
    let mut burst = Vec::with_capacity(batch);
    let mut bursts = 0u64;
    while now_ns() < plan.faults_until_ns {
        // Each burst from an address of its own, 127.0.2.1–127.0.2.254 in
        // turn (see `connect_from`).
        let source = Ipv4Addr::new(127, 0, 2, (bursts % 254) as u8 + 1);
        bursts += 1;
        for _ in 0..batch {
            match connect_from(source, plan.addr) {
                Ok(s) => {
                    let _ = s.set_nonblocking(true);
                    let _ = (&s).write(b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n");
                    let _ = rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO));
                    burst.push(s);
                }
                Err(e) => {
                    r.connect_errors += 1;
                    r.note(format!("RST storm: connect: {e}"));
                }
            }
        }
        r.resets_sent += burst.len() as u64;
        burst.clear(); // every close is an RST
        next += plan::STORM_EVERY.as_nanos() as u64;
        sleep_until(next);
    }
    r
}

/// Connects, sends up to 256 KiB, shuts its sending side, and reads the
/// echo to the end: all of it must come back before the server's FIN.
pub fn half_closer(seed: u64, plan: Plan) -> WorkerReport {
    let mut r = WorkerReport::default();
    let mut bytes = Bytes::new(seed);
    sleep_until(plan.faults_from_ns);
    while now_ns() < plan.faults_until_ns {
        let n = bytes.size(plan::HALF_CLOSE_MAX);
        let mut payload = vec![0u8; n];
        bytes.fill(&mut payload);
        let source = half_close_source(seed, r.half_closes + r.half_close_failures);
        match half_close_once(plan, source, &payload) {
            Ok(echo) if Sha256::digest(&echo) == Sha256::digest(&payload) => {
                r.half_closes += 1;
                r.bytes_verified += n as u64;
            }
            Ok(echo) => {
                r.half_close_failures += 1;
                r.note(format!(
                    "half-close: {} of {n} bytes came back, or different ones",
                    echo.len()
                ));
            }
            Err(e) => {
                r.half_close_failures += 1;
                r.note(format!("half-close: {e}"));
            }
        }
    }
    r
}

/// Connects from `source` (a loopback address; the port is chosen at
/// bind, at random among the free ones, never one with a TIME_WAIT).
///
/// Why the peers spread over source addresses: from one address, 19,000
/// held connections fill most of the 28,000 ephemeral ports, and a
/// connect then takes the first free port of a short walk, often the one
/// an RST-storm connection released a moment before. A SYN for that
/// 4-tuple can reach the server's side of the old connection before it
/// has processed the RST (under load, or while io_uring holds the socket),
/// and is answered with a reset: a refused connect that says nothing about
/// the server. Seen on the uring model at 19,000 connections.
pub fn connect_from(source: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use rustix::net::{AddressFamily, SocketType};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None)?;
    rustix::net::bind(&fd, &SocketAddrV4::new(source, 0))?;
    rustix::net::connect(&fd, &to)?;
    Ok(TcpStream::from(fd))
}

/// The source address of a half-closing peer's `n`th connection: one of
/// 127.0.1.1–127.0.1.254, in turn (each connection leaves a TIME_WAIT on
/// our side, since we send the first FIN; see `connect_from`).
fn half_close_source(seed: u64, n: u64) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1, ((seed + n) % 254) as u8 + 1)
}

fn half_close_once(plan: Plan, source: Ipv4Addr, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let s = connect_from(source, plan.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = s.try_clone()?;
    // The echo comes back while we write: read it on this thread.
    std::thread::scope(|scope| {
        let w = scope.spawn(move || -> std::io::Result<()> {
            writer.write_all(payload)?;
            writer.shutdown(Shutdown::Write)
        });
        let mut echo = Vec::with_capacity(payload.len());
        let read = (&s).read_to_end(&mut echo);
        let wrote = w.join().expect("the half-close writer does not panic");
        wrote?;
        read?;
        Ok(echo)
    })
}

/// A peer that pushes up to 50 MB and never reads: once both directions are
/// full, the server's --send-timeout must cut it off; then it does it again.
pub fn never_reader(plan: Plan) -> WorkerReport {
    let mut r = WorkerReport::default();
    sleep_until(plan.faults_from_ns);
    let chunk = vec![0x5au8; 64 * 1024];
    // A cut must come within the send timeout and some slack.
    let bound = plan.send_timeout * 3 + Duration::from_secs(2);
    // A new round only if its cut can come before the faults end.
    let round = (plan.send_timeout + Duration::from_millis(500)).as_nanos() as u64;
    while now_ns() + round < plan.faults_until_ns {
        let s = match TcpStream::connect(plan.addr) {
            Ok(s) => s,
            Err(e) => {
                r.connect_errors += 1;
                r.note(format!("never-reader: connect: {e}"));
                break;
            }
        };
        let _ = s.set_nonblocking(true);
        // The server cannot be stuck on this peer's echo before it has read
        // a byte, so its cut must come at least the send timeout after this.
        let connected = now_ns();
        let mut pushed = 0usize;
        let mut last_progress = connected;
        let cut = loop {
            if pushed < plan::NEVER_READ_BYTES {
                match (&s).write(&chunk) {
                    Ok(n) => {
                        pushed += n;
                        last_progress = now_ns();
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => break true,
                }
            }
            if now_ns() - last_progress > bound.as_nanos() as u64 {
                break false;
            }
            // Wait for room (the server read more) or for the reset.
            let mut fds = [PollFd::from_borrowed_fd(s.as_fd(), PollFlags::OUT)];
            let timeout = Timespec::try_from(Duration::from_millis(200)).expect("fits");
            let _ = poll(&mut fds, Some(&timeout));
            if matches!(s.take_error(), Ok(Some(_))) {
                break true;
            }
        };
        let after_ms = (now_ns() - connected) / 1_000_000;
        if cut {
            r.stuck_cut += 1;
            r.stuck_pushed += pushed as u64;
            r.cut_latest_ms = r.cut_latest_ms.max(after_ms);
            r.cut_earliest_ms = Some(r.cut_earliest_ms.map_or(after_ms, |s| s.min(after_ms)));
        } else {
            let stuck_ms = (now_ns() - last_progress) / 1_000_000;
            r.note(format!(
                "never-reader: not cut off {stuck_ms} ms after its last progress ({pushed} bytes pushed)"
            ));
            break;
        }
        if pushed >= plan::NEVER_READ_BYTES {
            r.note("never-reader: the server took all 50 MB without our reading".into());
        }
    }
    r
}
