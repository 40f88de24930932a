//! select without FD_SETSIZE: fds of 1500 and 19000 work (on every backend).
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

fn dup_to(fd: i32, target: i32) -> OwnedFd {
    // SAFETY: (test) dup2 onto a number this test owns; the result is a new
    // descriptor we take ownership of.
    let r = unsafe { libc::dup2(fd, target) };
    assert_eq!(
        r,
        target,
        "dup2 to {target}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `target` is now an open descriptor owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(target) }
}

fn fds_above_1024_work(backend: iomux::Backend) {
    let _fds = fd_numbers(); // dup2 onto fixed numbers
    for target in [1500, 19000] {
        let p = poller(backend);
        let (a, b) = pair();
        let high = dup_to(a.as_raw_fd(), target);
        drop(a);
        p.register(
            &high,
            Token(target as usize),
            Interest::READABLE,
            Mode::Level,
        )
        .unwrap_or_else(|e| panic!("{backend}: register fd {target}: {e}"));
        let mut events = Events::with_capacity(8);
        assert!(
            wait(&p, &mut events, MUST_NOT).is_empty(),
            "{backend}: fd {target}: early event"
        );
        send(&b, b"x");
        let evs = wait(&p, &mut events, MUST);
        assert_eq!(
            with_token(&evs, Token(target as usize)).len(),
            1,
            "{backend}: fd {target}: {evs:?}"
        );
        p.deregister(&high).unwrap();
    }
}
on_every_backend!(fds_above_1024_work);
