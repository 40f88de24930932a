//! hyper 1.x on iomux::rt (feature `hyper`): [`HyperIo`] gives a runtime
//! stream hyper's `Read` and `Write`, [`HyperExecutor`] spawns hyper's
//! background tasks with [`spawn_local`](super::spawn_local), and
//! [`HyperTimer`] gives hyper the runtime's timers (for header-read
//! timeouts and keep-alive).
//!
//! ```no_run
//! # async fn serve(listener: iomux::rt::net::TcpListener) -> std::io::Result<()> {
//! use iomux::rt::hyper::{HyperIo, HyperTimer};
//! # let service = hyper::service::service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
//! #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("hi")))
//! # });
//! let (conn, _) = listener.accept().await?;
//! iomux::rt::spawn_local(
//!     hyper::server::conn::http1::Builder::new()
//!         .timer(HyperTimer)
//!         .serve_connection(HyperIo::new(conn), service),
//! );
//! # Ok(())
//! # }
//! ```
//!
//! Not for: an HTTP server of the library's own (hyper serves; this only
//! adapts the runtime to hyper's traits), nor tokio's `TokioIo` (unneeded:
//! [`HyperIo`] is the adapter).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::net::{TcpStream, UnixStream};
use super::time::{Sleep, sleep, sleep_until};

/// A runtime stream ([`TcpStream`], [`UnixStream`], or any stream with the
/// futures-io traits and [`HyperRead`]) as hyper's `Read + Write`.
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
    /// `inner` writes several slices in one call (a writev), so hyper may
    /// hand it a response's head and body as they are, not copied into one
    /// buffer.
    vectored: bool,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`; hyper copies what it writes into one buffer first
    /// (see [`HyperIo::vectored`]).
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo {
            inner,
            vectored: false,
        }
    }
    /// Wraps `inner`, whose `poll_write_vectored` writes several slices at
    /// once (as the runtime's streams do, which `From` wraps this way):
    /// hyper then writes a response's head and body without copying them
    /// together.
    pub fn vectored(inner: T) -> HyperIo<T> {
        HyperIo {
            inner,
            vectored: true,
        }
    }
    /// The stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
    /// The stream, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }
    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// How a stream fills hyper's read buffer. The default zeroes the buffer
/// and reads through futures-io's `AsyncRead` (for any stream: `impl
/// HyperRead for MyStream {}`); the runtime's own streams read straight
/// into the uninitialised memory, as tokio's do, which saves a memset of
/// the whole buffer (8 KiB or more) per read.
pub trait HyperRead: futures_io::AsyncRead + Unpin {
    /// Reads into `buf`'s unfilled part and advances it.
    fn poll_read_hyper(
        &mut self,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let room = buf.initialize_unfilled();
        match Pin::new(self).poll_read(cx, room) {
            Poll::Ready(Ok(n)) => {
                debug_assert!(n <= room.len());
                let n = n.min(room.len());
                // SAFETY: `initialize_unfilled` initialised all of `room`,
                // and the read filled its first `n` bytes (n <= room.len()),
                // which is what `advance` asks of its caller.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn read_uninit(
    io: &mut super::net::stream::StreamIo,
    cx: &mut Context<'_>,
    mut buf: hyper::rt::ReadBufCursor<'_>,
) -> Poll<std::io::Result<()>> {
    // SAFETY: the stream only writes initialised bytes into the unfilled
    // part (a read(2) or a copy) and never de-initialises any.
    let room = unsafe { buf.as_mut() };
    match io.poll_read_uninit(cx, room) {
        Poll::Ready(Ok(n)) => {
            // SAFETY: the read initialised the first `n` bytes of the
            // unfilled part, which is what `advance` asks of its caller.
            unsafe { buf.advance(n) };
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

macro_rules! hyper_read_uninit {
    ($($ty:ty),*) => {$(
        impl HyperRead for $ty {
            fn poll_read_hyper(
                &mut self,
                cx: &mut Context<'_>,
                buf: hyper::rt::ReadBufCursor<'_>,
            ) -> Poll<std::io::Result<()>> {
                read_uninit(&mut self.io, cx, buf)
            }
        }
    )*};
}
hyper_read_uninit!(TcpStream, UnixStream);

impl<T: HyperRead> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.get_mut().inner.poll_read_hyper(cx, buf)
    }
}

impl<T: futures_io::AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.vectored
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

impl From<TcpStream> for HyperIo<TcpStream> {
    fn from(s: TcpStream) -> Self {
        HyperIo::vectored(s)
    }
}

impl From<UnixStream> for HyperIo<UnixStream> {
    fn from(s: UnixStream) -> Self {
        HyperIo::vectored(s)
    }
}

/// Spawns hyper's background futures (HTTP/2 streams, upgrades) on the
/// current thread's runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        drop(super::spawn_local(fut));
    }
}

/// hyper's timer on the runtime's: its sleeps are [`Sleep`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl hyper::rt::Sleep for Sleep {}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(sleep(duration))
    }
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(sleep_until(deadline))
    }
    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            Some(mut ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
