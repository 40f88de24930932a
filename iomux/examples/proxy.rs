//! A TCP proxy on the reactor: each accepted client gets a connection of
//! its own to the upstream server, and bytes are relayed both ways, with
//! back-pressure both ways: when one side's unsent output reaches the
//! high-water mark, the proxy stops reading the other side until that
//! output has drained, so a slow reader on either end holds the fast
//! writer back instead of growing the proxy's memory.
//!
//! `cargo run --example proxy -- <upstream host:port>`, then point clients
//! at the printed address.
//!
//! What it shows: two connections per session (the upstream one made in
//! the client's `on_open` with a non-blocking connect and
//! `EventLoop::add_connection`), `EventLoop::send` to the other side and
//! the unsent count it returns, `pause_reading` / `resume_reading`, and
//! `on_write_complete`. When one side ends, the other is closed once what
//! is owed to it is sent (half-closes are not relayed).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use iomux::conn::{CloseReason, ConnId, Context, Handler, Limits};
use iomux::reactor::{Config, LoopGroup, LoopHandle};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// What the proxy did, for the curious (and the tests).
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Times one side was paused because the other's output was full.
    pub pauses: AtomicU64,
    /// The most bytes ever left unsent on one side right after a relay.
    pub max_backlog: AtomicUsize,
    /// Sessions whose upstream connection could not be made.
    pub upstream_failures: AtomicU64,
}

/// One side of a session: relays what it reads to `other`.
struct Side {
    /// The other side's connection; `None` until made (or if it failed).
    other: Option<ConnId>,
    /// For the client side: where to connect in `on_open`.
    upstream: Option<SocketAddr>,
    high_water: usize,
    stats: Arc<ProxyStats>,
    /// This side's loop, to close the other side from `on_close`.
    home: Option<LoopHandle>,
}

impl Side {
    fn new(upstream: Option<SocketAddr>, high_water: usize, stats: Arc<ProxyStats>) -> Side {
        Side {
            other: None,
            upstream,
            high_water,
            stats,
            home: None,
        }
    }
}

/// A socket connecting to `addr` without blocking: the handshake finishes
/// in the background, and output queued meanwhile waits for writability
/// like any other. A refused connect shows up as an error event.
fn connect_nonblocking(addr: SocketAddr) -> io::Result<rustix::fd::OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => Ok(fd),
        Err(e) => Err(e.into()),
    }
}

impl Handler for Side {
    fn on_open(&mut self, cx: &mut Context<'_>) {
        self.home = Some(cx.handle());
        let Some(upstream) = self.upstream else {
            return; // the upstream side: its client made it
        };
        let client = cx.id();
        let back = Side {
            other: Some(client),
            ..Side::new(None, self.high_water, Arc::clone(&self.stats))
        };
        let made = connect_nonblocking(upstream)
            .and_then(|fd| cx.event_loop().add_connection(fd, Box::new(back)));
        match made {
            Ok(id) => self.other = Some(id),
            Err(_) => {
                self.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
                cx.close();
            }
        }
    }

    fn on_message(&mut self, cx: &mut Context<'_>, input: &[u8]) -> usize {
        let Some(other) = self.other else {
            cx.close();
            return input.len();
        };
        match cx.event_loop().send(other, input) {
            Ok(unsent) => {
                self.stats.max_backlog.fetch_max(unsent, Ordering::Relaxed);
                if unsent >= self.high_water {
                    // The other side's peer reads slower than ours writes:
                    // stop reading ours until that output drains (the other
                    // side's `on_write_complete` resumes us).
                    self.stats.pauses.fetch_add(1, Ordering::Relaxed);
                    cx.pause_reading();
                }
            }
            Err(_) => cx.close(), // the other side is gone or closing
        }
        input.len()
    }

    fn on_write_complete(&mut self, cx: &mut Context<'_>) {
        // Our output drained: the other side may read again.
        if let Some(other) = self.other {
            let _ = cx.event_loop().resume_reading(other);
        }
    }

    fn on_close(&mut self, _reason: CloseReason) {
        // The session is over: the other side goes once its output is out.
        if let (Some(other), Some(home)) = (self.other, &self.home) {
            let _ = home.post(move |el| {
                let _ = el.close_when_sent(other);
            });
        }
    }
}

/// Proxies `listen` to `upstream` with one loop; a connection stops
/// reading once the other side has `high_water` bytes unsent.
pub fn serve(
    listen: SocketAddr,
    upstream: SocketAddr,
    high_water: usize,
) -> io::Result<(LoopGroup, Arc<ProxyStats>)> {
    let stats = Arc::new(ProxyStats::default());
    let shared = Arc::clone(&stats);
    let cfg = Config::default().with_limits(Limits::default().with_high_water(high_water));
    let group = LoopGroup::bind(
        listen,
        1,
        cfg,
        Arc::new(move || Box::new(Side::new(Some(upstream), high_water, Arc::clone(&shared)))),
    )?;
    Ok((group, stats))
}

/// `--help`: the arguments this example takes.
#[allow(dead_code)] // the integration test includes this file without running main
const HELP: &str = "\
proxy: a TCP proxy on the reactor with back-pressure both ways

usage: proxy UPSTREAM

  UPSTREAM    the server to relay to, host:port (required)
  -h, --help  print this help

Listens on 127.0.0.1 (a free port, printed).
";

#[allow(dead_code)] // the integration test includes this file without running main
fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(());
    }
    let upstream: SocketAddr = std::env::args()
        .nth(1)
        .ok_or("usage: proxy <upstream host:port>")?
        .parse()?;
    let (group, _) = serve("127.0.0.1:0".parse()?, upstream, 256 * 1024)?;
    println!("proxy on {} to {upstream}", group.local_addr());
    group.join()?;
    Ok(())
}
