//! `LoopGroup`: several loops serve one address, with SO_REUSEPORT
//! listeners, one EPOLLEXCLUSIVE-shared listener, or one listener dealing
//! connections out round-robin; stop ends them all.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::Echo;
use iomux::reactor::{LoopGroup, Sharing};
use iomux::{Backend, Mode};

/// Echo on `loops` loops of `backend` sharing a free port on loopback.
fn bind(backend: common::Variant, loops: usize, sharing: Sharing) -> std::io::Result<LoopGroup> {
    let cfg = backend.config().with_mode(Mode::Level);
    LoopGroup::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        loops,
        cfg,
        Arc::new(|| Box::new(Echo)),
        sharing,
    )
}

fn serve(backend: common::Variant, sharing: Sharing) {
    let group = bind(backend, 3, sharing).unwrap();
    assert_eq!(group.handles().len(), 3);
    let mut conns: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(group.local_addr()).unwrap())
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let msg = format!("{backend} {sharing:?} {i}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, msg.as_bytes());
    }
    group.stop();
    group.join().unwrap();
}

fn reuseport_on_every_backend(backend: common::Variant) {
    serve(backend, Sharing::ReusePort);
}
on_reactor_drivers!(reuseport_on_every_backend: select = Select, poll = Poll, epoll = Epoll);

#[test]
fn exclusive_sharing_on_the_completion_driver() {
    // Nothing to ask for: each multishot accept takes one connection.
    if let Some(v) = common::completion() {
        serve(v, Sharing::Exclusive);
    }
}

#[test]
fn exclusive_shared_listener_on_epoll() {
    serve(
        common::Variant::readiness(Backend::Epoll),
        Sharing::Exclusive,
    );
    let refused = bind(
        common::Variant::readiness(Backend::Poll),
        2,
        Sharing::Exclusive,
    );
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::Unsupported)
    );
}

fn round_robin_on_every_backend(backend: common::Variant) {
    if !backend.is_completion()
        && backend.backend == Backend::IoUring
        && iomux::Poller::with_backend(backend.backend).is_err()
    {
        return; // reported by the io_uring tests
    }
    serve(backend, Sharing::RoundRobin);
}
on_every_reactor_driver!(round_robin_on_every_backend);

/// One acceptor deals connections out in turn: with 3 loops and 30
/// connections made one after the other, each loop serves exactly 10.
#[test]
fn round_robin_spreads_exactly() {
    for v in common::reactor_variants(&[Backend::Poll]) {
        round_robin_spreads_exactly_on(v);
    }
}

fn round_robin_spreads_exactly_on(v: common::Variant) {
    let group = bind(v, 3, Sharing::RoundRobin).unwrap();
    let mut conns = Vec::new();
    for i in 0..30u8 {
        // Each connection answers before the next is made, so the accepts
        // happen in connection order.
        let mut c = TcpStream::connect(group.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(&[i]).unwrap();
        let mut got = [0u8; 1];
        c.read_exact(&mut got).expect("echo within 10 s");
        assert_eq!(got[0], i);
        conns.push(c);
    }
    group.stop();
    let stats = group.join_stats().unwrap();
    let accepted: Vec<u64> = stats.iter().map(|s| s.accepted).collect();
    assert_eq!(
        accepted,
        vec![10, 10, 10],
        "{v}: connections served per loop"
    );
}

#[test]
fn round_robin_skips_a_loop_that_died() {
    for backend in common::reactor_variants(&[Backend::Select, Backend::Poll, Backend::Epoll]) {
        let group = bind(backend, 3, Sharing::RoundRobin).unwrap();
        let dead = group.handles()[1].clone();
        // A bug outside any handler kills loop 1's thread (the panic
        // message printed by the harness is expected).
        dead.post(|_| panic!("a loop dies")).unwrap();
        let end = std::time::Instant::now() + common::MUST;
        while dead.is_alive() {
            assert!(
                std::time::Instant::now() < end,
                "{backend}: loop 1 did not die"
            );
            std::thread::yield_now();
        }
        // Every connection is served: none is handed to the dead loop.
        for i in 0..9 {
            let mut c = TcpStream::connect(group.local_addr()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let msg = format!("{backend} after the death {i}");
            c.write_all(msg.as_bytes()).unwrap();
            let mut got = vec![0u8; msg.len()];
            c.read_exact(&mut got)
                .unwrap_or_else(|e| panic!("{backend}: connection {i} not served: {e}"));
            assert_eq!(got, msg.as_bytes());
        }
        group.stop();
        assert!(group.join().is_err(), "the dead loop's panic is reported");
    }
}
