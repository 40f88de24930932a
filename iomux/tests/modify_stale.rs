//! `modify` on an fd number that was closed without `deregister` and then
//! reused by another open file: the registration belongs to the old file,
//! so every backend answers `NotFound` with ENOENT, as epoll's kernel does
//! (issue 27). Afterwards the new file registers normally, nothing comes
//! under the old token, and the old file is no longer held (on io_uring the
//! armed poll pinned it: its peer sees the close).
#[macro_use]
mod common;
use common::*;

use std::io::ErrorKind;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use iomux::{Backend, Events, Interest, Mode, Poller, Token};
use rustix::event::{EventfdFlags, eventfd};

/// A poller on `backend`; `None`, with a note on the test's output, only
/// when io_uring cannot be set up on this machine.
fn poller_or_skip(backend: Backend) -> Option<Poller> {
    match Poller::with_backend(backend) {
        Ok(p) => Some(p),
        Err(e) if backend == Backend::IoUring => {
            println!("modify_stale: io_uring skipped, its setup failed here: {e}");
            None
        }
        Err(e) => panic!("{backend}: cannot create poller: {e}"),
    }
}

/// `file` moved to the fd number `n`, which must be free: the kernel hands
/// out the lowest free number, and an earlier hole may come first.
fn at_number(file: OwnedFd, n: RawFd) -> OwnedFd {
    if file.as_raw_fd() == n {
        return file;
    }
    let moved = rustix::io::fcntl_dupfd_cloexec(&file, n).expect("F_DUPFD_CLOEXEC");
    assert_eq!(moved.as_raw_fd(), n, "fd number {n} was not free");
    moved
}

/// A socket pair whose first end has the fd number `n`.
fn pair_at(n: RawFd) -> (UnixStream, UnixStream) {
    let (a, b) = pair();
    let a = UnixStream::from(at_number(OwnedFd::from(a), n));
    (a, b)
}

fn an_eventfd() -> OwnedFd {
    eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC).expect("eventfd")
}

/// Asserts that `r` is the `NotFound` of a stale registration.
fn assert_not_found(backend: Backend, what: &str, r: std::io::Result<()>) {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::NotFound, "{backend}: {what}: {e}");
            assert_eq!(
                e.raw_os_error(),
                Some(libc::ENOENT),
                "{backend}: {what}: {e}"
            );
        }
        Ok(()) => {
            panic!("{backend}: {what}: modify succeeded against the closed file's registration")
        }
    }
}

/// After the stale modify: the new file at the same number registers,
/// reports under its own token only, and can itself be modified.
fn new_file_works(p: &Poller, new: &UnixStream, peer: &UnixStream) {
    let backend = p.backend();
    p.register(new, Token(2), Interest::READABLE, Mode::Level)
        .unwrap_or_else(|e| panic!("{backend}: registering the new file: {e}"));
    p.modify(new, Token(3), Interest::READABLE, Mode::Level)
        .unwrap_or_else(|e| panic!("{backend}: modifying the live registration: {e}"));
    send(peer, b"new");
    let mut events = Events::with_capacity(16);
    let evs = wait(p, &mut events, MUST);
    assert!(
        with_token(&evs, Token(1)).is_empty(),
        "{backend}: an event under the stale token: {evs:?}"
    );
    assert!(
        !with_token(&evs, Token(3)).is_empty(),
        "{backend}: the new registration did not report: {evs:?}"
    );
    p.deregister(new).unwrap();
}

