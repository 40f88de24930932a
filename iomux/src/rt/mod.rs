//! `iomux::rt`: an async runtime on iomux, thread-per-core like monoio and
//! glommio (feature `rt`, on by default).
//!
//! - A [`Runtime`] is one single-threaded executor with its I/O driver and
//!   timers; [`group::run`] starts one per core, each with its own
//!   SO_REUSEPORT listener ([`TcpListener::bind_reuseport`](net::TcpListener::bind_reuseport)).
//! - Drivers ([`DriverKind`]): readiness on any [`Backend`](crate::Backend)
//!   (epoll, poll, select, io_uring's POLL_ADD), or io_uring completions
//!   with buffers the runtime owns while an operation is in flight, so that
//!   a dropped read or write future loses no byte and leaks nothing.
//! - Tasks: [`spawn_local`] (any future), [`spawn`] (`Send` futures, also
//!   from other threads through a [`Handle`]), with a [`JoinHandle`] to
//!   await the output or [`abort`](JoinHandle::abort). A panicking task
//!   ends with a [`JoinError`]; the runtime goes on.
//! - [`time`]: `sleep`, `timeout`, `interval`, never early.
//! - [`net`]: TCP and Unix listeners and streams with the futures-io
//!   traits (and tokio's with feature `tokio-io`); [`AsyncFd`] for any fd.
//! - [`fs`]: files, on the blocking pool; [`spawn_blocking`] for any
//!   blocking work ([`blocking`]: the pool's bounds).
//! - [`signal`]: Unix signals as streams, to every runtime that listens;
//!   [`shutdown`]: stop accepting, let connections finish, report what was
//!   cut ([`group::run_with_shutdown`] hands one token to every runtime).
//! - [`hyper`](mod@hyper) (feature `hyper`): hyper 1.x's `rt` traits.
//!
//! I/O objects belong to the runtime they were made on and are not `Send`.
//!
//! ```
//! use iomux::rt::{self, net::{TcpListener, TcpStream}};
//!
//! fn main() -> std::io::Result<()> {
//!     rt::block_on(async {
//!         let listener = TcpListener::bind("127.0.0.1:0")?;
//!         let addr = listener.local_addr()?;
//!         let server = rt::spawn_local(async move {
//!             let (mut conn, _) = listener.accept().await?;
//!             let mut buf = [0u8; 5];
//!             let n = conn.read(&mut buf).await?;
//!             conn.write_all(&buf[..n]).await?;
//!             Ok::<_, std::io::Error>(())
//!         });
//!         let mut client = TcpStream::connect(addr).await?;
//!         client.write_all(b"hello").await?;
//!         let mut echoed = [0u8; 5];
//!         let mut got = 0;
//!         while got < 5 {
//!             got += client.read(&mut echoed[got..]).await?;
//!         }
//!         assert_eq!(&echoed, b"hello");
//!         // The outer error: the task panicked or was aborted.
//!         server.await.map_err(|e| std::io::Error::other(e.to_string()))??;
//!         Ok::<_, std::io::Error>(())
//!     })?
//! }
//! ```
//!
//! What it is not: a work-stealing runtime (a task stays on the thread that
//! spawned it), a tokio replacement for crates bound to tokio's own reactor
//! (see [`from_tokio`]), or portable (Linux only). It does not import the
//! reactor ([`crate::reactor`]), nor the reactor it
//! (`tests/module_layers.rs`).

mod async_fd;
pub mod blocking;
mod driver;
mod executor;
pub mod from_tokio;
pub mod fs;
pub mod group;
#[cfg(feature = "hyper")]
pub mod hyper;
pub mod net;
mod readiness;
pub mod shutdown;
pub mod signal;
mod task;
pub mod time;
#[cfg(feature = "uring")]
mod uring;

// The generational slab is the crate's (`crate::slab`); the completion
// driver (`rt/uring`) names it `super::slab`.
#[cfg(feature = "uring")]
use crate::slab;

use std::fmt;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

