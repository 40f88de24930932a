//! hyper 1.x's HTTP/1.1 server on iomux::rt, on the epoll readiness driver
//! and the io_uring completion driver: keep-alive requests over several
//! connections, answered by hyper through `HyperIo` and `HyperTimer`.

mod common;

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use hyper::body::Incoming;
use hyper::{Request, Response};
use iomux::Backend;
use iomux::rt::hyper::{HyperExecutor, HyperIo, HyperTimer};
use iomux::rt::net::TcpListener;
use iomux::rt::{self, DriverKind, Runtime};

async fn hello(req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(format!("Hello, {}!", req.uri().path())))
}

/// Reads one response; returns its body.
fn read_response(r: &mut BufReader<TcpStream>) -> String {
    let mut status = String::new();
    r.read_line(&mut status).expect("status line");
    assert!(status.starts_with("HTTP/1.1 200"), "status: {status:?}");
    let mut len = None;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = Some(v.trim().parse::<usize>().expect("content-length"));
        }
    }
    let mut body = vec![0u8; len.expect("a content-length")];
    r.read_exact(&mut body).expect("body");
    String::from_utf8(body).expect("utf-8 body")
}

fn serves_keep_alive_requests(driver: DriverKind) {
    common::bounded(60, "hyper on iomux::rt", move || {
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            let rt = Runtime::with_driver(driver).expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("addr to the test");
                let mut conns = Vec::new();
                for _ in 0..4 {
                    let (conn, _) = listener.accept().await.expect("accept");
                    // The runtime's streams go to hyper with vectored
                    // writes: head and body leave in one writev.
                    let conn = HyperIo::from(conn);
                    assert!(hyper::rt::Write::is_write_vectored(&conn));
                    conns.push(rt::spawn_local(
                        hyper::server::conn::http1::Builder::new()
                            .timer(HyperTimer)
                            .serve_connection(conn, hyper::service::service_fn(hello)),
                    ));
                }
                for c in conns {
                    c.await.expect("connection task").expect("hyper connection");
                }
            });
        });
        let addr = rx.recv().expect("server address");
        let clients: Vec<_> = (0..4)
            .map(|c| {
                std::thread::spawn(move || {
                    let s = TcpStream::connect(addr).expect("connect");
                    let mut w = s.try_clone().expect("clone");
                    let mut r = BufReader::new(s);
                    for i in 0..50 {
                        // One write per request: `write!` would send the
                        // pieces of the format apart, and Nagle would hold
                        // the second for the peer's delayed ACK (40 ms).
                        let request = format!("GET /c{c}r{i} HTTP/1.1\r\nHost: x\r\n\r\n");
                        w.write_all(request.as_bytes()).expect("request");
                        assert_eq!(read_response(&mut r), format!("Hello, /c{c}r{i}!"));
                    }
                    // Two pipelined requests, then close.
                    write!(w, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .expect("pipelined");
                    assert_eq!(read_response(&mut r), "Hello, /a!");
                    assert_eq!(read_response(&mut r), "Hello, /b!");
                    let mut rest = Vec::new();
                    r.read_to_end(&mut rest).expect("close");
                    assert!(rest.is_empty(), "bytes after the last response");
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client");
        }
        server.join().expect("server");
    });
}

#[test]
fn epoll() {
    serves_keep_alive_requests(DriverKind::Readiness(Backend::Epoll));
}

#[test]
fn uring() {
    serves_keep_alive_requests(DriverKind::Uring);
}

#[test]
fn the_executor_runs_hyper_background_futures() {
    use hyper::rt::Executor;
    let out = Runtime::new().expect("runtime").block_on(async {
        let (tx, rx) = std::sync::mpsc::channel();
        HyperExecutor.execute(async move { tx.send(5).expect("send") });
        rt::yield_now().await;
        rx.try_recv().expect("the future ran")
    });
    assert_eq!(out, 5);
}
