//! The handler's context: speaking first, timers, why a connection
//! closed, sending from outside a read (on the loop and from other
//! threads), panics contained to one connection. On every backend.

#[macro_use]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iomux::conn::{CloseReason, Context, Handler};
use iomux::reactor::EventLoop;

fn event_loop(backend: common::Variant) -> EventLoop {
    EventLoop::new(backend.config()).unwrap_or_else(|e| panic!("{backend}: no event loop: {e}"))
}

/// Turns the loop until `done` holds; panics with `what` after 5 s.
fn turn_until(el: &mut EventLoop, what: &str, mut done: impl FnMut(&mut EventLoop) -> bool) {
    let end = Instant::now() + common::MUST;
    while !done(el) {
        assert!(
            Instant::now() < end,
            "{}/{}: timed out waiting for {what}",
            el.driver(),
            el.backend()
        );
        el.turn(Some(Duration::from_millis(10))).unwrap();
    }
}

/// Reads from a non-blocking socket until `n` bytes came, turning the loop.
fn read_n(el: &mut EventLoop, mut s: &UnixStream, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    turn_until(el, "bytes from the server", |_| {
        match s.read(&mut buf) {
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
        got.len() >= n
    });
    got
}

/// Records why its connection closed.
struct Witness {
    reasons: Arc<Mutex<Vec<CloseReason>>>,
    greeting: &'static [u8],
    timer_after: Option<Duration>,
}

impl Witness {
    fn new(reasons: &Arc<Mutex<Vec<CloseReason>>>) -> Witness {
        Witness {
            reasons: Arc::clone(reasons),
            greeting: b"",
            timer_after: None,
        }
    }
}

impl Handler for Witness {
    fn on_open(&mut self, cx: &mut Context<'_>) {
        cx.send(self.greeting);
        if let Some(after) = self.timer_after {
            cx.set_timer(Instant::now() + after, 7);
        }
    }
    fn on_message(&mut self, cx: &mut Context<'_>, input: &[u8]) -> usize {
        if input.starts_with(b"bye") {
            cx.send(b"see you\n");
            cx.close();
        } else if input.starts_with(b"boom") {
            panic!("a handler bug");
        } else {
            cx.send(input);
        }
        input.len()
    }
    fn on_timer(&mut self, cx: &mut Context<'_>, key: u64) {
        cx.send(format!("timer {key}\n").as_bytes());
    }
    fn on_close(&mut self, reason: CloseReason) {
        self.reasons.lock().unwrap().push(reason);
    }
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn on_open_speaks_first_and_timers_call_the_handler(backend: common::Variant) {
    let mut el = event_loop(backend);
    let reasons = Arc::default();
    let (server, client) = pair();
    let handler = Witness {
        greeting: b"220 ready\n",
        timer_after: Some(Duration::from_millis(20)),
        ..Witness::new(&reasons)
    };
    el.add_connection(server, Box::new(handler)).unwrap();
    // Nothing was sent by the client: the greeting comes first.
    let got = read_n(&mut el, &client, b"220 ready\ntimer 7\n".len());
    assert_eq!(got, b"220 ready\ntimer 7\n", "{backend}");
}
on_every_reactor_driver!(on_open_speaks_first_and_timers_call_the_handler);

fn on_close_says_why(backend: common::Variant) {
    let mut el = event_loop(backend);
    let reasons: Arc<Mutex<Vec<CloseReason>>> = Arc::default();
    let last = |reasons: &Arc<Mutex<Vec<CloseReason>>>| reasons.lock().unwrap().last().copied();

    // The peer closes.
    let (server, client) = pair();
    el.add_connection(server, Box::new(Witness::new(&reasons)))
        .unwrap();
    drop(client);
    turn_until(&mut el, "peer close", |_| {
        reasons.lock().unwrap().len() == 1
    });
    assert_eq!(last(&reasons), Some(CloseReason::PeerClosed), "{backend}");

    // The handler closes, after its answer.
    let (server, mut client) = pair();
    el.add_connection(server, Box::new(Witness::new(&reasons)))
        .unwrap();
    client.write_all(b"bye").unwrap();
    let got = read_n(&mut el, &client, 8);
    assert_eq!(got, b"see you\n", "{backend}");
    drop(client);
    turn_until(&mut el, "handler close", |_| {
        reasons.lock().unwrap().len() == 2
    });
    assert_eq!(last(&reasons), Some(CloseReason::Closed), "{backend}");

    // The loop closes it.
    let (server, _client) = pair();
    let id = el
        .add_connection(server, Box::new(Witness::new(&reasons)))
        .unwrap();
    assert!(el.close(id));
    assert_eq!(last(&reasons), Some(CloseReason::Closed), "{backend}");

    // The peer resets it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    el.add_connection(server, Box::new(Witness::new(&reasons)))
        .unwrap();
    rustix::net::sockopt::set_socket_linger(&client, Some(Duration::ZERO)).unwrap();
    drop(client); // SO_LINGER 0: an RST
    turn_until(&mut el, "reset", |_| reasons.lock().unwrap().len() == 4);
    assert_eq!(last(&reasons), Some(CloseReason::Reset), "{backend}");

    // The loop ends with it open.
    let (server, _client) = pair();
    el.add_connection(server, Box::new(Witness::new(&reasons)))
        .unwrap();
    drop(el);
    assert_eq!(last(&reasons), Some(CloseReason::Shutdown), "{backend}");
    assert_eq!(reasons.lock().unwrap().len(), 5);
}
on_every_reactor_driver!(on_close_says_why);

/// Closes when its deadline passes.
struct Deadline(Instant, Arc<Mutex<Vec<CloseReason>>>);

impl Handler for Deadline {
    fn deadline(&self) -> Option<Instant> {
        Some(self.0)
    }
    fn on_close(&mut self, reason: CloseReason) {
        self.1.lock().unwrap().push(reason);
    }
}

fn a_deadline_closes_with_timed_out(backend: common::Variant) {
    let mut el = event_loop(backend);
    let reasons: Arc<Mutex<Vec<CloseReason>>> = Arc::default();
    let (server, _client) = pair();
    let at = Instant::now() + Duration::from_millis(20);
    el.add_connection(server, Box::new(Deadline(at, Arc::clone(&reasons))))
        .unwrap();
    turn_until(&mut el, "the deadline", |_| {
        !reasons.lock().unwrap().is_empty()
    });
    assert_eq!(
        *reasons.lock().unwrap(),
        [CloseReason::TimedOut],
        "{backend}"
    );
    assert_eq!(el.stats().timed_out, 1);
}
on_every_reactor_driver!(a_deadline_closes_with_timed_out);

fn send_from_the_loop_and_from_other_threads(backend: common::Variant) {
    let mut el = event_loop(backend);
    let reasons = Arc::default();
    let (server, client) = pair();
    let id = el
        .add_connection(server, Box::new(Witness::new(&reasons)))
        .unwrap();
    // Readiness writes at once; completions hand the bytes to the kernel,
    // in flight (unsent) until the send's completion.
    let at_once = if backend.is_completion() { 7 } else { 0 };
    assert_eq!(
        el.send(id, b"pushed\n").unwrap(),
        at_once,
        "{backend}: all written at once"
    );
    assert_eq!(read_n(&mut el, &client, 7), b"pushed\n", "{backend}");

    let handle = el.handle();
    let sender = std::thread::spawn(move || handle.send(id, &b"from afar\n"[..]));
    assert_eq!(read_n(&mut el, &client, 10), b"from afar\n", "{backend}");
    sender.join().unwrap().unwrap();

    assert!(el.close(id));
    let gone = el.send(id, b"late").unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{backend}");
    let handle = el.handle();
    let gone = std::thread::spawn(move || handle.send(id, &b"late"[..]))
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        gone.kind(),
        ErrorKind::NotFound,
        "{backend}: from another thread"
    );

    let handle = el.handle();
    assert!(handle.is_alive());
    drop(el);
    assert!(!handle.is_alive());
    let exited = handle.post(|_| {}).unwrap_err();
    assert_eq!(exited.kind(), ErrorKind::NotConnected, "{backend}");
    let exited = handle.send(id, &b"to nobody"[..]).unwrap_err();
    assert_eq!(exited.kind(), ErrorKind::NotConnected, "{backend}");
}
on_every_reactor_driver!(send_from_the_loop_and_from_other_threads);

fn a_panic_closes_its_connection_only(backend: common::Variant) {
    let mut el = event_loop(backend);
    let reasons = Arc::default();
    let (bad_server, mut bad) = pair();
    let (good_server, mut good) = pair();
    el.add_connection(bad_server, Box::new(Witness::new(&reasons)))
        .unwrap();
    el.add_connection(good_server, Box::new(Witness::new(&reasons)))
        .unwrap();
    // The test harness prints the panic message; it is expected.
    bad.write_all(b"boom").unwrap();
    turn_until(&mut el, "the panic", |el| el.stats().panics == 1);
    assert_eq!(
        el.connections(),
        1,
        "{backend}: the panicking one is closed"
    );
    let mut buf = [0u8; 8];
    let end = Instant::now() + common::MUST;
    loop {
        match bad.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => panic!("{backend}: no answer expected"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < end, "{backend}: no EOF after the panic");
                el.turn(Some(Duration::from_millis(10))).unwrap();
            }
            Err(e) => panic!("{backend}: {e}"),
        }
    }
    good.write_all(b"still here").unwrap();
    assert_eq!(read_n(&mut el, &good, 10), b"still here", "{backend}");
    assert!(
        reasons.lock().unwrap().is_empty(),
        "a handler that panicked is not called again: {:?}",
        reasons.lock().unwrap()
    );
}
on_every_reactor_driver!(a_panic_closes_its_connection_only);

