//! The asynchronous I/O model: the reactor on its completion driver
//! (`iomux::reactor::Driver::Completion`), one io_uring ring per loop.
//!
//! The seeds call Linux's asynchronous I/O a pseudo-async afterthought (the
//! old AIO only worked for O_DIRECT files). io_uring is the real thing: we
//! say *what* to do (accept, receive, send) and the kernel does it, copies
//! the bytes, and tells us afterwards. There is no readiness step at all.
//!
//! The machinery is the library's (`iomux/src/reactor/event_loop/completion/`):
//! a multishot accept per listener (out of fds, the waiting connections
//! are shed with the spare fd and a poll on the listener stands in for the
//! accept), a multishot recv per connection into a provided-buffer ring,
//! sends with the rest of a short one resubmitted, each socket in the
//! ring's fixed-file table, cancel before close, CQ overflows collected by
//! the next enter and the multishot requests they ended armed again. The
//! protocol is the same [`Handler`](iomux::conn::Handler) every model
//! uses, with the reactor's limits (and `--send-timeout`): back-pressure at
//! the high water of unsent output, the input cap, the send timeout,
//! lingering close. SIGINT/SIGTERM start a graceful drain of every loop
//! within --shutdown-timeout; a second signal exits at once. With
//! `--threads N`, N loops on N threads, each with its own SO_REUSEPORT
//! listener on the same address; `--uring-entries` sizes each ring.

use iomux::conn::Limits;
use iomux::reactor::{Config, Driver, Sharing};

use super::ServeArgs;
use crate::CliResult;

/// Submission queue entries per ring unless `--uring-entries` says.
const SQ_ENTRIES: u32 = 4096;

/// Runs the io_uring server until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> CliResult {
    // Before anything is bound, so that an unavailable io_uring is an
    // error at start rather than a dead server.
    Driver::Completion.check()?;
    let entries = args.uring_entries.unwrap_or(SQ_ENTRIES).max(1);
    let cfg = Config::default()
        .with_driver(Driver::Completion)
        .with_ring_entries(entries)
        .with_limits(Limits::default().with_send_timeout(args.send_timeout));
    // One SO_REUSEPORT listener per ring: the kernel spreads connections
    // across them. (Rings sharing one listener would not share its
    // connections: the wake-up goes to the first multishot accept in the
    // queue every time.)
    let stats = super::reactor_model::serve_group(args, cfg, Sharing::ReusePort)?;
    let threads = args.threads;
    let cut = stats.iter().map(|s| s.cut).sum();
    let s = stats.first().copied().unwrap_or_default();
    let c = s.completion;
    eprintln!(
        "iomux-stats: model=uring threads={threads} counters_of=ring0 accepted={} fixed={} closed={} completions={} enters={} \
         short_sends={} recv_rearms={} overflows={} sq_full={} shed={}",
        s.accepted,
        c.fixed,
        s.closed,
        c.completions,
        c.enters,
        c.short_sends,
        c.recv_rearms,
        c.overflows,
        c.sq_full,
        s.shed
    );
    super::shutdown::report_cut(cut, args.shutdown_timeout);
    Ok(())
}
