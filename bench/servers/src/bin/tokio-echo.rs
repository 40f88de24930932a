//! The idiomatic tokio echo server on the current_thread runtime: a task
//! per connection that reads into its buffer and `write_all`s it back.
//!
//!   tokio-echo [--addr] ADDR      (prints `listening on ADDR` first)

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The per-connection buffer (the same size as monoio-echo's).
const BUF: usize = 8 * 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind(peer_servers::addr()).await?;
    peer_servers::announce(listener.local_addr()?);
    loop {
        let (mut stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = vec![0u8; BUF];
            loop {
                let n = match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}
