//! Fairness: while one peer floods the echo server as fast as loopback
//! goes, a peer sending one byte at a time still gets each byte back
//! promptly.
//!
//! On the event loops, `--model uring` and `--model rt` over each driver.

mod serve_common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serve_common::Server;

const ROUND_TRIP_BOUND: Duration = Duration::from_secs(3);
const MIN_ROUND_TRIPS: u32 = 100;
const FLOOD_PROGRESS: u64 = 1 << 20;
const FLOOD_PROGRESS_BOUND: Duration = Duration::from_secs(20);

fn flood_does_not_starve(model: &str, mode: &str) {
    let server = Server::start(model, mode, "echo", &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let echoed = Arc::new(AtomicU64::new(0));
    let mut fw = server.connect();
    let mut fr = fw.try_clone().unwrap();
    let flooding = Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let chunk = vec![0x55u8; 256 * 1024];
        while !flooding.load(Ordering::Relaxed) {
            fw.write_all(&chunk).expect("flood write");
        }
        fw.shutdown(Shutdown::Write).unwrap();
    });
    let counter = Arc::clone(&echoed);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match fr.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => counter.fetch_add(n as u64, Ordering::Relaxed),
                Err(e) => panic!("flood read: {e}"),
            };
        }
    });
    server.wait_until("the flood to be under way", || {
        echoed.load(Ordering::Relaxed) > 32 << 20
    });

    let mut small = server.connect();
    // Starved means no answer while the flood lasts, and the flood lasts
    // until these round trips are done: so each read is bounded. The bound
    // is loose because CI machines are busy; a starving server misses it
    // by far (it never answers).
    small.set_read_timeout(Some(ROUND_TRIP_BOUND)).unwrap();
    let mut worst = Duration::ZERO;
    let before = echoed.load(Ordering::Relaxed);
    // At least MIN_ROUND_TRIPS, and on until the flood has moved on by
    // FLOOD_PROGRESS, so that the round trips are measured under a live
    // flood however the threads happen to be scheduled; a server that
    // serves the small peer by stalling the flood fails the deadline.
    let deadline = Instant::now() + FLOOD_PROGRESS_BOUND;
    let mut i = 0u32;
    while i < MIN_ROUND_TRIPS || echoed.load(Ordering::Relaxed) - before < FLOOD_PROGRESS {
        assert!(
            Instant::now() < deadline,
            "the flood moved {} bytes in {FLOOD_PROGRESS_BOUND:?} while the small peer was served",
            echoed.load(Ordering::Relaxed) - before
        );
        let byte = i as u8;
        let t = Instant::now();
        small.write_all(&[byte]).unwrap();
        let mut b = [0u8; 1];
        small.read_exact(&mut b).expect("the 1-byte peer starved");
        assert_eq!(b[0], byte);
        worst = worst.max(t.elapsed());
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    reader.join().unwrap();
    assert!(
        worst < ROUND_TRIP_BOUND,
        "worst 1-byte round trip {worst:?} while flooded"
    );
}
per_variant!(flood_does_not_starve: event_loops, uring, rt);
