//! Opening the ring, and telling a caller clearly when io_uring cannot be had.
//!
//! io_uring can be missing (a kernel built without it: ENOSYS), disabled by
//! the `kernel.io_uring_disabled` sysctl (1: only for processes outside
//! `kernel.io_uring_group`, 2: for everyone; both give EPERM), filtered by a
//! seccomp policy (container runtimes often return EPERM or ENOSYS), or too
//! old for what this backend needs. All of these become one `Unsupported`
//! error whose message says which it was; nothing panics.

use std::io;

use io_uring::{IoUring, Probe, opcode};

/// Submission queue size. Registrations beyond it wait in a user-space list
/// and are fed in as the kernel consumes entries.
const SQ_ENTRIES: u32 = 1024;
/// Completion queue size: large, so that a burst of readiness (thousands of
/// fds turning ready at once) fits without going through the kernel's
/// overflow list. Overflow is still handled, it is just slower.
const CQ_ENTRIES: u32 = 16 * 1024;

/// The sysctl that disables io_uring (Linux 6.6 and later).
const DISABLED_SYSCTL: &str = "/proc/sys/kernel/io_uring_disabled";

/// Opens a ring fit for the Poller, or explains why there is none.
pub(crate) fn open() -> io::Result<IoUring> {
    let ring = build().map_err(|e| setup_error(e, read_disabled_sysctl()))?;
    check_features(&ring)?;
    Ok(ring)
}

fn build() -> io::Result<IoUring> {
    // SUBMIT_ALL (5.18) keeps submitting after one entry fails, so a bad fd
    // in a batch cannot hold back the registrations behind it. An older
    // kernel rejects the flag with EINVAL: try again without it.
    match IoUring::builder()
        .setup_cqsize(CQ_ENTRIES)
        .setup_clamp()
        .setup_submit_all()
        .build(SQ_ENTRIES)
    {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
            .setup_cqsize(CQ_ENTRIES)
            .setup_clamp()
            .build(SQ_ENTRIES),
        r => r,
    }
}

fn read_disabled_sysctl() -> Option<u8> {
    let text = std::fs::read_to_string(DISABLED_SYSCTL).ok()?;
    text.trim().parse().ok()
}

/// Turns a failed `io_uring_setup` into a clear error. `disabled` is the
/// value of `kernel.io_uring_disabled`, when the sysctl exists.
pub(super) fn setup_error(e: io::Error, disabled: Option<u8>) -> io::Error {
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
        _ => return io::Error::new(e.kind(), format!("io_uring_setup failed: {e}")),
    };
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("the io_uring backend is unavailable: {why}"),
    )
}

fn check_features(ring: &IoUring) -> io::Result<()> {
    // EXT_ARG (5.11): a timeout passed to io_uring_enter itself, with
    // nanosecond precision and no timeout request to cancel afterwards.
    if !ring.params().is_feature_ext_arg() {
        return Err(too_old("IORING_FEAT_EXT_ARG (Linux 5.11)"));
    }
    // NODROP (5.5): completions that do not fit the CQ are kept, not lost.
    if !ring.params().is_feature_nodrop() {
        return Err(too_old("IORING_FEAT_NODROP (Linux 5.5)"));
    }
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for (code, name) in [
        (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
        (opcode::PollRemove::CODE, "IORING_OP_POLL_REMOVE"),
    ] {
        if !probe.is_supported(code) {
            return Err(too_old(name));
        }
    }
    Ok(())
}

fn too_old(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("the io_uring backend is unavailable: the kernel lacks {what}"),
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
        let e = setup_error(os(libc::EPERM), Some(2));
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("io_uring_disabled"), "{e}");
        assert!(e.to_string().contains("= 2"), "{e}");
    }

    #[test]
    fn missing_syscall_is_named() {
        let e = setup_error(os(libc::ENOSYS), None);
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("no io_uring"), "{e}");
    }

    #[test]
    fn eperm_without_sysctl_blames_a_sandbox() {
        let e = setup_error(os(libc::EPERM), Some(0));
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("seccomp"), "{e}");
    }

    #[test]
    fn other_errors_keep_their_kind() {
        let e = setup_error(os(libc::EMFILE), Some(0));
        assert_ne!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("io_uring_setup failed"), "{e}");
    }
}
