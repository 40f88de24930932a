//! HTTPS on iomux::rt: the `https_hello` example's server (its
//! `support/https.rs`: tokio-rustls on the runtime's tokio I/O traits,
//! hyper's HTTP/1.1 server through hyper-util's `TokioIo`) on every
//! driver, against a blocking rustls client that verifies the server's
//! certificate: keep-alive requests, a 404, a closing request and the TLS
//! close that follows it; and the self-signed certificate the example makes
//! when it is given none.

#[macro_use]
mod common;

#[path = "../examples/support/https.rs"]
mod https;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iomux::rt::hyper::HyperTimer;
use iomux::rt::net::TcpListener;
use iomux::rt::{self, DriverKind, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use tokio_rustls::TlsAcceptor;

type TlsClient = BufReader<StreamOwned<ClientConnection, TcpStream>>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Starts the example's server on `driver` in a thread of its own; it
/// serves `conns` connections, then its thread ends. Returns the address
/// and the thread.
fn start_server(
    driver: DriverKind,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    conns: usize,
) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let config = https::server_config(chain, key).expect("server config");
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let runtime = Runtime::with_driver(driver).expect("runtime");
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("addr to the test");
            let acceptor = TlsAcceptor::from(config);
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let (conn, _) = listener.accept().await.expect("accept");
                conn.set_nodelay(true).expect("nodelay");
                tasks.push(rt::spawn_local(https::serve_connection(
                    acceptor.clone(),
                    conn,
                    HyperTimer,
                )));
            }
            for t in tasks {
                t.await
                    .expect("connection task")
                    .expect("the connection served without error");
            }
        });
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server's address within 10 s");
    (addr, server)
}

fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> TlsClient {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    // Every read is bounded: a server that stops answering fails the test.
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let name = ServerName::try_from("localhost").expect("server name");
    let conn = ClientConnection::new(config, name).expect("client connection");
    BufReader::new(StreamOwned::new(conn, tcp))
}

/// Sends one request (and flushes it: the TLS layer holds written
/// plaintext until then). `close` asks the server to close after it.
fn send(c: &mut TlsClient, path: &str, close: bool) {
    let extra = if close { "Connection: close\r\n" } else { "" };
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n");
    c.get_mut()
        .write_all(request.as_bytes())
        .expect("write the request");
    c.get_mut().flush().expect("flush the request");
}

/// Reads one response: (status code, body).
fn read_response(r: &mut TlsClient) -> (u16, String) {
    let mut status = String::new();
    r.read_line(&mut status).expect("a status line within 10 s");
    let code = status
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {status:?}"));
    let mut len = None;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("a header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = Some(v.trim().parse::<usize>().expect("content-length"));
        }
    }
    let mut body = vec![0u8; len.expect("a content-length")];
    r.read_exact(&mut body).expect("the body");
    (code, String::from_utf8(body).expect("a UTF-8 body"))
}

/// Keep-alive requests, a 404, then a closing request: the server's
/// close_notify ends the stream cleanly (no bytes, no truncation error).
fn exchange(c: &mut TlsClient) {
    for _ in 0..5 {
        send(c, "/plaintext", false);
        assert_eq!(read_response(c), (200, "Hello, World!".to_string()));
    }
    send(c, "/missing", false);
    assert_eq!(read_response(c).0, 404);
    send(c, "/plaintext", true);
    assert_eq!(read_response(c), (200, "Hello, World!".to_string()));
    let mut rest = Vec::new();
    c.read_to_end(&mut rest)
        .expect("a clean TLS close after `Connection: close`");
    assert!(rest.is_empty(), "bytes after the last response: {rest:?}");
    let tls = &c.get_ref().conn;
    assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]), "ALPN");
}

/// A certificate and key written as PEM files, as `--cert` and `--key`
/// take them; removed on drop.
struct PemFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl PemFiles {
    fn new(tag: &str) -> (PemFiles, CertificateDer<'static>) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("a test certificate");
        let dir = std::env::temp_dir();
        let stem = format!("iomux-https-rt-{}-{tag}", std::process::id());
        let files = PemFiles {
            cert: dir.join(format!("{stem}-cert.pem")),
            key: dir.join(format!("{stem}-key.pem")),
        };
        std::fs::write(&files.cert, made.cert.pem()).expect("write the cert");
        std::fs::write(&files.key, made.signing_key.serialize_pem()).expect("write the key");
        (files, made.cert.der().clone())
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.cert);
        let _ = std::fs::remove_file(&self.key);
    }
}

