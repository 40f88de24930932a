//! The owned halves of a split stream: one task reads while another
//! writes, on the stream's runtime (the halves share the stream; they are
//! not `Send`, like the stream).
//!
//! Not for: sending a half to another thread (the halves are not `Send`) or
//! splitting by reference beyond what `&self` I/O already gives.

use std::fmt;
use std::rc::Rc;

/// The reading half of a stream `S` ([`TcpStream`](super::TcpStream) or
/// [`UnixStream`](super::UnixStream)), from `into_split`: `read`, `peek`,
/// `readable`, `try_read` and the `AsyncRead` traits.
pub struct OwnedReadHalf<S> {
    stream: Rc<S>,
}

/// The writing half of a stream `S`, from `into_split`: `write`,
/// `write_all`, `flush`, `shutdown`, `writable`, `try_write` and the
/// `AsyncWrite` traits. Dropping it does not shut the writing side down
/// (the stream is closed when both halves are gone): call
/// [`shutdown`](OwnedWriteHalf::shutdown) for the peer to read the end.
pub struct OwnedWriteHalf<S> {
    stream: Rc<S>,
}

/// Splits `stream` into its halves.
pub(crate) fn split<S>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let stream = Rc::new(stream);
    (
        OwnedReadHalf {
            stream: Rc::clone(&stream),
        },
        OwnedWriteHalf { stream },
    )
}

fn reunite<S>(read: OwnedReadHalf<S>, write: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
    if !Rc::ptr_eq(&read.stream, &write.stream) {
        return Err(ReuniteError(read, write));
    }
    drop(write);
    Ok(Rc::into_inner(read.stream).expect("the two halves held the only references"))
}

impl<S> OwnedReadHalf<S> {
    /// The stream again, from this half and `write`, its other half; two
    /// halves of different streams come back in the error.
    pub fn reunite(self, write: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        reunite(self, write)
    }
}

impl<S> OwnedWriteHalf<S> {
    /// The stream again, from this half and `read`, its other half; two
    /// halves of different streams come back in the error.
    pub fn reunite(self, read: OwnedReadHalf<S>) -> Result<S, ReuniteError<S>> {
        reunite(read, self)
    }
}

/// The stream both halves share: its addresses and options (its
/// `try_read` and `try_write` too, which take `&self`).
impl<S> AsRef<S> for OwnedReadHalf<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

/// The stream both halves share (see [`OwnedReadHalf`]'s `as_ref`).
impl<S> AsRef<S> for OwnedWriteHalf<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: fmt::Debug> fmt::Debug for OwnedReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedReadHalf").field(&self.stream).finish()
    }
}

impl<S: fmt::Debug> fmt::Debug for OwnedWriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedWriteHalf").field(&self.stream).finish()
    }
}

/// [`reunite`](OwnedReadHalf::reunite) was given the halves of two
/// different streams: here they are back.
pub struct ReuniteError<S>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite the halves of two different streams")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}
