//! iomux::rt echo over real loopback sockets, on every driver: 200
//! connections × 1 MiB, each checked by SHA-256 at both ends; and Unix
//! sockets.

#[macro_use]
mod common;

use std::thread;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use iomux::rt::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use iomux::rt::{self, DriverKind, Runtime};
use sha2::{Digest, Sha256};

const CONNS: usize = 200;
const BYTES: usize = 1 << 20;
const CHUNK: usize = 64 * 1024;

/// Deterministic bytes, different for every connection.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn echo(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return conn.shutdown().await;
        }
        conn.write_all(&buf[..n]).await?;
    }
}

fn echo_integrity(driver: DriverKind) {
    common::bounded(120, "200 × 1 MiB echo", move || {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let server = thread::spawn(move || {
            let rt = Runtime::with_driver(driver).expect("server runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let mut conns = Vec::new();
                for _ in 0..CONNS {
                    let (conn, _) = listener.accept().await.expect("accept");
                    conns.push(rt::spawn_local(echo(conn)));
                }
                for c in conns {
                    c.await.expect("echo task").expect("echo I/O");
                }
            });
        });
        let addr = addr_rx.recv().expect("server address");
        let rt = Runtime::with_driver(driver).expect("client runtime");
        rt.block_on(async move {
            let clients: Vec<_> = (0..CONNS)
                .map(|i| {
                    rt::spawn_local(async move {
                        let data = payload(i as u64, BYTES);
                        let want = Sha256::digest(&data);
                        let mut s = TcpStream::connect(addr).await.expect("connect");
                        let mut got = Sha256::new();
                        let mut buf = vec![0u8; CHUNK];
                        let mut received = 0;
                        for chunk in data.chunks(CHUNK) {
                            // futures-io's extension traits, as any
                            // ecosystem code would use them.
                            AsyncWriteExt::write_all(&mut s, chunk)
                                .await
                                .expect("write");
                            AsyncWriteExt::flush(&mut s).await.expect("flush");
                            let sent = received + chunk.len();
                            while received < sent {
                                let n = AsyncReadExt::read(&mut s, &mut buf).await.expect("read");
                                assert!(n > 0, "connection {i}: early EOF at {received} bytes");
                                got.update(&buf[..n]);
                                received += n;
                            }
                        }
                        s.shutdown().await.expect("shutdown");
                        let n = s.read(&mut buf).await.expect("read EOF");
                        assert_eq!(n, 0, "connection {i}: bytes after the echo");
                        assert_eq!(got.finalize(), want, "connection {i}: echoed bytes differ");
                    })
                })
                .collect();
            for c in clients {
                c.await.expect("client task");
            }
        });
        server.join().expect("server thread");
    });
}
on_every_driver!(echo_integrity);

fn unix_echo(driver: DriverKind) {
    common::bounded(60, "Unix echo", move || {
        let dir =
            std::env::temp_dir().join(format!("iomux-rt-unix-{}-{}", std::process::id(), driver));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("sock");
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let listener = UnixListener::bind(&path).expect("bind");
            let server = rt::spawn_local(async move {
                let mut conn = listener.accept().await.expect("accept");
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = conn.read(&mut buf).await.expect("read");
                    if n == 0 {
                        break;
                    }
                    conn.write_all(&buf[..n]).await.expect("write");
                }
                conn.shutdown().await.expect("shutdown");
            });
            let mut c = UnixStream::connect(&path).await.expect("connect");
            let data = payload(7, 256 * 1024);
            let mut back = Vec::new();
            for chunk in data.chunks(8192) {
                c.write_all(chunk).await.expect("write");
                c.flush().await.expect("flush");
                let mut buf = vec![0u8; 8192];
                let mut got = 0;
                while got < chunk.len() {
                    let n = c.read(&mut buf[..chunk.len() - got]).await.expect("read");
                    assert!(n > 0, "early EOF");
                    back.extend_from_slice(&buf[..n]);
                    got += n;
                }
            }
            c.shutdown().await.expect("shutdown");
            assert_eq!(c.read(&mut [0u8; 16]).await.expect("EOF"), 0);
            server.await.expect("server task");
            assert!(back == data, "the Unix echo differs from what was sent");
            let (mut a, mut b) = UnixStream::pair().expect("pair");
            a.write_all(b"pair").await.expect("write pair");
            let mut four = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                got += b.read(&mut four[got..]).await.expect("read pair");
            }
            assert_eq!(&four, b"pair");
        });
        let _ = std::fs::remove_dir_all(&dir);
    });
}
on_every_driver!(unix_echo);
