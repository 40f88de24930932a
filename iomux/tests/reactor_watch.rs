//! `EventLoop::watch`: any fd in the loop with a callback; its events
//! never reach a connection, and `unwatch` stops them. On every backend.

#[macro_use]
mod common;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iomux::conn::Handler;
use iomux::reactor::EventLoop;
use iomux::{Interest, Mode};

/// What one watch callback read: which pipe, which bytes.
type Delivery = (usize, Vec<u8>);

/// Counts the bytes its connection receives.
struct Counter(Arc<Mutex<usize>>);

impl Handler for Counter {
    fn on_data(&mut self, input: &[u8], _output: &mut Vec<u8>) -> (usize, iomux::conn::Action) {
        *self.0.lock().unwrap() += input.len();
        (input.len(), iomux::conn::Action::Continue)
    }
}

fn turn_until(el: &mut EventLoop, what: &str, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + common::MUST;
    while !done() {
        assert!(
            Instant::now() < end,
            "{}/{}: timed out waiting for {what}",
            el.driver(),
            el.backend()
        );
        el.turn(Some(Duration::from_millis(10))).unwrap();
    }
}

fn watched_fds_call_back_and_never_reach_connections(backend: common::Variant) {
    let mut el = EventLoop::new(backend.config()).unwrap();
    // Connections and watches side by side, many of each, so that a
    // token mix-up would show as bytes in the wrong place.
    let seen_by_conns = Arc::new(Mutex::new(0));
    let mut peers = Vec::new();
    for _ in 0..8 {
        let (server, client) = UnixStream::pair().unwrap();
        el.add_connection(server, Box::new(Counter(Arc::clone(&seen_by_conns))))
            .unwrap();
        peers.push(client);
    }
    let got: Rc<RefCell<Vec<Delivery>>> = Rc::default();
    let mut writers = Vec::new();
    let mut ids = Vec::new();
    for i in 0..8 {
        let (reader, writer) = UnixStream::pair().unwrap();
        reader.set_nonblocking(true).unwrap();
        let got = Rc::clone(&got);
        let id = el
            .watch(reader, Interest::READABLE, Mode::Level, move |_, fd, ev| {
                assert!(ev.is_readable());
                let mut buf = [0u8; 64];
                match fd.read(&mut buf) {
                    Ok(n) => got.borrow_mut().push((i, buf[..n].to_vec())),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("read: {e}"),
                }
            })
            .unwrap();
        ids.push(id);
        writers.push(writer);
    }
    assert_eq!(el.watches(), 8);
    for (i, w) in writers.iter_mut().enumerate() {
        w.write_all(format!("pipe {i}").as_bytes()).unwrap();
    }
    turn_until(&mut el, "the watch callbacks", || got.borrow().len() == 8);
    let mut seen = got.borrow().clone();
    seen.sort();
    for (i, (who, bytes)) in seen.iter().enumerate() {
        assert_eq!(
            (*who, bytes.as_slice()),
            (i, format!("pipe {i}").as_bytes()),
            "{backend}"
        );
    }
    assert_eq!(
        *seen_by_conns.lock().unwrap(),
        0,
        "{backend}: a watch's bytes reached a connection"
    );

    // Unwatched: no more callbacks, and the id is dead.
    el.unwatch(ids[3]).unwrap();
    assert_eq!(el.unwatch(ids[3]).unwrap_err().kind(), ErrorKind::NotFound);
    // The unwatched fd was dropped with the watch: its peer's write fails.
    let closed = writers[3].write_all(b"ignored").unwrap_err();
    assert_eq!(
        closed.kind(),
        ErrorKind::BrokenPipe,
        "{backend}: the fd was not dropped"
    );
    writers[4].write_all(b"again").unwrap();
    turn_until(&mut el, "the second write", || got.borrow().len() == 9);
    for _ in 0..5 {
        el.turn(Some(common::MUST_NOT)).unwrap();
    }
    assert_eq!(
        got.borrow().len(),
        9,
        "{backend}: an unwatched fd still called back"
    );
    assert_eq!(got.borrow()[8], (4, b"again".to_vec()), "{backend}");
    // The connections still work, and saw none of it.
    peers[0].write_all(b"conn").unwrap();
    turn_until(&mut el, "connection bytes", || {
        *seen_by_conns.lock().unwrap() == 4
    });
}
on_every_reactor_driver!(watched_fds_call_back_and_never_reach_connections);

fn a_oneshot_watch_rearms_from_its_own_callback(backend: common::Variant) {
    let mut el = EventLoop::new(backend.config()).unwrap();
    let (reader, mut writer) = UnixStream::pair().unwrap();
    reader.set_nonblocking(true).unwrap();
    let calls = Rc::new(RefCell::new(0));
    let count = Rc::clone(&calls);
    let id = Rc::new(RefCell::new(None));
    let me = Rc::clone(&id);
    let watch = el
        .watch(
            reader,
            Interest::READABLE,
            Mode::Oneshot,
            move |el, fd, _| {
                let mut buf = [0u8; 64];
                let _ = fd.read(&mut buf);
                *count.borrow_mut() += 1;
                if *count.borrow() < 2 {
                    el.rewatch(me.borrow().unwrap(), Interest::READABLE)
                        .unwrap();
                } else {
                    el.unwatch(me.borrow().unwrap()).unwrap();
                }
            },
        )
        .unwrap();
    *id.borrow_mut() = Some(watch);
    writer.write_all(b"1").unwrap();
    turn_until(&mut el, "the first call", || *calls.borrow() == 1);
    writer.write_all(b"2").unwrap();
    turn_until(&mut el, "the re-armed call", || *calls.borrow() == 2);
    assert_eq!(
        el.watches(),
        0,
        "{backend}: unwatched from its own callback"
    );
}
on_every_reactor_driver!(a_oneshot_watch_rearms_from_its_own_callback);

/// An edge watch reports each arrival once, read or not; a level watch
/// keeps reporting what is left unread. (The completion driver: a
/// multishot poll for edges, a poll re-armed after each callback for
/// level.) Where the backend has no edges (poll, select) only level runs.
fn edge_reports_arrivals_level_reports_what_is_left(backend: common::Variant) {
    let edges = backend.is_completion() || backend.backend.supports_edge();
    for mode in [Mode::Level, Mode::Edge] {
        if mode == Mode::Edge && !edges {
            continue;
        }
        let mut el = EventLoop::new(backend.config()).unwrap();
        let (reader, mut writer) = UnixStream::pair().unwrap();
        reader.set_nonblocking(true).unwrap();
        let calls = Rc::new(RefCell::new(0));
        let count = Rc::clone(&calls);
        // Reads nothing: what arrived stays readable.
        el.watch(reader, Interest::READABLE, mode, move |_, _, _| {
            *count.borrow_mut() += 1;
        })
        .unwrap();
        writer.write_all(b"1").unwrap();
        turn_until(&mut el, "the first report", || *calls.borrow() >= 1);
        for _ in 0..3 {
            el.turn(Some(common::MUST_NOT)).unwrap();
        }
        let after_one = *calls.borrow();
        if mode == Mode::Edge {
            assert_eq!(after_one, 1, "{backend} {mode:?}: one arrival, one report");
            writer.write_all(b"2").unwrap();
            turn_until(&mut el, "the second arrival's report", || {
                *calls.borrow() == 2
            });
        } else {
            assert!(
                after_one >= 4,
                "{backend} {mode:?}: unread input reported {after_one} times in 4 turns"
            );
        }
    }
}
on_every_reactor_driver!(edge_reports_arrivals_level_reports_what_is_left);
