//! The proxy example: bytes arrive intact both ways, and a side whose
//! peer does not read holds the other side back (the proxy's backlog stays
//! near the high-water mark instead of taking in everything).

mod common;

#[path = "../examples/proxy.rs"]
mod proxy;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const HIGH_WATER: usize = 256 * 1024;
/// Far more than the kernel's socket buffers on the way can hold.
const TOTAL: usize = 32 * 1024 * 1024;
/// Without back-pressure the proxy takes in at least this much while the
/// reader waits; with it, the writer is held back long before.
const HOLD_BACK_BY: usize = 16 * 1024 * 1024;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 13)) as u8
}

/// How the writer's progress looks to the reader.
#[derive(Default)]
struct Progress {
    written: AtomicUsize,
    /// The socket stayed unwritable for a while: something holds us back.
    stalled: std::sync::atomic::AtomicBool,
}

/// How long unwritable counts as held back. Only a heuristic for when to
/// start reading: too short under load starts the reader early, which
/// weakens the check but cannot fail a working proxy.
const STALL: Duration = Duration::from_millis(300);

/// Writes `TOTAL` patterned bytes, reporting progress.
fn write_all(mut s: TcpStream, progress: Arc<Progress>) -> TcpStream {
    use rustix::event::{PollFd, PollFlags, Timespec};
    s.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    let mut filled = 0..0;
    while at < TOTAL {
        if filled.is_empty() {
            let n = buf.len().min(TOTAL - at);
            for (k, b) in buf[..n].iter_mut().enumerate() {
                *b = pattern(at + k);
            }
            filled = 0..n;
        }
        match s.write(&buf[filled.clone()]) {
            Ok(n) => {
                filled.start += n;
                at += n;
                progress.written.store(at, Ordering::Release);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(&s, PollFlags::OUT)];
                let wait = Timespec::try_from(STALL).unwrap();
                if rustix::event::poll(&mut fds, Some(&wait)).unwrap() == 0 {
                    progress.stalled.store(true, Ordering::Release);
                }
            }
            Err(e) => panic!("write through the proxy: {e}"),
        }
    }
    s.set_nonblocking(false).unwrap();
    s
}

/// Reads `TOTAL` bytes and checks the pattern.
fn read_all(s: &mut TcpStream, who: &str) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < TOTAL {
        let n = s
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("{who}: read at {at}: {e}"));
        assert!(n > 0, "{who}: EOF after {at} of {TOTAL} bytes");
        for (k, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, pattern(at + k), "{who}: byte {} corrupted", at + k);
        }
        at += n;
    }
}

/// Waits until the writer is held back, or got `HOLD_BACK_BY` bytes in
/// (which only happens without back-pressure); returns the proxy's
/// backlog then.
fn wait_for_hold_back(stats: &proxy::ProxyStats, progress: &Progress) -> usize {
    let end = Instant::now() + Duration::from_secs(30);
    while !progress.stalled.load(Ordering::Acquire)
        && progress.written.load(Ordering::Acquire) < HOLD_BACK_BY
    {
        assert!(
            Instant::now() < end,
            "the writer neither stalled nor progressed in 30 s"
        );
        std::thread::yield_now();
    }
    stats.max_backlog.load(Ordering::Acquire)
}

#[test]
fn relays_both_ways_with_back_pressure() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let (group, stats) = proxy::serve(
        "127.0.0.1:0".parse().unwrap(),
        upstream.local_addr().unwrap(),
        HIGH_WATER,
    )
    .unwrap();
    let client = TcpStream::connect(group.local_addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut server, _) = upstream.accept().unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();

    // Client to upstream, the upstream not reading at first.
    let progress = Arc::new(Progress::default());
    let writer = {
        let (client, progress) = (client.try_clone().unwrap(), Arc::clone(&progress));
        std::thread::spawn(move || write_all(client, progress))
    };
    let backlog = wait_for_hold_back(&stats, &progress);
    assert!(
        backlog < HIGH_WATER + 1024 * 1024,
        "client to upstream: {backlog} bytes piled up in the proxy (high water {HIGH_WATER})"
    );
    read_all(&mut server, "upstream");
    writer.join().unwrap();
    let pauses = stats.pauses.load(Ordering::Acquire);
    assert!(pauses > 0, "the client side was never paused");

    // Upstream to client, the client not reading at first.
    let progress = Arc::new(Progress::default());
    let writer = {
        let (server, progress) = (server.try_clone().unwrap(), Arc::clone(&progress));
        std::thread::spawn(move || write_all(server, progress))
    };
    let backlog = wait_for_hold_back(&stats, &progress);
    assert!(
        backlog < HIGH_WATER + 1024 * 1024,
        "upstream to client: {backlog} bytes piled up in the proxy (high water {HIGH_WATER})"
    );
    let mut client = client;
    read_all(&mut client, "client");
    writer.join().unwrap();
    assert!(
        stats.pauses.load(Ordering::Acquire) > pauses,
        "the upstream side was never paused"
    );
    let backlog = stats.max_backlog.load(Ordering::Acquire);
    assert!(
        backlog < HIGH_WATER + 1024 * 1024,
        "{backlog} bytes piled up in the proxy at some point (high water {HIGH_WATER})"
    );

    // One side ends: the other is closed too.
    drop(server);
    let mut buf = [0u8; 1];
    assert_eq!(client.read(&mut buf).expect("EOF once upstream is gone"), 0);
    assert_eq!(stats.upstream_failures.load(Ordering::Acquire), 0);
    group.stop();
    group.join().unwrap();
}

#[test]
fn a_refused_upstream_closes_the_client() {
    // A port nobody listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (group, _stats) = proxy::serve("127.0.0.1:0".parse().unwrap(), port, HIGH_WATER).unwrap();
    let mut client = TcpStream::connect(group.local_addr()).unwrap();
    client.set_read_timeout(Some(common::MUST)).unwrap();
    let _ = client.write_all(b"anyone?");
    let mut buf = [0u8; 16];
    let got = client.read(&mut buf);
    assert!(
        matches!(got, Ok(0))
            || got
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the client is closed when upstream refuses: {got:?}"
    );
    group.stop();
    group.join().unwrap();
}
