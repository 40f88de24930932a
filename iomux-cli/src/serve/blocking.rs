//! The blocking model: one thread per connection, blocking reads and writes.
//!
//! The kernel does the multiplexing: every thread sleeps in `read(2)` on the
//! socket's wait queue, and a packet wakes exactly the thread that owns it.
//! The price is a stack, a kernel task and a context switch per request.
//! Stacks are small (64 KiB, most of it never touched) and the threads
//! plain (see `small_thread`), so that 19,000 of them fit in memory, under
//! `pid_max` and under `vm.max_map_count`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iomux::conn::Step;

use super::blocking_drain::Registry;
use super::model_common::{self, Session};
use super::small_thread;
use super::{ServeArgs, announce};
use crate::CliResult;

/// Stack per connection thread. The deepest path (handler + read buffer) is
/// far below this; the guard page below it catches a mistake.
const STACK: usize = 64 * 1024;

/// Read buffer on each thread's stack.
const BUF: usize = 8 * 1024;

#[derive(Default)]
struct Stats {
    spawned: AtomicU64,
    spawn_failed: AtomicU64,
}

/// Runs the blocking server until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> CliResult {
    let sessions = model_common::Sessions::new(args);
    let listener = iomux::socket::listen(args.addr)?;
    let stats = Arc::new(Stats::default());
    let registry = Registry::default();
    // Before any thread starts, so that every one inherits the mask.
    let shutdown = super::shutdown::Shutdown::install()?;
    let stopping = registry.clone();
    let accepting = listener.try_clone()?;
    shutdown.on_signal(move || {
        // A shut-down listener refuses new connections and wakes the
        // accept below.
        let _ = rustix::net::shutdown(&accepting, rustix::net::Shutdown::Both);
        stopping.drain();
    });
    announce(listener.local_addr()?)?;
    // Out of fds since the last successful accept: said once per episode,
    // not at every retry (a log nobody drains must not block the server).
    let mut exhausted = false;
    while !shutdown.requested() {
        let sock = match listener.accept() {
            Ok((sock, _)) => {
                exhausted = false;
                sock
            }
            Err(_) if shutdown.requested() => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_fd_exhaustion(&e) => {
                // Out of fds: nothing to do but wait for a connection to end.
                // Without a pause this loop would spin on the pending connection.
                if !exhausted {
                    eprintln!("iomux: accept: {e}; waiting for connections to close");
                    exhausted = true;
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => {
                eprintln!("iomux: accept: {e}");
                continue;
            }
        };
        let session = sessions.open();
        let conn = Registered {
            _entry: registry.add(&sock),
            sock,
        };
        let spawned = small_thread::spawn(STACK, move || {
            // The whole of `conn` moves in (not just its socket).
            let mut conn = conn;
            serve_connection(&mut conn.sock, session);
        });
        match spawned {
            Ok(_) => {
                stats.spawned.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // The socket was moved into the closure and is closed with it:
                // the peer sees the connection end instead of hanging.
                if stats.spawn_failed.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("iomux: cannot spawn a connection thread: {e}");
                }
            }
        }
    }
    drop(listener);
    let cut = registry.wait_drained(Instant::now() + args.shutdown_timeout);
    eprintln!(
        "iomux-stats: model=blocking threads={} spawn_failed={}",
        stats.spawned.load(Ordering::Relaxed),
        stats.spawn_failed.load(Ordering::Relaxed)
    );
    super::shutdown::report_cut(cut, args.shutdown_timeout);
    Ok(())
}

/// A connection's socket and its registry entry, which is dropped first (in
/// field order), so that the registry never holds a closed fd's number.
struct Registered {
    _entry: super::blocking_drain::Entry,
    sock: TcpStream,
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Serves one connection to its end, lingering after this side closes so
/// that the last answer reaches the peer (the session's linger timeout).
fn serve_connection(sock: &mut TcpStream, mut s: Session) {
    let _ = sock.set_nodelay(true);
    // A write that moves nothing for this long fails, and the connection
    // ends: the blocking form of the send timeout.
    let _ = sock.set_write_timeout(Some(s.send_timeout()));
    let mut buf = [0u8; BUF];
    // SO_RCVTIMEO currently set; only shortened when a nearer deadline needs
    // it, so that a keep-alive deadline costs no syscall per request.
    let mut timeout: Option<Duration> = None;
    loop {
        if write_out(sock, &mut s).is_err() {
            break;
        }
        match s.next_step() {
            Step::Serve => {}
            Step::Close => break,
            Step::ShutdownWrite => {
                // Unread input must not turn our close into a reset that
                // destroys the answer in flight: read (and drop) until the
                // peer closes too.
                if sock.shutdown(Shutdown::Write).is_err() {
                    break;
                }
                s.lingering();
            }
        }
        if let Some(deadline) = s.deadline() {
            let now = Instant::now();
            if deadline <= now {
                break;
            }
            let left = deadline - now;
            if timeout.is_none_or(|t| t > left) {
                if sock
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .is_err()
                {
                    break;
                }
                timeout = Some(left);
            }
        }
        match sock.read(&mut buf) {
            Ok(0) => s.read_closed(),
            Ok(n) => {
                if !s.received(&buf[..n]) {
                    break;
                }
            }
            // A read timeout: the deadline may have moved on since it was set.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                timeout = None;
                if s.deadline().is_some_and(|d| d <= Instant::now()) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn write_out(sock: &mut TcpStream, s: &mut Session) -> io::Result<()> {
    let n = s.pending().len();
    if n > 0 {
        sock.write_all(s.pending())?;
        s.advance(n);
    }
    Ok(())
}
