//! HTTPS on iomux::rt: rustls through tokio-rustls on the runtime's tokio
//! I/O traits (feature `tokio-io`), and hyper 1.x's HTTP/1.1 server over
//! it. `GET /plaintext` answers `Hello, World!` (text/plain), anything
//! else 404.
//!
//! ```text
//! cargo run --release -p iomux --features example-tls --example https_hello -- \
//!     --addr 127.0.0.1:8443 --cert cert.pem --key key.pem
//! curl --insecure https://127.0.0.1:8443/plaintext
//! ```
//! Without `--cert` and `--key` it generates a self-signed certificate for
//! `localhost` and `127.0.0.1` at start (rcgen). Prints `listening on ADDR`
//! first.
//!
//! Why tokio-rustls and not futures-rustls: the runtime's streams have
//! both families of traits, and hyper's adapter for tokio's
//! (hyper-util's `TokioIo`) reads into hyper's buffer without zeroing it,
//! while a futures-io stream that is not the runtime's own goes through
//! `HyperRead`'s zeroing default (and would need a local newtype to get
//! it). It also makes this server, line for line, the one the TLS
//! benchmark runs on tokio: the code in `support/https.rs` is shared.
//!
//! TLS buffers: tokio-rustls holds written plaintext until it is flushed,
//! which hyper does after each response. Code of your own that writes to a
//! TLS stream must `flush()` before it waits for a reply.

#[path = "support/https.rs"]
mod https;
#[path = "support/rt_args.rs"]
mod rt_args;

use std::path::Path;

use iomux::rt;
use iomux::rt::hyper::HyperTimer;
use tokio_rustls::TlsAcceptor;

fn main() {
    let args = rt_args::parse(&rt_args::Usage {
        name: "https_hello",
        about: "HTTPS (rustls, hyper 1.x) on iomux::rt (GET /plaintext)",
        default_port: 8443,
        extra: &[
            (
                "--cert PEM",
                "certificate chain (PEM); without --cert and --key, a self-signed one",
            ),
            (
                "--key PEM",
                "the certificate's private key (PEM, PKCS#8, PKCS#1 or SEC1)",
            ),
        ],
    })
    .unwrap_or_else(|e| {
        eprintln!("https_hello: {e}");
        std::process::exit(2);
    });
    let config = https::load_or_generate(
        args.get("--cert").map(Path::new),
        args.get("--key").map(Path::new),
    )
    .and_then(|(chain, key)| https::server_config(chain, key))
    .unwrap_or_else(|e| {
        eprintln!("https_hello: {e}");
        std::process::exit(2);
    });
    let served = rt_args::run(&args, move |listener| {
        let acceptor = TlsAcceptor::from(config.clone());
        async move {
            loop {
                let conn = match listener.accept().await {
                    Ok((conn, _)) => conn,
                    Err(e) => {
                        eprintln!("https_hello: accept: {e}");
                        rt::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                conn.set_nodelay(true)?;
                // Tasks stay on this thread (thread per core): spawn_local,
                // and the connection need not be `Send`.
                let acceptor = acceptor.clone();
                rt::spawn_local(async move {
                    if let Err(e) = https::serve_connection(acceptor, conn, HyperTimer).await {
                        log::debug!("https_hello: connection: {e}");
                    }
                });
            }
        }
    });
    if let Err(e) = served {
        eprintln!("https_hello: {e}");
        std::process::exit(1);
    }
}
