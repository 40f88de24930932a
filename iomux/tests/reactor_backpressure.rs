//! Back-pressure on sends from outside a connection's callbacks: past
//! `Limits::high_water` unsent bytes, `LoopHandle::send` (another thread)
//! and `EventLoop::send` (the loop's thread) refuse with `WouldBlock` and
//! say how much is unsent; a thread outside the loop learns when the
//! output has drained; the posted-task queue is bounded; connection ids
//! are unique across the loops of a group and handles key maps. On every
//! backend.

#[macro_use]
mod common;

use std::collections::{HashMap, HashSet};
use std::io::{self, ErrorKind, Read};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use common::{MUST, MUST_NOT, pair};
use iomux::Mode;
use iomux::conn::{ConnId, Context, Handler, Limits};
use iomux::reactor::{Backpressure, Config, EventLoop, LoopGroup, LoopHandle, Sharing};

/// The high-water mark of these tests.
const HW: usize = 256 * 1024;
/// One message: 64 KiB, as in the issue.
const CHUNK: usize = 64 * 1024;
/// Messages offered to a peer that reads nothing (4,096 × 64 KiB = 256 MiB).
const OFFERED: usize = 4096;

fn config(backend: common::Variant, mode: Mode) -> Config {
    backend
        .config()
        .with_mode(mode)
        .with_limits(Limits::default().with_high_water(HW))
}

/// Reads nothing it is not sent, answers nothing.
struct Quiet;
impl Handler for Quiet {}

/// What the kernel may hold of a sender's bytes for a peer that reads
/// nothing: a bound, from the sending socket's SO_SNDBUF.
fn kernel_room(server: &UnixStream) -> usize {
    let sndbuf = rustix::net::sockopt::socket_send_buffer_size(server).expect("SO_SNDBUF");
    2 * sndbuf
}

