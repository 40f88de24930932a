//! An epoll Poller watched by another Poller (on any backend), with owned
//! registrations, a Waker from another thread and a deadline-bounded wait.
//!
//! `cargo run --example nested_poller -- poll` (outer backend: epoll, poll,
//! select or uring).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use iomux::{Backend, Events, Interest, Mode, Poller, Token, Waker};

const INNER: Token = Token(1);
const WAKE: Token = Token(2);
const SOCKET: Token = Token(10);

/// `--help`: the arguments this example takes.
const HELP: &str = "\
nested_poller: an epoll Poller watched by another Poller, with a Waker from another thread

usage: nested_poller [BACKEND]

  BACKEND     the outer Poller's backend: epoll|poll|select|uring (default poll)
  -h, --help  print this help

Runs once and exits.
";

fn main() -> std::io::Result<()> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(());
    }
    let outer_backend: Backend = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "poll".into())
        .parse()?;
    let outer = Poller::with_backend(outer_backend)?;
    let inner = Poller::with_backend(Backend::Epoll)?;

    let (a, mut b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    // Owned: dropped at the end of main, deregistered before it closes.
    // EdgeOrLevel: edge on epoll, and it would be level on poll or select.
    let a = inner.register_owned(a, SOCKET, Interest::READABLE, Mode::EdgeOrLevel)?;
    // A Poller is `AsFd`: on epoll, its fd is readable when it has events.
    outer.register(&inner, INNER, Interest::READABLE, Mode::Level)?;

    let waker = Waker::new(&outer, WAKE)?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        b.write_all(b"hello through two pollers")?;
        waker.wake()
    });

    let mut outer_events = Events::with_capacity(8);
    let mut inner_events = Events::with_capacity(8);
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut got, mut woken) = (Vec::new(), false);
    while !woken || got.is_empty() {
        if outer.wait_deadline(&mut outer_events, deadline)? == 0 {
            return Err(std::io::Error::new(ErrorKind::TimedOut, "nothing arrived"));
        }
        for ev in &outer_events {
            if ev.token() == WAKE {
                woken = true;
            }
            if ev.token() != INNER {
                continue;
            }
            // The inner poller is ready: ask it what, without blocking.
            inner.wait(&mut inner_events, Some(Duration::ZERO))?;
            for _ in inner_events.iter().filter(|e| e.token() == SOCKET) {
                read_until_would_block(&a, &mut got)?;
            }
        }
    }
    println!(
        "outer on {outer_backend}: read {:?}",
        String::from_utf8_lossy(&got)
    );
    outer.deregister(&inner)?;
    writer.join().expect("writer thread")?;
    Ok(())
}

/// Reads everything the socket has now (edge triggering asks for this).
fn read_until_would_block(mut s: &UnixStream, into: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