/// Consumes nothing; at the peer's FIN says how much it was left with.
struct Leftover;

impl Handler for Leftover {
    fn on_data(&mut self, _input: &[u8], _output: &mut Vec<u8>) -> (usize, iomux::conn::Action) {
        (0, iomux::conn::Action::Continue)
    }
    fn on_read_closed(&mut self, input: &[u8], output: &mut Vec<u8>) -> iomux::conn::Action {
        output.extend_from_slice(format!("left {}", input.len()).as_bytes());
        iomux::conn::Action::Close
    }
}

fn the_peers_fin_shows_the_handler_what_it_left_and_its_answer_goes_out(backend: common::Variant) {
    let mut el = event_loop(backend);
    let (server, mut client) = pair();
    el.add_connection(server, Box::new(Leftover)).unwrap();
    client.write_all(b"abc").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let got = read_n(&mut el, &client, 6);
    assert_eq!(got, b"left 3", "{backend}");
    turn_until(&mut el, "the close", |el| el.connections() == 0);
}
on_every_reactor_driver!(the_peers_fin_shows_the_handler_what_it_left_and_its_answer_goes_out);

/// Keeps every byte it is offered.
struct Collect(Arc<Mutex<Vec<u8>>>);

impl Handler for Collect {
    fn on_data(&mut self, input: &[u8], _output: &mut Vec<u8>) -> (usize, iomux::conn::Action) {
        self.0.lock().unwrap().extend_from_slice(input);
        (input.len(), iomux::conn::Action::Continue)
    }
}

