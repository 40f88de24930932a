//! Blocking work off the runtime's thread: a bounded pool of threads shared
//! by every runtime of the process (a thread-per-core program would
//! otherwise hold one pool per core).
//!
//! - [`spawn_blocking`](super::spawn_blocking) runs a closure there and
//!   gives a [`JoinHandle`] to await its output on any runtime.
//! - At most [`set_max_threads`] threads (64 unless set); more work waits
//!   in a queue, in the order it came. A thread idle for [`set_keep_alive`]
//!   (10 s unless set) exits; the next job starts a new one.
//! - When a [`Runtime`](super::Runtime) shuts down, after dropping its
//!   tasks it waits for the blocking jobs that were started from it (up to
//!   [`set_shutdown_timeout`], 10 s unless set, or the timeout given to
//!   [`Runtime::shutdown_timeout`](super::Runtime::shutdown_timeout)), and
//!   logs (at `warn`) what was still running; `shutdown_timeout` also
//!   returns it as an [`Unfinished`].
//!
//! A job cannot be stopped once it runs: [`JoinHandle::abort`] on a queued
//! job keeps it from starting, on a running one it does nothing.
//!
//! Not for: CPU-heavy parallel work (no work stealing, no scoped threads);
//! it exists so that a blocking call does not stall a runtime's thread.

use std::any::{Any, type_name};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::thread;
use std::time::{Duration, Instant};

use super::executor::Core;
use super::task::{JoinHandle, wrap};

/// The pool's default bound on its threads.
pub const DEFAULT_MAX_THREADS: usize = 64;
/// How long an idle thread waits for work before it exits, by default.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// How long a runtime's shutdown waits for its blocking jobs, by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A unit of work for a pool thread.
struct Job {
    run: Box<dyn FnOnce() + Send>,
    /// What the job is, for the shutdown report.
    name: &'static str,
    /// The runtime that started it, and the job's number there.
    owner: Option<(Arc<Owner>, u64)>,
}

struct State {
    queue: VecDeque<Job>,
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Wake-ups sent to idle threads and not yet taken.
    notified: usize,
    max: usize,
    keep_alive: Duration,
    shutdown_timeout: Duration,
}

struct Pool {
    state: Mutex<State>,
    cond: Condvar,
}

static POOL: Pool = Pool {
    state: Mutex::new(State {
        queue: VecDeque::new(),
        threads: 0,
        idle: 0,
        notified: 0,
        max: DEFAULT_MAX_THREADS,
        keep_alive: DEFAULT_KEEP_ALIVE,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
    }),
    cond: Condvar::new(),
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bounds the pool to `n` threads (at least 1). Lowering it lets the
/// threads over the bound exit once idle; running jobs finish.
pub fn set_max_threads(n: usize) {
    lock(&POOL.state).max = n.max(1);
    POOL.cond.notify_all();
}

/// How long an idle pool thread waits for work before it exits.
pub fn set_keep_alive(d: Duration) {
    lock(&POOL.state).keep_alive = d;
    POOL.cond.notify_all();
}

/// How long a runtime being dropped waits for the blocking jobs started
/// from it before it logs what it leaves running and goes on.
pub fn set_shutdown_timeout(d: Duration) {
    lock(&POOL.state).shutdown_timeout = d;
}

/// A look at the pool, for tests and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Threads alive (running a job or idle).
    pub threads: usize,
    /// Threads waiting for work.
    pub idle: usize,
    /// Jobs waiting for a thread.
    pub queued: usize,
    /// The bound on `threads`.
    pub max_threads: usize,
}

/// The pool's state now.
pub fn stats() -> PoolStats {
    let st = lock(&POOL.state);
    PoolStats {
        threads: st.threads,
        idle: st.idle,
        queued: st.queue.len(),
        max_threads: st.max,
    }
}

