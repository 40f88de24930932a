//! The stream traits — futures-io's, and tokio's with the `tokio-io`
//! feature — and the inherent reads and writes (`read`, `peek`,
//! `readable`, `try_read`; `write`, `write_all`, `flush`, `shutdown`,
//! `writable`, `try_write`), for every stream type and for the halves of
//! a split one, from its `StreamIo`.
//!
//! Not for: how a stream does its I/O on each driver (`stream.rs`); these
//! are the trait and method surfaces over it.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::split::{OwnedReadHalf, OwnedWriteHalf};
use super::stream::StreamIo;
use super::tcp::TcpStream;
use super::unix::UnixStream;

/// The stream I/O behind a stream or one of its halves.
pub(crate) trait HasIo {
    fn stream_io(&self) -> &StreamIo;
}

impl HasIo for TcpStream {
    fn stream_io(&self) -> &StreamIo {
        &self.io
    }
}

impl HasIo for UnixStream {
    fn stream_io(&self) -> &StreamIo {
        &self.io
    }
}

impl<S: HasIo> HasIo for OwnedReadHalf<S> {
    fn stream_io(&self) -> &StreamIo {
        self.as_ref().stream_io()
    }
}

impl<S: HasIo> HasIo for OwnedWriteHalf<S> {
    fn stream_io(&self) -> &StreamIo {
        self.as_ref().stream_io()
    }
}

macro_rules! read_impls {
    ($ty:ty) => {
        impl $ty {
            /// Reads some bytes into `buf`; `Ok(0)` at end of stream (or
            /// for an empty `buf`). Cancel-safe: if the future is dropped
            /// before it completes, no byte is lost.
            pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                poll_fn(|cx| self.stream_io().poll_read(cx, buf)).await
            }

            /// Like [`read`](Self::read), but the bytes stay to be read
            /// again (MSG_PEEK; on the completion driver, a look into the
            /// runtime's receive buffer). Waits until there is something.
            pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
                poll_fn(|cx| self.stream_io().poll_peek(cx, buf)).await
            }

            /// Waits until a read may not wait: data, the end of the
            /// stream or an error. Readiness may be stale (the data read
            /// by someone else): a [`try_read`](Self::try_read) that then
            /// says `WouldBlock` makes the next `readable` wait again.
            /// On the completion driver it waits for a receive into the
            /// runtime's buffer.
            pub async fn readable(&self) -> io::Result<()> {
                poll_fn(|cx| self.poll_read_ready(cx)).await
            }

            /// The poll form of [`readable`](Self::readable).
            pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.stream_io().poll_read_ready(cx)
            }

            /// Reads what is there without waiting: `Ok(0)` at end of
            /// stream, `Err(WouldBlock)` when nothing is. On the completion
            /// driver it takes from the runtime's receive buffer, and an
            /// empty buffer arms a receive (which wakes
            /// [`readable`](Self::readable)).
            pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.stream_io().try_read(buf)
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.stream_io().poll_read(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: the stream only writes initialised bytes into the
                // unfilled part (a read(2) or a copy) and never
                // de-initialises any.
                let unfilled = unsafe { buf.unfilled_mut() };
                match self.stream_io().poll_read_uninit(cx, unfilled) {
                    Poll::Ready(Ok(n)) => {
                        // SAFETY: the read initialised the first `n` bytes of
                        // the unfilled part.
                        unsafe { buf.assume_init(n) };
                        buf.advance(n);
                        Poll::Ready(Ok(()))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    };
}

/// futures-io's and tokio's `AsyncWrite` alike: they differ only in the
/// name of the method that shuts the writing side.
macro_rules! async_write_impl {
    ($trait:path, $close:ident, $ty:ty $(, $extra:item)*) => {
        impl $trait for $ty {
            $($extra)*
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.stream_io().poll_write(cx, buf)
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.stream_io().poll_write_vectored(cx, bufs)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.stream_io().poll_flush(cx)
            }
            fn $close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.stream_io().poll_shutdown(cx)
            }
        }
    };
}

macro_rules! write_impls {
    ($ty:ty) => {
        impl $ty {
            /// Writes some of `buf`, returning how much was taken.
            pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                poll_fn(|cx| self.stream_io().poll_write(cx, buf)).await
            }

            /// Writes all of `buf`.
            pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
                while !buf.is_empty() {
                    match self.write(buf).await? {
                        0 => return Err(io::ErrorKind::WriteZero.into()),
                        n => buf = &buf[n..],
                    }
                }
                Ok(())
            }

            /// Waits until what was written has been handed to the kernel
            /// (a no-op on the readiness drivers).
            pub async fn flush(&mut self) -> io::Result<()> {
                poll_fn(|cx| self.stream_io().poll_flush(cx)).await
            }

            /// Flushes, then shuts down the writing side: the peer reads
            /// end of stream.
            pub async fn shutdown(&mut self) -> io::Result<()> {
                poll_fn(|cx| self.stream_io().poll_shutdown(cx)).await
            }

            /// Waits until a write may not wait (room in the socket
            /// buffer, or an error to report); on the completion driver,
            /// room in the runtime's send queue. A
            /// [`try_write`](Self::try_write) that then says `WouldBlock`
            /// makes the next `writable` wait again.
            pub async fn writable(&self) -> io::Result<()> {
                poll_fn(|cx| self.poll_write_ready(cx)).await
            }

            /// The poll form of [`writable`](Self::writable).
            pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.stream_io().poll_write_ready(cx)
            }

            /// Writes what fits now, without waiting: `Err(WouldBlock)`
            /// when nothing does. On the completion driver it queues into
            /// the runtime's send queue (sent behind, like a socket
            /// buffer: [`flush`](Self::flush) waits for it).
            pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                self.stream_io().try_write(buf)
            }
        }

        async_write_impl!(futures_io::AsyncWrite, poll_close, $ty);
        #[cfg(feature = "tokio-io")]
        async_write_impl!(
            tokio::io::AsyncWrite,
            poll_shutdown,
            $ty,
            // hyper and tokio-rustls hand their buffers over as one
            // vectored write where the stream says it takes them.
            fn is_write_vectored(&self) -> bool {
                true
            }
        );
    };
}

read_impls!(TcpStream);
write_impls!(TcpStream);
read_impls!(UnixStream);
write_impls!(UnixStream);
read_impls!(OwnedReadHalf<TcpStream>);
write_impls!(OwnedWriteHalf<TcpStream>);
read_impls!(OwnedReadHalf<UnixStream>);
write_impls!(OwnedWriteHalf<UnixStream>);
