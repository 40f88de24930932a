//! hyper 1.x's HTTP/1.1 client on iomux::rt: one connection
//! (`rt::net::TcpStream` through `rt::hyper::HyperIo`), several requests
//! on it (keep-alive), each bounded by a timeout, and bodies of any
//! framing (content-length or chunked) read to their end.
//!
//! ```text
//! cargo run -p iomux --features hyper --example hyper_hello -- --addr 127.0.0.1:8080 &
//! cargo run -p iomux --features hyper --example hyper_client -- --addr 127.0.0.1:8080 --path /plaintext --requests 3
//! ```
//! Prints one line per response (`GET PATH -> STATUS, N bytes, FRAMING`)
//! and then its body; exits 1 on a failed or timed-out request.

use std::error::Error;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, TRANSFER_ENCODING};
use hyper::{Request, StatusCode};
use iomux::rt::hyper::HyperIo;
use iomux::rt::net::TcpStream;
use iomux::rt::{self, DriverKind, JoinHandle};

/// An error of the client, for `?` in `main`.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// One HTTP/1.1 connection to a server, for requests one after another.
pub struct Client {
    sender: SendRequest<String>,
    host: String,
    conn: JoinHandle<Result<(), hyper::Error>>,
}

/// A response, read to the end of its body.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// Whether the body came chunked (`Transfer-Encoding: chunked`).
    pub chunked: bool,
    /// The whole body.
    pub body: Vec<u8>,
}

/// A request that did not finish in time. The connection is of no more
/// use then (its request is still in flight).
#[derive(Debug)]
pub struct TimedOut(pub Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no complete response within {:?}", self.0)
    }
}

impl Error for TimedOut {}

impl Client {
    /// Connects to `addr` and does hyper's handshake; the connection's I/O
    /// runs in a task of its own (on this thread: `spawn_local`).
    pub async fn connect(addr: SocketAddr) -> Result<Client, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(HyperIo::new(stream)).await?;
        Ok(Client {
            sender,
            host: addr.to_string(),
            conn: rt::spawn_local(conn),
        })
    }

    /// `GET path` on this connection, its response and whole body within
    /// `limit` (else [`TimedOut`]).
    pub async fn get(&mut self, path: &str, limit: Duration) -> Result<Reply, BoxError> {
        let request = Request::get(path)
            .header(HOST, &self.host)
            .body(String::new())?;
        let exchange = async {
            // The previous response is read to its end, so the connection
            // is ready at once (keep-alive); this waits if it is not.
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status();
            let chunked = response
                .headers()
                .get_all(TRANSFER_ENCODING)
                .iter()
                .any(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
            let body = response.into_body().collect().await?.to_bytes().to_vec();
            Ok::<_, BoxError>(Reply {
                status,
                chunked,
                body,
            })
        };
        match rt::time::timeout(limit, exchange).await {
            Ok(reply) => reply,
            Err(_elapsed) => Err(Box::new(TimedOut(limit))),
        }
    }

    /// Closes the connection and waits for its task to end.
    pub async fn close(self) -> Result<(), BoxError> {
        drop(self.sender);
        self.conn.await.map_err(|e| e.to_string())??;
        Ok(())
    }
}

struct Args {
    addr: SocketAddr,
    paths: Vec<String>,
    requests: usize,
    timeout: Duration,
    driver: DriverKind,
}

const HELP: &str = "\
hyper_client: HTTP/1.1 GETs with hyper's client on iomux::rt, over one keep-alive connection

usage: hyper_client --addr ADDR [FLAGS]

  --addr ADDR        the server (host:port, required)
  --path PATH        the path to GET (default /plaintext; repeat for several, taken in turn)
  --requests N       requests on the connection (default 1 per --path)
  --timeout-ms MS    limit on each request, response and body (default 5000)
  --driver DRIVER    epoll|poll|select|uring-poll|uring (default epoll)
  -h, --help         print this help
";

fn parse() -> Result<Args, String> {
    let (mut addr, mut paths, mut requests, mut timeout_ms, mut driver) = (
        None,
        Vec::new(),
        None,
        5000u64,
        DriverKind::Readiness(iomux::Backend::Epoll),
    );
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--addr" => addr = Some(value()?.parse().map_err(|e| format!("--addr: {e}"))?),
            "--path" => paths.push(value()?),
            "--requests" => {
                requests = Some(value()?.parse().map_err(|e| format!("--requests: {e}"))?)
            }
            "--timeout-ms" => {
                timeout_ms = value()?.parse().map_err(|e| format!("--timeout-ms: {e}"))?
            }
            "--driver" => {
                driver = value()?
                    .parse()
                    .map_err(|e: iomux::ParseNameError| e.to_string())?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if paths.is_empty() {
        paths.push("/plaintext".into());
    }
    Ok(Args {
        addr: addr.ok_or("--addr is required")?,
        requests: requests.unwrap_or(paths.len()),
        paths,
        timeout: Duration::from_millis(timeout_ms),
        driver,
    })
}

async fn run(args: Args) -> Result<(), BoxError> {
    let mut client = Client::connect(args.addr).await?;
    for i in 0..args.requests {
        let path = &args.paths[i % args.paths.len()];
        let reply = client.get(path, args.timeout).await?;
        println!(
            "GET {path} -> {}, {} bytes, {}",
            reply.status,
            reply.body.len(),
            if reply.chunked {
                "chunked"
            } else {
                "content-length"
            }
        );
        println!("{}", String::from_utf8_lossy(&reply.body));
    }
    client.close().await
}

#[allow(dead_code)] // the integration test includes this file without running main
fn main() {
    let args = parse().unwrap_or_else(|e| {
        eprintln!("hyper_client: {e}\n(`hyper_client --help` lists the flags)");
        std::process::exit(2);
    });
    let ran = rt::Runtime::with_driver(args.driver)
        .map_err(BoxError::from)
        .and_then(|runtime| runtime.block_on(run(args)));
    if let Err(e) = ran {
        eprintln!("hyper_client: {e}");
        std::process::exit(1);
    }
}
