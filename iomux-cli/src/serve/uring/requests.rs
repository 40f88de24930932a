//! The requests a connection makes: a multishot recv into the provided
//! buffers, and a send that never raises SIGPIPE.

use io_uring::types::{Fd, Fixed};
use io_uring::{opcode, squeue};

/// Where a request finds the connection's socket.
#[derive(Clone, Copy)]
pub(super) enum Target {
    Fd(i32),
    Fixed(u32),
}

/// A multishot recv: completes once per arrival, each time into a buffer
/// the kernel takes from provided-buffer group `group`.
pub(super) fn recv_multi(target: Target, group: u16, user_data: u64) -> squeue::Entry {
    match target {
        Target::Fd(fd) => opcode::RecvMulti::new(Fd(fd), group).build(),
        Target::Fixed(i) => opcode::RecvMulti::new(Fixed(i), group).build(),
    }
    .user_data(user_data)
}

/// A send of `data`, which must stay put until the send completes.
pub(super) fn send(target: Target, data: &[u8], user_data: u64) -> squeue::Entry {
    let (ptr, len) = (data.as_ptr(), data.len() as u32);
    match target {
        Target::Fd(fd) => opcode::Send::new(Fd(fd), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build(),
        Target::Fixed(i) => opcode::Send::new(Fixed(i), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build(),
    }
    .user_data(user_data)
}
