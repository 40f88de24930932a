//! The requests the core builds: accepts (multishot, also straight into the
//! fixed-file table), receives (multishot into a provided-buffer ring, or
//! into a buffer of the caller's), sends, polls, and cancellation.
//!
//! Each function returns an [`Sqe`] for [`Ring::push`](super::Ring::push).
//! Those that make the kernel read or write the caller's memory are
//! `unsafe`: the memory must outlive the request.
//!
//! Not for: submitting or reaping (the [`Ring`](super::Ring)'s) or tracking
//! what is in flight (each user's op table).

use std::os::fd::RawFd;

use io_uring::opcode;
use io_uring::squeue::Flags;
use io_uring::types::{CancelBuilder, Fd, Fixed};

use super::{Sqe, Target, UserData};

macro_rules! on_target {
    ($target:expr, $op:ident :: new ( _ $(, $arg:expr)* ) $($rest:tt)*) => {
        match $target {
            Target::Fd(fd) => opcode::$op::new(Fd(fd) $(, $arg)*) $($rest)*,
            Target::Fixed(i) => opcode::$op::new(Fixed(i) $(, $arg)*) $($rest)*,
        }
    };
}

/// A multishot accept on `listener` (5.19): one completion per
/// connection, whose result is the new fd (close-on-exec). The last
/// completion lacks IORING_CQE_F_MORE; arm another then.
pub fn accept_multi(listener: RawFd, user_data: UserData) -> Sqe {
    Sqe(opcode::AcceptMulti::new(Fd(listener))
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(user_data.raw()))
}

/// [`accept_multi`] whose connections are also O_NONBLOCK: for a user that
/// also drives them outside io_uring (readiness, a plain `recv`).
pub fn accept_multi_nonblocking(listener: RawFd, user_data: UserData) -> Sqe {
    Sqe(opcode::AcceptMulti::new(Fd(listener))
        .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        .build()
        .user_data(user_data.raw()))
}

/// A multishot accept straight into the ring's fixed-file table (5.19):
/// each connection goes to a free slot the kernel picks, and the
/// completion's result is that index (use it as [`Target::Fixed`]); the
/// process gets no fd. ENFILE when the table is full. Free a slot with
/// [`close_fixed`] or [`Ring::clear_file`](super::Ring::clear_file).
pub fn accept_multi_direct(listener: RawFd, user_data: UserData) -> Sqe {
    Sqe(opcode::AcceptMulti::new(Fd(listener))
        .allocate_file_index(true)
        .build()
        .user_data(user_data.raw()))
}

/// A multishot recv (6.0) into buffers the kernel takes from provided-buffer
/// group `group` ([`BufRing`](super::BufRing)): a completion per arrival,
/// holding the buffer's id, until EOF, an error, or ENOBUFS when the group
/// ran dry (then arm another once buffers are back).
pub fn recv_multi(target: Target, group: u16, user_data: UserData) -> Sqe {
    Sqe(on_target!(
        target,
        RecvMulti::new(_, group).build().user_data(user_data.raw())
    ))
}

/// [`recv_multi`] with IORING_RECVSEND_BUNDLE (6.10): a completion may
/// fill several buffers of the group, the first named, the others the
/// entries after it in the ring (read them with
/// [`BufRing::pick_each`](super::BufRing::pick_each)).
pub fn recv_multi_bundle(target: Target, group: u16, user_data: UserData) -> Sqe {
    Sqe(on_target!(
        target,
        RecvMultiBundle::new(_, group)
            .build()
            .user_data(user_data.raw())
    ))
}

/// A multishot recvmsg (6.0) into buffers of provided-buffer group
/// `group`: a completion per datagram, its buffer holding a header, the
/// sender's address and the payload (read it with
/// [`MsgHeader::parse`](super::MsgHeader::parse)).
///
/// # Safety
///
/// `header` points to a [`MsgHeader`](super::MsgHeader) that outlives
/// the request (its last completion).
pub unsafe fn recvmsg_multi(
    target: Target,
    header: *const libc::msghdr,
    group: u16,
    user_data: UserData,
) -> Sqe {
    Sqe(on_target!(
        target,
        RecvMsgMulti::new(_, header, group)
            .build()
            .user_data(user_data.raw())
    ))
}

/// A single recv into a buffer the kernel takes from provided-buffer group
/// `group` when data arrives: [`recv_multi`] without the multishot (one
/// request per arrival).
pub fn recv_select(target: Target, group: u16, user_data: UserData) -> Sqe {
    Sqe(on_target!(
        target,
        Recv::new(_, std::ptr::null_mut(), 0)
            .buf_group(group)
            .build()
            .flags(Flags::BUFFER_SELECT)
            .user_data(user_data.raw())
    ))
}

/// [`recv_select`] with IORING_RECVSEND_BUNDLE (6.10), as
/// [`recv_multi_bundle`].
pub fn recv_bundle(target: Target, group: u16, user_data: UserData) -> Sqe {
    Sqe(on_target!(
        target,
        RecvBundle::new(_, group).build().user_data(user_data.raw())
    ))
}

