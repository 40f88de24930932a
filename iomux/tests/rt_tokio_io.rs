//! tokio's I/O traits on iomux::rt streams (feature `tokio-io`): code
//! written against `tokio::io` — `BufReader`, `read_line`, `read_exact`,
//! `copy` — runs on every driver.

#[macro_use]
mod common;

use iomux::rt::net::{TcpListener, TcpStream};
use iomux::rt::{self, DriverKind, Runtime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn tokio_code_runs(driver: DriverKind) {
    common::bounded(30, "tokio::io on iomux::rt", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let server = rt::spawn_local(async move {
                let (conn, _) = listener.accept().await.expect("accept");
                let mut lines = BufReader::new(conn);
                let mut line = String::new();
                let mut n = 0;
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.expect("read_line") == 0 {
                        break;
                    }
                    let reply = line.to_uppercase();
                    AsyncWriteExt::write_all(lines.get_mut(), reply.as_bytes())
                        .await
                        .expect("reply");
                    AsyncWriteExt::flush(lines.get_mut()).await.expect("flush");
                    n += 1;
                }
                AsyncWriteExt::shutdown(lines.get_mut())
                    .await
                    .expect("shutdown");
                n
            });
            let mut c = TcpStream::connect(addr).await.expect("connect");
            for i in 0..100 {
                let msg = format!("line number {i}\n");
                AsyncWriteExt::write_all(&mut c, msg.as_bytes())
                    .await
                    .expect("send");
                let mut back = vec![0u8; msg.len()];
                AsyncReadExt::read_exact(&mut c, &mut back)
                    .await
                    .expect("read_exact");
                assert_eq!(back, msg.to_uppercase().as_bytes());
            }
            AsyncWriteExt::shutdown(&mut c)
                .await
                .expect("client shutdown");
            let mut rest = Vec::new();
            AsyncReadExt::read_to_end(&mut c, &mut rest)
                .await
                .expect("EOF");
            assert!(rest.is_empty());
            assert_eq!(server.await.expect("server"), 100);
        });
    });
}
on_every_driver!(tokio_code_runs);
