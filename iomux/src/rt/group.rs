//! A group of runtimes, one per thread (per core): the thread-per-core
//! shape of monoio and glommio, and of the reactor's `LoopGroup`. Each
//! runtime binds its own SO_REUSEPORT listener, and the kernel spreads the
//! connections over them.
//!
//! ```no_run
//! use iomux::rt::{self, DriverKind, net::TcpListener};
//!
//! let addr: std::net::SocketAddr = "127.0.0.1:8080".parse()?;
//! rt::group::run(2, DriverKind::Readiness(iomux::Backend::Epoll), move |_index| async move {
//!     let listener = TcpListener::bind_reuseport(addr)?;
//!     while let Ok((mut conn, _)) = listener.accept().await {
//!         rt::spawn_local(async move {
//!             let mut buf = vec![0u8; 4096];
//!             while let Ok(n) = conn.read(&mut buf).await {
//!                 if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not for: moving connections or tasks between the runtimes (no work
//! stealing); each runtime serves what its own listener accepted.

use std::future::Future;
use std::io;
use std::thread;

use super::{DriverKind, Runtime};

/// Runs `make(i)` (called inside the runtime, so it may bind sockets
/// there) on a runtime of its own on each of `threads` threads
/// (named `iomux-rt-<i>`), and returns their outputs in order once all have
/// ended. A thread's runtime that cannot start, or a `make` future that
/// panics, is an error.
pub fn run<F, Fut, T>(threads: usize, driver: DriverKind, make: F) -> io::Result<Vec<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<T>> + 'static,
    T: Send + 'static,
{
    let make = std::sync::Arc::new(make);
    let mut joins = Vec::with_capacity(threads);
    for i in 0..threads.max(1) {
        let make = std::sync::Arc::clone(&make);
        let join = thread::Builder::new().name(format!("iomux-rt-{i}")).spawn(
            move || -> io::Result<T> {
                let rt = Runtime::with_driver(driver)?;
                // `make` itself runs inside the runtime, so that it may
                // make the runtime's I/O objects (bind its listener).
                rt.block_on(async { make(i).await })
            },
        )?;
        joins.push(join);
    }
    let mut out = Vec::with_capacity(joins.len());
    for (i, j) in joins.into_iter().enumerate() {
        match j.join() {
            Ok(r) => out.push(r?),
            Err(_) => return Err(io::Error::other(format!("runtime thread {i} panicked"))),
        }
    }
    Ok(out)
}

/// [`run`], with `shutdown` handed to every runtime's `make` (a clone
/// each): trigger it, by hand or with
/// [`on_signal`](super::shutdown::Shutdown::on_signal), and each runtime
/// stops accepting, lets its connections finish and returns what it cut
/// (see [`shutdown`](super::shutdown) for the whole pattern).
pub fn run_with_shutdown<F, Fut, T>(
    threads: usize,
    driver: DriverKind,
    shutdown: &super::shutdown::Shutdown,
    make: F,
) -> io::Result<Vec<T>>
where
    F: Fn(usize, super::shutdown::Shutdown) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<T>> + 'static,
    T: Send + 'static,
{
    let shutdown = shutdown.clone();
    run(threads, driver, move |i| make(i, shutdown.clone()))
}