/// A level registration (on io_uring: a poll armed in the kernel, which
/// holds the old file) closed and its number reused by a new socket.
fn modify_after_close_and_reuse(backend: Backend) {
    let _fds = fd_numbers();
    let Some(p) = poller_or_skip(backend) else {
        return;
    };
    let (old, old_peer) = pair();
    let n = old.as_raw_fd();
    p.register(&old, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    drop(old); // no deregister
    let (new, peer) = pair_at(n);
    assert_not_found(
        backend,
        "modify after close and reuse",
        p.modify(&new, Token(1), Interest::READABLE, Mode::Level),
    );
    assert!(
        peer_sees_close(&old_peer),
        "{backend}: the closed socket is still held open after the stale modify"
    );
    new_file_works(&p, &new, &peer);
}
on_every_backend!(modify_after_close_and_reuse);

/// Oneshot re-arming, the case `modify` exists for: the registration fired
/// (on io_uring no poll is armed any more), then its fd was closed and the
/// number reused before the re-arm.
fn rearm_after_close_and_reuse(backend: Backend) {
    let _fds = fd_numbers();
    let Some(p) = poller_or_skip(backend) else {
        return;
    };
    let mut events = Events::with_capacity(16);
    let (old, old_peer) = pair();
    let n = old.as_raw_fd();
    p.register(&old, Token(1), Interest::READABLE, Mode::Oneshot)
        .unwrap();
    send(&old_peer, b"x");
    let evs = wait(&p, &mut events, MUST);
    assert_eq!(
        with_token(&evs, Token(1)).len(),
        1,
        "{backend}: the oneshot did not fire: {evs:?}"
    );
    drain(&old); // closed with unread data, it would reset its peer
    drop(old);
    let (new, peer) = pair_at(n);
    send(&peer, b"ready");
    assert_not_found(
        backend,
        "oneshot re-arm after close and reuse",
        p.modify(&new, Token(1), Interest::READABLE, Mode::Oneshot),
    );
    let evs = wait(&p, &mut events, MUST_NOT);
    assert!(
        with_token(&evs, Token(1)).is_empty(),
        "{backend}: the refused re-arm still armed something: {evs:?}"
    );
    assert!(
        peer_sees_close(&old_peer),
        "{backend}: old socket held open"
    );
    new_file_works(&p, &new, &peer);
}
on_every_backend!(rearm_after_close_and_reuse);

/// eventfds share one inode (anon_inode), so (st_dev, st_ino) cannot tell
/// the new one from the closed one: the open file itself must be compared.
fn modify_after_reuse_by_another_eventfd(backend: Backend) {
    let _fds = fd_numbers();
    let Some(p) = poller_or_skip(backend) else {
        return;
    };
    let old = an_eventfd();
    let n = old.as_raw_fd();
    p.register(&old, Token(1), Interest::READABLE, Mode::Oneshot)
        .unwrap();
    drop(old);
    let new = at_number(an_eventfd(), n);
    assert_not_found(
        backend,
        "modify after reuse by another eventfd",
        p.modify(&new, Token(1), Interest::READABLE, Mode::Oneshot),
    );
    // The new eventfd is a registration of its own, not a duplicate.
    p.register(&new, Token(2), Interest::READABLE, Mode::Level)
        .unwrap_or_else(|e| panic!("{backend}: registering the new eventfd: {e}"));
    assert!(
        matches!(p.register(&new, Token(2), Interest::READABLE, Mode::Level),
                 Err(e) if e.kind() == ErrorKind::AlreadyExists),
        "{backend}: a true duplicate was not refused"
    );
    p.deregister(&new).unwrap();
}
on_every_backend!(modify_after_reuse_by_another_eventfd);

/// The same comparison on `register`: a new eventfd at a reused number is
/// a new registration (it replaces the stale one), not a duplicate.
fn register_after_reuse_by_another_eventfd(backend: Backend) {
    let _fds = fd_numbers();
    let Some(p) = poller_or_skip(backend) else {
        return;
    };
    let mut events = Events::with_capacity(16);
    let old = an_eventfd();
    let n = old.as_raw_fd();
    p.register(&old, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    drop(old);
    let new = at_number(an_eventfd(), n);
    p.register(&new, Token(2), Interest::READABLE, Mode::Level)
        .unwrap_or_else(|e| panic!("{backend}: the new eventfd was taken for a duplicate: {e}"));
    rustix::io::write(&new, &1u64.to_ne_bytes()).unwrap();
    let evs = wait(&p, &mut events, MUST);
    assert!(
        with_token(&evs, Token(1)).is_empty() && !with_token(&evs, Token(2)).is_empty(),
        "{backend}: {evs:?}"
    );
    p.deregister(&new).unwrap();
}
on_every_backend!(register_after_reuse_by_another_eventfd);

/// The old file is still open through a duplicate elsewhere; only its
/// number was closed and reused. The registration was for the file at that
/// number, which is now another one.
fn modify_after_reuse_while_the_old_file_lives(backend: Backend) {
    let _fds = fd_numbers();
    let Some(p) = poller_or_skip(backend) else {
        return;
    };
    let (old, _old_peer) = pair();
    let n = old.as_raw_fd();
    p.register(&old, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let kept = old.try_clone().expect("dup"); // same open file, another number
    drop(old);
    let (new, peer) = pair_at(n);
    assert_not_found(
        backend,
        "modify after reuse, the old file still open",
        p.modify(&new, Token(1), Interest::READABLE, Mode::Level),
    );
    new_file_works(&p, &new, &peer);
    drop(kept);
}
on_every_backend!(modify_after_reuse_while_the_old_file_lives);

/// The check does not refuse what it must accept: a registration modified
/// many times, and one whose file was duplicated (same file, same number).
fn modify_of_a_live_registration_succeeds(backend: Backend) {
    let _fds = fd_numbers();
    let Some(p) = poller_or_skip(backend) else {
        return;
    };
    let mut events = Events::with_capacity(16);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Oneshot)
        .unwrap();
    let _dup = a.try_clone().expect("dup");
    send(&b, b"x");
    for round in 0..3 {
        let evs = wait(&p, &mut events, MUST);
        assert_eq!(
            with_token(&evs, Token(1)).len(),
            1,
            "{backend}: round {round}: {evs:?}"
        );
        p.modify(&a, Token(1), Interest::READABLE, Mode::Oneshot)
            .unwrap_or_else(|e| panic!("{backend}: round {round}: re-arm refused: {e}"));
    }
    p.deregister(&a).unwrap();
}
on_every_backend!(modify_of_a_live_registration_succeeds);
