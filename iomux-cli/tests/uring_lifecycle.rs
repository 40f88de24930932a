//! What is particular to the completion-based server: fd numbers reused at
//! a high rate (cancel before close), short sends to a slow reader,
//! back-pressure on a peer that does not read, resets mid-send, no fd leak,
//! a clean exit on SIGTERM, and a clear error where io_uring is unavailable.

mod serve_common;

// `io_uring_setup` made to fail, as `kernel.io_uring_disabled` would.
#[path = "../../iomux/tests/seccomp/mod.rs"]
mod seccomp;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use rand::RngCore;
use serve_common::{Server, WAIT, spawn};
use sha2::{Digest, Sha256};

fn uring_echo() -> Server {
    Server::start("uring", "level", "echo", &[])
}

/// Echoes `data` on a fresh connection and checks every byte came back.
fn round_trip(server: &Server, data: &[u8]) {
    let mut s = server.connect();
    let mut r = s.try_clone().unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            s.write_all(data).expect("write");
            s.shutdown(Shutdown::Write).expect("shutdown");
        });
        let mut got = Vec::with_capacity(data.len());
        r.read_to_end(&mut got).expect("read the echo to EOF");
        assert_eq!(got.len(), data.len(), "echoed length");
        assert!(got == data, "echoed bytes differ");
    });
}

#[test]
fn fd_numbers_reused_fast_never_mix_streams() {
    // Each connection is closed and its fd number handed to the next one at
    // once. A recv still pending on a closed number would deliver one
    // connection's bytes to another: every payload is unique, so any mix-up
    // shows as a wrong echo.
    let server = uring_echo();
    let baseline = server.fd_count();
    std::thread::scope(|scope| {
        for t in 0..16u32 {
            let server = &server;
            scope.spawn(move || {
                for i in 0..100u32 {
                    let tag = format!("thread {t} connection {i} ").repeat(1 + (i as usize % 7));
                    round_trip(server, tag.as_bytes());
                }
            });
        }
    });
    server.wait_until("every connection closed", || server.fd_count() <= baseline);
}

#[test]
fn short_sends_to_a_slow_reader_are_completed() {
    let server = uring_echo();
    let mut data = vec![0u8; 8 << 20];
    rand::thread_rng().fill_bytes(&mut data);
    let want: [u8; 32] = Sha256::digest(&data).into();
    let mut s = server.connect_small_rcvbuf();
    let mut r = s.try_clone().unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for chunk in data.chunks(256 * 1024) {
                s.write_all(chunk).expect("write");
            }
            s.shutdown(Shutdown::Write).unwrap();
        });
        // Small reads: the server's sends keep finding a nearly full socket.
        let mut h = Sha256::new();
        let mut buf = [0u8; 1024];
        let mut total = 0;
        loop {
            let n = r.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            total += n;
            h.update(&buf[..n]);
        }
        assert_eq!(total, data.len());
        assert_eq!(<[u8; 32]>::from(h.finalize()), want, "digest");
    });
}

#[test]
fn a_peer_that_does_not_read_is_held_back() {
    // Without back-pressure the server would keep receiving (and buffering
    // its echo) for as long as we send. With it, the server stops receiving
    // at the high water of unsent output (1 MiB), the socket buffers fill, and our writes
    // stall after a few MiB.
    let server = uring_echo();
    let mut s = server.connect();
    s.set_nonblocking(true).unwrap();
    let chunk = vec![b'z'; 64 * 1024];
    let mut sent = 0usize;
    const LIMIT: usize = 256 << 20;
    loop {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // Stalled for good if the socket does not turn writable.
                if !writable_within(&s, 500) {
                    break;
                }
            }
            Err(e) => panic!("write: {e}"),
        }
        assert!(
            sent < LIMIT,
            "sent {sent} bytes without stalling: no back-pressure"
        );
    }
    // Now read it all back: the server resumes once its output drains.
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    loop {
        let n = s.read(&mut buf).expect("read the echo back");
        if n == 0 {
            break;
        }
        assert!(buf[..n].iter().all(|&b| b == b'z'));
        got += n;
    }
    assert_eq!(got, sent, "every byte sent came back");
}

fn writable_within(s: &TcpStream, ms: i32) -> bool {
    let mut fds = [rustix::event::PollFd::new(s, rustix::event::PollFlags::OUT)];
    let t = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: ms as i64 * 1_000_000,
    };
    rustix::event::poll(&mut fds, Some(&t)).expect("poll") > 0
}

#[test]
fn resets_in_the_middle_leak_nothing() {
    let mut server = uring_echo();
    let baseline = server.fd_count();
    for _ in 0..50 {
        let mut s = server.connect_small_rcvbuf();
        // Make the server busy sending to us, then reset the connection.
        let _ = s.write_all(&vec![b'r'; 1 << 20]);
        rustix::net::sockopt::set_socket_linger(&s, Some(std::time::Duration::ZERO)).unwrap();
        drop(s); // RST
    }
    round_trip(&server, b"still serving");
    server.assert_alive();
    server.wait_until("the reset connections closed", || {
        server.fd_count() <= baseline
    });
}

/// Starts `iomux serve --model uring --proto echo extra…` with stderr
/// captured; returns the child and its address.
fn spawn_captured(extra: &[&str]) -> (std::process::Child, std::net::SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
    cmd.args(["serve", "--model", "uring", "--proto", "echo"])
        .args(["--addr", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped());
    spawn::serve_until_ready(cmd, "iomux serve --model uring", WAIT)
}

/// Sends SIGTERM, checks the exit is clean, returns the stats line.
fn terminate(mut child: std::process::Child) -> String {
    // SAFETY: (test) kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = spawn::exit_within(&mut child, WAIT, "the server, on SIGTERM,");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit status {status:?}; stderr: {err}");
    err.lines()
        .find(|l| l.starts_with("iomux-stats: model=uring"))
        .unwrap_or_else(|| panic!("no stats line: {err}"))
        .to_string()
}

#[test]
fn sigterm_exits_cleanly() {
    let (child, _) = spawn_captured(&[]);
    terminate(child);
}

#[test]
fn two_rings_share_the_connections() {
    const N: usize = 64;
    let (child, addr) = spawn_captured(&["--threads", "2"]);
    for i in 0..N {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let msg = format!("connection {i}");
        s.write_all(msg.as_bytes()).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert_eq!(got, msg);
    }
    let stats = terminate(child);
    // SO_REUSEPORT hashes each connection to one of the two listeners: all
    // 64 on one ring would mean the other never accepts (chance 2^-63).
    let first: usize = stats
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("accepted="))
        .expect("accepted=")
        .parse()
        .unwrap();
    assert!(
        0 < first && first < N,
        "ring 0 accepted {first} of {N}: {stats}"
    );
}

#[test]
fn unavailable_io_uring_is_a_clear_error_at_start() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
    cmd.args([
        "serve",
        "--model",
        "uring",
        "--proto",
        "echo",
        "--addr",
        "127.0.0.1:0",
    ])
    .stdin(Stdio::null());
    // SAFETY: (test) the closure only makes system calls.
    unsafe {
        cmd.pre_exec(|| seccomp::deny_io_uring_setup(libc::EPERM as u32));
    }
    let out = cmd.output().expect("run iomux serve");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it must fail; stdout: {stdout}");
    assert!(!stdout.contains("listening on"), "no ready line: {stdout}");
    assert!(stderr.contains("unavailable"), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}
