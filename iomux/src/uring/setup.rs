//! Opening a ring: the options a user chooses, the flags the kernel's
//! features allow, and a clear error when io_uring cannot be had.
//!
//! io_uring can be missing (a kernel built without it: ENOSYS), disabled by
//! the `kernel.io_uring_disabled` sysctl (1: only for processes outside
//! `kernel.io_uring_group`, 2: for everyone; both give EPERM), filtered by a
//! seccomp policy (container runtimes often return EPERM or ENOSYS), or too
//! old for what a user needs. All of these become one `Unsupported` error
//! whose message says which it was and whose ring it was to be; nothing
//! panics.
//!
//! Not for: probing (`features.rs`) or the requests themselves (`op.rs`).

use std::io;

use io_uring::IoUring;

use super::features::{self, Feature, Features};
use super::levers::Lever;

/// The sysctl that disables io_uring (Linux 6.6 and later).
const DISABLED_SYSCTL: &str = "/proc/sys/kernel/io_uring_disabled";

/// How the kernel runs a ring's completion work, best first. A ring gets
/// the best mode its [`Options`] allow and the kernel has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskRun {
    /// No task-run flags: the kernel interrupts the submitting thread to
    /// run completion work. The only mode for a ring that several threads
    /// submit to or wait on (the Poller's).
    Plain,
    /// IORING_SETUP_COOP_TASKRUN (5.19): completion work waits until the
    /// thread enters the kernel. For a ring one thread both submits to and
    /// waits on.
    Coop,
    /// IORING_SETUP_SINGLE_ISSUER + DEFER_TASKRUN (6.1): completion work
    /// runs only inside that thread's own waits, in a batch. The ring must
    /// be used by the thread that opened it, and only by it.
    Defer,
}

/// How to open a ring: sizes, the task-run modes allowed, and what the
/// user cannot do without. Built with [`Options::new`] and its setters.
#[derive(Clone, Debug)]
pub struct Options {
    pub(super) user: &'static str,
    pub(super) sq_entries: u32,
    pub(super) cq_entries: u32,
    pub(super) task_run: TaskRun,
    pub(super) submit_all: bool,
    pub(super) register_ring_fd: bool,
    pub(super) require: Vec<Feature>,
}

impl Options {
    /// Options for a ring of `user` (named in errors: "the uring model",
    /// "the io_uring backend"): 256 SQ entries, a CQ twice that, plain task
    /// run, and no requirement beyond NODROP and EXT_ARG (5.11), which every
    /// user of the core relies on.
    pub fn new(user: &'static str) -> Options {
        Options {
            user,
            sq_entries: 256,
            cq_entries: 512,
            task_run: TaskRun::Plain,
            submit_all: false,
            register_ring_fd: false,
            require: vec![Feature::NoDrop, Feature::ExtArg],
        }
    }

    /// SQ and CQ sizes (the kernel rounds up to powers of two and clamps
    /// to its limits; the CQ is at least the SQ).
    pub fn entries(mut self, sq: u32, cq: u32) -> Options {
        self.sq_entries = sq.max(1);
        self.cq_entries = cq.max(self.sq_entries);
        self
    }

    /// The best task-run mode allowed (default [`TaskRun::Plain`]).
    pub fn task_run(mut self, best: TaskRun) -> Options {
        self.task_run = best;
        self
    }

    /// IORING_SETUP_SUBMIT_ALL where the kernel has it: a failing entry
    /// does not hold back the ones behind it in one submission.
    pub fn submit_all(mut self, on: bool) -> Options {
        self.submit_all = on;
        self
    }

    /// Registers the ring's fd where the kernel allows it, so that each
    /// `io_uring_enter` skips the fd lookup. The registration belongs to
    /// the opening thread: the ring uses it from that thread, and the plain
    /// fd from any other.
    pub fn register_ring_fd(mut self, on: bool) -> Options {
        self.register_ring_fd = on;
        self
    }

    /// Features the user cannot do without, checked at setup: a kernel
    /// lacking one gets an `Unsupported` error naming it and the release
    /// that has it.
    pub fn require(mut self, features: &[Feature]) -> Options {
        for f in features {
            if !self.require.contains(f) {
                self.require.push(*f);
            }
        }
        self
    }
}

/// The flags a ring was opened with.
#[derive(Clone, Copy, Debug)]
pub(super) struct Chosen {
    pub task_run: TaskRun,
    pub register_ring_fd: bool,
}

