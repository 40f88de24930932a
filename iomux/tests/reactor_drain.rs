//! `shutdown_gracefully`: the listeners close, what has arrived is
//! answered and sent, each connection then ends with an EOF, idle ones at
//! once, and whatever is still open at the deadline is cut and counted.

#[macro_use]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::Echo;
use iomux::Mode;
use iomux::reactor::{LoopGroup, Sharing, Stats};

/// Every wait of these tests.
const WAIT: Duration = Duration::from_secs(10);

fn group(backend: common::Variant, loops: usize, sharing: Sharing) -> LoopGroup {
    let cfg = backend.config().with_mode(Mode::Level);
    LoopGroup::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        loops,
        cfg,
        Arc::new(|| Box::new(Echo)),
        sharing,
    )
    .unwrap_or_else(|e| panic!("{backend}: cannot start the loops: {e}"))
}

fn connect(group: &LoopGroup) -> TcpStream {
    let s = TcpStream::connect(group.local_addr()).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// Joins the group on another thread, failing if it takes longer than WAIT.
fn join_within(group: LoopGroup, what: &str) -> Vec<Stats> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(group.join_stats());
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("{what}: the loops did not end within {WAIT:?}"))
        .expect("the loops ended with an error")
}

fn assert_eof(s: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => {}
        other => panic!("{what}: expected EOF, got {other:?}"),
    }
}

fn in_flight_answered_then_eof(backend: common::Variant) {
    for sharing in [Sharing::ReusePort, Sharing::RoundRobin] {
        let group = group(backend, 2, sharing);
        let addr = group.local_addr();
        let payload: Vec<u8> = (0..40_000).map(|i| (i % 253) as u8).collect();
        let mut busy: Vec<TcpStream> = (0..10).map(|_| connect(&group)).collect();
        for s in busy.iter_mut() {
            s.write_all(b"up").unwrap();
            let mut got = [0u8; 2];
            s.read_exact(&mut got).expect("the first echo");
            s.write_all(&payload).unwrap();
        }
        let mut idle = connect(&group);
        idle.write_all(b"hi").unwrap();
        let mut got = [0u8; 2];
        idle.read_exact(&mut got).expect("the idle one's echo");
        group.shutdown_gracefully(Instant::now() + Duration::from_secs(60));
        for (i, s) in busy.iter_mut().enumerate() {
            let mut back = vec![0u8; payload.len()];
            s.read_exact(&mut back)
                .unwrap_or_else(|e| panic!("{backend} {sharing:?}: conn {i}: cut: {e}"));
            assert!(
                back == payload,
                "{backend} {sharing:?}: conn {i}: echo differs"
            );
            assert_eof(
                s,
                &format!("{backend} {sharing:?}: conn {i} after its answer"),
            );
        }
        assert_eof(
            &mut idle,
            &format!("{backend} {sharing:?}: the idle connection"),
        );
        let stats = join_within(group, &format!("{backend} {sharing:?}"));
        let cut: u64 = stats.iter().map(|s| s.cut).sum();
        assert_eq!(cut, 0, "{backend} {sharing:?}: connections cut");
        let refused = TcpStream::connect(addr);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused),
            "{backend} {sharing:?}: a connect after the stop: {refused:?}"
        );
    }
}
on_every_reactor_driver!(in_flight_answered_then_eof);

fn never_reader_cut_at_deadline(backend: common::Variant) {
    let group = group(backend, 1, Sharing::ReusePort);
    let s = connect(&group);
    // The loop echoes into a peer that reads nothing until its output
    // passes the high water; then it stops reading and our writes block.
    s.set_nonblocking(true).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let (mut w, end) = (&s, Instant::now() + WAIT);
    let mut quiet = 0;
    while quiet < 5 {
        match w.write(&chunk) {
            Ok(_) => quiet = 0,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                quiet += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{backend}: stuffing: {e}"),
        }
        assert!(
            Instant::now() < end,
            "{backend}: the loop never stopped reading"
        );
    }
    let bound = Duration::from_millis(300);
    let started = Instant::now();
    group.shutdown_gracefully(started + bound);
    let stats = join_within(group, &format!("{backend}"));
    let took = started.elapsed();
    assert_eq!(stats[0].cut, 1, "{backend}: the never-reader is cut");
    assert!(
        took >= bound,
        "{backend}: the loop ended {took:?} after the request, before its {bound:?} deadline"
    );
}
on_every_reactor_driver!(never_reader_cut_at_deadline);
