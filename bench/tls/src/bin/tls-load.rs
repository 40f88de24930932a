//! The TLS benchmark's load client (scripts/bench-tls.sh): rustls through
//! tokio-rustls on tokio's current_thread runtime, `--conns` tasks at once.
//!
//! - `--mode handshake`: each task loops: connect, full TLS 1.3 handshake
//!   (no resumption), `GET /plaintext` with `Connection: close`, read the
//!   response and the server's close. One count per handshake.
//! - `--mode keepalive`: each task connects and handshakes once, then
//!   sends `GET /plaintext` and reads the response, over and over. One
//!   count per response.
//!
//! The client is made cheaper than the server where it can be: it does
//! not verify the server's certificate chain or signature (the server
//! still makes its signature), and it parses only what it needs of each
//! response. Counts start after `--warmup` seconds and last `--duration`
//! seconds; prints one JSON line:
//! `{"mode":..,"count":..,"seconds":..,"rate":..,"errors":..}`.
//!
//! With `--rate R` the tasks together start R operations a second (each
//! task its share, on a schedule of absolute deadlines), an offered load
//! below what either side can do: then the server's CPU per operation
//! compares the servers without the client's own limit in the way.
//!
//!   tls-load --addr ADDR --mode handshake|keepalive [--conns N] [--rate R] [--duration S] [--warmup S]

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const HELP: &str = "\
tls-load: HTTPS load on rustls (tokio current_thread); prints one JSON line

usage: tls-load --addr ADDR --mode handshake|keepalive [FLAGS]

  --addr ADDR      the server (required)
  --mode MODE      handshake (a new connection per request) or keepalive
  --conns N        connections at once (default 50)
  --rate R         operations per second in all (default: as fast as they go)
  --duration S     seconds counted (default 5)
  --warmup S       seconds before counting (default 1)
  -h, --help       print this help
";

/// Accepts any certificate and signature: the benchmark measures the
/// server, and skipping the client's verification keeps the client the
/// cheaper side of each handshake.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Handshake,
    KeepAlive,
}

struct Args {
    addr: SocketAddr,
    mode: Mode,
    conns: usize,
    rate: Option<f64>,
    duration: Duration,
    warmup: Duration,
}

fn parse() -> Result<Args, String> {
    let (mut addr, mut mode, mut conns, mut duration, mut warmup) = (None, None, 50, 5.0, 1.0);
    let mut rate = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--addr" => addr = Some(value()?.parse().map_err(|e| format!("--addr: {e}"))?),
            "--mode" => {
                mode = Some(match value()?.as_str() {
                    "handshake" => Mode::Handshake,
                    "keepalive" => Mode::KeepAlive,
                    m => return Err(format!("--mode {m}: handshake or keepalive")),
                })
            }
            "--conns" => conns = value()?.parse().map_err(|e| format!("--conns: {e}"))?,
            "--rate" => rate = Some(value()?.parse().map_err(|e| format!("--rate: {e}"))?),
            "--duration" => duration = value()?.parse().map_err(|e| format!("--duration: {e}"))?,
            "--warmup" => warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        addr: addr.ok_or("--addr is required")?,
        mode: mode.ok_or("--mode is required")?,
        conns,
        rate,
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
    })
}

/// What the tasks share (one thread): the count window and the tallies.
struct Tally {
    start: Instant,
    end: Instant,
    count: Cell<u64>,
    errors: Cell<u64>,
}

impl Tally {
    fn done(&self) {
        let now = Instant::now();
        if now >= self.start && now < self.end {
            self.count.set(self.count.get() + 1);
        }
    }
    fn over(&self) -> bool {
        Instant::now() >= self.end
    }
}

/// A task's schedule under `--rate`: absolute deadlines `period` apart
/// (a late operation is made up for by the next ones going at once).
struct Pace {
    next: tokio::time::Instant,
    period: Option<Duration>,
}

