//! The asynchronous I/O model: a completion-based server on io_uring.
//!
//! The seeds call Linux's asynchronous I/O a pseudo-async afterthought (the
//! old AIO only worked for O_DIRECT files). io_uring is the real thing: we
//! say *what* to do (accept, receive, send) and the kernel does it, copies
//! the bytes, and tells us afterwards. There is no readiness step at all.
//!
//! - **Multishot accept**: one request accepts every connection. Out of
//!   fds, an accept fails at once (EMFILE) whether a connection waits or
//!   not, so re-arming it would spin: the waiting connections are shed with
//!   the spare-fd trick and a poll on the listener stands in for the accept
//!   until a new connection arrives.
//! - **Multishot recv into a provided-buffer ring**: one request per
//!   connection receives everything; the kernel picks the buffer, so idle
//!   connections hold no memory (`iomux::uring::BufRing`).
//! - **send**, with the rest of a short send resubmitted from where it
//!   stopped; replies made meanwhile queue behind it.
//! - **Cancel before close**: a connection's fd is closed only after its
//!   multishot recv has posted its final completion (ASYNC_CANCEL, EOF or
//!   error) and no send is in flight, so no recv can complete on an fd
//!   number that has been reused (conn.rs).
//! - **The ring** is the library's io_uring core (`iomux::uring`): its
//!   setup (DEFER_TASKRUN where the kernel has it, the registered ring fd),
//!   its submission path (a full SQ is submitted and the push goes on; what
//!   the kernel refuses waits in order for the next turn), its user data
//!   with generations, and its provided-buffer ring.
//! - **CQ overflow**: the kernel keeps what does not fit (IORING_FEAT_NODROP)
//!   and the next enter flushes it. Multishot requests the kernel ended on
//!   overflow (no IORING_CQE_F_MORE) are armed again, like any multishot
//!   request that ends.
//!
//! The protocol is the same [`Handler`](iomux::conn::Handler) every model
//! uses, with the reactor's tunables (`iomux::reactor::Config::default()`,
//! and `--send-timeout`):
//! the same back-pressure (unsent output above the high water stops
//! receiving), input cap, send timeout (checked by a sweep a second) and
//! lingering close. SIGINT/SIGTERM arrive through a signalfd
//! polled in the first ring, which tells the others through eventfds; each
//! ring then drains gracefully (worker/drain.rs) within --shutdown-timeout,
//! and the process ends after printing statistics. A second signal exits
//! at once.
//! With `--threads N`, N rings on N threads, each with its own
//! SO_REUSEPORT listener on the same address.

use iomux::conn::Limits;
use iomux::socket::bind_reuseport;

use super::{ServeArgs, announce};
use crate::CliResult;
use crate::proto;

mod conn;
mod ops;
mod ring;
mod worker;

use worker::{Worker, stop_eventfd};

/// Makes one handler per connection.
pub(crate) type Factory = iomux::conn::HandlerFactory;

/// Runs the io_uring server until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> CliResult {
    let factory = proto::factory(args.proto, args.limits());
    // Blocked before any thread starts, so every thread inherits the mask and
    // the signals wait in the signalfd.
    let signal = super::shutdown::signalfd()?;
    // Open the first ring before announcing, so that an unavailable io_uring
    // is an error at start rather than a dead server.
    let entries = args.uring_entries.unwrap_or(ring::SQ_ENTRIES).max(1);
    drop(ring::open_ring(entries)?);
    let limits = Limits::default().with_send_timeout(args.send_timeout);
    // One SO_REUSEPORT listener per ring, as the reactor's LoopGroup does:
    // the kernel spreads connections across them. (Rings sharing one
    // listener would not share its connections: the wake-up goes to the
    // first multishot accept in the queue every time.)
    let first = bind_reuseport(args.addr)?;
    let addr = first.local_addr()?;
    let threads = args.threads;
    let mut ready = Vec::new();
    let mut peers = Vec::new();
    let mut others = Vec::new();
    for i in 1..threads {
        let listener = bind_reuseport(addr)?;
        let factory = factory.clone();
        let stop = stop_eventfd()?;
        let told = stop.try_clone()?;
        peers.push(stop);
        let grace = args.shutdown_timeout;
        let (tx, rx) = std::sync::mpsc::channel();
        others.push(
            std::thread::Builder::new()
                .name(format!("uring-{i}"))
                .spawn(move || {
                    let mut w = match Worker::new(listener, factory, Some(told), entries, limits) {
                        Ok(w) => w,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return 0;
                        }
                    };
                    w.is_peer = true;
                    w.grace = grace;
                    let _ = tx.send(Ok(()));
                    if let Err(e) = w.run() {
                        eprintln!("iomux: uring worker {i}: {e}");
                        std::process::exit(1);
                    }
                    w.stats.cut
                })?,
        );
        ready.push(rx);
    }
    let mut main = Worker::new(first, factory, Some(signal), entries, limits)?;
    main.peers = peers;
    main.grace = args.shutdown_timeout;
    for rx in ready {
        rx.recv().map_err(|_| "a uring worker died at start")??;
    }
    announce(addr)?;
    main.run()?;
    // Every ring drains on its own; the process ends when all have.
    let mut cut = main.stats.cut;
    for t in others {
        cut += t.join().unwrap_or(0);
    }
    let s = main.stats;
    eprintln!(
        "iomux-stats: model=uring threads={threads} counters_of=ring0 accepted={} fixed={} closed={} completions={} enters={} \
         short_sends={} recv_rearms={} overflows={} sq_full={} shed={}",
        s.accepted,
        s.fixed,
        s.closed,
        s.completions,
        s.enters,
        s.short_sends,
        s.recv_rearms,
        s.overflows,
        s.sq_full,
        s.shed
    );
    super::shutdown::report_cut(cut, args.shutdown_timeout);
    std::process::exit(0);
}
