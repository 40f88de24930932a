//! The stream traits — futures-io's, and tokio's with the `tokio-io`
//! feature — and inherent `read` / `write` / `write_all` / `shutdown`, for
//! every stream type, from its `StreamIo`.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::tcp::TcpStream;
use super::unix::UnixStream;

macro_rules! stream_impls {
    ($ty:ty) => {
        impl $ty {
            /// Reads some bytes into `buf`; `Ok(0)` at end of stream (or
            /// for an empty `buf`). Cancel-safe: if the future is dropped
            /// before it completes, no byte is lost.
            pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                poll_fn(|cx| self.io.poll_read(cx, buf)).await
            }

            /// Writes some of `buf`, returning how much was taken.
            pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                poll_fn(|cx| self.io.poll_write(cx, buf)).await
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
                poll_fn(|cx| self.io.poll_flush(cx)).await
            }

            /// Flushes, then shuts down the writing side: the peer reads
            /// end of stream.
            pub async fn shutdown(&mut self) -> io::Result<()> {
                poll_fn(|cx| self.io.poll_shutdown(cx)).await
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().io.poll_read(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().io.poll_write(cx, buf)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().io.poll_flush(cx)
            }
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().io.poll_shutdown(cx)
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
                match self.get_mut().io.poll_read_uninit(cx, unfilled) {
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

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().io.poll_write(cx, buf)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().io.poll_flush(cx)
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().io.poll_shutdown(cx)
            }
        }
    };
}

stream_impls!(TcpStream);
stream_impls!(UnixStream);