/// A recv of at most `len` bytes into `buf`.
///
/// # Safety
///
/// `buf` is valid for `len` bytes of writes, and neither read nor written
/// by user space, until the request's completion has been reaped.
pub unsafe fn recv(target: Target, buf: *mut u8, len: u32, user_data: UserData) -> Sqe {
    Sqe(on_target!(
        target,
        Recv::new(_, buf, len).build().user_data(user_data.raw())
    ))
}

/// A read of at most `len` bytes into `buf` at `offset` (`u64::MAX`: at
/// the file's position, moving it; ignored by files without one).
///
/// # Safety
///
/// As [`recv`]: `buf` is valid for `len` bytes of writes, and untouched by
/// user space, until the request's completion has been reaped.
pub unsafe fn read(
    target: Target,
    buf: *mut u8,
    len: u32,
    offset: u64,
    user_data: UserData,
) -> Sqe {
    Sqe(on_target!(
        target,
        Read::new(_, buf, len)
            .offset(offset)
            .build()
            .user_data(user_data.raw())
    ))
}

/// A write of `data` at `offset` (`u64::MAX`: at the file's position, or
/// its end for O_APPEND). A short write completes with what was written.
///
/// # Safety
///
/// `data` stays allocated and unmodified until the request's completion
/// has been reaped.
pub unsafe fn write(target: Target, data: &[u8], offset: u64, user_data: UserData) -> Sqe {
    let (ptr, len) = (data.as_ptr(), data.len() as u32);
    Sqe(on_target!(
        target,
        Write::new(_, ptr, len)
            .offset(offset)
            .build()
            .user_data(user_data.raw())
    ))
}

/// fsync(2), or fdatasync(2) when `data_only`.
pub fn fsync(target: Target, data_only: bool, user_data: UserData) -> Sqe {
    let flags = if data_only {
        io_uring::types::FsyncFlags::DATASYNC
    } else {
        io_uring::types::FsyncFlags::empty()
    };
    Sqe(on_target!(
        target,
        Fsync::new(_)
            .flags(flags)
            .build()
            .user_data(user_data.raw())
    ))
}

/// A send of `data` that never raises SIGPIPE (MSG_NOSIGNAL). A short send
/// completes with what the kernel took; send the rest with a new request.
///
/// # Safety
///
/// `data` stays allocated and unmodified until the request's completion
/// has been reaped.
pub unsafe fn send(target: Target, data: &[u8], user_data: UserData) -> Sqe {
    let (ptr, len) = (data.as_ptr(), data.len() as u32);
    Sqe(on_target!(
        target,
        Send::new(_, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data.raw())
    ))
}

/// A poll for the poll(2) events in `mask` on `fd`; `multishot` (5.13)
/// completes once per wake-up of the file until cancelled.
pub fn poll(fd: RawFd, mask: u32, multishot: bool, user_data: UserData) -> Sqe {
    Sqe(opcode::PollAdd::new(Fd(fd), mask)
        .multi(multishot)
        .build()
        .user_data(user_data.raw()))
}

/// Removes the poll whose user data is `target`; its last completion
/// (ECANCELED, or a report that raced the removal) still comes.
pub fn poll_remove(target: UserData, user_data: UserData) -> Sqe {
    Sqe(opcode::PollRemove::new(target.raw())
        .build()
        .user_data(user_data.raw()))
}

/// Cancels the request whose user data is `target` (the first one found).
/// The cancelled request completes with ECANCELED (a multishot one, with
/// its last completion); this one with 0, or ENOENT / EALREADY.
pub fn cancel(target: UserData, user_data: UserData) -> Sqe {
    Sqe(opcode::AsyncCancel::new(target.raw())
        .build()
        .user_data(user_data.raw()))
}

/// Cancels every request on `target` (IORING_ASYNC_CANCEL_FD | ALL, 5.19:
/// require [`Feature::CancelAny`](super::Feature::CancelAny)).
pub fn cancel_fd(target: Target, user_data: UserData) -> Sqe {
    let b = match target {
        Target::Fd(fd) => CancelBuilder::fd(Fd(fd)),
        Target::Fixed(i) => CancelBuilder::fd(Fixed(i)),
    };
    Sqe(opcode::AsyncCancel2::new(b.all())
        .build()
        .user_data(user_data.raw()))
}

/// Cancels every request of the ring (IORING_ASYNC_CANCEL_ANY, 5.19:
/// require [`Feature::CancelAny`](super::Feature::CancelAny)).
pub fn cancel_any(user_data: UserData) -> Sqe {
    Sqe(opcode::AsyncCancel2::new(CancelBuilder::any())
        .build()
        .user_data(user_data.raw()))
}

/// Closes slot `index` of the fixed-file table (5.15), so that the kernel
/// can hand it out again (a direct accept's connection, say).
pub fn close_fixed(index: u32, user_data: UserData) -> Sqe {
    Sqe(opcode::Close::new(Fixed(index))
        .build()
        .user_data(user_data.raw()))
}
