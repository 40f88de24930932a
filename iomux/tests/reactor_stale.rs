//! A stale event in a batch: while dispatching one connection's event, the
//! loop closes a second connection whose event is later in the same batch,
//! and the fd number is reused by a new connection at once. The second
//! event must be dropped, not delivered to the newcomer.
//!
//! The batches are the readiness driver's (`turn_with` shows each event
//! before it is dispatched); the completion driver has none to show, and
//! drops a stale completion by the generation in its user data. What both
//! share runs on both: ids of reused slots finding nothing, and a
//! connection closed with bytes on their way reaching no newcomer.

#[macro_use]
mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iomux::conn::{Action, ConnId, Handler};
use iomux::reactor::{Config, EventLoop};
use iomux::{Backend, Mode};

type Log = Arc<Mutex<Vec<(&'static str, Vec<u8>)>>>;

struct Recorder {
    name: &'static str,
    log: Log,
}

impl Handler for Recorder {
    fn on_data(&mut self, input: &[u8], _output: &mut Vec<u8>) -> (usize, Action) {
        self.log.lock().unwrap().push((self.name, input.to_vec()));
        (input.len(), Action::Continue)
    }
}

fn pair(l: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    (client, server)
}

/// fd numbers are per process: while one test frees an fd and expects
/// its next accept to get that number, no other test may open one.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn stale_event_in_batch(backend: Backend, mode: Mode) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let log: Log = Arc::default();
    let rec = |name| {
        Box::new(Recorder {
            name,
            log: Arc::clone(&log),
        })
    };
    let mut el = EventLoop::new(Config::default().with_backend(backend).with_mode(mode)).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut ca, sa) = pair(&l);
    let (mut cb, sb) = pair(&l);
    let (fd_a, fd_b) = (sa.as_raw_fd(), sb.as_raw_fd());
    let a = el.add_connection(sa, rec("A")).unwrap();
    let b = el.add_connection(sb, rec("B")).unwrap();
    // The newcomer's connection waits in the backlog.
    let mut cc = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    ca.write_all(b"from a").unwrap();
    cb.write_all(b"from b").unwrap();

    let mut seen = Vec::new();
    let mut newcomer: Option<ConnId> = None;
    let mut reused = false;
    // Both are readable before the wait, so one batch holds both events.
    el.turn_with(Some(Duration::from_secs(5)), |el, ev| {
        let Some(id) = ConnId::of(ev) else { return };
        seen.push(id);
        if newcomer.is_some() {
            return;
        }
        let (victim, victim_fd) = if id == a { (b, fd_b) } else { (a, fd_a) };
        assert!(el.close(victim));
        let (sc, _) = l.accept().unwrap();
        reused = sc.as_raw_fd() == victim_fd;
        newcomer = Some(el.add_connection(sc, rec("C")).unwrap());
    })
    .unwrap();
    assert_eq!(seen.len(), 2, "{backend}: both events in one batch");
    assert!(
        reused,
        "{backend}: the newcomer did not get the closed fd number"
    );
    assert_eq!(
        el.stats().stale_events,
        1,
        "{backend}: the stale event was not dropped"
    );
    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 1, "{backend}: {log:?}");
        assert!(log[0].0 != "C", "{backend}: C got someone else's event");
    }
    // The newcomer is served normally afterwards.
    cc.write_all(b"from c").unwrap();
    for _ in 0..50 {
        el.turn(Some(Duration::from_millis(100))).unwrap();
        if log.lock().unwrap().iter().any(|(who, _)| *who == "C") {
            break;
        }
    }
    let log = log.lock().unwrap();
    assert!(
        log.contains(&("C", b"from c".to_vec())),
        "{backend}: {log:?}"
    );
}

#[test]
fn select_level() {
    stale_event_in_batch(Backend::Select, Mode::Level);
}
#[test]
fn select_edge() {
    stale_event_in_batch(Backend::Select, Mode::Edge);
}
#[test]
fn poll_level() {
    stale_event_in_batch(Backend::Poll, Mode::Level);
}
#[test]
fn poll_edge() {
    stale_event_in_batch(Backend::Poll, Mode::Edge);
}
#[test]
fn epoll_level() {
    stale_event_in_batch(Backend::Epoll, Mode::Level);
}
#[test]
fn epoll_edge() {
    stale_event_in_batch(Backend::Epoll, Mode::Edge);
}

/// An id whose slot was freed and taken again names nothing: the
/// connection, watch and timer tables share one generational slab, and a
/// stale id must find nothing in any of them (nor through a handle).
#[test]
fn ids_of_reused_slots_find_nothing() {
    for v in common::reactor_variants(&[iomux::Backend::Epoll]) {
        ids_of_reused_slots_find_nothing_on(v);
    }
}

