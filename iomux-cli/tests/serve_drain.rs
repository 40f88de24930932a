//! Graceful shutdown: on SIGTERM the server stops accepting, answers what
//! has already arrived, sends it, then closes each connection (EOF, not a
//! reset), and exits; within `--shutdown-timeout` whatever a peer does.
//!
//! Every case runs on every model: the event loops (select, poll, epoll in
//! each mode), blocking, nonblocking, sigio, uring, and rt on each driver.

mod serve_common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serve_common::{Server, WAIT, read_response};

/// Reads until EOF and asserts that nothing came first, and no reset.
fn assert_eof(s: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 1024];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: expected EOF, got {n} more bytes"),
        Err(e) => panic!("{what}: expected EOF, got {e}"),
    }
}

/// Waits until the listener is closed: a connect is refused.
fn wait_listener_closed(server: &Server) {
    server.wait_until("the listener to close after SIGTERM", || {
        TcpStream::connect(server.addr).is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused)
    });
}

/// Echo requests sent just before SIGTERM, not yet read by the client,
/// come back whole, then EOF; the server exits with status 0.
fn echo_in_flight_answered(model: &str, mode: &str) {
    let mut server = Server::start(model, mode, "echo", &["--shutdown-timeout", "30s"]);
    let payload: Vec<u8> = (0..48 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut conns: Vec<TcpStream> = (0..20).map(|_| server.connect()).collect();
    for s in conns.iter_mut() {
        // One round trip first: the connection is accepted and served.
        s.write_all(b"ready").unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).expect("the first echo");
        s.write_all(&payload).expect("send the in-flight request");
    }
    server.signal(Signal::TERM);
    for (i, s) in conns.iter_mut().enumerate() {
        let mut got = vec![0u8; payload.len()];
        s.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("{model}: connection {i}: in-flight echo cut: {e}"));
        assert!(got == payload, "{model}: connection {i}: echo differs");
        assert_eof(s, &format!("{model}: connection {i} after its answer"));
    }
    let status = server.wait_exit(WAIT, "the server after the drain");
    assert!(status.success(), "{model}: exit status {status}");
}
per_variant!(echo_in_flight_answered: event_loops, models, uring, rt);

/// An HTTP request sent just before SIGTERM gets its full response, then
/// EOF.
fn http_in_flight_answered(model: &str, mode: &str) {
    let mut server = Server::start(model, mode, "http", &["--shutdown-timeout", "30s"]);
    let mut s = server.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).status, 200, "{model}: first request");
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    server.signal(Signal::TERM);
    let resp = read_response(&mut r);
    assert_eq!(resp.status, 200, "{model}: in-flight request");
    assert_eq!(resp.body, b"hello", "{model}: in-flight body");
    let mut rest = [0u8; 64];
    match r.read(&mut rest) {
        Ok(0) => {}
        other => panic!("{model}: expected EOF after the in-flight response, got {other:?}"),
    }
    let status = server.wait_exit(WAIT, "the server after the drain");
    assert!(status.success(), "{model}: exit status {status}");
}
per_variant!(http_in_flight_answered: event_loops, models, uring, rt);

/// Idle keep-alive connections (one served, one that never sent a byte)
/// have nothing in flight: they are closed at once, and the server exits
/// long before its 60 s shutdown timeout.
fn idle_connections_closed_at_once(model: &str, mode: &str) {
    let mut server = Server::start(model, mode, "http", &["--shutdown-timeout", "60s"]);
    let mut served = server.connect();
    let mut r = BufReader::new(served.try_clone().unwrap());
    served
        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut r).status,
        200,
        "{model}: keep-alive request"
    );
    let mut silent = server.connect();
    // The silent one is accepted before the signal: a served round trip on
    // a third connection comes after its connect in the accept queue.
    let mut probe = server.connect();
    probe
        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut BufReader::new(probe.try_clone().unwrap())).status,
        200
    );
    let started = Instant::now();
    server.signal(Signal::TERM);
    assert_eof(&mut served, &format!("{model}: idle keep-alive connection"));
    assert_eof(&mut silent, &format!("{model}: connection that never sent"));
    let status = server.wait_exit(WAIT, "the server with idle connections");
    assert!(status.success(), "{model}: exit status {status}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{model}: idle connections held the exit"
    );
}
per_variant!(idle_connections_closed_at_once: event_loops, models, uring, rt);

/// Fills a never-read connection: writes until the kernel takes no more
/// (the server echoes into a peer that does not read, then stops reading).
fn stuff(s: &TcpStream) {
    s.set_nonblocking(true).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut w = s;
    let end = Instant::now() + WAIT;
    loop {
        match w.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // Give the server a moment to read more; done once it stops.
                std::thread::sleep(Duration::from_millis(50));
                match w.write(&chunk) {
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) => panic!("stuffing the never-reader: {e}"),
                }
            }
            Err(e) => panic!("stuffing the never-reader: {e}"),
        }
        assert!(Instant::now() < end, "the server never stopped reading");
    }
}

/// A peer that never reads a large reply holds the exit only until the
/// shutdown timeout: the server waits for it that long, then cuts it.
fn never_reader_cut_at_bound(model: &str, mode: &str) {
    let mut server = Server::start(model, mode, "echo", &["--shutdown-timeout", "1s"]);
    let reader_less = server.connect_small_rcvbuf();
    stuff(&reader_less);
    let started = Instant::now();
    server.signal(Signal::TERM);
    let status = server.wait_exit(WAIT, "the server with a never-reading peer");
    let took = started.elapsed();
    assert!(status.success(), "{model}: exit status {status}");
    assert!(
        took >= Duration::from_millis(900),
        "{model}: exited {took:?} after SIGTERM: it did not wait for the reply to drain"
    );
}
per_variant!(never_reader_cut_at_bound: event_loops, models, uring, rt);

/// A second SIGTERM during the drain exits at once.
fn second_signal_exits_at_once(model: &str, mode: &str) {
    let mut server = Server::start(model, mode, "echo", &["--shutdown-timeout", "60s"]);
    let reader_less = server.connect_small_rcvbuf();
    stuff(&reader_less);
    server.signal(Signal::TERM);
    wait_listener_closed(&server);
    server.assert_alive();
    server.signal(Signal::TERM);
    let status = server.wait_exit(WAIT, "the server on a second SIGTERM");
    assert!(status.success(), "{model}: exit status {status}");
}
per_variant!(second_signal_exits_at_once: event_loops, models, uring, rt);