fn serves_https(driver: DriverKind) {
    common::bounded(60, &format!("HTTPS on {driver}"), move || {
        let (pem, cert) = PemFiles::new(driver.name());
        let (chain, key) =
            https::load_or_generate(Some(&pem.cert), Some(&pem.key)).expect("the PEM files load");
        assert_eq!(chain, vec![cert.clone()], "the chain read from --cert");
        // The client trusts that certificate alone, and checks the name.
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("a root");
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);

        let conns = 3;
        let (addr, server) = start_server(driver, chain, key, conns);
        let clients: Vec<_> = (0..conns)
            .map(|_| {
                let config = config.clone();
                std::thread::spawn(move || exchange(&mut connect(addr, config)))
            })
            .collect();
        for c in clients {
            c.join().expect("a client");
        }
        server.join().expect("the server");
    });
}

on_every_driver!(serves_https);

/// Accepts whatever certificate the server presents and keeps it, but
/// checks the handshake's signature with that certificate's key: the
/// server holds the key of the certificate it shows.
#[derive(Debug)]
struct RecordCert {
    seen: Mutex<Option<CertificateDer<'static>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for RecordCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[test]
fn without_cert_and_key_a_self_signed_certificate_is_made() {
    common::bounded(60, "HTTPS with a generated certificate", || {
        let (chain, key) = https::load_or_generate(None, None).expect("a generated certificate");
        assert_eq!(chain.len(), 1, "one self-signed certificate");
        let generated = chain[0].clone();
        let verifier = Arc::new(RecordCert {
            seen: Mutex::new(None),
            provider: provider(),
        });
        let config = Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth(),
        );
        let (addr, server) =
            start_server(DriverKind::Readiness(iomux::Backend::Epoll), chain, key, 1);
        let mut c = connect(addr, config);
        send(&mut c, "/plaintext", true);
        assert_eq!(read_response(&mut c), (200, "Hello, World!".to_string()));
        let seen = verifier.seen.lock().unwrap().take();
        assert_eq!(
            seen,
            Some(generated),
            "the server presented the generated certificate"
        );
        drop(c);
        server.join().expect("the server");
    });
}

#[test]
fn a_half_open_handshake_does_not_stop_other_connections() {
    // A client that connects and never says hello holds one task (until
    // the handshake timeout), not the server.
    common::bounded(60, "a stalled handshake beside a good one", || {
        let (chain, key) = https::load_or_generate(None, None).expect("a generated certificate");
        let verifier = Arc::new(RecordCert {
            seen: Mutex::new(None),
            provider: provider(),
        });
        let config = Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        );
        // The server's thread waits for both connections' tasks: the silent
        // one ends when it is closed below (an EOF mid-handshake is an
        // error, which the server here does not allow), so serve it apart.
        let server_config = https::server_config(chain, key).expect("config");
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            Runtime::new().expect("runtime").block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("addr");
                let acceptor = TlsAcceptor::from(server_config);
                let (silent, _) = listener.accept().await.expect("accept the silent one");
                let stalled = rt::spawn_local(https::serve_connection(
                    acceptor.clone(),
                    silent,
                    HyperTimer,
                ));
                let (good, _) = listener.accept().await.expect("accept the good one");
                https::serve_connection(acceptor, good, HyperTimer)
                    .await
                    .expect("the good connection");
                let stalled = stalled.await.expect("the stalled task");
                assert!(
                    stalled
                        .as_ref()
                        .is_err_and(|e| e.starts_with("TLS handshake")),
                    "the silent connection ends in its handshake: {stalled:?}"
                );
            });
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server's address within 10 s");
        let silent = TcpStream::connect(addr).expect("connect the silent one");
        let mut c = connect(addr, config);
        send(&mut c, "/plaintext", true);
        assert_eq!(read_response(&mut c), (200, "Hello, World!".to_string()));
        drop(c);
        drop(silent);
        server.join().expect("the server");
    });
}