fn ids_of_reused_slots_find_nothing_on(v: common::Variant) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut el = EventLoop::new(v.config()).unwrap();
    let handle = el.handle();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let log = Log::default();
    let recorder = |name| {
        Box::new(Recorder {
            name,
            log: Arc::clone(&log),
        })
    };

    let (_a_client, a_server) = pair(&l);
    let a = el.add_connection(a_server, recorder("a")).unwrap();
    assert!(el.close(a));
    let (_b_client, b_server) = pair(&l);
    let b = el.add_connection(b_server, recorder("b")).unwrap();
    let slot = |id: ConnId| id.to_string().split('.').next().unwrap().to_string();
    assert_eq!(slot(a), slot(b), "the freed slot is taken again");
    assert_ne!(a, b);
    assert!(!el.close(a), "the old id closes nothing");
    assert!(el.send(a, b"x").is_err());
    assert_eq!(el.unsent(a), None);
    assert!(!handle.is_open(a));
    assert!(handle.is_open(b));
    assert!(handle.send(a, b"x".to_vec()).is_err());
    assert_eq!(el.connection_ids().collect::<Vec<_>>(), vec![b]);

    let far = std::time::Instant::now() + Duration::from_secs(60);
    let t1 = el.add_timer(far, |_| {});
    assert!(el.cancel_timer(t1));
    let t2 = el.add_timer(far, |_| {});
    assert_ne!(t1, t2);
    assert!(!el.cancel_timer(t1), "the old timer id cancels nothing");
    assert!(el.cancel_timer(t2));

    let watched = |el: &mut EventLoop| {
        let (_, fd) = pair(&l);
        el.watch(fd, iomux::Interest::READABLE, Mode::Level, |_, _, _| {})
            .unwrap()
    };
    let w1 = watched(&mut el);
    el.unwatch(w1).unwrap();
    let w2 = watched(&mut el);
    assert_ne!(w1, w2);
    assert!(el.unwatch(w1).is_err(), "the old watch id removes nothing");
    assert!(el.rewatch(w1, iomux::Interest::READABLE).is_err());
    assert_eq!(el.watches(), 1);
    el.unwatch(w2).unwrap();
    assert!(log.lock().unwrap().is_empty());
}

/// A connection closed while bytes for it are on their way (on the
/// completion driver: its multishot recv still in the kernel, the bytes in
/// the socket, no completion reaped yet): nothing of it reaches the
/// connection that takes its slot next, the newcomer gets exactly its own
/// bytes, and the closed socket is closed for real (its peer reads EOF) once
/// the kernel has let go of it.
fn closed_with_bytes_in_flight_reaches_no_newcomer(v: common::Variant) {
    use std::io::Read;
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let log: Log = Arc::default();
    let rec = |name| {
        Box::new(Recorder {
            name,
            log: Arc::clone(&log),
        })
    };
    let mut el = EventLoop::new(v.config()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut ca, sa) = pair(&l);
    let a = el.add_connection(sa, rec("a")).unwrap();
    // A turn: on the completion driver its recv is armed now.
    el.turn(Some(Duration::ZERO)).unwrap();
    ca.write_all(b"late for a").unwrap();
    assert!(el.close(a));
    let (mut cb, sb) = pair(&l);
    let b = el.add_connection(sb, rec("b")).unwrap();
    assert_ne!(a, b, "{v}: a new id for the newcomer (in the slot a left)");
    cb.write_all(b"for b").unwrap();
    let end = std::time::Instant::now() + common::MUST;
    while log
        .lock()
        .unwrap()
        .iter()
        .map(|(_, d)| d.len())
        .sum::<usize>()
        < 5
    {
        assert!(std::time::Instant::now() < end, "{v}: b's bytes never came");
        el.turn(Some(Duration::from_millis(10))).unwrap();
    }
    for _ in 0..3 {
        el.turn(Some(common::MUST_NOT)).unwrap();
    }
    let got = log.lock().unwrap().clone();
    assert_eq!(got, vec![("b", b"for b".to_vec())], "{v}");
    // The closed socket's peer sees it closed (EOF, or a reset for the
    // unread bytes), within the bound.
    ca.set_read_timeout(Some(common::MUST)).unwrap();
    let mut buf = [0u8; 16];
    loop {
        match ca.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            // io_uring teardown's task work in this thread interrupts a
            // blocking read: read again.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => panic!("{v}: the closed connection's peer read {other:?}"),
        }
    }
    assert_eq!(el.connections(), 1, "{v}");
}
on_every_reactor_driver!(closed_with_bytes_in_flight_reaches_no_newcomer);
