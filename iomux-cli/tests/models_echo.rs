//! Echo integrity for the blocking, nonblocking and sigio models: 200
//! connections at once, 1 MiB of random bytes each, SHA-256 of what came
//! back equal to what was sent; many idle connections; clean SIGTERM exit.

mod echo_check;
mod models_common;
mod serve_common;

use std::io::{Read, Write};
use std::net::TcpStream;

use models_common::{Served, WAIT, stat};

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

fn echo_integrity(model: &str) {
    let server = Served::start(model, "echo", &[]);
    echo_check::integrity(server.addr, WAIT);
    let (status, err) = server.stop();
    assert!(
        status.success(),
        "{model}: exit after SIGTERM: {status}; stderr: {err}"
    );
}
per_model!(echo_integrity);

/// 2,000 connections open at once, each served in turn: for blocking that
/// is 2,000 threads on small stacks.
fn many_connections(model: &str) {
    let server = Served::start(model, "echo", &[]);
    let mut conns: Vec<TcpStream> = (0..2000).map(|_| connect(server.addr)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let msg = format!("hello {i}\n");
        c.write_all(msg.as_bytes()).unwrap();
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("conn {i}: {e}"));
        assert_eq!(got, msg.as_bytes(), "conn {i}");
    }
    drop(conns);
    let (status, err) = server.stop();
    assert!(status.success(), "{model}: {status}; {err}");
    if model == "blocking" {
        assert_eq!(
            stat(&err, "threads"),
            Some(2000),
            "one thread per connection: {err}"
        );
        assert_eq!(stat(&err, "spawn_failed"), Some(0), "{err}");
    }
}
per_model!(many_connections);