/// A loop running on a thread of its own, serving one connection whose
/// peer (`peer`) reads nothing until the test says so.
struct Running {
    handle: LoopHandle,
    id: ConnId,
    peer: UnixStream,
    kernel: usize,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    fn start(cfg: Config) -> Running {
        let (server, peer) = pair();
        let kernel = kernel_room(&server);
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut el = EventLoop::new(cfg)?;
            let id = el.add_connection(server, Box::new(Quiet))?;
            tx.send((el.handle(), id)).expect("the test waits");
            el.run()
        });
        let (handle, id) = rx
            .recv_timeout(MUST)
            .unwrap_or_else(|e| panic!("{}: the loop did not start: {e}", cfg.backend));
        Running {
            handle,
            id,
            peer,
            kernel,
            thread: Some(thread),
        }
    }

    /// The connection's unsent bytes as the loop sees them once they stop
    /// changing: it has run every task posted before (the sends among
    /// them), and the kernel has taken what it can of them. (On the
    /// completion driver a send queued in one turn reaches the kernel at
    /// the next turn's enter, and the rest of a short one at the turn
    /// after: one round trip is not enough there.)
    fn settle(&self) -> usize {
        let mut last = self.settle_once();
        for _ in 0..16 {
            let now = self.settle_once();
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("the loop's unsent count did not settle: {last} last");
    }

    /// One round trip to the loop: its unsent count after every task
    /// posted before.
    fn settle_once(&self) -> usize {
        let (tx, rx) = mpsc::channel();
        let id = self.id;
        self.handle
            .post(move |el| {
                let _ = tx.send(el.unsent(id));
            })
            .expect("post to the loop");
        rx.recv_timeout(MUST)
            .expect("the loop did not run a posted task within 5 s")
            .expect("the connection closed")
    }

    /// Sends 64 KiB messages from this thread until the connection is
    /// refused with everything posted queued by the loop; returns the bytes
    /// taken and the refusal. Panics if all 4,096 are taken.
    fn fill(&self, what: &str) -> (usize, io::Error) {
        let chunk = vec![7u8; CHUNK];
        let mut taken = 0;
        for _ in 0..OFFERED {
            match self.handle.send(self.id, chunk.clone()) {
                Ok(backlog) => {
                    taken += CHUNK;
                    assert!(backlog >= CHUNK, "{what}: backlog {backlog} after a send");
                }
                Err(e) => {
                    // The loop may have written some of what was in flight
                    // meanwhile; once it has queued everything and the
                    // connection is still at the mark, the refusal stands.
                    if self.settle() >= HW {
                        return (taken, e);
                    }
                }
            }
        }
        panic!(
            "{what}: {OFFERED} sends of 64 KiB to a peer that reads nothing were all taken ({} MiB)",
            taken >> 20
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.handle.stop();
        if let Some(t) = self.thread.take() {
            let done = t.join();
            if !std::thread::panicking() {
                done.expect("the loop thread panicked")
                    .expect("the loop failed");
            }
        }
    }
}

fn assert_high_water(e: &io::Error, what: &str) -> usize {
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{what}: {e}");
    match Backpressure::of(e) {
        Some(Backpressure::HighWater { unsent, high_water }) => {
            assert_eq!(high_water, HW, "{what}");
            assert!(
                unsent >= HW,
                "{what}: refused at {unsent} unsent, below the mark"
            );
            unsent
        }
        other => panic!("{what}: a WouldBlock without the high-water count: {other:?} ({e})"),
    }
}

/// (a) A peer that never reads: sends from another thread are refused past
/// the high-water mark, the unsent count is in the error and readable from
/// the handle, and what the loop holds stays bounded.
fn handle_send_is_refused_past_high_water(backend: common::Variant) {
    let r = Running::start(config(backend, Mode::Level));
    let what = format!("{backend}: LoopHandle::send");
    let (taken, _) = r.fill(&what);
    assert!(
        taken <= HW + CHUNK + r.kernel,
        "{what}: {taken} bytes taken for a peer that reads nothing (mark {HW}, kernel room {})",
        r.kernel
    );
    // The loop is idle now (everything queued, the socket full): the state
    // is steady, and every further send is refused with nothing queued.
    let unsent = r.settle();
    assert_eq!(
        r.handle.unsent(r.id),
        Some(unsent),
        "{what}: the handle's count"
    );
    for _ in 0..3 {
        let e = r.handle.send(r.id, vec![1u8; CHUNK]).unwrap_err();
        assert_eq!(
            assert_high_water(&e, &what),
            unsent,
            "{what}: the refusal's count"
        );
    }
    assert_eq!(r.settle(), unsent, "{what}: a refused send queued bytes");
    assert_eq!(
        r.handle.unsent(r.id),
        Some(unsent),
        "{what}: the handle's count"
    );
}
on_every_reactor_driver!(handle_send_is_refused_past_high_water);

/// (b) The same through `EventLoop::send` on the loop's thread.
fn event_loop_send_is_refused_past_high_water(backend: common::Variant) {
    let what = format!("{backend}: EventLoop::send");
    let mut el = EventLoop::new(config(backend, Mode::Level))
        .unwrap_or_else(|e| panic!("{what}: no event loop: {e}"));
    let (server, _peer) = pair();
    let kernel = kernel_room(&server);
    let id = el.add_connection(server, Box::new(Quiet)).unwrap();
    let chunk = vec![7u8; CHUNK];
    let mut taken = 0;
    let refused = (0..OFFERED).find_map(|_| match el.send(id, &chunk) {
        Ok(unsent) => {
            taken += CHUNK;
            assert_eq!(el.unsent(id), Some(unsent), "{what}");
            None
        }
        Err(e) => Some(e),
    });
    let e = refused.unwrap_or_else(|| {
        panic!("{what}: {OFFERED} sends of 64 KiB to a peer that reads nothing were all taken")
    });
    let unsent = assert_high_water(&e, &what);
    assert_eq!(el.unsent(id), Some(unsent), "{what}: the refusal's count");
    assert!(
        taken <= HW + CHUNK + kernel,
        "{what}: {taken} bytes taken (mark {HW}, kernel room {kernel})"
    );
    let again = el.send(id, b"more").unwrap_err();
    assert_high_water(&again, &what);
    assert_eq!(
        el.unsent(id),
        Some(unsent),
        "{what}: a refused send queued bytes"
    );
}
on_every_reactor_driver!(event_loop_send_is_refused_past_high_water);

/// (c) A thread outside the loop learns when the connection drained:
/// not while the peer reads nothing, and once it has read everything.
fn drain_notice_fires_once_the_peer_has_read_everything(backend: common::Variant) {
    for mode in [Mode::Level, Mode::Edge] {
        let what = format!("{backend} {mode:?}: when_drained");
        let r = Running::start(config(backend, mode));
        let (taken, _) = r.fill(&what);
        let (tx, rx) = mpsc::channel();
        r.handle
            .when_drained(r.id, move |outcome| {
                let _ = tx.send(outcome);
            })
            .unwrap_or_else(|e| panic!("{what}: refused: {e}"));
        if let Ok(early) = rx.recv_timeout(MUST_NOT) {
            panic!("{what}: told {early:?} while the peer had read nothing");
        }

        let mut peer = &r.peer;
        peer.set_nonblocking(false).unwrap();
        peer.set_read_timeout(Some(MUST)).unwrap();
        let mut got = vec![0u8; taken];
        peer.read_exact(&mut got).unwrap_or_else(|e| {
            panic!("{what}: the peer did not get the {taken} bytes taken: {e}")
        });
        assert!(got.iter().all(|&b| b == 7), "{what}: the bytes changed");

        match rx.recv_timeout(MUST) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{what}: told {e} rather than drained"),
            Err(e) => panic!("{what}: no drain notice within 5 s of the peer reading all: {e}"),
        }
        assert_eq!(r.handle.unsent(r.id), Some(0), "{what}: the handle's count");
        assert!(
            r.handle.send(r.id, vec![7u8; CHUNK]).is_ok(),
            "{what}: sending again after the drain"
        );
    }
}
on_every_reactor_driver!(drain_notice_fires_once_the_peer_has_read_everything);

