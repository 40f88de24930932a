//! Out of fds at accept: the pending connection would stay in the backlog,
//! its peer waiting on an answer that never comes. As the reactor does
//! (muduo's and libev's trick), one spare fd is kept open on /dev/null;
//! when accept fails with EMFILE or ENFILE the spare is closed, the
//! connection accepted into its number and closed at once (the peer sees a
//! clean close), and the spare reopened.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

/// The spare fd.
pub struct Spare(Option<OwnedFd>);

fn open_spare() -> Option<OwnedFd> {
    rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()
}

/// Whether `e` says the process (or the system) is out of fds.
pub fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

impl Spare {
    /// Opens the spare.
    pub fn new() -> Spare {
        Spare(open_spare())
    }

    /// Sheds one pending connection of `listener` with the spare; false if
    /// there was no spare (or nothing pending), and the caller must wait
    /// for an fd to come free instead.
    pub fn shed(&mut self, listener: impl AsFd) -> bool {
        let Some(spare) = self.0.take() else {
            self.0 = open_spare();
            return false;
        };
        drop(spare);
        // Only if a connection is pending: the listener may be a blocking
        // socket (the io_uring driver's), whose accept would wait.
        let mut fds = [rustix::event::PollFd::new(
            &listener,
            rustix::event::PollFlags::IN,
        )];
        let ready = matches!(
            rustix::event::poll(&mut fds, Some(&rustix::time::Timespec::default())),
            Ok(1)
        );
        let shed = ready && rustix::net::accept(&listener).is_ok();
        self.0 = open_spare();
        shed
    }
}
