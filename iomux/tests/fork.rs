//! A process that holds a Poller, or runs a reactor, forks: the parent's
//! events keep arriving, the child can build a Poller of its own, and the
//! child closing every descriptor it inherited does not disturb the parent.
//! And epoll's shared-file trap, as the crate documentation describes it:
//! the instance is shared with the child, and an fd the parent closed while
//! the child still holds it keeps reporting events.
#[macro_use]
mod common;
mod forked;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Arc;

use common::*;
use forked::{CHILD_BOUND, fork, one_fork_at_a_time, readable_within};
use iomux::reactor::{Config, LoopGroup};
use iomux::{Backend, Events, Interest, Mode, Poller, Token};

/// In the child: closes every descriptor but stdio and `keep`.
fn close_all_but(keep: RawFd) {
    // SAFETY: close_range(2) only closes descriptors; the child owns its
    // copies and touches none of them afterwards.
    unsafe {
        libc::close_range(3, keep as u32 - 1, 0);
        libc::close_range(keep as u32 + 1, u32::MAX, 0);
    }
}

/// In the child: a Poller of its own on `backend` sees its own event.
fn own_poller_works(backend: Backend) -> Result<(), String> {
    let p = Poller::with_backend(backend).map_err(|e| format!("{backend}: new poller: {e}"))?;
    let (a, b) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    p.register(&a, Token(42), Interest::READABLE, Mode::Level)
        .map_err(|e| format!("{backend}: register: {e}"))?;
    (&b).write_all(b"x").map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(8);
    p.wait(&mut events, Some(MUST))
        .map_err(|e| format!("{backend}: wait: {e}"))?;
    let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
    if tokens == [Token(42)] {
        Ok(())
    } else {
        Err(format!(
            "{backend}: the child's own poller reported {tokens:?}"
        ))
    }
}

/// One readable event for `token`, within MUST.
fn assert_readable(p: &Poller, token: Token, when: &str) {
    let backend = p.backend();
    let mut events = Events::with_capacity(16);
    let evs = wait(p, &mut events, MUST);
    let mine = with_token(&evs, token);
    assert_eq!(mine.len(), 1, "{backend}: {when}: {evs:?}");
    assert!(mine[0].is_readable(), "{backend}: {when}: {:?}", mine[0]);
}

fn poller_survives_a_fork(backend: Backend) {
    let _one = one_fork_at_a_time();
    let p = poller(backend);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let child = fork(|verdict| {
        // Everything inherited goes: the registered socket, its peer, the
        // poller's own descriptors (epoll instance, ring, eventfds).
        close_all_but(verdict);
        own_poller_works(backend)
    });
    // While the child runs, and after it is gone.
    send(&b, b"during");
    assert_readable(&p, Token(1), "event while the child runs");
    assert_eq!(drain(&a), 6, "{backend}");
    child
        .verdict(CHILD_BOUND)
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
    send(&b, b"after");
    assert_readable(
        &p,
        Token(1),
        "event after the child closed its copies and exited",
    );
    assert_eq!(drain(&a), 5, "{backend}");
    let mut events = Events::with_capacity(16);
    assert!(
        wait(&p, &mut events, MUST_NOT).is_empty(),
        "{backend}: an event with nothing to read"
    );
}
on_every_backend!(poller_survives_a_fork);

/// One echo round trip of `msg` on `c`.
fn echo(c: &mut TcpStream, msg: &[u8]) -> Result<(), String> {
    c.write_all(msg).map_err(|e| format!("write: {e}"))?;
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got).map_err(|e| format!("read: {e}"))?;
    if got == msg {
        Ok(())
    } else {
        Err(format!("echoed {got:?} for {msg:?}"))
    }
}

fn reactor_survives_a_fork(backend: Backend) {
    let _one = one_fork_at_a_time();
    if backend == Backend::IoUring && Poller::with_backend(backend).is_err() {
        return; // reported by the io_uring tests
    }
    let cfg = Config::default().with_backend(backend);
    let factory: iomux::conn::HandlerFactory = Arc::new(|| Box::new(Echo));
    let g = LoopGroup::bind("127.0.0.1:0".parse().unwrap(), 1, cfg, factory).unwrap();
    let mut before = TcpStream::connect(g.local_addr()).unwrap();
    before.set_read_timeout(Some(MUST)).unwrap();
    echo(&mut before, b"before the fork").unwrap();
    let child = fork(|verdict| {
        // The listener, the connection, the loop's poller and waker: all
        // closed here, none closed for the parent.
        close_all_but(verdict);
        own_poller_works(backend)
    });
    echo(&mut before, b"while the child runs")
        .unwrap_or_else(|e| panic!("{backend}: the connection made before the fork: {e}"));
    child
        .verdict(CHILD_BOUND)
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
    echo(&mut before, b"after the child exited")
        .unwrap_or_else(|e| panic!("{backend}: the connection made before the fork: {e}"));
    let mut after = TcpStream::connect(g.local_addr()).unwrap();
    after.set_read_timeout(Some(MUST)).unwrap();
    echo(&mut after, b"a new connection")
        .unwrap_or_else(|e| panic!("{backend}: a connection made after the fork: {e}"));
    g.stop();
    g.join().unwrap();
}
on_every_backend!(reactor_survives_a_fork);

/// The trap: the parent closes a registered fd without deregistering it,
/// while a forked child still holds that file open. epoll keys its interest
/// entry by the open file description, which is still alive, so the
/// parent's poller keeps reporting the closed fd's token; only when the
/// child's copy closes too does the entry go.
#[test]
fn epoll_reports_a_closed_fd_while_a_child_holds_it() {
    let _one = one_fork_at_a_time();
    let p = poller(Backend::Epoll);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let (go_read, go_write) = std::os::unix::net::UnixStream::pair().unwrap();
    let child = fork(move |_| {
        // Hold the inherited copy of `a` until the parent says go; then
        // exit, which closes it.
        if readable_within(go_read.as_fd(), CHILD_BOUND) {
            Ok(())
        } else {
            Err("the parent never said go".into())
        }
    });
    let number = a.as_raw_fd();
    drop(a); // closed in the parent, not deregistered
    send(&b, b"for the closed fd");
    assert_readable(&p, Token(1), "the closed fd, still open in the child");
    (&go_write).write_all(b"go").unwrap();
    child.verdict(CHILD_BOUND).unwrap();
    // The last reference is gone: epoll forgot the entry on its own.
    let mut events = Events::with_capacity(16);
    let evs = wait(&p, &mut events, MUST_NOT);
    assert!(
        with_token(&evs, Token(1)).is_empty(),
        "fd {number} reported after its last copy closed: {evs:?}"
    );
}

/// The other half of the trap: the epoll instance itself is shared, so a
/// child that deregisters through its inherited copy of the Poller removes
/// the parent's interest too.
#[test]
fn epoll_child_deregister_reaches_the_parent() {
    let _one = one_fork_at_a_time();
    let p = poller(Backend::Epoll);
    let (a, b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let child = {
        let p = p.clone();
        let a = &a;
        fork(move |_| {
            p.deregister(a)
                .map_err(|e| format!("deregister in the child: {e}"))
        })
    };
    child.verdict(CHILD_BOUND).unwrap();
    send(&b, b"x");
    let mut events = Events::with_capacity(16);
    let evs = wait(&p, &mut events, MUST_NOT);
    assert!(
        evs.is_empty(),
        "the child's deregister did not reach the shared epoll instance: {evs:?}"
    );
}
