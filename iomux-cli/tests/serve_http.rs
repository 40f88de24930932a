//! HTTP/1.1 over real sockets: pipelining, keep-alive, Connection: close,
//! HTTP/1.0, 100-continue, every refusal class with its status, lingering
//! close, smuggling.
//!
//! Every case runs on the event loops, `--model uring` and `--model rt` over
//! each driver (whose ready line, behaviour and answers must be those of the
//! others); `http_smoke` runs the thread models (blocking, nonblocking,
//! sigio) through the same protocol handlers.

mod models_common;
mod serve_common;

use std::io::{BufReader, Write};
use std::net::Shutdown;

use models_common::Served;
use serve_common::{Server, assert_closed, read_response, send_and_shut};

const GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";

fn pipelined(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &[]);
    let mut s = server.connect();
    let mut batch = GET.repeat(16);
    batch.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    batch.extend_from_slice(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;e=1\r\nd\r\n0\r\n\r\n",
    );
    batch.extend_from_slice(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&batch).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 0..16 {
        let resp = read_response(&mut r);
        assert_eq!(resp.status, 200, "response {i}");
        assert_eq!(resp.body, b"Hello, World!");
        assert_eq!(resp.header("content-type"), Some("text/plain"));
        assert!(resp.header("date").is_some());
    }
    assert_eq!(read_response(&mut r).body, b"hello");
    assert_eq!(read_response(&mut r).body, b"abcd");
    assert_eq!(read_response(&mut r).status, 404);
    // Keep-alive: the same connection goes on serving, one at a time.
    for _ in 0..3 {
        s.write_all(GET).unwrap();
        assert_eq!(read_response(&mut r).status, 200);
    }
}
per_variant!(pipelined: event_loops, uring, rt);

/// `--collect-interval` spaces the loop's waits; answers are the same.
fn collect_interval(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &["--collect-interval", "2ms"]);
    let mut conns: Vec<_> = (0..4).map(|_| server.connect()).collect();
    for round in 0..3 {
        for s in &mut conns {
            s.write_all(&GET.repeat(3)).unwrap();
        }
        for (i, s) in conns.iter().enumerate() {
            let mut r = BufReader::new(s.try_clone().unwrap());
            for k in 0..3 {
                let resp = read_response(&mut r);
                assert_eq!(
                    resp.status, 200,
                    "round {round}, connection {i}, answer {k}"
                );
                assert_eq!(resp.body, b"Hello, World!");
            }
        }
    }
}
per_variant!(collect_interval: event_loops, uring, rt);

fn connection_close_and_http10(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &["--max-requests", "3"]);
    let cases: [(&[u8], usize); 4] = [
        (b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1),
        (b"GET /plaintext HTTP/1.0\r\n\r\n", 1),
        (b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /plaintext HTTP/1.0\r\n\r\n", 2),
        // --max-requests 3: the third answer says close, the fourth never comes.
        (&GET.repeat(4), 3),
    ];
    for (req, answers) in cases {
        let mut s = server.connect();
        s.write_all(req).unwrap();
        let mut r = BufReader::new(s);
        for i in 0..answers {
            let resp = read_response(&mut r);
            assert_eq!(resp.status, 200);
            let last = i + 1 == answers;
            assert_eq!(
                resp.header("connection") == Some("close"),
                last,
                "{}",
                resp.head
            );
        }
        assert_closed(&mut r, "after the last answer");
    }
}
per_variant!(connection_close_and_http10: event_loops, uring, rt);

fn expect_continue(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &[]);
    let mut s = server.connect();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r).status, 100);
    s.write_all(b"body").unwrap();
    let resp = read_response(&mut r);
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"body"[..]));
}
per_variant!(expect_continue: event_loops, uring, rt);

/// Good requests ahead of each bad one: ~65 KiB of answers (fewer than the
/// default --max-requests).
const GOOD: usize = 500;

fn refusals(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &[]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(9000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "h".repeat(40_000)
    );
    let many = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        "A: b\r\n".repeat(101)
    );
    let cases: Vec<(&str, &[u8], u16)> = vec![
        ("bad request line", b"GET\x01/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("bad header", b"GET / HTTP/1.1\r\nHost: x\r\nNo Colon\r\n\r\n", 400),
        ("missing Host", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("duplicate Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (
            "CL with TE",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "differing CLs",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            400,
        ),
        ("malformed CL", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\n", 400),
        (
            "bad chunk",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab\r\n",
            400,
        ),
        (
            "unsupported coding",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
        ),
        ("head too large", big_head.as_bytes(), 431),
        ("too many headers", many.as_bytes(), 431),
        ("URI too long", long_uri.as_bytes(), 414),
        (
            "body too large",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n",
            413,
        ),
    ];
    for (what, req, status) in cases {
        // Good requests first (answered), then the bad one, then a request
        // that must never run, then junk the server has not read when it
        // answers. The tiny receive buffer keeps the answers queued on the
        // server's side: without a lingering close, closing with the junk
        // unread would send a reset that throws them away.
        let s = server.connect_small_rcvbuf();
        let mut bytes = GET.repeat(GOOD);
        bytes.extend_from_slice(req);
        bytes.extend_from_slice(GET);
        bytes.extend_from_slice(&vec![b'j'; 256 * 1024]);
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            // The server may close before taking everything: ignore errors.
            let _ = w.write_all(&bytes);
            let _ = w.shutdown(Shutdown::Write);
        });
        let mut r = BufReader::new(s.try_clone().unwrap());
        for _ in 0..GOOD {
            assert_eq!(
                read_response(&mut r).status,
                200,
                "{what}: the good requests first"
            );
        }
        let resp = read_response(&mut r);
        assert_eq!(resp.status, status, "{what}: {}", resp.head);
        assert_eq!(resp.header("connection"), Some("close"), "{what}");
        assert_closed(&mut r, what);
        writer.join().unwrap();
        s.shutdown(Shutdown::Both).ok();
    }
}
per_variant!(refusals: event_loops, uring, rt);

