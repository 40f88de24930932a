//! Out of file descriptors: the server runs with a low RLIMIT_NOFILE and
//! more clients than it can hold. It must not spin on the listener (CPU
//! time from /proc/PID/stat), must keep serving the connections it has,
//! and must accept again once fds are free.
//!
//! `emfile` runs on the event loops, on `--model uring` (which sheds waiting
//! connections with the spare-fd trick and polls the listener instead of
//! re-arming an accept that would fail at once) and on `--model rt` over each
//! driver.

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

/// Opens 60 connections, more than the server's fds: those it serves, and
/// how many it shed.
fn overfill(connect: impl Fn() -> TcpStream) -> (Vec<TcpStream>, u64) {
    let mut kept = Vec::new();
    let mut shed = 0;
    for _ in 0..60 {
        let mut s = connect();
        if served(&mut s) {
            kept.push(s);
        } else {
            shed += 1;
        }
    }
    (kept, shed)
}

fn emfile(model: &str, mode: &str) {
    let server = Server::start(model, mode, "echo", &["--nofile", NOFILE]);
    let mut first = server.connect();
    assert!(served(&mut first));

    let (mut kept, shed) = overfill(|| server.connect());
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
per_variant!(emfile: event_loops, uring, rt);

/// The exit report counts the connections shed at accept (it used to read
/// the counters after the listeners were gone, and always said 0).
#[test]
fn exit_report_counts_shed_connections() {
    use std::process::{Command, Stdio};
    let err_path = std::env::temp_dir().join(format!("iomux-shed-{}.err", std::process::id()));
    let err_file = std::fs::File::create(&err_path).expect("stderr file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--model", "epoll"])
        .args(["--proto", "echo", "--nofile", NOFILE])
        .stderr(Stdio::from(err_file));
    let (mut child, addr) = serve_common::spawn::serve_until_ready(cmd, "iomux serve", WAIT);
    let (_kept, shed) = overfill(|| {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s
    });
    assert!(
        shed > 0,
        "no connection was shed: the fd limit was not reached"
    );
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
    let status = serve_common::spawn::exit_within(&mut child, WAIT, "the server, on SIGTERM,");
    assert!(status.success(), "the server exited with {status}");
    let err = std::fs::read_to_string(&err_path).expect("read stderr");
    let _ = std::fs::remove_file(&err_path);
    let reported: u64 = err
        .lines()
        .find_map(|l| {
            let (before, _) = l.split_once(" shed (out of fds)")?;
            before.rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no shed count in the exit report: {err}"));
    assert!(
        reported >= shed,
        "the exit report says {reported} shed, the clients saw {shed} closed at once: {err}"
    );
}
