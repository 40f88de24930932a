//! Deadlines: a slowloris head is cut off at the header timeout (not
//! before), an idle keep-alive connection at the keep-alive timeout, and a
//! reply the peer never reads at the send timeout.
//!
//! Every case runs on every model: the event loops, the thread models (the
//! thread's socket timeouts, the busy loop's pass, the signal-driven
//! server's sweep), uring (its timer heap, waited on through the
//! io_uring_enter timeout) and rt over each driver.

mod serve_common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serve_common::{Server, assert_closed, read_response};

const LIMIT: Duration = Duration::from_millis(800);

fn slowloris(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &["--header-timeout", "800ms"]);
    let mut s = server.connect();
    let started = Instant::now();
    s.write_all(b"GET /plaintext HTTP/1.1\r\n").unwrap();
    // Drip one header byte every 50 ms: progress, but never a whole head.
    let stop = Arc::new(AtomicBool::new(false));
    let mut w = s.try_clone().unwrap();
    let dripping = Arc::clone(&stop);
    let dripper = std::thread::spawn(move || {
        while !dripping.load(Ordering::Relaxed) {
            if w.write_all(b"X").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut buf = [0u8; 64];
    let closed = match s.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected answer {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Err(e) => panic!("the slowloris connection was not closed: {e}"),
    };
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    dripper.join().unwrap();
    assert!(closed);
    assert!(
        took >= LIMIT,
        "closed after {took:?}, before the header timeout"
    );
    assert!(took < LIMIT * 5, "closed only after {took:?}");
}
per_variant!(slowloris: event_loops, models, uring, rt);

fn keepalive_timeout(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &["--keepalive-timeout", "800ms"]);
    let mut s = server.connect();
    // The server's clock starts when it has read the request, after this.
    let idle = Instant::now();
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r).status, 200);
    assert_closed(&mut r, "idle keep-alive connection");
    let took = idle.elapsed();
    assert!(
        took >= LIMIT,
        "closed after {took:?}, before the keep-alive timeout"
    );
    assert!(took < LIMIT * 5, "closed only after {took:?}");
}
per_variant!(keepalive_timeout: event_loops, models, uring, rt);

/// An echo peer that writes and never reads: once both directions are full,
/// the server's reply is stuck, and `--send-timeout` closes the connection.
/// With our bytes still unread on its side, the close is a reset, which
/// SO_ERROR shows without our reading anything.
fn send_timeout(model: &str, mode: &str) {
    let mut server = Server::start(model, mode, "echo", &["--send-timeout", "800ms"]);
    // A tiny receive buffer: the reply is stuck after a few KiB, soon after
    // the first write, which keeps the lower bound below tight.
    let mut s = server.connect_small_rcvbuf();
    // The server can make no progress on its reply before it has read our
    // first byte, so its stuck-output clock starts after this instant: a
    // reset sooner than LIMIT after it is a timeout that fired early.
    let first_write = Instant::now();
    // A write that makes no progress for 100 ms: both directions are full.
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let chunk = [7u8; 65536];
    let mut pushed = 0usize;
    let full_at = loop {
        match s.write(&chunk) {
            Ok(n) => pushed += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Instant::now();
            }
            // The timeout may pass while a slow machine is still filling,
            // but never before LIMIT has passed.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                assert_not_early(model, mode, first_write);
                return;
            }
            Err(e) => panic!("{model} {mode}: write: {e}"),
        }
        assert!(
            pushed < 256 << 20,
            "{model} {mode}: the server never pushed back"
        );
    };
    while s.take_error().unwrap().is_none() {
        assert!(
            full_at.elapsed() < LIMIT * 5,
            "{model} {mode}: a reply stuck for {:?} was never timed out",
            full_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_not_early(model, mode, first_write);
    server.assert_alive();
}
per_variant!(send_timeout: event_loops, models, uring, rt);

/// The send timeout's reset came at least LIMIT after `first_write`.
fn assert_not_early(model: &str, mode: &str, first_write: Instant) {
    let after = first_write.elapsed();
    assert!(
        after >= LIMIT,
        "{model} {mode}: reset {after:?} after our first write, before the {LIMIT:?} send timeout"
    );
}
