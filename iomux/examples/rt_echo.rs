//! An echo server on iomux::rt: one task per connection, thread per core.
//!
//! ```text
//! cargo run --release -p iomux --example rt_echo -- --addr 127.0.0.1:7000 --driver uring --threads 2
//! ```
//! Prints `listening on ADDR` first, then echoes every byte back.

#[path = "support/rt_args.rs"]
mod rt_args;

use iomux::rt::{self, net::TcpStream};

async fn echo(mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return conn.shutdown().await;
        }
        conn.write_all(&buf[..n]).await?;
    }
}

fn main() {
    let args = rt_args::parse(&rt_args::Usage {
        name: "rt_echo",
        about: "an echo server on iomux::rt, one task per connection",
        default_port: 7000,
        extra: &[],
    })
    .unwrap_or_else(|e| {
        eprintln!("rt_echo: {e}");
        std::process::exit(2);
    });
    let served = rt_args::run(&args, |listener| async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => drop(rt::spawn_local(echo(conn))),
                // Out of descriptors (or another per-connection failure):
                // keep serving the connections there are.
                Err(e) => {
                    eprintln!("rt_echo: accept: {e}");
                    rt::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    });
    if let Err(e) = served {
        eprintln!("rt_echo: {e}");
        std::process::exit(1);
    }
}
