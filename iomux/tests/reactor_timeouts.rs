//! The reactor's own deadlines: output stuck longer than the send timeout
//! closes the connection, and a lingering close gives up after the linger
//! timeout (not before).

#[macro_use]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Echo;
use iomux::Mode;
use iomux::conn::{Action, Handler, Limits};
use iomux::reactor::LoopGroup;

const LIMIT: Duration = Duration::from_millis(400);

/// Answers "bye" to anything and closes (lingering).
struct Bye;
impl Handler for Bye {
    fn on_data(&mut self, _input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
        output.extend_from_slice(b"bye");
        (0, Action::Close)
    }
}

fn group(backend: common::Variant, mode: Mode, bye: bool) -> LoopGroup {
    let cfg = backend.config().with_mode(mode).with_limits(
        Limits::default()
            .with_send_timeout(LIMIT)
            .with_linger_timeout(LIMIT)
            .with_high_water(64 * 1024),
    );
    let factory: iomux::conn::HandlerFactory = if bye {
        Arc::new(|| Box::new(Bye))
    } else {
        Arc::new(|| Box::new(Echo))
    };
    LoopGroup::bind("127.0.0.1:0".parse().unwrap(), 1, cfg, factory).unwrap()
}

/// A connection with a tiny receive buffer: the server's output is stuck
/// after a few KiB instead of after the megabytes an autotuned buffer
/// takes, so it is stuck soon after our first write.
fn connect_small_rcvbuf(addr: std::net::SocketAddr) -> TcpStream {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
    rustix::net::connect(&fd, &addr).expect("connect to the reactor");
    TcpStream::from(fd)
}

fn send_timeout(backend: common::Variant, mode: Mode) {
    let g = group(backend, mode, false);
    let mut s = connect_small_rcvbuf(g.local_addr());
    // The server can make no progress on its output before it has read our
    // first byte, so its stuck-output clock starts after this instant: a
    // reset sooner than LIMIT after it is a timeout that fired early.
    let first_write = Instant::now();
    // Fill both directions until our writes stay blocked: the server's
    // socket buffer is full of echo we do not read, its output is above
    // the high-water mark (so it stopped reading), and ours is full too.
    // A blocking write returns as soon as it makes progress, so the fill
    // takes no longer than the buffers need (a write that makes none for
    // 100 ms says they are full), which keeps the bound below tight.
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let chunk = [1u8; 65536];
    let mut last_progress = Instant::now();
    let mut total = 0usize;
    loop {
        match s.write(&chunk) {
            Ok(n) => {
                total += n;
                last_progress = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            // io_uring teardown's task work in this thread (a ring made
            // here, by a feature probe or a loop) interrupts a blocking
            // write: it made no progress, write again.
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // On a slow machine the timeout may pass while we still fill,
            // but never before LIMIT has passed.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                let after = first_write.elapsed();
                assert!(
                    after >= LIMIT,
                    "{backend} {mode:?}: reset {after:?} after our first write, before the {LIMIT:?} send timeout"
                );
                g.stop();
                g.join().unwrap();
                return;
            }
            Err(e) => panic!("write: {e}"),
        }
        assert!(total < 256 << 20, "the server never pushed back");
    }
    // Do not read: the server cannot make progress. Once its send timeout
    // passes it closes with our data unread, i.e. resets; SO_ERROR shows it.
    let deadline = last_progress + LIMIT * 10;
    loop {
        if s.take_error().unwrap().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{backend} {mode:?}: stuck output never timed out"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = first_write.elapsed();
    assert!(
        after >= LIMIT,
        "{backend} {mode:?}: reset {after:?} after our first write, before the {LIMIT:?} send timeout"
    );
    g.stop();
    g.join().unwrap();
}

fn linger_timeout(backend: common::Variant, mode: Mode) {
    let g = group(backend, mode, true);
    let mut s = TcpStream::connect(g.local_addr()).unwrap();
    let sent = Instant::now();
    s.write_all(b"hello").unwrap();
    let mut got = [0u8; 3];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"bye");
    // The server shut down its side: EOF. We never close ours; it must
    // give up lingering after the timeout, which we see as our write
    // failing once it has closed.
    let mut end = [0u8; 1];
    assert_eq!(s.read(&mut end).unwrap(), 0, "EOF after the answer");
    let deadline = sent + LIMIT * 10;
    let closed_at = loop {
        if s.write(b"x").is_err() {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{backend} {mode:?}: lingered forever"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        closed_at - sent >= LIMIT,
        "{backend} {mode:?}: linger ended after {:?}",
        closed_at - sent
    );
    g.stop();
    g.join().unwrap();
}

fn deadlines_on_every_backend(backend: common::Variant) {
    for mode in [Mode::Level, Mode::Edge] {
        send_timeout(backend, mode);
        linger_timeout(backend, mode);
    }
}
on_reactor_drivers!(deadlines_on_every_backend: select = Select, poll = Poll, epoll = Epoll);
