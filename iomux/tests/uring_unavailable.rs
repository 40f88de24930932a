//! Where io_uring cannot be had, `Poller::with_backend(Backend::IoUring)`
//! returns a clear `Unsupported` error and nothing panics.
//!
//! The test re-runs itself in a child process whose `io_uring_setup` is made
//! to fail by a seccomp filter, with EPERM (what `kernel.io_uring_disabled`
//! and container sandboxes give) and with ENOSYS (a kernel without io_uring).
//! Flipping the real sysctl would disturb every other process on the machine.

use std::os::unix::process::CommandExt;
use std::process::Command;

use iomux::{Backend, Poller};

mod seccomp;
use seccomp::deny_io_uring_setup;

const CHILD: &str = "IOMUX_URING_UNAVAILABLE_CHILD";
const TEST: &str = "io_uring_unavailable_is_a_clear_error";

#[test]
fn io_uring_unavailable_is_a_clear_error() {
    if std::env::var_os(CHILD).is_some() {
        let e = Poller::with_backend(Backend::IoUring)
            .expect_err("io_uring_setup is denied, yet a poller was made");
        assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("io_uring"), "{e}");
        // The other backends are unaffected.
        Poller::with_backend(Backend::Epoll).expect("epoll still works");
        println!("CHILD-SAW: {e}");
        return;
    }
    for (errno, expect) in [
        (libc::EPERM, "not permitted"),
        (libc::ENOSYS, "no io_uring"),
    ] {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1");
        // SAFETY: (test) the closure makes only system calls (prctl), which
        // is what is allowed between fork and exec.
        unsafe {
            cmd.pre_exec(move || deny_io_uring_setup(errno as u32));
        }
        let out = cmd.output().expect("run the child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed (errno {errno}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The harness prints "test … " on the same line before our output.
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("CHILD-SAW: ").map(|(_, e)| e))
            .unwrap_or_else(|| panic!("the child did not run the check:\n{stdout}"));
        assert!(line.contains(expect), "errno {errno}: {line}");
    }
}