pub use async_fd::{AsyncFd, ReadyGuard, TryIoError};
pub use driver::DriverKind;
pub use task::{JoinError, JoinHandle};

use driver::Driver;
use executor::{Core, Shared};

/// A single-threaded runtime: an executor, an I/O driver and timers. Not
/// `Send`: it runs on the thread that made it.
pub struct Runtime {
    core: Rc<Core>,
}

impl Runtime {
    /// A runtime on the epoll readiness driver.
    pub fn new() -> io::Result<Runtime> {
        Runtime::with_driver(DriverKind::Readiness(crate::Backend::Epoll))
    }

    /// A runtime on `driver`; io_uring fails with a clear error where the
    /// kernel lacks it.
    pub fn with_driver(driver: DriverKind) -> io::Result<Runtime> {
        let (driver, unpark) = Driver::new(driver)?;
        Ok(Runtime {
            core: Core::new(driver, unpark),
        })
    }

    /// The driver this runtime uses.
    pub fn driver(&self) -> DriverKind {
        self.core.driver.borrow().kind()
    }

    /// Runs `future` to completion on this thread, and every task spawned
    /// on this runtime meanwhile. Tasks still pending when it returns stay
    /// on the runtime (a later `block_on` runs them) until it is dropped.
    ///
    /// # Panics
    /// Inside a runtime (nested `block_on` on one thread).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future)
    }

    /// Spawns `future` on this runtime (it starts at the next `block_on`).
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn_local(future)
    }

    /// A handle to spawn onto this runtime from any thread.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::clone(&self.core.shared),
        }
    }

    /// Shuts the runtime down: drops its tasks, then waits up to `timeout`
    /// for the [blocking jobs](spawn_blocking) started from it, and says
    /// which were still running (they run on, detached). Dropping a
    /// runtime does the same with the pool's
    /// [shutdown timeout](blocking::set_shutdown_timeout), and logs what
    /// it left.
    pub fn shutdown_timeout(self, timeout: std::time::Duration) -> blocking::Unfinished {
        self.core.shutdown();
        blocking::wait_for_runtime(self.core.id(), Some(timeout))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.core.shutdown();
        // After `shutdown_timeout` this finds nothing left to wait for.
        blocking::wait_for_runtime(self.core.id(), None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("driver", &self.driver())
            .field("tasks", &self.core.tasks())
            .finish()
    }
}

/// Spawns onto a runtime from any thread (`Send + Sync`, cheap to clone).
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// The handle of the runtime running on this thread, if any.
    pub fn try_current() -> Option<Handle> {
        Core::current().map(|c| Handle {
            shared: Arc::clone(&c.shared),
        })
    }

    /// Spawns a `Send` future on the handle's runtime; it is woken there.
    /// If the runtime has shut down, the handle reports it cancelled.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Core::spawn_send(&self.shared, future)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// Runs `future` on a new epoll runtime on this thread.
pub fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    Ok(Runtime::new()?.block_on(future))
}

/// Spawns `future` on the current thread's runtime.
///
/// # Panics
/// Outside a runtime.
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Core::expect_current("iomux::rt::spawn_local").spawn_local(future)
}

/// Spawns a `Send` future on the current thread's runtime (it runs on this
/// thread; use a [`Handle`] to spawn onto another runtime).
///
/// # Panics
/// Outside a runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Core::expect_current("iomux::rt::spawn").spawn_local(future)
}

/// Runs `f` on the [blocking pool](blocking), off the runtime's thread,
/// and gives a handle to await its output (a panic in `f` is a
/// [`JoinError`]). Callable from any thread, inside a runtime or not; the
/// handle can be awaited on any runtime. A runtime's shutdown waits for
/// the jobs started from it (see [`Runtime::shutdown_timeout`]).
///
/// ```
/// use iomux::rt;
///
/// let sum = rt::block_on(async {
///     rt::spawn_blocking(|| (1..=100u64).sum::<u64>()).await
/// })?;
/// assert_eq!(sum.expect("the job ran"), 5050);
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    blocking::spawn_blocking(f)
}

/// Yields to the other tasks once.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
