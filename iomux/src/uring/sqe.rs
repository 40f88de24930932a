//! A submission queue entry and where a request finds its file: what the
//! builders of [`op`](super::op) make and take.
//!
//! Not for: building entries (the builders') or submitting them (the
//! [`Ring`](super::Ring)'s).

use std::os::fd::RawFd;

use io_uring::squeue::{self, Flags};

use super::UserData;

/// A submission queue entry, ready for [`Ring::push`](super::Ring::push).
///
/// Not for: requests the core does not build (add a constructor here,
/// with the contract that keeps its memory alive).
#[derive(Clone)]
pub struct Sqe(pub(super) squeue::Entry);

impl Sqe {
    /// IOSQE_IO_LINK: the next entry pushed starts only once this one has
    /// completed successfully (else it completes with ECANCELED).
    pub fn linked(self) -> Sqe {
        Sqe(self.0.flags(Flags::IO_LINK))
    }

    /// IOSQE_CQE_SKIP_SUCCESS (5.17): no completion when it succeeds.
    pub fn skip_success(self) -> Sqe {
        Sqe(self.0.flags(Flags::SKIP_SUCCESS))
    }

    /// The entry's `user_data`.
    pub fn user_data(&self) -> UserData {
        UserData::from_raw(self.0.get_user_data())
    }
}

/// Where a request finds its file: an fd, or an index in the ring's
/// fixed-file table (see [`Ring::register_files`](super::Ring::register_files)),
/// which spares the kernel the fd-table lookup on every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A file descriptor of the process.
    Fd(RawFd),
    /// An index in the ring's fixed-file table.
    Fixed(u32),
}
