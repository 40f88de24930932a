//! Echo integrity: 200 connections at once, 1 MiB of random bytes each,
//! every byte back in order (SHA-256 of what came back = of what was sent),
//! then a clean close after our half-close; on the event loops, `--model
//! uring` and `--model rt` over each driver. The thread models (blocking,
//! nonblocking, sigio) are checked the same way, then for a clean SIGTERM
//! exit, and with 2,000 idle connections.

mod echo_check;
mod models_common;
mod serve_common;

use std::io::{Read, Write};
use std::net::TcpStream;

use models_common::{Served, stat};
use serve_common::{Server, WAIT};

fn echo_integrity(model: &str, mode: &str) {
    let server = Server::start(model, mode, "echo", &[]);
    echo_check::integrity(server.addr, WAIT);
}
per_variant!(echo_integrity: event_loops, uring, rt);

/// The thread models: the same check, then a clean exit on SIGTERM.
fn echo_integrity_then_sigterm(model: &str, _mode: &str) {
    let server = Served::start(model, "echo", &[]);
    echo_check::integrity(server.addr, models_common::WAIT);
    let (status, err) = server.stop();
    assert!(
        status.success(),
        "{model}: exit after SIGTERM: {status}; stderr: {err}"
    );
}
per_variant!(echo_integrity_then_sigterm: models);

/// 2,000 connections open at once, each served in turn: for blocking that
/// is 2,000 threads on small stacks.
fn many_connections(model: &str, _mode: &str) {
    let server = Served::start(model, "echo", &[]);
    let mut conns: Vec<TcpStream> = (0..2000).map(|_| server.connect()).collect();
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
per_variant!(many_connections: models);
