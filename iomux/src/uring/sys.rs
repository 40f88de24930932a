//! The system calls the io-uring crate does not make the way the core needs
//! them: `io_uring_enter` through a registered ring fd (the crate only
//! uses one registered through a `Submitter` it rebuilds on every call),
//! and the registration of that fd. Every `unsafe` of the core that is not
//! about memory shared with the kernel is here.
//!
//! Not for: memory the kernel shares with us (the io-uring crate's mapped
//! rings).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// `IORING_ENTER_GETEVENTS`: wait for (or at least run the work of)
/// completions.
pub(super) const ENTER_GETEVENTS: u32 = 1 << 0;
/// `IORING_ENTER_EXT_ARG`: the last argument is an `io_uring_getevents_arg`.
const ENTER_EXT_ARG: u32 = 1 << 3;
/// `IORING_ENTER_REGISTERED_RING`: the fd argument is a registered index.
const ENTER_REGISTERED_RING: u32 = 1 << 4;
/// `IORING_REGISTER_RING_FDS` / `IORING_UNREGISTER_RING_FDS` (Linux 5.18).
const REGISTER_RING_FDS: u32 = 20;
const UNREGISTER_RING_FDS: u32 = 21;

/// `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// `struct io_uring_getevents_arg`.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// Which descriptor `io_uring_enter` is given.
#[derive(Clone, Copy, Debug)]
pub(super) enum EnterFd {
    /// The ring's own fd.
    Raw(RawFd),
    /// An index registered with IORING_REGISTER_RING_FDS (valid only in the
    /// thread that registered it).
    Registered(u32),
}

/// `io_uring_enter(fd, to_submit, min_complete, flags, …)`, with `timeout`
/// passed through IORING_ENTER_EXT_ARG (Linux 5.11, which every ring of
/// the core has: setup checks it).
pub(super) fn enter(
    fd: EnterFd,
    to_submit: u32,
    min_complete: u32,
    mut flags: u32,
    timeout: Option<Duration>,
) -> io::Result<u32> {
    let raw_fd = match fd {
        EnterFd::Raw(fd) => fd as libc::c_long,
        EnterFd::Registered(i) => {
            flags |= ENTER_REGISTERED_RING;
            i as libc::c_long
        }
    };
    let ts = timeout.map(|t| KernelTimespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    let arg = ts.as_ref().map(|ts| GeteventsArg {
        sigmask: 0,
        sigmask_sz: 0,
        min_wait_usec: 0,
        ts: ts as *const KernelTimespec as u64,
    });
    let (argp, argsz) = match &arg {
        Some(a) => {
            flags |= ENTER_EXT_ARG;
            (
                a as *const GeteventsArg as libc::c_long,
                size_of::<GeteventsArg>() as libc::c_long,
            )
        }
        None => (0, 0),
    };
    // SAFETY: io_uring_enter with a ring descriptor (or this thread's
    // registered index of one) and, with EXT_ARG, a pointer to a live
    // getevents_arg whose `ts` points to a live timespec (both on this
    // frame for the duration of the call); without it, a null sigmask.
    // The queues it reads were synced by the caller.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            raw_fd,
            to_submit as libc::c_long,
            min_complete as libc::c_long,
            flags as libc::c_long,
            argp,
            argsz,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as u32)
    }
}

/// Registers `ring_fd` in this thread's table of registered rings (Linux
/// 5.18) and returns its index.
pub(super) fn register_ring_fd(ring_fd: RawFd) -> io::Result<u32> {
    let mut up = RsrcUpdate {
        offset: u32::MAX, // any free index
        resv: 0,
        data: ring_fd as u64,
    };
    // SAFETY: io_uring_register with a ring fd and a pointer to one live,
    // writable rsrc_update (the kernel writes the chosen index into it).
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd as libc::c_long,
            REGISTER_RING_FDS as libc::c_long,
            &mut up as *mut RsrcUpdate as libc::c_long,
            1 as libc::c_long,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(up.offset)
}

/// Undoes [`register_ring_fd`]; must run in the thread that registered.
pub(super) fn unregister_ring_fd(ring_fd: RawFd, index: u32) -> io::Result<()> {
    let up = RsrcUpdate {
        offset: index,
        resv: 0,
        data: 0,
    };
    // SAFETY: io_uring_register with a ring fd and a pointer to one live
    // rsrc_update, which the kernel only reads.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd as libc::c_long,
            UNREGISTER_RING_FDS as libc::c_long,
            &up as *const RsrcUpdate as libc::c_long,
            1 as libc::c_long,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An anonymous private mapping of `len` bytes (page-aligned, zeroed).
pub(super) fn map(len: usize) -> io::Result<std::ptr::NonNull<u8>> {
    // SAFETY: an anonymous private mapping: no file, no aliasing with
    // anything else; the result is checked for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    std::ptr::NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// Unmaps what [`map`] mapped.
///
/// # Safety
///
/// `p` and `len` are those of one [`map`], and nothing (the kernel
/// included) refers to the mapping any more.
pub(super) unsafe fn unmap(p: std::ptr::NonNull<u8>, len: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        libc::munmap(p.as_ptr().cast(), len);
    }
}
