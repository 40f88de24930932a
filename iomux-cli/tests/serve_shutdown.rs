//! Several loops (SO_REUSEPORT listeners) serving at once, and a clean
//! exit on SIGTERM and SIGINT with connections still open.

mod serve_common;

use std::io::{Read, Write};

use rustix::process::Signal;
use serve_common::{Server, assert_closed};

fn threads_then_signal(model: &str, mode: &str) {
    for signal in [Signal::TERM, Signal::INT] {
        let mut server = Server::start(model, mode, "echo", &["--threads", "2"]);
        let mut conns: Vec<_> = (0..20).map(|_| server.connect()).collect();
        for (i, s) in conns.iter_mut().enumerate() {
            let msg = format!("conn {i}");
            s.write_all(msg.as_bytes()).unwrap();
            let mut got = vec![0u8; msg.len()];
            s.read_exact(&mut got).unwrap();
            assert_eq!(got, msg.as_bytes());
        }
        let status = server.signal_and_wait(signal);
        assert!(status.success(), "exit status after {signal:?}: {status}");
        for s in conns.iter_mut() {
            assert_closed(s, "a connection open at shutdown");
        }
    }
}
per_variant!(threads_then_signal: event_loops);

/// The oneshot mode (re-armed after every event) serves too.
#[test]
fn oneshot_mode() {
    for model in ["select", "poll", "epoll"] {
        let server = Server::start(model, "oneshot", "http", &[]);
        let mut s = server.connect();
        s.write_all(&b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".repeat(8))
            .unwrap();
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        for _ in 0..8 {
            assert_eq!(serve_common::read_response(&mut r).status, 200, "{model}");
        }
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        assert_eq!(serve_common::read_response(&mut r).body, b"ok", "{model}");
    }
}
