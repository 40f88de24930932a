//! The uring server on a tiny ring (`--uring-entries 4`: 4 SQ entries, 8 CQ
//! entries) under 100 busy connections: the SQ is full all the time and the
//! CQ overflows, yet every byte comes back (SHA-256) and the server's own
//! counters show both paths were taken.

mod serve_common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::RngCore;
use serve_common::spawn;
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(20);
const CONNS: usize = 100;
const BYTES: usize = 256 * 1024;

fn counter(stats: &str, name: &str) -> u64 {
    stats
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {stats:?}"))
        .parse()
        .unwrap()
}

#[test]
fn tiny_ring_full_sq_and_cq_overflow_lose_nothing() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
    cmd.args(["serve", "--model", "uring", "--proto", "echo"])
        .args(["--addr", "127.0.0.1:0", "--uring-entries", "4"])
        .stderr(Stdio::piped());
    let (mut child, addr) = spawn::serve_until_ready(cmd, "iomux serve --model uring", WAIT);

    std::thread::scope(|scope| {
        let mut checks = Vec::new();
        for i in 0..CONNS {
            checks.push(scope.spawn(move || {
                let mut data = vec![0u8; BYTES];
                rand::thread_rng().fill_bytes(&mut data);
                let want: [u8; 32] = Sha256::digest(&data).into();
                let mut w = TcpStream::connect(addr).expect("connect");
                w.set_read_timeout(Some(WAIT)).unwrap();
                w.set_write_timeout(Some(WAIT)).unwrap();
                let mut r = w.try_clone().unwrap();
                let writer = std::thread::spawn(move || {
                    for chunk in data.chunks(16 * 1024) {
                        w.write_all(chunk).expect("write");
                    }
                    w.shutdown(Shutdown::Write).unwrap();
                });
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0;
                loop {
                    let n = r.read(&mut buf).unwrap_or_else(|e| panic!("conn {i}: {e}"));
                    if n == 0 {
                        break;
                    }
                    total += n;
                    h.update(&buf[..n]);
                }
                writer.join().unwrap();
                assert_eq!(total, BYTES, "conn {i}: length");
                assert_eq!(<[u8; 32]>::from(h.finalize()), want, "conn {i}: digest");
            }));
        }
        for c in checks {
            c.join().expect("connection check");
        }
    });

    // SAFETY: (test) kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = spawn::exit_within(&mut child, WAIT, "the server, on SIGTERM,");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    let stats = err
        .lines()
        .find(|l| l.starts_with("iomux-stats: model=uring"))
        .unwrap_or_else(|| panic!("no stats line in {err:?}"));
    assert!(
        counter(stats, "sq_full") > 0,
        "the SQ never filled: {stats}"
    );
    assert!(
        counter(stats, "overflows") > 0,
        "the CQ never overflowed: {stats}"
    );
    assert_eq!(counter(stats, "accepted"), CONNS as u64, "{stats}");
    // Every socket went into the registered file table, and every close
    // (which the clients saw, or they would not have finished) took it out.
    assert_eq!(counter(stats, "fixed"), CONNS as u64, "{stats}");
    assert_eq!(counter(stats, "closed"), CONNS as u64, "{stats}");
}
