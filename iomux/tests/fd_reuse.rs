//! An fd closed without deregister and its number reused by a new
//! registration: events come only under the new token.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};
use std::os::fd::AsRawFd;

fn reused_fd_number_gets_only_the_new_token(backend: iomux::Backend) {
    let _fds = fd_numbers(); // a closed number must come back to this test
    let p = poller(backend);
    let mut events = Events::with_capacity(16);
    let (a, b) = pair();
    let old_fd = a.as_raw_fd();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    send(&b, b"old data");
    drop(a); // closed behind the poller's back
    // The kernel hands out the lowest free number: the next socket pair
    // reuses it (the per-backend tests of this file hold `fd_numbers`, so
    // no other thread races).
    let (c, d) = pair();
    let (new, peer) = if c.as_raw_fd() == old_fd {
        (c, d)
    } else {
        (d, c)
    };
    assert_eq!(
        new.as_raw_fd(),
        old_fd,
        "{backend}: fd number was not reused"
    );
    p.register(&new, Token(2), Interest::READABLE, Mode::Level)
        .unwrap_or_else(|e| panic!("{backend}: registering the reused fd: {e}"));
    send(&peer, b"new");
    let mut seen_new = false;
    for _ in 0..5 {
        let evs = wait(&p, &mut events, MUST);
        assert!(
            with_token(&evs, Token(1)).is_empty(),
            "{backend}: old token after reuse: {evs:?}"
        );
        seen_new |= !with_token(&evs, Token(2)).is_empty();
    }
    assert!(seen_new, "{backend}: the new registration never reported");
    drop(b);
}
on_every_backend!(reused_fd_number_gets_only_the_new_token);
