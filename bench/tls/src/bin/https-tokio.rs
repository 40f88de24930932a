//! The `https_hello` example's HTTPS server on tokio's current_thread
//! runtime: the same code (iomux/examples/support/https.rs), with tokio's
//! listener, `tokio::spawn` and hyper-util's `TokioTimer` in place of
//! iomux::rt's.
//!
//!   https-tokio --addr ADDR [--cert PEM --key PEM]   (prints `listening on ADDR` first)

#[path = "../../../../iomux/examples/support/https.rs"]
mod https;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const HELP: &str = "\
https-tokio: the https_hello example's server on tokio current_thread

usage: https-tokio [FLAGS]

  --addr ADDR   listening address (default 127.0.0.1:8443)
  --cert PEM    certificate chain (PEM); without --cert and --key, a self-signed one
  --key PEM     the certificate's private key (PEM)
  -h, --help    print this help
";

fn main() {
    let (mut addr, mut cert, mut key) = ("127.0.0.1:8443".to_string(), None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next().unwrap_or_else(|| {
                eprintln!("https-tokio: {flag} needs a value");
                std::process::exit(2)
            })
        };
        match flag.as_str() {
            "--addr" => addr = value(),
            "--cert" => cert = Some(value()),
            "--key" => key = Some(value()),
            "-h" | "--help" => {
                print!("{HELP}");
                return;
            }
            other => {
                eprintln!("https-tokio: unknown flag {other}");
                std::process::exit(2)
            }
        }
    }
    let fail = |e: String| -> ! {
        eprintln!("https-tokio: {e}");
        std::process::exit(2)
    };
    let addr: SocketAddr = addr
        .parse()
        .unwrap_or_else(|e| fail(format!("--addr: {e}")));
    let config = https::load_or_generate(
        cert.as_deref().map(Path::new),
        key.as_deref().map(Path::new),
    )
    .and_then(|(chain, key)| https::server_config(chain, key))
    .unwrap_or_else(|e| fail(e));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("runtime: {e}")));
    let served: std::io::Result<()> = runtime.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {}", listener.local_addr()?)?;
            out.flush()?;
        }
        let acceptor = TlsAcceptor::from(config);
        loop {
            let (conn, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("https-tokio: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            conn.set_nodelay(true)?;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = https::serve_connection(acceptor, conn, TokioTimer::new()).await;
            });
        }
    });
    if let Err(e) = served {
        fail(e.to_string());
    }
}
