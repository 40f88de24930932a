//! Echo integrity: 200 connections at once, 1 MiB of random bytes each,
//! every byte back in order (SHA-256 of what came back = of what was sent),
//! then a clean close after our half-close.

mod serve_common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::OnceLock;

use rand::RngCore;
use serve_common::Server;
use sha2::{Digest, Sha256};

const CONNS: usize = 200;
const BYTES: usize = 1 << 20;

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

fn echo_integrity(model: &str, mode: &str) {
    let payloads = payloads();
    let server = Server::start(model, mode, "echo", &[]);
    std::thread::scope(|scope| {
        let mut readers = Vec::new();
        for (i, (data, digest)) in payloads.iter().enumerate() {
            let mut w = server.connect();
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

per_variant!(echo_integrity);