/// Reading paused by its owner: what arrives meanwhile reaches no handler,
/// and once reading resumes it all does. (Here the bytes wait in the
/// socket on both drivers; the completion driver's other case, bytes its
/// recv brought after the pause and before the cancel took effect, wait in
/// the connection and are offered on resume too, `set_reading`.)
fn paused_input_is_offered_once_reading_resumes(backend: common::Variant) {
    let mut el = event_loop(backend);
    let got = Arc::new(Mutex::new(Vec::new()));
    let (server, mut client) = pair();
    let id = el
        .add_connection(server, Box::new(Collect(Arc::clone(&got))))
        .unwrap();
    client.write_all(b"first").unwrap();
    turn_until(&mut el, "the first bytes", |_| {
        got.lock().unwrap().len() == 5
    });
    el.pause_reading(id).unwrap();
    client.write_all(b" while paused").unwrap();
    for _ in 0..5 {
        el.turn(Some(common::MUST_NOT)).unwrap();
    }
    assert_eq!(
        got.lock().unwrap().as_slice(),
        b"first",
        "{backend}: bytes reached the handler while reading was paused"
    );
    el.resume_reading(id).unwrap();
    turn_until(&mut el, "the bytes sent while paused", |_| {
        got.lock().unwrap().len() == 18
    });
    assert_eq!(
        got.lock().unwrap().as_slice(),
        b"first while paused",
        "{backend}"
    );
}
on_every_reactor_driver!(paused_input_is_offered_once_reading_resumes);