impl Pace {
    fn new(period: Option<Duration>, offset: Duration) -> Pace {
        Pace {
            next: tokio::time::Instant::now() + offset,
            period,
        }
    }
    async fn wait(&mut self) {
        if let Some(period) = self.period {
            tokio::time::sleep_until(self.next).await;
            self.next += period;
        }
    }
}

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n";
const CLOSING: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// Reads one response into `buf` (keeping any bytes after it for the next
/// one); fails on a non-200 or an early EOF.
async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = &buf[..head_end];
            if !head.starts_with(b"HTTP/1.1 200") {
                return Err(format!(
                    "status {:?}",
                    String::from_utf8_lossy(&head[..head.len().min(20)])
                ));
            }
            let len = head
                .split(|&b| b == b'\n')
                .find_map(|line| {
                    let line = std::str::from_utf8(line).ok()?;
                    let (k, v) = line.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .ok_or("no content-length")?;
            let total = head_end + 4 + len;
            if buf.len() >= total {
                buf.drain(..total);
                return Ok(());
            }
        }
        let mut chunk = [0u8; 4096];
        let n = r.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("EOF before a whole response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn handshakes(addr: SocketAddr, connector: TlsConnector, tally: Rc<Tally>, mut pace: Pace) {
    let name = ServerName::try_from("localhost").expect("a server name");
    let mut buf = Vec::with_capacity(4096);
    while !tally.over() {
        pace.wait().await;
        let one = async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let mut tls = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(CLOSING).await.map_err(|e| e.to_string())?;
            // The TLS layer holds written plaintext until flushed.
            tls.flush().await.map_err(|e| e.to_string())?;
            buf.clear();
            read_response(&mut tls, &mut buf).await?;
            // The server closes after `Connection: close`: wait for it.
            let mut rest = [0u8; 64];
            while tls.read(&mut rest).await.map_err(|e| e.to_string())? > 0 {}
            Ok::<_, String>(())
        };
        match one.await {
            Ok(()) => tally.done(),
            Err(e) => {
                if tally.errors.get() == 0 {
                    eprintln!("tls-load: {e}");
                }
                tally.errors.set(tally.errors.get() + 1);
            }
        }
    }
}

async fn keep_alive(addr: SocketAddr, connector: TlsConnector, tally: Rc<Tally>, mut pace: Pace) {
    let name = ServerName::try_from("localhost").expect("a server name");
    let mut buf = Vec::with_capacity(4096);
    while !tally.over() {
        let run = async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let mut tls = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(|e| e.to_string())?;
            buf.clear();
            while !tally.over() {
                pace.wait().await;
                tls.write_all(REQUEST).await.map_err(|e| e.to_string())?;
                tls.flush().await.map_err(|e| e.to_string())?;
                read_response(&mut tls, &mut buf).await?;
                tally.done();
            }
            Ok::<_, String>(())
        };
        if let Err(e) = run.await {
            if tally.errors.get() == 0 {
                eprintln!("tls-load: {e}");
            }
            tally.errors.set(tally.errors.get() + 1);
        }
    }
}

fn main() {
    let args = parse().unwrap_or_else(|e| {
        eprintln!("tls-load: {e}");
        std::process::exit(2)
    });
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    // Every handshake a full one.
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    let start = Instant::now() + args.warmup;
    let tally = Rc::new(Tally {
        start,
        end: start + args.duration,
        count: Cell::new(0),
        errors: Cell::new(0),
    });
    local.block_on(&runtime, async {
        // Under --rate each task has period conns/rate, the tasks' first
        // deadlines spread over one period.
        let period = args
            .rate
            .map(|r| Duration::from_secs_f64(args.conns as f64 / r));
        let tasks: Vec<_> = (0..args.conns)
            .map(|i| {
                let (connector, tally) = (connector.clone(), tally.clone());
                let offset = period.map_or(Duration::ZERO, |p| p * i as u32 / args.conns as u32);
                let pace = Pace::new(period, offset);
                match args.mode {
                    Mode::Handshake => {
                        tokio::task::spawn_local(handshakes(args.addr, connector, tally, pace))
                    }
                    Mode::KeepAlive => {
                        tokio::task::spawn_local(keep_alive(args.addr, connector, tally, pace))
                    }
                }
            })
            .collect();
        for t in tasks {
            t.await.expect("a client task");
        }
    });
    let secs = args.duration.as_secs_f64();
    println!(
        "{{\"mode\":\"{}\",\"count\":{},\"seconds\":{secs},\"rate\":{:.1},\"errors\":{}}}",
        if args.mode == Mode::Handshake {
            "handshake"
        } else {
            "keepalive"
        },
        tally.count.get(),
        tally.count.get() as f64 / secs,
        tally.errors.get()
    );
}
