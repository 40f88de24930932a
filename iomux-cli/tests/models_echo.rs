//! Echo integrity for the blocking, nonblocking and sigio models: 200
//! connections at once, 1 MiB of random bytes each, SHA-256 of what came
//! back equal to what was sent; many idle connections; clean SIGTERM exit.

mod models_common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;

use models_common::{Served, WAIT, stat};
use rand::RngCore;
use sha2::{Digest, Sha256};

const CONNS: usize = 200;
const BYTES: usize = 1 << 20;

fn payloads() -> &'static [(Vec<u8>, [u8; 32])] {
    static P: OnceLock<Vec<(Vec<u8>, [u8; 32])>> = OnceLock::new();
    P.get_or_init(|| {
        let mut rng = rand::thread_rng();
        (0..CONNS)
            .map(|_| {
                let mut data = vec![0u8; BYTES];
                rng.fill_bytes(&mut data);
                let digest = Sha256::digest(&data).into();
                (data, digest)
            })
            .collect()
    })
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// Sends every payload on its own connection, concurrently, and checks the
/// digest of what comes back before the server's close.
pub fn integrity(server: &Served) {
    std::thread::scope(|scope| {
        let mut readers = Vec::new();
        for (i, (data, digest)) in payloads().iter().enumerate() {
            let mut w = connect(server.addr);
            let mut r = w.try_clone().unwrap();
            scope.spawn(move || {
                for chunk in data.chunks(64 * 1024) {
                    w.write_all(chunk).expect("write to echo");
                }
                w.shutdown(Shutdown::Write).unwrap();
            });
            readers.push(scope.spawn(move || {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0;
                loop {
                    let n = r
                        .read(&mut buf)
                        .unwrap_or_else(|e| panic!("conn {i}: read: {e}"));
                    if n == 0 {
                        break;
                    }
                    total += n;
                    hasher.update(&buf[..n]);
                }
                assert_eq!(total, BYTES, "conn {i}: echoed length");
                assert_eq!(
                    <[u8; 32]>::from(hasher.finalize()),
                    *digest,
                    "conn {i}: digest"
                );
            }));
        }
        for r in readers {
            r.join().expect("reader");
        }
    });
}

fn echo_integrity(model: &str) {
    let server = Served::start(model, "echo", &[]);
    integrity(&server);
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