fn smuggling(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &[]);
    // Read with CL, the body would be "0\r\n\r\n" and a GET would follow;
    // read with TE, the GET is in the body. Either way: refuse, run nothing.
    let req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut s = server.connect();
    s.write_all(req).unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r).status, 400);
    assert_closed(&mut r, "after the refusal, nothing else is answered");
    // A TE list hiding chunked in the middle.
    let req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut s = server.connect();
    s.write_all(req).unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r).status, 501);
    assert_closed(&mut r, "after the refusal, nothing else is answered");
}
per_variant!(smuggling: event_loops, uring, rt);

fn half_close(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &[]);
    let mut s = server.connect();
    let mut bytes = GET.repeat(3);
    bytes.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nend");
    send_and_shut(&mut s, &bytes);
    let mut r = BufReader::new(s);
    for _ in 0..3 {
        assert_eq!(read_response(&mut r).status, 200);
    }
    assert_eq!(read_response(&mut r).body, b"end");
    assert_closed(&mut r, "after the half-closed peer got every answer");

    let echo = Server::start(model, mode, "echo", &[]);
    let mut s = echo.connect();
    send_and_shut(&mut s, b"half-closed but still listening");
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut got).expect("echo until EOF");
    assert_eq!(got, b"half-closed but still listening");
}
per_variant!(half_close: event_loops, uring, rt);

fn lingering_ends_with_the_peer(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &[]);
    let baseline = server.fd_count();
    // Answers queue up behind our tiny receive buffer, so the server is
    // still closing (flushing) when the junk and our FIN arrive. Once it
    // has sent everything it must see that FIN, though it came while the
    // server was not reading, and close at once rather than hold the
    // connection for the 5 s linger timeout.
    let mut s = server.connect_small_rcvbuf();
    let mut bytes = GET.repeat(GOOD);
    bytes.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    bytes.extend_from_slice(&[b'j'; 20_000]);
    send_and_shut(&mut s, &bytes);
    let mut r = BufReader::new(s);
    for _ in 0..GOOD {
        assert_eq!(read_response(&mut r).status, 200);
    }
    assert_eq!(read_response(&mut r).status, 400);
    assert_closed(&mut r, "after the refusal");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while server.fd_count() != baseline {
        assert!(
            std::time::Instant::now() < end,
            "the lingering connection outlived its peer"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
per_variant!(lingering_ends_with_the_peer: event_loops, uring, rt);

/// The thread models (blocking, nonblocking, sigio): pipelining, POST
/// echo, 404, Connection: close, 400 then close, half-close, clean exit.
fn http_smoke(model: &str, _mode: &str) {
    let server = Served::start(model, "http", &[]);

    // Pipelined: every request answered, in order, then keep-alive.
    let mut s = server.connect();
    let mut batch = GET.repeat(16);
    batch.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    batch.extend_from_slice(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&batch).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 0..16 {
        let resp = read_response(&mut r);
        assert_eq!(resp.status, 200, "{model}: response {i}");
        assert_eq!(resp.body, b"Hello, World!");
    }
    assert_eq!(read_response(&mut r).body, b"hello");
    assert_eq!(read_response(&mut r).status, 404);
    for _ in 0..3 {
        s.write_all(GET).unwrap();
        assert_eq!(read_response(&mut r).status, 200);
    }

    // Connection: close is honoured.
    let mut s = server.connect();
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r).status, 200);
    assert_closed(&mut r, "after Connection: close");

    // A malformed request gets its 400, then the close.
    let mut s = server.connect();
    s.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(
        read_response(&mut r).status,
        400,
        "{model}: malformed request"
    );
    assert_closed(&mut r, "after 400");

    // Half-close: the answer still comes, then EOF.
    let mut s = server.connect();
    send_and_shut(&mut s, GET);
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r).status, 200);
    assert_closed(&mut r, "after the half-closed request");

    let (status, err) = server.stop();
    assert!(status.success(), "{model}: {status}; {err}");
}
per_variant!(http_smoke: models);
