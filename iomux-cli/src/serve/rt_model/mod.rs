//! `iomux serve --model rt`: the same protocols (our own echo and HTTP
//! framing, the sessions every model shares) on iomux::rt, the async
//! runtime, over the driver `--driver` names: readiness on epoll, poll or
//! select, or io_uring (readiness polls or completions). `--threads N`
//! runs N runtimes, one per thread, each with its own SO_REUSEPORT listener.

mod conn;
mod event;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iomux::rt::net::{TcpListener, TcpStream};
use iomux::rt::time::sleep;
use iomux::rt::{self, Handle};
use iomux::socket::{SpareFd, is_out_of_fds};

use super::model_common::Sessions;
use super::shutdown::Shutdown;
use super::{ServeArgs, announce};
use crate::CliResult;
use event::LocalEvent;

thread_local! {
    /// This runtime thread's graceful stop, fired from the signal thread
    /// through a task sent to the runtime.
    static STOP: Rc<LocalEvent> = Rc::default();
}

/// What one runtime did, for its exit line.
#[derive(Default)]
struct Counts {
    accepted: u64,
    shed: u64,
    accept_errors: u64,
    cut: u64,
}

/// Serves until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> CliResult {
    // Before any runtime thread exists, so that they all inherit the mask.
    let shutdown = Shutdown::install()?;
    let first = iomux::socket::bind_reuseport(args.addr)?;
    let addr = first.local_addr()?;
    let first = Arc::new(Mutex::new(Some(first)));
    let runtimes: Arc<Mutex<Vec<Handle>>> = Arc::default();
    let signalled = Arc::clone(&runtimes);
    shutdown.on_signal(move || {
        for h in lock(&signalled).iter() {
            drop(h.spawn(async { STOP.with(|s| s.fire()) }));
        }
    });
    let sessions = Sessions::new(args);
    // The ready line comes once every runtime holds all it needs (its
    // listener, poller and spare fd), so that what a supervisor measures
    // from then on is the serving, not the start.
    let threads = args.threads;
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let grace = args.shutdown_timeout;
    let counts = rt::group::run(args.threads, args.driver, move |_| {
        let (first, sessions, runtimes, shutdown, started) = (
            first.clone(),
            sessions.clone(),
            runtimes.clone(),
            shutdown.clone(),
            started.clone(),
        );
        async move {
            // The first runtime takes the socket bound above (left
            // unaccepted it would keep its share of the connections); the
            // others bind their own on the port it got. Inside the
            // runtime: its I/O objects belong to it.
            let taken = lock(&first).take();
            let listener = match taken {
                Some(l) => TcpListener::from_std(l)?,
                None => TcpListener::bind_reuseport(addr)?,
            };
            let stop = STOP.with(Rc::clone);
            // Registered first, then the flag checked: a signal either
            // finds this runtime's handle or is seen here.
            lock(&runtimes).push(Handle::try_current().expect("inside the runtime"));
            if shutdown.requested() {
                stop.fire();
            }
            let spare = SpareFd::new();
            if started.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1 == threads {
                announce(addr)?;
            }
            Ok(accept_loop(listener, spare, sessions, stop, grace).await)
        }
    })?;
    let mut cut = 0;
    for (i, c) in counts.iter().enumerate() {
        eprintln!(
            "iomux: loop {i}: {} accepted, {} shed (out of fds), {} accept errors",
            c.accepted, c.shed, c.accept_errors
        );
        cut += c.cut;
    }
    super::shutdown::report_cut(cut, grace);
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Accepts until the stop, then waits (up to `grace`) for the connections
/// to finish; those still open then are cut when the runtime drops them.
async fn accept_loop(
    listener: TcpListener,
    mut spare: SpareFd,
    sessions: Sessions,
    stop: Rc<LocalEvent>,
    grace: Duration,
) -> Counts {
    let mut counts = Counts::default();
    let live = Rc::new(Cell::new(0u64));
    let drained = Rc::new(LocalEvent::default());
    // Failing since the last successful accept: said once per episode.
    let mut failing = false;
    while !stop.is_fired() {
        let accepted = futures_first(listener.accept(), stop.wait()).await;
        let conn: TcpStream = match accepted {
            None => break,
            Some(Ok((conn, _))) => {
                failing = false;
                conn
            }
            Some(Err(e)) if is_out_of_fds(&e) => {
                if let Some(shed @ 1..) = spare.shed(&listener, 1) {
                    counts.shed += shed;
                } else {
                    // No spare either: the connection waits in the backlog
                    // until one of ours ends. Without a pause this loop
                    // would spin on it.
                    sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
            // The peer gave up before we got to it: next.
            Some(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
            Some(Err(e)) => {
                // Unexpected: said once per episode, and paced.
                counts.accept_errors += 1;
                if !failing {
                    eprintln!("iomux: accept: {e}; retrying");
                    failing = true;
                }
                sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        counts.accepted += 1;
        live.set(live.get() + 1);
        let (session, stop, live, drained) =
            (sessions.open(), stop.clone(), live.clone(), drained.clone());
        rt::spawn_local(async move {
            conn::serve(conn, session, &stop).await;
            live.set(live.get() - 1);
            if live.get() == 0 && stop.is_fired() {
                drained.fire();
            }
        });
    }
    drop(listener); // refuse new connections while the others drain
    if live.get() > 0 {
        let deadline = Instant::now() + grace;
        let _ = futures_first(drained.wait(), rt::time::sleep_until(deadline)).await;
    }
    counts.cut = live.get();
    counts
}

/// The first of `a` and `b` to complete: `Some` of `a`'s output, or `None`
/// if `b` came first.
async fn futures_first<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> Option<A::Output> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        b.as_mut().poll(cx).map(|_| None)
    })
    .await
}