/// The drain notice is called exactly once: `NotFound` when the connection
/// closes first, `NotConnected` when the loop exits first; a request for a
/// closed connection is refused at once.
fn drain_notice_reports_a_close_and_an_exit(backend: common::Variant) {
    let what = format!("{backend}: when_drained");
    let r = Running::start(config(backend, Mode::Level));
    r.fill(&what);
    let (tx, rx) = mpsc::channel();
    r.handle
        .when_drained(r.id, move |outcome| {
            let _ = tx.send(outcome);
        })
        .unwrap();
    let id = r.id;
    r.handle
        .post(move |el| {
            el.close(id);
        })
        .unwrap();
    let told = rx
        .recv_timeout(MUST)
        .unwrap_or_else(|e| panic!("{what}: nothing said of a closed connection in 5 s: {e}"));
    assert_eq!(
        told.map_err(|e| e.kind()),
        Err(ErrorKind::NotFound),
        "{what}: closed first"
    );
    let refused = r.handle.when_drained(r.id, |_| {}).unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::NotFound,
        "{what}: closed already"
    );
    assert_eq!(
        r.handle.unsent(r.id),
        None,
        "{what}: a closed connection's count"
    );

    // A loop that exits with the request still queued: NotConnected.
    let mut el = EventLoop::new(config(backend, Mode::Level)).unwrap();
    let (server, _peer) = pair();
    let id = el.add_connection(server, Box::new(Quiet)).unwrap();
    let (tx, rx) = mpsc::channel();
    el.handle()
        .when_drained(id, move |outcome| {
            let _ = tx.send(outcome);
        })
        .unwrap();
    drop(el);
    let told = rx
        .recv_timeout(MUST)
        .unwrap_or_else(|e| panic!("{what}: nothing said when the loop exited: {e}"));
    assert_eq!(
        told.map_err(|e| e.kind()),
        Err(ErrorKind::NotConnected),
        "{what}: the loop exited first"
    );
}
on_every_reactor_driver!(drain_notice_reports_a_close_and_an_exit);

/// Tells the test which loop and id each new connection got.
struct Report(mpsc::Sender<(LoopHandle, ConnId)>);
impl Handler for Report {
    fn on_open(&mut self, cx: &mut Context<'_>) {
        let _ = self.0.send((cx.handle(), cx.id()));
    }
}

