//! The `axum_hello` example's Router on iomux::rt over real sockets, on
//! every driver: `GET /plaintext`, a path parameter, a JSON body (and a
//! rejected one), an unknown route and a wrong method, on one keep-alive
//! connection, then a closing request.

#[macro_use]
mod common;

#[allow(dead_code)] // the test uses the example's `app`, not its `main`
#[path = "../examples/axum_hello.rs"]
mod axum_hello;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hyper_util::service::TowerToHyperService;
use iomux::rt::hyper::{HyperIo, HyperTimer};
use iomux::rt::net::TcpListener;
use iomux::rt::{self, DriverKind, Runtime};

/// Reads one response: (status code, content-type, body).
fn read_response(r: &mut BufReader<TcpStream>) -> (u16, String, String) {
    let mut status = String::new();
    r.read_line(&mut status).expect("a status line within 10 s");
    let code = status
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {status:?}"));
    let (mut len, mut ctype) = (None, String::new());
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("a header line");
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("content-length:") {
            len = Some(v.trim().parse::<usize>().expect("content-length"));
        }
        if let Some(v) = line.strip_prefix("content-type:") {
            ctype = v.trim().to_string();
        }
    }
    let mut body = vec![0u8; len.expect("a content-length")];
    r.read_exact(&mut body).expect("the body");
    (code, ctype, String::from_utf8(body).expect("a UTF-8 body"))
}

fn request(w: &mut TcpStream, method: &str, path: &str, json: Option<&str>) {
    let req = match json {
        Some(body) => format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        None => format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n"),
    };
    // One write per request (Nagle would hold a second piece).
    w.write_all(req.as_bytes()).expect("send the request");
}

fn serves_the_router(driver: DriverKind) {
    common::bounded(60, &format!("axum on {driver}"), move || {
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            Runtime::with_driver(driver)
                .expect("runtime")
                .block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                    tx.send(listener.local_addr().expect("addr"))
                        .expect("addr to the test");
                    let app = axum_hello::app();
                    let mut tasks = Vec::new();
                    for _ in 0..2 {
                        let (conn, _) = listener.accept().await.expect("accept");
                        // The lines the example puts in place of `axum::serve`.
                        let service = TowerToHyperService::new(app.clone());
                        tasks.push(rt::spawn_local(
                            hyper::server::conn::http1::Builder::new()
                                .timer(HyperTimer)
                                .serve_connection(HyperIo::new(conn), service),
                        ));
                    }
                    for t in tasks {
                        t.await.expect("connection task").expect("hyper connection");
                    }
                });
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server's address within 10 s");
        let clients: Vec<_> = (0..2)
            .map(|c| {
                std::thread::spawn(move || {
                    let s = TcpStream::connect(addr).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(10)))
                        .expect("read timeout");
                    let mut w = s.try_clone().expect("clone");
                    let mut r = BufReader::new(s);

                    request(&mut w, "GET", "/plaintext", None);
                    let (code, ctype, body) = read_response(&mut r);
                    assert_eq!((code, body.as_str()), (200, "Hello, World!"));
                    assert!(ctype.starts_with("text/plain"), "content-type {ctype}");

                    request(&mut w, "GET", &format!("/hello/client{c}"), None);
                    assert_eq!(read_response(&mut r).2, format!("Hello, client{c}!"));

                    request(&mut w, "POST", "/sum", Some(r#"{"numbers": [1, 2, 3.5]}"#));
                    let (code, ctype, body) = read_response(&mut r);
                    assert_eq!(code, 200, "body {body}");
                    assert_eq!(ctype, "application/json");
                    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON back");
                    assert_eq!(v, serde_json::json!({"count": 3, "sum": 6.5}));

                    // Valid JSON of the wrong shape: the handler's 422.
                    request(&mut w, "POST", "/sum", Some(r#"{"numbers": ["x"]}"#));
                    let (code, _, body) = read_response(&mut r);
                    assert_eq!(code, 422, "body {body}");
                    assert!(body.contains("not a number"), "body {body}");
                    // Not JSON at all: axum's own rejection.
                    request(&mut w, "POST", "/sum", Some("{"));
                    assert_eq!(read_response(&mut r).0, 400);
                    // No such route; the wrong method on a route.
                    request(&mut w, "GET", "/nowhere", None);
                    assert_eq!(read_response(&mut r).0, 404);
                    request(&mut w, "GET", "/sum", None);
                    assert_eq!(read_response(&mut r).0, 405);

                    // A closing request: the server answers, then closes,
                    // and its connection task ends.
                    w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .expect("the closing request");
                    assert_eq!(read_response(&mut r).2, "Hello, World!");
                    let mut rest = Vec::new();
                    r.read_to_end(&mut rest).expect("the server closes");
                    assert!(rest.is_empty(), "bytes after the last response");
                })
            })
            .collect();
        for c in clients {
            c.join().expect("a client");
        }
        server.join().expect("the server");
    });
}

on_every_driver!(serves_the_router);
