//! io_uring backend: not yet implemented (see the io_uring issue).

use std::io;

pub(crate) fn new() -> io::Result<Box<dyn super::Sys>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the io_uring backend is not implemented yet",
    ))
}
