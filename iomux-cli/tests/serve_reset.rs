//! A peer that resets while the server is writing to it: the server
//! survives, frees the connection, and goes on serving.
//!
//! On the event loops, `--model uring` (which cancels and frees the
//! connection) and `--model rt` over each driver.

mod serve_common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serve_common::{Server, WAIT};

/// Writes until the socket would block: the server is then backed up,
/// with output it cannot send to us.
fn stuff(s: &mut TcpStream, chunk: &[u8]) {
    s.set_nonblocking(true).unwrap();
    let mut total = 0usize;
    loop {
        match s.write(chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
        assert!(total < 512 << 20, "the server never pushed back");
    }
}

/// Closes with SO_LINGER 0: the kernel sends a reset, not a FIN.
fn reset(s: TcpStream) {
    rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
    drop(s);
}

fn peer_reset_mid_write(model: &str, mode: &str) {
    for proto in ["echo", "http"] {
        let mut server = Server::start(model, mode, proto, &[]);
        let baseline = server.fd_count();
        let mut victims = Vec::new();
        for _ in 0..4 {
            let mut s = server.connect();
            if proto == "echo" {
                stuff(&mut s, &[7u8; 64 * 1024]);
            } else {
                stuff(
                    &mut s,
                    &b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000),
                );
            }
            victims.push(s);
        }
        server.wait_until("the victims to be accepted", || {
            server.fd_count() >= baseline + victims.len()
        });
        for s in victims {
            reset(s);
        }
        server.wait_until("the reset connections to be closed", || {
            server.fd_count() == baseline
        });
        server.assert_alive();
        // Still serving.
        let mut s = server.connect();
        if proto == "echo" {
            s.write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
        } else {
            s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut r = std::io::BufReader::new(s);
            assert_eq!(serve_common::read_response(&mut r).status, 200);
        }
        let _ = WAIT;
    }
}
per_variant!(peer_reset_mid_write: event_loops, uring, rt);
