//! The io_uring core: what every io_uring user in iomux is built on (the
//! Poller's io_uring backend, the runtime's and the reactor's completion
//! drivers (the reactor's serves `serve --model uring`), and the command's
//! `load --engine uring`). No io_uring
//! ring is set up anywhere else (`tests/uring_core_only.rs` checks).
//!
//! It owns, once:
//! - **ring setup** ([`Ring::open`] with [`Options`]): the kernel's
//!   features are probed once per process ([`Features`]) and the best set
//!   the options allow is chosen: SINGLE_ISSUER + DEFER_TASKRUN, else
//!   COOP_TASKRUN, else plain ([`TaskRun`]); NO_SQARRAY where present; the
//!   registered ring fd; SUBMIT_ALL on request. Where io_uring cannot be
//!   had, or lacks a feature the options require, the error says why and,
//!   for a feature, which Linux release has it;
//! - **one submission path** ([`Ring::push`], [`Ring::enter`]): a full SQ is
//!   submitted and the push goes on, never spinning, never dropping; one
//!   set of transient errors;
//! - **one `user_data` encoding** with generations ([`UserData`]);
//! - **the requests** ([`op`]): multishot accept (also straight into the
//!   fixed-file table, [`Ring::register_files`]), multishot recv into
//!   **provided-buffer rings** ([`BufRing`], incremental where the kernel
//!   has IOU_PBUF_RING_INC), sends, polls, and cancellation (by request,
//!   by file, everything);
//! - **the levers** ([`Lever`]): each kernel feature it picks up can be
//!   turned off for a measurement (`IOMUX_URING_OFF`).
//!
//! Public because the command is built on it. It is a low-level,
//! Linux-only building block with the kernel's own semantics (requests
//! whose memory the caller keeps alive), not a portable or async API: for
//! that, see [`crate::rt`] and [`crate::Poller`].
//!
//! What it is not: an I/O API for applications (no futures, no callbacks,
//! no ownership of buffers) or a second place to set rings up: every ring
//! is opened through [`Ring::open`].

mod bufring;
mod features;
mod levers;
pub mod op;
mod recvmsg;
mod ring;
mod setup;
mod sqe;
mod sys;
mod user_data;

pub use bufring::{Buf, BufRing};
pub use features::{Feature, Features};
pub use levers::Lever;
pub use recvmsg::{Datagram, MsgHeader, RECVMSG_OVERHEAD};
pub use ring::{Completion, Registrar, Ring, RingStats};
pub use setup::{Options, TaskRun};
pub use sqe::{Sqe, Target};
pub use user_data::UserData;

/// The runtime's completion driver's ring: one thread (a `Runtime` is not
/// `Send`), so SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them,
/// else COOP_TASKRUN, with TASKRUN_FLAG (a submission without a wait still
/// runs deferred completion work), and the ring fd registered; and, checked
/// at setup with the release named, what its requests and its shutdown
/// need: multishot recv (6.0), provided-buffer rings, multishot accept and
/// cancel-any (5.19).
pub(crate) fn open_runtime_ring() -> std::io::Result<Ring> {
    let opts = Options::new("the io_uring completion driver")
        .entries(1024, 8 * 1024)
        .task_run(TaskRun::Defer)
        .submit_all(true)
        .register_ring_fd(true)
        .require(&[
            Feature::CancelAny,
            Feature::PbufRing,
            Feature::MultishotAccept,
            Feature::MultishotRecv,
        ]);
    Ring::open(&opts)
}
