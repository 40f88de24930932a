//! Thousands of slowloris peers on one thread: each sends one byte a second
//! and reads its echo, so the server holds ~19,000 live but nearly idle
//! connections. Every byte is checked through a SHA-256 per connection.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use iomux::{Events, Interest, Mode, Poller, Token};
use sha2::{Digest, Sha256};

use super::clock::now_ns;
use super::plan::Plan;
use super::report::WorkerReport;

/// Each peer sends in one of this many slots of a second.
const SLOTS: usize = 10;

struct Peer {
    s: TcpStream,
    sent: u64,
    echoed: u64,
    sent_hash: Sha256,
    echoed_hash: Sha256,
    open: bool,
}

/// Runs the peers until shortly after SIGTERM; their checks are made
/// before it, once the last byte has had time to come back.
pub fn run(conns: Vec<TcpStream>, plan: Plan) -> WorkerReport {
    let mut r = WorkerReport {
        slowloris: conns.len() as u64,
        ..WorkerReport::default()
    };
    let poller = match Poller::new() {
        Ok(p) => p,
        Err(e) => {
            r.note(format!("slowloris: no poller: {e}"));
            return r;
        }
    };
    let mut peers: Vec<Peer> = Vec::with_capacity(conns.len());
    for (i, s) in conns.into_iter().enumerate() {
        let _ = s.set_nonblocking(true);
        if let Err(e) = poller.register(&s, Token(i), Interest::READABLE, Mode::Level) {
            r.note(format!("slowloris: register: {e}"));
        }
        peers.push(Peer {
            s,
            sent: 0,
            echoed: 0,
            sent_hash: Sha256::new(),
            echoed_hash: Sha256::new(),
            open: true,
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let slot_ns = 1_000_000_000 / SLOTS as u64;
    let mut next_slot = plan.go_ns;
    let mut slot = 0usize;
    let mut verified = false;
    loop {
        let now = now_ns();
        if now >= plan.sigterm_ns + 500_000_000 {
            break;
        }
        if now >= next_slot && now < plan.faults_until_ns {
            for (i, p) in peers.iter_mut().enumerate() {
                if i % SLOTS == slot && p.open {
                    let byte = [(i as u64 + p.sent) as u8];
                    if let Ok(1) = (&p.s).write(&byte) {
                        p.sent += 1;
                        p.sent_hash.update(byte);
                    }
                }
            }
            slot = (slot + 1) % SLOTS;
            next_slot += slot_ns;
        }
        if !verified && now >= plan.sigterm_ns - slot_ns {
            // The sending stopped a while ago; every echo is back by now.
            verify(&mut peers, &mut r);
            verified = true;
        }
        let wake = next_slot
            .min(plan.sigterm_ns - slot_ns)
            .max(now + 1_000_000);
        let timeout = Duration::from_nanos(wake.saturating_sub(now));
        if let Err(e) = poller.wait(&mut events, Some(timeout)) {
            r.note(format!("slowloris: wait: {e}"));
            break;
        }
        for ev in events.iter() {
            let p = &mut peers[ev.token().0];
            loop {
                match (&p.s).read(&mut buf) {
                    Ok(0) | Err(_) if !p.open => break,
                    Ok(0) => {
                        closed(p, &poller, &mut r, "closed", plan.sigterm_ns);
                        break;
                    }
                    Ok(n) => {
                        p.echoed += n as u64;
                        p.echoed_hash.update(&buf[..n]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        closed(p, &poller, &mut r, &e.to_string(), plan.sigterm_ns);
                        break;
                    }
                }
            }
        }
    }
    r
}

/// A peer's connection ended: a failure before SIGTERM, expected after.
fn closed(p: &mut Peer, poller: &Poller, r: &mut WorkerReport, why: &str, sigterm_ns: u64) {
    p.open = false;
    let _ = poller.deregister(&p.s);
    if now_ns() < sigterm_ns {
        r.dropped_early += 1;
        r.note(format!("slowloris peer {why} before SIGTERM"));
    }
}

/// Compares each open peer's echo with what it sent.
fn verify(peers: &mut [Peer], r: &mut WorkerReport) {
    for p in peers.iter_mut().filter(|p| p.open) {
        if p.echoed < p.sent {
            r.unanswered_bytes += p.sent - p.echoed;
            continue;
        }
        let sent = std::mem::take(&mut p.sent_hash).finalize();
        let echoed = std::mem::take(&mut p.echoed_hash).finalize();
        if sent == echoed && p.echoed == p.sent {
            r.bytes_verified += p.sent;
        } else {
            r.hash_mismatches += 1;
            r.note(format!(
                "slowloris peer: {} bytes sent, {} echoed, SHA-256 differs",
                p.sent, p.echoed
            ));
        }
    }
}
