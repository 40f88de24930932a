//! HTTP smoke tests for the blocking, nonblocking and sigio models: the same
//! protocol handlers as the multiplexing models, reached through each model.

mod models_common;
mod serve_common;

use std::io::{BufReader, Write};
use std::net::TcpStream;

use models_common::{Served, WAIT};
use serve_common::{assert_closed, read_response, send_and_shut};

const GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";

fn connect(server: &Served) -> TcpStream {
    let s = TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

fn http_smoke(model: &str) {
    let server = Served::start(model, "http", &[]);

    // Pipelined: every request answered, in order, then keep-alive.
    let mut s = connect(&server);
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
    let mut s = connect(&server);
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r).status, 200);
    assert_closed(&mut r, "after Connection: close");

    // A malformed request gets its 400, then the close.
    let mut s = connect(&server);
    s.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(
        read_response(&mut r).status,
        400,
        "{model}: malformed request"
    );
    assert_closed(&mut r, "after 400");

    // Half-close: the answer still comes, then EOF.
    let mut s = connect(&server);
    send_and_shut(&mut s, GET);
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r).status, 200);
    assert_closed(&mut r, "after the half-closed request");

    let (status, err) = server.stop();
    assert!(status.success(), "{model}: {status}; {err}");
}
per_model!(http_smoke);
