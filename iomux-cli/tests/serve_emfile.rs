//! Out of file descriptors: the server runs with a low RLIMIT_NOFILE and
//! more clients than it can hold. It must not spin on the listener (CPU
//! time from /proc/PID/stat), must keep serving the connections it has,
//! and must accept again once fds are free.

mod serve_common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serve_common::{Server, WAIT};

const NOFILE: &str = "40";

/// Sends one byte; true if it comes back (served), false if the server
/// closed the connection instead (shed at accept).
fn served(s: &mut TcpStream) -> bool {
    if s.write_all(b"?").is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(1) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
        Err(e) => panic!("neither served nor shed: {e}"),
    }
}

fn emfile(model: &str, mode: &str) {
    let server = Server::start(model, mode, "echo", &["--nofile", NOFILE]);
    let mut first = server.connect();
    assert!(served(&mut first));

    let mut kept = Vec::new();
    let mut shed = 0;
    for _ in 0..60 {
        let mut s = server.connect();
        if served(&mut s) {
            kept.push(s);
        } else {
            shed += 1;
        }
    }
    assert!(
        shed > 0,
        "no connection was shed: the fd limit was not reached"
    );
    assert!(!kept.is_empty());

    // Connections waiting in the backlog while fds are out: a loop without
    // the reserve-fd trick would now spin on a listener that stays readable.
    let waiting: Vec<TcpStream> = (0..8).map(|_| server.connect()).collect();
    let ticks = server.cpu_ticks();
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = server.cpu_ticks() - ticks;
    let hz = 100; // USER_HZ on Linux
    assert!(
        used * 1000 / hz < 300,
        "the server used {} ms of CPU in {:?} while out of fds: it spins",
        used * 1000 / hz,
        window.elapsed()
    );
    drop(waiting);

    // Existing connections are still served.
    assert!(served(&mut first), "an existing connection was dropped");
    for s in kept.iter_mut() {
        assert!(served(s), "an existing connection was dropped");
    }

    // Free some fds; new connections succeed again.
    kept.truncate(kept.len() / 2);
    let end = Instant::now() + WAIT;
    loop {
        let mut s = server.connect();
        if served(&mut s) {
            break;
        }
        assert!(
            Instant::now() < end,
            "no new connection served after fds were freed"
        );
    }
}
per_variant!(emfile);