#[cfg(test)]
thread_local! {
    /// Jobs this thread handed to the pool (the unit tests' proof that a
    /// path skipped it).
    static SUBMITTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Runs `run` on a pool thread. `name` says what it is if a runtime's
/// shutdown has to leave it running. When no thread can be started and
/// none is alive, `run` is dropped unrun (its owner must treat that as a
/// failure: the fs operations and `spawn_blocking` do).
pub(crate) fn execute(name: &'static str, run: Box<dyn FnOnce() + Send>) {
    #[cfg(test)]
    SUBMITTED.with(|c| c.set(c.get() + 1));
    let owner = Core::current().map(|core| {
        let owner = Owner::of(core.id());
        let n = owner.start(name);
        (owner, n)
    });
    let mut st = lock(&POOL.state);
    st.queue.push_back(Job { run, name, owner });
    if st.idle > st.notified {
        st.notified += 1;
        drop(st);
        POOL.cond.notify_one();
        return;
    }
    if st.threads >= st.max {
        return; // a busy thread takes it when it is done
    }
    st.threads += 1;
    drop(st);
    if let Err(e) = thread::Builder::new()
        .name("iomux-blocking".into())
        .spawn(worker)
    {
        log::error!("iomux::rt: cannot start a blocking-pool thread: {e}");
        let mut st = lock(&POOL.state);
        st.threads -= 1;
        if st.threads == 0 {
            // Nobody will run the queue: drop it (each job's owner sees
            // it dropped), outside the lock.
            let orphans: Vec<Job> = st.queue.drain(..).collect();
            drop(st);
            for job in orphans {
                if let Some((owner, n)) = &job.owner {
                    owner.finish(*n);
                }
            }
        }
    }
}

fn worker() {
    let mut st = lock(&POOL.state);
    loop {
        if st.threads > st.max {
            // Over the bound (lowered): exit, and hand the queue on to an
            // idle thread if it has work.
            st.threads -= 1;
            if !st.queue.is_empty() && st.idle > st.notified {
                st.notified += 1;
                POOL.cond.notify_one();
            }
            return;
        }
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            let Job { run, name, owner } = job;
            if catch_unwind(AssertUnwindSafe(run)).is_err() {
                log::error!("iomux::rt: blocking job {name} panicked");
            }
            if let Some((owner, n)) = owner {
                owner.finish(n);
            }
            st = lock(&POOL.state);
            continue;
        }
        st.idle += 1;
        let deadline = Instant::now() + st.keep_alive;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            st = POOL
                .cond
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if st.notified > 0 {
                st.notified -= 1;
                st.idle -= 1;
                break;
            }
            if st.threads > st.max {
                st.idle -= 1;
                break; // exits at the top of the loop
            }
            if Instant::now() >= deadline {
                st.idle -= 1;
                st.threads -= 1;
                return;
            }
        }
    }
}

/// The blocking jobs one runtime started and that have not ended.
struct Owner {
    running: Mutex<(u64, HashMap<u64, &'static str>)>,
    cond: Condvar,
}

/// Runtimes (by id) that have started blocking jobs.
static OWNERS: Mutex<Option<HashMap<u64, Arc<Owner>>>> = Mutex::new(None);

impl Owner {
    fn of(runtime: u64) -> Arc<Owner> {
        let mut owners = lock(&OWNERS);
        Arc::clone(
            owners
                .get_or_insert_with(HashMap::new)
                .entry(runtime)
                .or_insert_with(|| {
                    Arc::new(Owner {
                        running: Mutex::new((0, HashMap::new())),
                        cond: Condvar::new(),
                    })
                }),
        )
    }

    fn start(&self, name: &'static str) -> u64 {
        let mut r = lock(&self.running);
        r.0 += 1;
        let n = r.0;
        r.1.insert(n, name);
        n
    }

    fn finish(&self, n: u64) {
        let mut r = lock(&self.running);
        r.1.remove(&n);
        if r.1.is_empty() {
            self.cond.notify_all();
        }
    }
}

/// What a runtime's shutdown left running on the blocking pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unfinished {
    /// The type names of the closures (or the fs operations) still
    /// running or queued, one entry per job.
    pub jobs: Vec<&'static str>,
}

impl Unfinished {
    /// True when nothing was left.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

impl fmt::Display for Unfinished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.jobs.is_empty() {
            return f.write_str("no blocking job left running");
        }
        write!(f, "{} blocking job(s) left running: ", self.jobs.len())?;
        for (i, j) in self.jobs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(j)?;
        }
        Ok(())
    }
}

/// Waits up to `timeout` (`None`: the pool's shutdown timeout) for the
/// jobs runtime `runtime` started; forgets the runtime; says what is left.
pub(crate) fn wait_for_runtime(runtime: u64, timeout: Option<Duration>) -> Unfinished {
    let Some(owner) = lock(&OWNERS).as_mut().and_then(|o| o.remove(&runtime)) else {
        return Unfinished::default();
    };
    let timeout = timeout.unwrap_or_else(|| lock(&POOL.state).shutdown_timeout);
    let r = owner
        .cond
        .wait_timeout_while(lock(&owner.running), timeout, |r| !r.1.is_empty())
        .unwrap_or_else(|e| e.into_inner())
        .0;
    let mut left: Vec<(u64, &'static str)> = r.1.iter().map(|(n, name)| (*n, *name)).collect();
    drop(r);
    left.sort_unstable();
    let left = Unfinished {
        jobs: left.into_iter().map(|(_, name)| name).collect(),
    };
    if !left.is_empty() {
        log::warn!(
            "iomux::rt: runtime shut down after {timeout:?} with {left}; they run on, detached"
        );
    }
    left
}

/// See [`spawn_blocking`](super::spawn_blocking).
pub(crate) fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    // The task wrapper gives the handle, the panic capture and abort (a
    // queued job aborted is dropped unrun): polled once on the pool
    // thread, it runs `f` to the end.
    let (task, parts) = wrap(async move { f() });
    let mut task = Box::pin(task);
    execute(
        type_name::<F>(),
        Box::new(move || {
            let mut cx = Context::from_waker(Waker::noop());
            if task.as_mut().poll(&mut cx).is_pending() {
                log::error!("iomux::rt: a blocking job did not finish in one poll");
            }
        }),
    );
    parts.into_handle()
}

