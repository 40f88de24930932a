//! `SpareFd`: the EMFILE trick (muduo's and libev's).
//!
//! Out of file descriptors, accept fails with EMFILE (or ENFILE) and the
//! connection stays in the backlog: its peer waits for an answer that
//! never comes, and a level-triggered listener stays readable, so a loop
//! that waits on it spins. So one spare fd is kept open (on /dev/null);
//! when accept runs out, the spare is closed, the waiting connection is
//! accepted into its number and closed at once (the peer sees a clean
//! close), and the spare is opened again.
//!
//! Not for: raising RLIMIT_NOFILE or queueing connections; when fds run out
//! a connection is shed, cleanly, rather than left hanging.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::SocketFlags;

/// Whether `e` says the process (or the system) is out of fds: the errors
/// that call for [`SpareFd::shed`].
pub fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// One fd kept in reserve, given up to shed connections when accept runs
/// out of fds. [`Acceptor`](super::Acceptor) holds one; a server that
/// accepts its own way (an async listener, an io_uring multishot accept)
/// keeps its own and calls [`shed`](Self::shed) on EMFILE.
#[derive(Debug)]
pub struct SpareFd(Option<OwnedFd>);

fn open_spare() -> Option<OwnedFd> {
    rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()
}

/// Whether a connection waits on `listener` (a poll that does not wait:
/// the listener may be a blocking socket, whose accept would).
fn pending(listener: &impl AsFd) -> bool {
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    matches!(
        rustix::event::poll(&mut fds, Some(&rustix::time::Timespec::default())),
        Ok(1)
    )
}

impl Default for SpareFd {
    fn default() -> SpareFd {
        SpareFd::new()
    }
}

impl SpareFd {
    /// Opens the spare (none if fds have run out already; it is tried
    /// again at the next [`shed`](Self::shed)).
    pub fn new() -> SpareFd {
        SpareFd(open_spare())
    }

    /// Sheds up to `max` connections waiting on `listener`: gives the spare
    /// up, accepts each into the freed number and closes it at once, then
    /// takes the spare back. Returns how many were shed (0 if none was
    /// waiting after all), or `None` if there was no spare to give up: the
    /// caller should then wait for one of its own fds to close rather than
    /// spin (the spare is opened again here if one has come free, for the
    /// next time).
    pub fn shed(&mut self, listener: impl AsFd, max: usize) -> Option<u64> {
        let Some(spare) = self.0.take() else {
            self.0 = open_spare();
            return None;
        };
        drop(spare);
        let mut shed = 0;
        while (shed as usize) < max && pending(&listener) {
            match rustix::net::accept_with(&listener, SocketFlags::CLOEXEC) {
                Ok(fd) => {
                    drop(fd);
                    shed += 1;
                }
                Err(Errno::INTR) => {}
                Err(_) => break,
            }
        }
        self.0 = open_spare();
        Some(shed)
    }
}
