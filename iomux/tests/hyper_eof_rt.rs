//! A client that closes its connection right after the last response of a
//! keep-alive exchange: hyper's server should end the connection cleanly
//! (`Ok`), as it does on the readiness drivers.
//!
//! On the io_uring completion driver a write is queued and sent later;
//! when hyper's flush waited for a later turn of the loop, the client,
//! which already had the response, closed first, the send's completion and
//! the EOF came in one batch, and hyper, looking at the read side first,
//! ended the connection with `IncompleteMessage`. The driver's flush now
//! submits and reaps at once, so the response is done before the EOF can
//! be seen.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use iomux::Backend;
use iomux::rt::hyper::{HyperIo, HyperTimer};
use iomux::rt::net::TcpListener;
use iomux::rt::{self, DriverKind, Runtime};

const REQUESTS: usize = 200;

fn closes_cleanly(driver: DriverKind) {
    common::bounded(
        60,
        &format!("EOF after the last response on {driver}"),
        move || {
            let (tx, rx) = std::sync::mpsc::channel();
            let server = std::thread::spawn(move || {
                Runtime::with_driver(driver)
                    .expect("runtime")
                    .block_on(async move {
                        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                        tx.send(listener.local_addr().expect("addr")).expect("addr");
                        let (conn, _) = listener.accept().await.expect("accept");
                        conn.set_nodelay(true).expect("nodelay");
                        // A service that is not ready at once (any real handler):
                        // hyper then watches the read side for an EOF meanwhile.
                        let service = hyper::service::service_fn(|_req| async {
                            rt::yield_now().await;
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from(
                                "hello",
                            )))
                        });
                        hyper::server::conn::http1::Builder::new()
                            .timer(HyperTimer)
                            .serve_connection(HyperIo::new(conn), service)
                            .await
                            .map_err(|e| e.to_string())
                    })
            });
            let addr = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the server's address within 10 s");
            let s = TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("read timeout");
            let mut w = s.try_clone().expect("clone");
            let mut r = BufReader::new(s);
            for i in 0..REQUESTS {
                w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .expect("a request");
                let mut status = String::new();
                r.read_line(&mut status).expect("a status line");
                assert!(
                    status.starts_with("HTTP/1.1 200"),
                    "response {i}: {status:?}"
                );
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).expect("a header");
                    if h == "\r\n" {
                        break;
                    }
                }
                let mut body = [0u8; 5];
                r.read_exact(&mut body).expect("the body");
                assert_eq!(&body, b"hello");
            }
            // Every response is in: now the client closes.
            w.shutdown(std::net::Shutdown::Write).expect("shutdown");
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).expect("the server closes too");
            assert!(rest.is_empty(), "bytes after the last response");
            let served = server.join().expect("the server thread");
            assert_eq!(served, Ok(()), "the server's end of the connection");
        },
    );
}

#[test]
fn epoll() {
    closes_cleanly(DriverKind::Readiness(Backend::Epoll));
}

#[test]
fn uring_poll() {
    closes_cleanly(DriverKind::Readiness(Backend::IoUring));
}

#[test]
fn uring() {
    closes_cleanly(DriverKind::Uring);
}