/// (d) Two connections on two loops of a group have different ids (shown
/// differently too), and handles key a map by loop.
fn conn_ids_differ_across_the_loops_of_a_group(backend: common::Variant) {
    let what = format!("{backend}: LoopGroup");
    let (tx, rx) = mpsc::channel();
    let group = LoopGroup::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        2,
        config(backend, Mode::Level),
        Arc::new(move || Box::new(Report(tx.clone()))),
        Sharing::RoundRobin,
    )
    .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    // Round-robin: the first connection to loop 0, the second to loop 1.
    let _clients: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(group.local_addr()).expect("connect"))
        .collect();
    let opened: Vec<(LoopHandle, ConnId)> = (0..2)
        .map(|i| {
            rx.recv_timeout(MUST)
                .unwrap_or_else(|e| panic!("{what}: connection {i} not opened in 5 s: {e}"))
        })
        .collect();
    let [(h0, a), (h1, b)] = [opened[0].clone(), opened[1].clone()];
    assert_ne!(h0, h1, "{what}: both connections on one loop");
    assert_ne!(a, b, "{what}: connections on two loops share an id");
    assert_ne!(a.to_string(), b.to_string(), "{what}: shown alike");
    assert_ne!(format!("{a:?}"), format!("{b:?}"), "{what}: debugged alike");
    assert_eq!(a.loop_id(), h0.loop_id(), "{what}");
    assert_eq!(b.loop_id(), h1.loop_id(), "{what}");

    // Handles key a map: the group's handles and the callbacks' are equal.
    // (Clippy cannot see that a handle hashes its loop's fixed number.)
    #[allow(clippy::mutable_key_type)]
    let mut by_loop: HashMap<LoopHandle, Vec<ConnId>> = HashMap::new();
    for (h, id) in &opened {
        by_loop.entry(h.clone()).or_default().push(*id);
    }
    for h in group.handles() {
        by_loop.entry(h.clone()).or_default();
    }
    assert_eq!(by_loop.len(), 2, "{what}: {by_loop:?}");
    assert_eq!(by_loop[&group.handles()[0]], [a], "{what}");
    assert_eq!(by_loop[&group.handles()[1]], [b], "{what}");
    let ids: HashSet<ConnId> = opened.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), 2, "{what}");

    // An id is its loop's: another loop knows no such connection.
    assert_eq!(
        h0.unsent(b),
        None,
        "{what}: loop 0 counts loop 1's connection"
    );
    let e = h0.send(b, &b"astray"[..]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: sent astray");
    assert!(h1.send(b, &b"home"[..]).is_ok(), "{what}");

    group.stop();
    group.join().unwrap();
}
on_every_reactor_driver!(conn_ids_differ_across_the_loops_of_a_group);

/// (e) The posted-task queue is bounded: a post past the bound is refused
/// with `WouldBlock` (nothing blocks), as are sends and drain requests
/// (leaving no count behind); stop still gets through, and once the loop
/// has run the queue, posting works again.
fn the_task_queue_is_bounded(backend: common::Variant) {
    let what = format!("{backend}: the task queue");
    let mut el = EventLoop::new(config(backend, Mode::Level).with_max_posted_tasks(4))
        .unwrap_or_else(|e| panic!("{what}: no event loop: {e}"));
    let (server, _peer) = pair();
    let id = el.add_connection(server, Box::new(Quiet)).unwrap();
    let handle = el.handle();
    let (ran_tx, ran) = mpsc::channel();
    for i in 0..4 {
        let ran_tx = ran_tx.clone();
        handle
            .post(move |_| ran_tx.send(i).unwrap())
            .unwrap_or_else(|e| panic!("{what}: task {i} refused: {e}"));
    }
    let full = |e: io::Error, op: &str| {
        assert_eq!(e.kind(), ErrorKind::WouldBlock, "{what}: {op}: {e}");
        assert_eq!(
            Backpressure::of(&e),
            Some(Backpressure::QueueFull { limit: 4 }),
            "{what}: {op}"
        );
    };
    full(handle.post(|_| {}).unwrap_err(), "post");
    full(handle.send(id, &b"x"[..]).unwrap_err(), "send");
    assert_eq!(
        handle.unsent(id),
        Some(0),
        "{what}: a refused send left a count"
    );
    let (tx, told) = mpsc::channel::<io::Result<()>>();
    full(
        handle
            .when_drained(id, move |r| {
                let _ = tx.send(r);
            })
            .unwrap_err(),
        "when_drained",
    );
    assert!(
        matches!(told.try_recv(), Err(mpsc::TryRecvError::Disconnected)),
        "{what}: a refused drain request was called (or kept)"
    );
    handle
        .stop()
        .unwrap_or_else(|e| panic!("{what}: stop refused: {e}"));

    el.turn(Some(std::time::Duration::ZERO)).unwrap();
    let order: Vec<i32> = ran.try_iter().collect();
    assert_eq!(order, [0, 1, 2, 3], "{what}: the queued tasks");
    handle
        .post(|_| {})
        .unwrap_or_else(|e| panic!("{what}: refused after the queue ran: {e}"));
    assert_eq!(handle.send(id, &b"x"[..]).unwrap(), 1, "{what}");
}
on_every_reactor_driver!(the_task_queue_is_bounded);
