//! The ring each server thread opens: sizes, flags, and the registered
//! file table.

use std::io;

use io_uring::IoUring;

/// Submission queue entries. A full SQ is submitted and the push retried.
pub(super) const SQ_ENTRIES: u32 = 4096;
/// Completion queue entries per SQ entry: room for a burst from every
/// connection (multishot requests complete many times each).
const CQ_PER_SQ: u32 = 8;
/// Opens a ring for one server thread, with the cheapest task-run mode the
/// kernel offers: one thread submits and reaps, so completion work can
/// wait until it asks for events (DEFER_TASKRUN, 6.1).
///
/// `entries` is the SQ size; the CQ gets `CQ_PER_SQ` times as many, or only
/// twice as many when the SQ is tiny (tests of the overflow paths).
pub(super) fn open_ring(entries: u32) -> io::Result<IoUring> {
    let cq = if entries < SQ_ENTRIES {
        entries * 2
    } else {
        entries * CQ_PER_SQ
    };
    let mut last = None;
    for attempt in 0..3 {
        let mut b = IoUring::builder();
        b.setup_cqsize(cq).setup_clamp();
        match attempt {
            0 => {
                b.setup_single_issuer().setup_defer_taskrun();
            }
            1 => {
                b.setup_coop_taskrun();
            }
            _ => {}
        }
        match b.build(entries) {
            Ok(r) => return Ok(r),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(unavailable(e)),
        }
    }
    Err(unavailable(last.unwrap_or_else(|| {
        io::Error::other("io_uring_setup failed")
    })))
}

fn unavailable(e: io::Error) -> io::Error {
    let why = match e.raw_os_error() {
        Some(libc::ENOSYS) => "this kernel has no io_uring".to_string(),
        Some(libc::EPERM) => {
            "io_uring is disabled (kernel.io_uring_disabled) or forbidden here".to_string()
        }
        _ => e.to_string(),
    };
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("the uring model is unavailable: {why}"),
    )
}

/// One registered-file slot per fd this process may open (connections
/// never outnumber them), capped so that the table stays small.
pub(super) fn fixed_table_size() -> u32 {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 16);
    limit.clamp(64, 1 << 16) as u32
}
