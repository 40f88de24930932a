//! The HTTPS server of the `https_hello` example, runtime-neutral: rustls
//! through tokio-rustls over any stream with tokio's I/O traits, hyper's
//! HTTP/1.1 server through hyper-util's `TokioIo`, and hyper's timer for
//! the handshake and header-read timeouts. The example runs it on
//! iomux::rt; the TLS benchmark's peer (bench/tls, `https-tokio`) includes
//! this same file and runs it on tokio's current_thread runtime, so that
//! the two differ in the runtime alone.

// Each includer uses its own part of this file.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's certificate chain and key: from PEM files, or (both
/// `None`) a self-signed certificate for `localhost` and `127.0.0.1`
/// generated now (ECDSA P-256).
pub fn load_or_generate(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--cert {}: {e}", cert.display()))?;
            if chain.is_empty() {
                return Err(format!("--cert {}: no certificate in it", cert.display()));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("--key {}: {e}", key.display()))?;
            Ok((chain, key))
        }
        (None, None) => {
            let generated =
                rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                    .map_err(|e| format!("generating a self-signed certificate: {e}"))?;
            let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
            Ok((vec![generated.cert.der().clone()], key.into()))
        }
        _ => Err("--cert and --key go together".into()),
    }
}

/// rustls's server configuration (aws-lc-rs's provider, TLS 1.2 and 1.3,
/// ALPN `http/1.1`).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS versions: {e}"))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The service: `GET /plaintext` answers `Hello, World!` (text/plain),
/// anything else 404.
pub async fn hello(req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let mut resp = if req.uri().path() == "/plaintext" {
        Response::new(String::from("Hello, World!"))
    } else {
        let mut r = Response::new(String::from("not found\n"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

/// Serves one accepted connection: the TLS handshake (within
/// [`HANDSHAKE_TIMEOUT`] on `timer`), then hyper's HTTP/1.1 server with
/// keep-alive until the client closes.
pub async fn serve_connection<IO, T>(acceptor: TlsAcceptor, io: IO, timer: T) -> Result<(), String>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    T: hyper::rt::Timer + Send + Sync + 'static,
{
    let handshake = acceptor.accept(io);
    let tls = within(&timer, HANDSHAKE_TIMEOUT, handshake)
        .await
        .ok_or("TLS handshake: timed out")?
        .map_err(|e| format!("TLS handshake: {e}"))?;
    hyper::server::conn::http1::Builder::new()
        .timer(timer)
        .serve_connection(TokioIo::new(tls), hyper::service::service_fn(hello))
        .await
        .map_err(|e| format!("HTTP: {e}"))
}

/// `fut`'s output, or `None` when `limit` passes first on `timer` (the
/// runtime's timer, whichever runtime hyper was given).
async fn within<T: hyper::rt::Timer, F: Future>(
    timer: &T,
    limit: Duration,
    fut: F,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut sleep = timer.sleep(limit);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
