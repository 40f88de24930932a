//! What the blocking, non-blocking and signal-driven models share: the
//! listening socket, the per-connection sessions (buffers driven through a
//! [`Handler`], deadlines including the send timeout), and a minimal
//! SIGINT/SIGTERM exit.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use iomux::reactor::{Action, Handler, HandlerFactory};
use rustix::net::{AddressFamily, SocketType, sockopt};

use super::ServeArgs;

/// The listen backlog: large, so that a burst of 19,000 connects is queued
/// rather than dropped (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 65_535;

/// Output above this stops reading from a connection until it drains, so a
/// peer that sends without reading cannot grow our memory without bound.
pub const HIGH_WATER: usize = 256 * 1024;

/// Binds a listening TCP socket with a large backlog.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket(family, SocketType::STREAM, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, BACKLOG)?;
    Ok(TcpListener::from(fd))
}

/// Opens one fresh session per connection: the server's protocol and
/// limits, and its send timeout.
#[derive(Clone)]
pub struct Sessions {
    handlers: HandlerFactory,
    send_timeout: Duration,
}

impl Sessions {
    /// Sessions as `args` describe them.
    pub fn new(args: &ServeArgs) -> Sessions {
        Sessions {
            handlers: crate::proto::factory(args.proto, args.limits()),
            send_timeout: args.send_timeout,
        }
    }

    /// A session for a new connection.
    pub fn open(&self) -> Session {
        Session::new((self.handlers)(), self.send_timeout)
    }
}

/// One connection's protocol state: unconsumed input, unsent output.
pub struct Session {
    handler: Box<dyn Handler>,
    /// Received bytes the handler has not consumed yet.
    pub input: Vec<u8>,
    /// Reply bytes not yet written.
    pub output: Vec<u8>,
    /// How much of `output` has been written already.
    pub written: usize,
    /// The handler asked to close once `output` is flushed.
    pub closing: bool,
    /// How long output may stay stuck (the peer reads nothing).
    pub send_timeout: Duration,
    /// Since when a write has found the socket full, with no progress since.
    stuck_since: Option<Instant>,
}

impl Session {
    /// A session around a fresh handler.
    pub fn new(handler: Box<dyn Handler>, send_timeout: Duration) -> Session {
        Session {
            handler,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            closing: false,
            send_timeout,
            stuck_since: None,
        }
    }

    /// Feeds the buffered input to the handler until it stops consuming.
    pub fn process(&mut self) {
        while !self.closing && !self.input.is_empty() {
            let (used, action) = self.handler.on_data(&self.input, &mut self.output);
            self.input.drain(..used.min(self.input.len()));
            if action == Action::Close {
                self.closing = true;
            }
            if used == 0 {
                break;
            }
        }
    }

    /// The peer closed its sending side: let the handler finish.
    pub fn read_closed(&mut self) {
        if !self.closing {
            self.handler.on_read_closed(&self.input, &mut self.output);
            self.input.clear();
            self.closing = true;
        }
    }

    /// When the connection is to be closed if nothing happens: the
    /// handler's deadline, or the send timeout while output is stuck.
    pub fn deadline(&self) -> Option<Instant> {
        let stuck = self.stuck_since.map(|t| t + self.send_timeout);
        match (self.handler.deadline(), stuck) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Bytes still to write.
    pub fn pending(&self) -> &[u8] {
        &self.output[self.written..]
    }

    /// Records that `n` more bytes were written; resets the buffer once empty.
    pub fn advance(&mut self, n: usize) {
        self.stuck_since = None;
        self.written += n;
        if self.written == self.output.len() {
            self.output.clear();
            self.written = 0;
        }
    }

    /// Output is over the high-water mark: stop reading until it drains.
    pub fn backpressured(&self) -> bool {
        self.output.len() - self.written > HIGH_WATER
    }
}

/// What a non-blocking read or write attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Some bytes moved, or nothing to do.
    Ok,
    /// The socket would block.
    WouldBlock,
    /// The connection is finished (EOF handled, error, or closing done).
    Done,
}

/// Writes as much pending output as the socket takes.
pub fn flush<S: Write>(sock: &mut S, s: &mut Session) -> Progress {
    while !s.pending().is_empty() {
        match sock.write(s.pending()) {
            Ok(0) => return Progress::Done,
            Ok(n) => s.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                s.stuck_since.get_or_insert_with(Instant::now);
                return Progress::WouldBlock;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Progress::Done,
        }
    }
    if s.closing {
        Progress::Done
    } else {
        Progress::Ok
    }
}

/// Reads what the socket has (up to `budget` reads) into the session,
/// runs the handler, and flushes. Used by the non-blocking models.
pub fn pump<S: Read + Write>(
    sock: &mut S,
    s: &mut Session,
    scratch: &mut [u8],
    budget: usize,
) -> Progress {
    let mut reads = 0;
    loop {
        match flush(sock, s) {
            Progress::Ok => {}
            other => return other,
        }
        if reads == budget || s.backpressured() {
            return Progress::Ok;
        }
        reads += 1;
        match sock.read(scratch) {
            Ok(0) => {
                s.read_closed();
                return match flush(sock, s) {
                    Progress::WouldBlock => Progress::WouldBlock,
                    _ => Progress::Done,
                };
            }
            Ok(n) => {
                s.input.extend_from_slice(&scratch[..n]);
                s.process();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Progress::Done,
        }
    }
}

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread it
/// spawns later), then starts a thread that waits for either and exits the
/// process with status 0. `on_exit` runs first (to print statistics).
pub fn exit_on_signal(on_exit: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let set = signal_set(&[libc::SIGINT, libc::SIGTERM]);
    block(&set)?;
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut sig = 0;
            // SAFETY: `set` is an initialised sigset_t and `sig` a valid out-pointer.
            while unsafe { libc::sigwait(&set, &mut sig) } != 0 {}
            on_exit();
            std::process::exit(0);
        })?;
    Ok(())
}

/// A signal set holding `signals`.
pub fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset only writes into it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks `set` in the calling thread.
pub fn block(set: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `set` is a valid sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}
