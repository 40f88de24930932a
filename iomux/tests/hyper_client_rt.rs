//! The `hyper_client` example's client (hyper 1.x's HTTP/1.1 client over
//! `rt::net::TcpStream`) on every driver, against a plain blocking server:
//! several requests on one keep-alive connection, a chunked body sent in
//! pieces apart, and a request the server never answers, cut by the
//! client's timeout.

#[macro_use]
mod common;

#[allow(dead_code)] // the test uses the example's `Client`, not its `main`
#[path = "../examples/hyper_client.rs"]
mod hyper_client;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hyper_client::{Client, TimedOut};
use iomux::rt::{DriverKind, Runtime};

/// Reads one request head; returns its request line ("" at EOF).
fn read_request(r: &mut BufReader<TcpStream>) -> String {
    let mut first = String::new();
    r.read_line(&mut first).expect("a request line within 10 s");
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).expect("a header line") == 0 || line == "\r\n" {
            break;
        }
    }
    first.trim_end().to_string()
}

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

fn accept(l: &TcpListener) -> BufReader<TcpStream> {
    let (s, _) = l.accept().expect("accept");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    BufReader::new(s)
}

fn keep_alive_and_chunked(driver: DriverKind) {
    common::bounded(60, &format!("hyper's client on {driver}"), move || {
        let (l, addr) = listener();
        // One connection, three requests on it: a content-length body, a
        // chunked one written in three pieces apart, a content-length one.
        let server = std::thread::spawn(move || {
            let mut c = accept(&l);
            assert_eq!(read_request(&mut c), "GET /one HTTP/1.1");
            c.get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
                .expect("reply 1");
            assert_eq!(read_request(&mut c), "GET /chunked HTTP/1.1");
            c.get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
                .expect("reply 2, head and first chunk");
            for piece in [&b"7\r\n, world\r\n"[..], b"0\r\n\r\n"] {
                // Each piece is its own segment (nodelay): the client reads
                // the body as it comes.
                c.get_mut().write_all(piece).expect("a chunk");
            }
            assert_eq!(read_request(&mut c), "GET /three HTTP/1.1");
            c.get_mut()
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nthree")
                .expect("reply 3");
            // The client closes when done; no second connection came.
            assert_eq!(read_request(&mut c), "", "EOF after the last request");
            l.set_nonblocking(true).expect("nonblocking");
            assert!(
                matches!(l.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
                "the client opened a second connection"
            );
        });
        Runtime::with_driver(driver)
            .expect("runtime")
            .block_on(async move {
                let limit = Duration::from_secs(10);
                let mut client = Client::connect(addr).await.expect("connect");
                let one = client.get("/one", limit).await.expect("GET /one");
                assert_eq!((one.status.as_u16(), one.chunked), (200, false));
                assert_eq!(one.body, b"one");
                let chunked = client.get("/chunked", limit).await.expect("GET /chunked");
                assert_eq!((chunked.status.as_u16(), chunked.chunked), (200, true));
                assert_eq!(chunked.body, b"hello, world");
                let three = client.get("/three", limit).await.expect("GET /three");
                assert_eq!(three.status.as_u16(), 404);
                assert_eq!(three.body, b"three");
                client.close().await.expect("a clean close");
            });
        server.join().expect("the server");
    });
}

on_every_driver!(keep_alive_and_chunked);

fn a_request_without_answer_times_out(driver: DriverKind) {
    common::bounded(
        60,
        &format!("hyper's client timeout on {driver}"),
        move || {
            let (l, addr) = listener();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            // Reads the request, then says nothing until the test is done.
            let server = std::thread::spawn(move || {
                let mut c = accept(&l);
                assert_eq!(read_request(&mut c), "GET /slow HTTP/1.1");
                release_rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("the test releases the server within 30 s");
            });
            Runtime::with_driver(driver)
                .expect("runtime")
                .block_on(async move {
                    let limit = Duration::from_millis(200);
                    let mut client = Client::connect(addr).await.expect("connect");
                    let started = Instant::now();
                    let err = client
                        .get("/slow", limit)
                        .await
                        .expect_err("no answer: the request times out");
                    let waited = started.elapsed();
                    assert!(err.is::<TimedOut>(), "a timeout, not {err}");
                    assert!(waited >= limit, "timed out early, after {waited:?}");
                    assert!(
                        waited < Duration::from_secs(5),
                        "timed out late, after {waited:?}"
                    );
                });
            release_tx.send(()).expect("release the server");
            server.join().expect("the server");
        },
    );
}

on_every_driver!(a_request_without_answer_times_out);