/// Resolves `addr` to socket addresses: at once when it is a socket
/// address or an IP literal with a port (no thread involved), else on the
/// blocking pool (`getaddrinfo` blocks). The runtime's `connect` uses it.
pub(crate) async fn resolve<A>(addr: A) -> io::Result<Vec<SocketAddr>>
where
    A: ToSocketAddrs + Send + 'static,
{
    if let Some(addrs) = literal(&addr) {
        return Ok(addrs);
    }
    match spawn_blocking(move || addr.to_socket_addrs().map(Iterator::collect)).await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(format!(
            "name resolution did not finish: {e}"
        ))),
    }
}

/// The addresses of `addr` when no lookup is needed.
fn literal(addr: &dyn Any) -> Option<Vec<SocketAddr>> {
    fn str_port(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        host.parse::<IpAddr>()
            .ok()
            .map(|ip| vec![SocketAddr::new(ip, port)])
    }
    fn str_addr(s: &str) -> Option<Vec<SocketAddr>> {
        s.parse::<SocketAddr>().ok().map(|a| vec![a])
    }
    if let Some(a) = addr.downcast_ref::<SocketAddr>() {
        return Some(vec![*a]);
    }
    if let Some(a) = addr.downcast_ref::<SocketAddrV4>() {
        return Some(vec![SocketAddr::V4(*a)]);
    }
    if let Some(a) = addr.downcast_ref::<SocketAddrV6>() {
        return Some(vec![SocketAddr::V6(*a)]);
    }
    if let Some((ip, port)) = addr.downcast_ref::<(IpAddr, u16)>() {
        return Some(vec![SocketAddr::new(*ip, *port)]);
    }
    if let Some((ip, port)) = addr.downcast_ref::<(Ipv4Addr, u16)>() {
        return Some(vec![SocketAddr::new(IpAddr::V4(*ip), *port)]);
    }
    if let Some((ip, port)) = addr.downcast_ref::<(Ipv6Addr, u16)>() {
        return Some(vec![SocketAddr::new(IpAddr::V6(*ip), *port)]);
    }
    if let Some(a) = addr.downcast_ref::<&'static [SocketAddr]>() {
        return Some(a.to_vec());
    }
    if let Some(s) = addr.downcast_ref::<&'static str>() {
        return str_addr(s);
    }
    if let Some(s) = addr.downcast_ref::<String>() {
        return str_addr(s);
    }
    if let Some((h, port)) = addr.downcast_ref::<(&'static str, u16)>() {
        return str_port(h, *port);
    }
    if let Some((h, port)) = addr.downcast_ref::<(String, u16)>() {
        return str_port(h, *port);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submitted() -> u64 {
        SUBMITTED.with(|c| c.get())
    }

    #[test]
    fn literals_skip_the_pool() {
        let before = submitted();
        let got = crate::rt::block_on(async {
            let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
            assert_eq!(resolve(a).await.unwrap(), vec![a]);
            assert_eq!(resolve("127.0.0.1:80").await.unwrap(), vec![a]);
            assert_eq!(
                resolve(String::from("127.0.0.1:80")).await.unwrap(),
                vec![a]
            );
            assert_eq!(resolve(("127.0.0.1", 80)).await.unwrap(), vec![a]);
            assert_eq!(resolve((String::from("::1"), 80)).await.unwrap().len(), 1);
            assert_eq!(resolve((Ipv4Addr::LOCALHOST, 80)).await.unwrap(), vec![a]);
            resolve("[::1]:443").await.unwrap()
        })
        .unwrap();
        assert_eq!(got, vec!["[::1]:443".parse::<SocketAddr>().unwrap()]);
        assert_eq!(
            submitted(),
            before,
            "a literal went through the blocking pool"
        );
    }

    #[test]
    fn names_go_through_the_pool() {
        let before = submitted();
        let got = crate::rt::block_on(resolve("localhost:8080")).unwrap();
        assert!(
            submitted() > before,
            "a name was resolved on the runtime's thread"
        );
        let addrs = got.expect("localhost resolves");
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback()),
            "{addrs:?}"
        );
    }
}