/// Opens a ring as `opts` asks, with the best flags the kernel allows.
pub(super) fn open(opts: &Options) -> io::Result<(IoUring, &'static Features, Chosen)> {
    let f = features::probe_raw().map_err(|e| diagnose(opts.user, e))?;
    f.require(&opts.require, opts.user)?;
    let task_run = match opts.task_run {
        TaskRun::Defer if f.defer_taskrun && Lever::DeferTaskrun.is_on() => TaskRun::Defer,
        TaskRun::Defer | TaskRun::Coop if f.coop_taskrun => TaskRun::Coop,
        _ => TaskRun::Plain,
    };
    let mut b = IoUring::builder();
    b.setup_cqsize(opts.cq_entries).setup_clamp();
    match task_run {
        // TASKRUN_FLAG: the kernel flags pending completion work in the SQ
        // ring, so that a submission without a wait still runs it.
        TaskRun::Defer => {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag();
        }
        TaskRun::Coop => {
            b.setup_coop_taskrun().setup_taskrun_flag();
        }
        TaskRun::Plain => {}
    }
    if opts.submit_all && f.submit_all {
        b.setup_submit_all();
    }
    if f.no_sqarray && Lever::NoSqArray.is_on() {
        b.setup_no_sqarray();
    }
    let ring = b
        .build(opts.sq_entries)
        .map_err(|e| diagnose(opts.user, e))?;
    log::debug!(
        "iomux::uring: {} ring: {} SQ / {} CQ entries, task run {task_run:?}",
        opts.user,
        ring.params().sq_entries(),
        ring.params().cq_entries()
    );
    Ok((
        ring,
        f,
        Chosen {
            task_run,
            register_ring_fd: opts.register_ring_fd
                && f.registered_ring_fd
                && Lever::RegisteredRingFd.is_on(),
        },
    ))
}

/// Turns a failed `io_uring_setup` into a clear error for `user`.
pub(super) fn diagnose(user: &str, e: io::Error) -> io::Error {
    setup_error(user, e, read_disabled_sysctl())
}

fn read_disabled_sysctl() -> Option<u8> {
    let text = std::fs::read_to_string(DISABLED_SYSCTL).ok()?;
    text.trim().parse().ok()
}

/// [`diagnose`], with `disabled` the value of `kernel.io_uring_disabled`
/// when the sysctl exists.
fn setup_error(user: &str, e: io::Error, disabled: Option<u8>) -> io::Error {
    let why = match (e.raw_os_error(), disabled) {
        (Some(libc::ENOSYS), _) => {
            "this kernel has no io_uring (io_uring_setup: ENOSYS)".to_string()
        }
        (Some(libc::EPERM), Some(d @ 1..)) => format!(
            "io_uring is disabled by the kernel.io_uring_disabled sysctl (= {d}; io_uring_setup: EPERM)"
        ),
        (Some(libc::EPERM), _) => {
            "io_uring is not permitted here (io_uring_setup: EPERM; a seccomp policy or a sandbox forbids it)".to_string()
        }
        _ => {
            return io::Error::new(e.kind(), format!("{user}: io_uring_setup failed: {e}"));
        }
    };
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{user} is unavailable: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn disabled_sysctl_is_named() {
        let e = setup_error("the x", os(libc::EPERM), Some(2));
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("io_uring_disabled"), "{e}");
        assert!(e.to_string().contains("= 2"), "{e}");
        assert!(e.to_string().starts_with("the x is unavailable"), "{e}");
    }

    #[test]
    fn missing_syscall_is_named() {
        let e = setup_error("the x", os(libc::ENOSYS), None);
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("no io_uring"), "{e}");
    }

    #[test]
    fn eperm_without_sysctl_blames_a_sandbox() {
        let e = setup_error("the x", os(libc::EPERM), Some(0));
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("seccomp"), "{e}");
    }

    #[test]
    fn other_errors_keep_their_kind() {
        let e = setup_error("the x", os(libc::EMFILE), Some(0));
        assert_ne!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("io_uring_setup failed"), "{e}");
    }

    #[test]
    fn a_missing_feature_names_its_release() {
        let none = Features::default();
        let e = none
            .require(&[Feature::CancelAny], "the x")
            .expect_err("nothing is there");
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(
            e.to_string()
                .contains("IORING_ASYNC_CANCEL_ANY (Linux 5.19)"),
            "{e}"
        );
    }
}
