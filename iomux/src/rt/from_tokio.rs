//! Coming from tokio: what a service uses of tokio, and what to write on
//! `iomux::rt` instead (this module holds documentation only).
//!
//! # The model, and what differs
//!
//! A [`Runtime`](super::Runtime) is one thread: its executor, its I/O
//! driver, its timers. A server runs one per core
//! ([`group::run`](super::group::run)), each with its own SO_REUSEPORT
//! listener, like monoio and glommio, where tokio's default runtime has a
//! pool of threads that steal tasks from one another. What follows from it:
//!
//! - **Tasks do not move.** A task runs on the thread that spawned it,
//!   until it ends. [`spawn`](super::spawn) takes a `Send` future but runs
//!   it on this thread too; [`Handle::spawn`](super::Handle::spawn) sends a
//!   future to another runtime. One busy connection does not slow the
//!   others *of other cores*, but it does slow those of its own core.
//! - **`spawn_local` for connection tasks.** The runtime's sockets are not
//!   `Send` (they belong to the driver of their thread), so a connection's
//!   future is not `Send` either: spawn it with
//!   [`spawn_local`](super::spawn_local). State shared by a core's
//!   connections can be `Rc<RefCell<..>>`, without locks.
//! - **A blocking call blocks the core**: every task of that thread waits.
//!   File reads, DNS lookups (`ToSocketAddrs`), CPU-heavy work: off the
//!   runtime's thread (`rt::spawn_blocking`, or a thread of your own).
//! - **Flush before waiting for a reply when a layer buffers.** TLS
//!   streams (tokio-rustls, futures-rustls) and `BufWriter`s hold what is
//!   written until a `flush`; on the io_uring driver a write is queued and
//!   `flush` waits for its completion. A client that writes a request and
//!   then reads the answer without flushing waits forever.
//! - **tokio's reactor and timer are not there.** Anything that registers
//!   with tokio's I/O driver, sleeps on tokio's timer or calls
//!   `tokio::spawn` panics on an iomux runtime with tokio's "there is no
//!   reactor running, must be called from the context of a Tokio 1.x
//!   runtime". What only polls futures or moves bytes — `tokio::sync`,
//!   the `tokio::io` traits and their `AsyncReadExt`/`AsyncWriteExt`,
//!   `tokio::io::split`, `copy`, `BufReader`, the `tokio::select!` macro —
//!   works on any runtime.
//!
//! # Item by item
//!
//! | tokio | on `iomux::rt` | notes |
//! |---|---|---|
//! | `tokio::spawn` | [`rt::spawn`](super::spawn) (`Send` futures), [`rt::spawn_local`](super::spawn_local) (any future) | both run on the current thread; [`Handle::spawn`](super::Handle::spawn) for another runtime; `tokio::spawn` itself panics here |
//! | `task::spawn_local`, `LocalSet` | [`rt::spawn_local`](super::spawn_local) | every runtime is a local set |
//! | `task::spawn_blocking` | `rt::spawn_blocking` | a pool of threads beside the runtime; await its handle |
//! | `JoinHandle`, `abort`, `JoinError` | [`JoinHandle`](super::JoinHandle), [`abort`](super::JoinHandle::abort), [`JoinError`](super::JoinError) | a panicking task ends with a `JoinError`; the runtime goes on |
//! | `task::JoinSet` | a `Vec` of [`JoinHandle`](super::JoinHandle)s, or futures-util's `FuturesUnordered` over them (in completion order) | dropping a `JoinHandle` detaches the task, it does not abort it: abort explicitly |
//! | `task::yield_now` | [`rt::yield_now`](super::yield_now) | |
//! | `select!` | `tokio::select!` itself (tokio's `macros` feature, no runtime needed), or futures-util's `future::select` / `select!` | its branches must be iomux futures (not `tokio::time::sleep`) |
//! | `time::sleep`, `sleep_until`, `timeout`, `interval` | [`rt::time::sleep`](super::time::sleep), [`sleep_until`](super::time::sleep_until), [`timeout`](super::time::timeout), [`interval`](super::time::interval) | `std::time::Instant` instead of `tokio::time::Instant`; no `pause`/`advance` test clock; tokio's own panic here |
//! | `net::TcpListener`, `TcpStream` | [`rt::net::TcpListener`](super::net::TcpListener), [`TcpStream`](super::net::TcpStream) | `accept(&mut self)`; [`bind_reuseport`](super::net::TcpListener::bind_reuseport) for a listener per core; `connect` resolves names blocking (pass a `SocketAddr`); `TcpStream::into_split`, `readable`, `try_read`, `peek` |
//! | `net::UnixListener`, `UnixStream` | [`rt::net::UnixListener`](super::net::UnixListener), [`UnixStream`](super::net::UnixStream) | |
//! | `net::UdpSocket` | `rt::net::UdpSocket` | |
//! | `io::unix::AsyncFd` | [`rt::AsyncFd`](super::AsyncFd) | readiness of any fd, on every driver (a POLL_ADD on the completion driver) |
//! | `fs::File`, `fs::read`, `fs::write` | `rt::fs::File`, `rt::fs::read`, `rt::fs::write`, `rt::fs::read_to_end` | `tokio::fs` panics here (it runs on tokio's blocking pool) |
//! | `signal::ctrl_c`, `signal::unix::signal` | `rt::signal::ctrl_c`, `rt::signal::signal` | tokio's panic here; graceful stop of a server: the `rt::Shutdown` token |
//! | `io::AsyncRead`, `AsyncWrite` | futures-io's traits on every stream; tokio's too with feature `tokio-io` | the streams also have inherent `read`, `write`, `write_all`, `flush`, `shutdown` |
//! | `io::AsyncReadExt`, `AsyncWriteExt`, `BufReader`, `copy` | futures-util's `io` (`AsyncReadExt`, `BufWriter`, `copy`, ...), or tokio's with `tokio-io` | runtime-free either way |
//! | `io::split`, `TcpStream::split` / `into_split` | `tokio::io::split` (with `tokio-io`) or futures-util's `io::split`; `TcpStream::into_split` | both halves stay on the stream's thread |
//! | `sync::{mpsc, oneshot, Mutex, Notify, watch}` | `tokio::sync` itself, futures-channel, async-channel | these need no reactor |
//! | `#[tokio::main]` | `fn main() -> io::Result<()> { rt::block_on(async { .. })? }`, or [`Runtime::with_driver`](super::Runtime::with_driver), or [`group::run`](super::group::run) for a runtime per core | below |
//! | `#[tokio::test]` | `#[test] fn t() { rt::block_on(async { .. }).expect("a runtime") }` | below; on every driver: [`DriverKind::ALL`](super::DriverKind::ALL) |
//! | hyper-util's `TokioIo`, `TokioExecutor`, `TokioTimer` | `rt::hyper::HyperIo`, `HyperExecutor`, `HyperTimer` (feature `hyper`) | `TokioIo` also works over the runtime's streams (feature `tokio-io`); `TokioExecutor` and `TokioTimer` panic here |
//! | `axum::serve` | an accept loop and hyper's `serve_connection` (below) | `axum::serve` calls `tokio::spawn` and wants `Send` streams |
//! | tokio-rustls | tokio-rustls with feature `tokio-io`, or futures-rustls | the `https_hello` example |
//!
//! The `rt::fs`, `rt::signal`, `rt::spawn_blocking`, `rt::Shutdown` and
//! `UdpSocket` rows, and `TcpStream::into_split` / `readable` / `try_read`
//! / `peek`, name the runtime's counterparts as they land; their own pages
//! have their examples.
//!
//! # `#[tokio::main]`
//!
//! ```
//! use std::io;
//! use std::time::Duration;
//!
//! use iomux::rt;
//!
//! fn main() -> io::Result<()> {
//!     rt::block_on(async {
//!         rt::time::sleep(Duration::from_millis(1)).await;
//!         println!("on iomux::rt");
//!         Ok::<(), io::Error>(())
//!     })?
//! }
//! ```
//!
//! [`rt::block_on`](super::block_on) makes an epoll runtime, and its own
//! `Result` says whether it could. Pick a driver with
//! [`Runtime::with_driver`](super::Runtime::with_driver), or run one
//! runtime per core with [`group::run`](super::group::run).
//!
//! # `#[tokio::test]`
//!
//! ```
//! use iomux::rt::{self, DriverKind, Runtime};
//!
//! // In tests/: #[test]
//! fn sleeps_on_every_driver() {
//!     for driver in DriverKind::ALL {
//!         let Ok(runtime) = Runtime::with_driver(driver) else {
//!             // io_uring can be missing from the kernel (or a sandbox).
//!             continue;
//!         };
//!         let slept = runtime.block_on(async {
//!             let start = std::time::Instant::now();
//!             rt::time::sleep(std::time::Duration::from_millis(5)).await;
//!             start.elapsed()
//!         });
//!         assert!(slept.as_millis() >= 5, "{driver}: woke early");
//!     }
//! }
//! # fn main() { sleeps_on_every_driver() }
//! ```
//!
//! # Tasks, and a `JoinSet`'s work
//!
//! ```
//! use std::io;
//! use std::rc::Rc;
//! use std::cell::Cell;
//!
//! use iomux::rt;
//!
//! fn main() -> io::Result<()> {
//!     rt::block_on(async {
//!         // Not `Send`, and it need not be: the tasks stay on this thread.
//!         let done = Rc::new(Cell::new(0));
//!         let tasks: Vec<_> = (0..4u64)
//!             .map(|i| {
//!                 let done = done.clone();
//!                 rt::spawn_local(async move {
//!                     rt::yield_now().await;
//!                     done.set(done.get() + 1);
//!                     i * 10
//!                 })
//!             })
//!             .collect();
//!         let mut total = 0;
//!         for task in tasks {
//!             // A JoinError: the task panicked or was aborted.
//!             total += task.await.map_err(|e| io::Error::other(e.to_string()))?;
//!         }
//!         assert_eq!((total, done.get()), (60, 4));
//!         Ok::<(), io::Error>(())
//!     })?
//! }
//! ```
//!
//! # Racing (`select!`) and timeouts
//!
//! ```
//! use std::io;
//! use std::pin::pin;
//! use std::time::Duration;
//!
//! use futures_util::future::{Either, select};
//! use iomux::rt;
//!
//! fn main() -> io::Result<()> {
//!     rt::block_on(async {
//!         // The common case of select!: a deadline on one future.
//!         let slow = rt::time::sleep(Duration::from_secs(60));
//!         match rt::time::timeout(Duration::from_millis(10), slow).await {
//!             Ok(()) => unreachable!("a minute has not passed"),
//!             Err(elapsed) => println!("{elapsed}"),
//!         }
//!         // Two futures, whichever ends first; the other is dropped.
//!         let a = pin!(rt::time::sleep(Duration::from_millis(1)));
//!         let b = pin!(rt::time::sleep(Duration::from_secs(60)));
//!         match select(a, b).await {
//!             Either::Left(((), _b)) => println!("a first"),
//!             Either::Right(((), _a)) => unreachable!("b sleeps a minute"),
//!         }
//!         Ok::<(), io::Error>(())
//!     })?
//! }
//! ```
//!
//! # Sockets, and flushing a buffered writer before the reply
//!
//! ```
//! use std::io;
//!
//! use futures_util::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
//! use iomux::rt::{self, net::{TcpListener, TcpStream}};
//!
//! fn main() -> io::Result<()> {
//!     rt::block_on(async {
//!         let mut listener = TcpListener::bind("127.0.0.1:0")?;
//!         let addr = listener.local_addr()?;
//!         let server = rt::spawn_local(async move {
//!             let (mut conn, _) = listener.accept().await?;
//!             let mut line = [0u8; 5];
//!             conn.read_exact(&mut line).await?;
//!             conn.write_all(&line).await?;
//!             conn.flush().await
//!         });
//!         let mut client = BufWriter::new(TcpStream::connect(addr).await?);
//!         client.write_all(b"hello").await?;
//!         // Without this flush the bytes stay in the BufWriter, the server
//!         // never gets them, and the read below waits forever.
//!         client.flush().await?;
//!         let mut echoed = [0u8; 5];
//!         client.get_mut().read_exact(&mut echoed).await?;
//!         assert_eq!(&echoed, b"hello");
//!         server.await.map_err(|e| io::Error::other(e.to_string()))??;
//!         Ok::<(), io::Error>(())
//!     })?
//! }
//! ```
//!
//! # hyper and axum
//!
//! hyper's server on the runtime: `rt::hyper` (feature `hyper`) in place of hyper-util's `TokioIo`, `TokioExecutor` and
//! `TokioTimer`; the `hyper_hello`, `https_hello` and `hyper_client`
//! examples.
//!
//! `axum::serve` is tied to tokio: it accepts from a listener whose
//! streams must have tokio's I/O traits *and be `Send`*, and it starts
//! each connection with `tokio::spawn` and hyper-util's `TokioExecutor`,
//! which panic outside a tokio runtime (it exists only with axum's `tokio`
//! feature). The runtime's streams are not `Send` and its connection tasks
//! are spawned with `spawn_local`. An axum `Router` is a tower service,
//! though, and hyper-util's `TowerToHyperService` makes it hyper's; these
//! lines replace `axum::serve(listener, app).await` (the `axum_hello`
//! example, feature `example-axum`):
//!
//!
//! Not for: running tokio's own reactor-bound crates (those need tokio's
//! runtime); it says what to write instead.
#![cfg_attr(feature = "example-axum", doc = "```")]
#![cfg_attr(not(feature = "example-axum"), doc = "```ignore")]
//! use std::io;
//!
//! use axum::{Router, routing::get};
//! use hyper_util::service::TowerToHyperService;
//! use iomux::rt::{self, hyper::{HyperIo, HyperTimer}, net::TcpListener};
//!
//! async fn serve(mut listener: TcpListener, app: Router) -> io::Result<()> {
//!     loop {
//!         let (conn, _) = listener.accept().await?;
//!         let service = TowerToHyperService::new(app.clone());
//!         rt::spawn_local(async move {
//!             let served = hyper::server::conn::http1::Builder::new()
//!                 .timer(HyperTimer)
//!                 .serve_connection(HyperIo::new(conn), service)
//!                 .await;
//!             if let Err(e) = served {
//!                 eprintln!("connection: {e}");
//!             }
//!         });
//!     }
//! }
//!
//! fn main() -> io::Result<()> {
//!     let app = Router::new().route("/plaintext", get(|| async { "Hello, World!" }));
//!     rt::block_on(async move {
//!         // I/O objects are made inside the runtime.
//!         let listener = TcpListener::bind("127.0.0.1:0")?;
//!         println!("listening on {}", listener.local_addr()?);
//!         // `serve` returns only on an accept error. Here it is started
//!         // and stopped at once; a server would `serve(..).await?`.
//!         let server = rt::spawn_local(serve(listener, app));
//!         rt::yield_now().await;
//!         server.abort();
//!         Ok::<(), io::Error>(())
//!     })?
//! }
//! ```
//!
//! Handlers are unchanged: an axum handler is a plain future. One that
//! calls tokio's timer or sockets (`tokio::time::sleep`, `tokio::net`)
//! panics here: use [`rt::time`](super::time) and [`rt::net`](super::net).
