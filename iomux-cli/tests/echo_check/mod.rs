//! The echo-integrity check shared by the `serve_*` and `models_*` tests:
//! 200 connections at once, 1 MiB of random bytes each, every byte back in
//! order (SHA-256 of what came back = of what was sent), then a clean close
//! after our half-close.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Connections, each with its own payload.
pub const CONNS: usize = 200;
/// Bytes per connection.
pub const BYTES: usize = 1 << 20;

/// The payloads and their digests, made once per test process.
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

/// Sends every payload to the echo server at `addr` on its own connection,
/// concurrently, and checks the digest of what comes back before the
/// server's close. Every read and write is bounded by `wait`.
pub fn integrity(addr: SocketAddr, wait: Duration) {
    std::thread::scope(|scope| {
        let mut readers = Vec::new();
        for (i, (data, digest)) in payloads().iter().enumerate() {
            let mut w = TcpStream::connect(addr).expect("connect to the server");
            w.set_read_timeout(Some(wait)).unwrap();
            w.set_write_timeout(Some(wait)).unwrap();
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
