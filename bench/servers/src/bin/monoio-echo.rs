//! The idiomatic monoio echo server on one thread: a task per connection
//! that reads into an owned buffer and `write_all`s it back (the buffer is
//! the kernel's while an operation is in flight, and comes back with the
//! result).
//!
//!   monoio-echo [--addr] ADDR [--driver auto|uring|legacy]
//!
//! Prints `listening on ADDR` first on stdout, and the driver it runs on
//! (`monoio driver: io_uring` or `monoio driver: legacy (...why...)`) on
//! stderr. `auto` (the default) takes io_uring when the kernel has every
//! operation monoio uses, and falls back to the legacy (epoll) driver
//! otherwise, saying so.

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpListener;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

/// The per-connection buffer (the same size as tokio-echo's).
const BUF: usize = 8 * 1024;

async fn serve(addr: std::net::SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    peer_servers::announce(listener.local_addr()?);
    loop {
        let (mut stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        monoio::spawn(async move {
            let mut buf: Vec<u8> = Vec::with_capacity(BUF);
            loop {
                let (res, b) = stream.read(buf).await;
                buf = b;
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let (res, b) = stream.write_all(buf).await;
                buf = b;
                if res.is_err() {
                    return;
                }
                buf.clear();
            }
        });
    }
}

fn legacy(addr: std::net::SocketAddr, why: &str) -> std::io::Result<()> {
    eprintln!("monoio driver: legacy ({why})");
    RuntimeBuilder::<LegacyDriver>::new()
        .build()?
        .block_on(serve(addr))
}

fn main() -> std::io::Result<()> {
    let addr = peer_servers::addr();
    let driver = peer_servers::flag("--driver").unwrap_or_else(|| "auto".into());
    match driver.as_str() {
        "legacy" => legacy(addr, "asked for"),
        "uring" | "auto" => {
            if !monoio::utils::detect_uring() {
                if driver == "uring" {
                    return Err(std::io::Error::other(
                        "io_uring lacks an operation monoio needs (or MONOIO_FORCE_LEGACY_DRIVER is set)",
                    ));
                }
                return legacy(addr, "io_uring lacks an operation monoio needs");
            }
            match RuntimeBuilder::<IoUringDriver>::new().build() {
                Ok(mut rt) => {
                    eprintln!("monoio driver: io_uring");
                    rt.block_on(serve(addr))
                }
                Err(e) if driver == "auto" => legacy(addr, &format!("io_uring setup failed: {e}")),
                Err(e) => Err(e),
            }
        }
        other => {
            eprintln!(
                "usage: monoio-echo [--addr] ADDR [--driver auto|uring|legacy]: bad driver {other:?}"
            );
            std::process::exit(2)
        }
    }
}
