//! The non-blocking model: one thread, every socket O_NONBLOCK, and a loop
//! that tries each socket in turn.
//!
//! Nothing ever sleeps: a pass over N idle sockets costs N failed `read`
//! calls (EAGAIN) plus one failed `accept`, and the loop starts the next pass
//! at once. This is the seeds' "synchronous non-blocking = polling" model,
//! and it burns a whole core even with no clients at all — on purpose: the
//! lab measures that burn.

use std::io;
use std::net::TcpStream;
use std::time::Instant;

use super::model_common::{self, Progress, Session};
use super::{ServeArgs, announce};
use crate::CliResult;

/// Reads per socket per pass: bounded, so one flooding peer cannot hold the
/// loop while the others wait.
const READS_PER_PASS: usize = 4;

/// Runs the busy-polling server until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> CliResult {
    let sessions = model_common::Sessions::new(args);
    let listener = iomux::socket::listen(args.addr)?;
    listener.set_nonblocking(true)?;
    // Before any thread starts: the signal thread is the only other one.
    let shutdown = super::shutdown::Shutdown::install()?;
    announce(listener.local_addr()?)?;

    let mut listener = Some(listener);
    let mut draining: Option<Instant> = None;
    let mut cut = 0;
    let mut conns: Vec<(TcpStream, Session)> = Vec::new();
    let mut scratch = vec![0u8; 64 * 1024];
    let (mut passes, mut tries) = (0u64, 0u64);
    loop {
        if draining.is_none() && shutdown.requested() {
            // Graceful stop: no more accepts (the listener closes), the
            // last read and answer of each connection, then its close.
            draining = Some(Instant::now() + args.shutdown_timeout);
            listener = None;
            conns.retain_mut(|(sock, s)| {
                model_common::drain_last(sock, s, &mut scratch) != Progress::Done
            });
        }
        if let Some(deadline) = draining {
            if conns.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                cut = conns.len() as u64;
                break;
            }
        }
        while let Some(l) = &listener {
            tries += 1;
            match l.accept() {
                Ok((sock, _)) => {
                    if sock.set_nonblocking(true).is_ok() {
                        let _ = sock.set_nodelay(true);
                        conns.push((sock, sessions.open()));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock (no one waiting) and fd exhaustion alike: try
                // again next pass; the pass over the connections is the pause.
                Err(_) => break,
            }
        }
        // One clock read per pass, and only when some handler has a deadline.
        let mut now: Option<Instant> = None;
        let mut i = 0;
        while i < conns.len() {
            let (sock, s) = &mut conns[i];
            tries += 1;
            let mut done =
                model_common::pump(sock, s, &mut scratch, READS_PER_PASS) == Progress::Done;
            if let Some(deadline) = s.deadline() {
                done |= deadline <= *now.get_or_insert_with(Instant::now);
            }
            if done {
                // Closed here, when finished: the session has lingered
                // already if it needed to.
                conns.swap_remove(i);
            } else {
                i += 1;
            }
        }
        passes += 1;
    }
    eprintln!("iomux-stats: model=nonblocking passes={passes} tries={tries}");
    super::shutdown::report_cut(cut, args.shutdown_timeout);
    Ok(())
}
