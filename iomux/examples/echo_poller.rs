//! An echo server on the raw Poller API, done the way a non-blocking
//! server must be:
//!
//! - A write can be short (the peer's window is full): what is not sent
//!   stays in the connection's buffer, and the socket is armed WRITABLE
//!   until the buffer is empty. Never `write_all` on a non-blocking socket.
//! - A peer that sends without reading cannot grow that buffer without
//!   bound: above `HIGH_WATER` the connection stops reading (READABLE is
//!   dropped) until its output has drained.
//! - Out of file descriptors (EMFILE), accept fails while the connection
//!   stays queued, so a level-triggered listener is readable forever and
//!   the loop would spin. A spare fd is kept open for that moment: it is
//!   closed, the connection accepted into its number and closed at once
//!   (the peer sees a clean close rather than a hang), and the spare
//!   reopened. If even that fails, the listener is deregistered for a
//!   moment instead of spinning.
//!
//! `cargo run --example echo_poller -- [select|poll|epoll|uring]`, then
//! `nc 127.0.0.1 <port>`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use iomux::{Backend, Events, Interest, Mode, Poller, Token};

const LISTENER: Token = Token(0);
/// Unsent bytes above which a connection stops reading.
const HIGH_WATER: usize = 1024 * 1024;
/// How long the listener rests when no fd at all can be had.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// One connection: its socket, the echo not yet written, and what it is
/// registered for.
struct Conn {
    sock: TcpStream,
    out: Vec<u8>,
    sent: usize,
    interest: Interest,
    /// The peer closed: finish writing, then close.
    eof: bool,
}

impl Conn {
    fn unsent(&self) -> usize {
        self.out.len() - self.sent
    }

    /// What the poller should report now.
    fn wanted(&self) -> Interest {
        let read = !self.eof && self.unsent() < HIGH_WATER;
        match (read, self.unsent() > 0) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        }
    }

    /// Writes what the socket takes. Ok(()) also when it would block.
    fn flush(&mut self) -> io::Result<()> {
        while self.unsent() > 0 {
            match self.sock.write(&self.out[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.unsent() == 0 {
            self.out.clear();
            self.sent = 0;
        }
        Ok(())
    }

    /// Reads once and queues the echo; EOF is remembered in `eof`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self.sock.read(buf) {
            Ok(0) => self.eof = true,
            Ok(n) => self.out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// An echo server on one poller.
pub struct Server {
    poller: Poller,
    listener: TcpListener,
    conns: HashMap<usize, Conn>,
    next: usize,
    /// The fd kept for shedding connections when fds run out.
    spare: Option<File>,
    /// While set, the listener is deregistered until this instant.
    resting_until: Option<Instant>,
}

fn open_spare() -> Option<File> {
    File::open("/dev/null").ok()
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

impl Server {
    /// Serves `listener` (made non-blocking) on a poller of `backend`.
    pub fn new(listener: TcpListener, backend: Backend) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let poller = Poller::with_backend(backend)?;
        poller.register(&listener, LISTENER, Interest::READABLE, Mode::Level)?;
        Ok(Server {
            poller,
            listener,
            conns: HashMap::new(),
            next: 1,
            spare: open_spare(),
            resting_until: None,
        })
    }

    /// Serves forever (or until the poller fails).
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let timeout = self
                .resting_until
                .map(|t| t.saturating_duration_since(Instant::now()));
            self.poller.wait(&mut events, timeout)?;
            if self.resting_until.is_some_and(|t| t <= Instant::now()) {
                self.poller
                    .register(&self.listener, LISTENER, Interest::READABLE, Mode::Level)?;
                self.resting_until = None;
            }
            for ev in events.iter() {
                if ev.token() == LISTENER {
                    self.accept()?;
                } else {
                    self.serve(
                        ev.token().0,
                        ev.is_readable() || ev.is_read_closed(),
                        &mut buf,
                    );
                }
            }
        }
    }

    fn accept(&mut self) -> io::Result<()> {
        // A bounded batch, so that a flood of connects cannot starve the
        // connections already open; level triggering brings us back.
        for _ in 0..64 {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    sock.set_nonblocking(true)?;
                    let token = self.next;
                    self.next += 1;
                    self.poller
                        .register(&sock, Token(token), Interest::READABLE, Mode::Level)?;
                    let conn = Conn {
                        sock,
                        out: Vec::new(),
                        sent: 0,
                        interest: Interest::READABLE,
                        eof: false,
                    };
                    self.conns.insert(token, conn);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_fd_exhaustion(&e) => return self.shed(),
                // The peer gave up before we got to it (ECONNABORTED…): next.
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Out of fds: close the spare, accept into its number and close that
    /// connection at once, then take the spare back. Without a spare, stop
    /// listening for a moment rather than spin on a readable listener.
    fn shed(&mut self) -> io::Result<()> {
        if self.spare.take().is_some() {
            if let Ok((sock, _)) = self.listener.accept() {
                drop(sock);
            }
            self.spare = open_spare();
            if self.spare.is_some() {
                return Ok(());
            }
        }
        self.poller.deregister(&self.listener)?;
        self.resting_until = Some(Instant::now() + ACCEPT_PAUSE);
        Ok(())
    }

    fn serve(&mut self, token: usize, readable: bool, buf: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return; // closed earlier in this batch
        };
        let mut step = conn.flush();
        if step.is_ok() && readable && conn.wanted().is_readable() {
            step = conn.read(buf).and_then(|()| conn.flush());
        }
        let done = step.is_err() || (conn.eof && conn.unsent() == 0);
        if !done {
            let want = conn.wanted();
            if want == conn.interest {
                return;
            }
            if self
                .poller
                .modify(&conn.sock, Token(token), want, Mode::Level)
                .is_ok()
            {
                conn.interest = want;
                return;
            }
        }
        let conn = self.conns.remove(&token).expect("present");
        // Deregister before the fd closes: its number may be reused next.
        let _ = self.poller.deregister(&conn.sock);
    }
}

/// `--help`: the arguments this example takes.
#[allow(dead_code)] // the integration test includes this file without running main
const HELP: &str = "\
echo_poller: an echo server on the raw Poller API

usage: echo_poller [BACKEND]

  BACKEND     select|poll|epoll|uring (default epoll)
  -h, --help  print this help

Listens on 127.0.0.1 (a free port, printed).
";

#[allow(dead_code)] // the integration test includes this file without running main
fn main() -> io::Result<()> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(());
    }
    let backend: Backend = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "epoll".into())
        .parse()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening on {} ({backend})", listener.local_addr()?);
    Server::new(listener, backend)?.run()
}
