//! Runs a closure in a forked child and brings its verdict back to the
//! parent over a pipe, with a bound on how long the child may take.
#![allow(dead_code)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions, kill_process, pidfd_open, waitpid};

/// How long a child may run before the test gives up on it.
pub const CHILD_BOUND: Duration = Duration::from_secs(10);

/// Fork tests take this lock: a child forked by one test must not inherit
/// another test's verdict pipe (its end of file would never come), and
/// fewer threads are caught mid-call at the fork.
pub fn one_fork_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A forked child that is running `f`, or has run it.
pub struct Child {
    pid: Pid,
    exited: OwnedFd,
    verdict: OwnedFd,
}

/// Forks. The child runs `f` with the number of its verdict pipe (so that
/// it can keep that one open while it closes others), writes "ok" or the
/// error to the pipe, and `_exit`s: it never returns into the test harness
/// and runs none of the parent's destructors.
pub fn fork(f: impl FnOnce(RawFd) -> Result<(), String>) -> Child {
    let (read, write) = pipe_with(PipeFlags::CLOEXEC).expect("verdict pipe");
    // SAFETY: fork(2) has no memory-safety preconditions of its own. The
    // child runs only `f` (syscalls, and glibc's malloc, which is reset for
    // the child by its own fork handlers), writes, and `_exit`s.
    let raw = unsafe { libc::fork() };
    if raw == 0 {
        drop(read);
        let fd = write.as_raw_fd();
        let verdict = match catch_unwind(AssertUnwindSafe(|| f(fd))) {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => e,
            Err(_) => "the child panicked".to_string(),
        };
        let _ = rustix::io::write(&write, verdict.as_bytes());
        // SAFETY: ends the child at once; the atexit handlers and buffers
        // it would otherwise flush belong to the parent.
        unsafe { libc::_exit(0) }
    }
    assert!(raw > 0, "fork: {}", std::io::Error::last_os_error());
    drop(write);
    let pid = Pid::from_raw(raw).expect("a child pid is positive");
    let exited = pidfd_open(pid, PidfdFlags::empty()).expect("pidfd_open");
    Child {
        pid,
        exited,
        verdict: read,
    }
}

impl Child {
    /// Waits at most `bound` for the child to exit (killing it past that)
    /// and returns what it reported.
    pub fn verdict(self, bound: Duration) -> Result<(), String> {
        let exited = readable_within(self.exited.as_fd(), bound);
        if !exited {
            let _ = kill_process(self.pid, Signal::KILL);
        }
        let status = waitpid(Some(self.pid), WaitOptions::empty())
            .map_err(|e| format!("waitpid: {e}"))?
            .map(|(_, status)| status);
        if !exited {
            return Err(format!("the child did not exit within {bound:?}"));
        }
        // It has exited: whatever it wrote is in the pipe.
        let mut text = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            match rustix::io::read(&self.verdict, &mut buf) {
                Ok(0) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("reading the verdict: {e}")),
            }
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        match status {
            Some(s) if s.exit_status() == Some(0) && text == "ok" => Ok(()),
            Some(s) if s.exit_status() == Some(0) => Err(format!("the child reports: {text}")),
            other => Err(format!(
                "the child ended with {other:?}, reporting {text:?}"
            )),
        }
    }
}

/// Whether `fd` becomes readable within `bound`.
pub fn readable_within(fd: std::os::fd::BorrowedFd<'_>, bound: Duration) -> bool {
    let timeout = Timespec::try_from(bound).expect("a bound fits a timespec");
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
    loop {
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) => return n > 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}
