//! The ring each server thread opens (on the io_uring core: sizes and what
//! the model needs from the kernel), and the size of its registered file
//! table.

use std::io;

use iomux::uring::{Feature, Options, Ring, TaskRun};

/// Submission queue entries. A full SQ is submitted and the push goes on.
pub(super) const SQ_ENTRIES: u32 = 4096;
/// Completion queue entries per SQ entry: room for a burst from every
/// connection (multishot requests complete many times each).
const CQ_PER_SQ: u32 = 8;

/// Opens a ring for one server thread, with the cheapest task-run mode the
/// kernel offers: one thread submits and reaps, so completion work can
/// wait until it asks for events (DEFER_TASKRUN, 6.1; COOP_TASKRUN or plain
/// on older kernels), and its enters use the registered ring fd.
///
/// `entries` is the SQ size; the CQ gets `CQ_PER_SQ` times as many, or only
/// twice as many when the SQ is tiny (tests of the overflow paths).
pub(super) fn open_ring(entries: u32) -> io::Result<Ring> {
    let cq = if entries < SQ_ENTRIES {
        entries * 2
    } else {
        entries * CQ_PER_SQ
    };
    Ring::open(
        &Options::new("the uring model")
            .entries(entries, cq)
            .task_run(TaskRun::Defer)
            .register_ring_fd(true)
            .require(&[
                Feature::MultishotAccept,
                Feature::MultishotRecv,
                Feature::PbufRing,
            ]),
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
