//! io_uring-specific behaviour of the Poller that the shared conformance
//! suite does not cover: the documented closed-fd difference, Level staying
//! quiet after a drain (no stale report from a re-armed poll), many
//! registrations beyond the SQ size, and re-registration churn.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use iomux::{Backend, Events, Interest, Mode, Poller, Token};

fn uring() -> Poller {
    Poller::with_backend(Backend::IoUring).expect("io_uring works on this machine")
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn tokens(p: &Poller, ev: &mut Events, ms: u64) -> Vec<usize> {
    p.wait(ev, Some(Duration::from_millis(ms))).unwrap();
    let mut t: Vec<usize> = ev.iter().map(|e| e.token().0).collect();
    t.sort();
    t
}

fn drain(s: &mut UnixStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn level_is_quiet_once_drained() {
    let p = uring();
    let (mut a, mut b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let mut ev = Events::with_capacity(8);
    b.write_all(b"x").unwrap();
    assert_eq!(tokens(&p, &mut ev, 1000), vec![1]);
    assert_eq!(tokens(&p, &mut ev, 1000), vec![1], "level repeats");
    drain(&mut a);
    assert_eq!(
        tokens(&p, &mut ev, 20),
        Vec::<usize>::new(),
        "drained: quiet"
    );
    b.write_all(b"y").unwrap();
    assert_eq!(tokens(&p, &mut ev, 1000), vec![1]);
}

#[test]
fn edge_reports_each_new_arrival_once() {
    let p = uring();
    let (a, mut b) = pair();
    p.register(&a, Token(2), Interest::READABLE, Mode::Edge)
        .unwrap();
    let mut ev = Events::with_capacity(8);
    b.write_all(b"x").unwrap();
    assert_eq!(tokens(&p, &mut ev, 1000), vec![2]);
    assert_eq!(tokens(&p, &mut ev, 20), Vec::<usize>::new(), "no new edge");
    b.write_all(b"y").unwrap();
    assert_eq!(
        tokens(&p, &mut ev, 1000),
        vec![2],
        "a new arrival is an edge"
    );
}

#[test]
fn modify_switches_modes_and_tokens() {
    let p = uring();
    let (a, mut b) = pair();
    let mut ev = Events::with_capacity(8);
    p.register(&a, Token(1), Interest::READABLE, Mode::Oneshot)
        .unwrap();
    b.write_all(b"x").unwrap();
    assert_eq!(tokens(&p, &mut ev, 1000), vec![1]);
    assert_eq!(
        tokens(&p, &mut ev, 20),
        Vec::<usize>::new(),
        "oneshot fired"
    );
    p.modify(&a, Token(3), Interest::READABLE, Mode::Level)
        .unwrap();
    assert_eq!(tokens(&p, &mut ev, 1000), vec![3]);
    assert_eq!(tokens(&p, &mut ev, 1000), vec![3]);
    p.modify(&a, Token(4), Interest::READABLE, Mode::Edge)
        .unwrap();
    assert_eq!(tokens(&p, &mut ev, 1000), vec![4], "ready at arm time");
    assert_eq!(tokens(&p, &mut ev, 20), Vec::<usize>::new());
    p.modify(&a, Token(5), Interest::WRITABLE, Mode::Level)
        .unwrap();
    let n = p.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(n, 1);
    let e = ev.iter().next().unwrap();
    assert_eq!(e.token(), Token(5));
    assert!(e.is_writable());
}

#[test]
fn more_registrations_than_the_submission_queue_holds() {
    const N: usize = 3000; // the SQ has 1024 entries
    let p = uring();
    let mut pairs = Vec::new();
    for i in 0..N {
        let (a, mut b) = pair();
        b.write_all(b"x").unwrap();
        p.register(&a, Token(i), Interest::READABLE, Mode::Oneshot)
            .unwrap();
        pairs.push((a, b));
    }
    let mut seen = vec![false; N];
    let mut ev = Events::with_capacity(64);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut count = 0;
    while count < N {
        assert!(
            Instant::now() < deadline,
            "only {count} of {N} events arrived"
        );
        p.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
        for e in ev.iter() {
            assert!(!seen[e.token().0], "token {} twice", e.token().0);
            seen[e.token().0] = true;
            count += 1;
        }
    }
}

#[test]
fn deregister_releases_the_file() {
    // An armed poll holds a reference to the file; deregister must drop it,
    // so that closing the fd really closes the socket and the peer sees EOF.
    let p = uring();
    let (a, mut b) = pair();
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let mut ev = Events::with_capacity(8);
    assert_eq!(tokens(&p, &mut ev, 10), Vec::<usize>::new());
    p.deregister(&a).unwrap();
    drop(a);
    b.set_nonblocking(false).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(b.read(&mut buf).expect("EOF, not a timeout"), 0);
}

#[test]
fn capabilities_describe_the_closed_fd_difference() {
    assert!(Backend::IoUring.supports_edge());
    assert!(Backend::IoUring.supports_native_oneshot());
    assert!(!Backend::IoUring.notices_closed_fd());
    assert!(Backend::IoUring.pins_registered_files());
    assert!(Backend::IoUring.reports_read_closed());
    assert!(!Backend::IoUring.supports_exclusive());
}

#[test]
fn closed_behind_our_back_while_armed_pins_the_file() {
    let p = uring();
    let (a, mut b) = pair();
    // A number far above what the other tests in this process use, so that
    // no parallel test reuses it between the close and the re-arm.
    let hi = rustix::io::fcntl_dupfd_cloexec(&a, 18_000).unwrap();
    drop(a);
    let a = hi;
    p.register(&a, Token(1), Interest::READABLE, Mode::Level)
        .unwrap();
    let mut ev = Events::with_capacity(8);
    assert_eq!(tokens(&p, &mut ev, 10), Vec::<usize>::new());
    drop(a); // closed without deregister: the armed poll keeps the file
    assert_eq!(tokens(&p, &mut ev, 20), Vec::<usize>::new(), "no POLLNVAL");
    let mut buf = [0u8; 1];
    let r = b.read(&mut buf).map_err(|e| e.kind());
    assert_eq!(
        r,
        Err(ErrorKind::WouldBlock),
        "the pinned file sends no EOF"
    );
    b.write_all(b"x").unwrap(); // the file is alive: the poll still fires
    assert_eq!(tokens(&p, &mut ev, 1000), vec![1]);
    // The re-armed poll is submitted on the closed fd number: EBADF, one
    // error event, and the registration is gone.
    p.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
    let errs: Vec<_> = ev.iter().filter(|e| e.is_error()).collect();
    assert_eq!(errs.len(), 1, "{ev:?}");
    assert_eq!(errs[0].token(), Token(1));
    assert_eq!(tokens(&p, &mut ev, 20), Vec::<usize>::new(), "dropped");
}

#[test]
fn rapid_register_deregister_churn_delivers_nothing_stale() {
    let p = uring();
    let mut ev = Events::with_capacity(64);
    for round in 0..200usize {
        let (a, mut b) = pair();
        b.write_all(b"x").unwrap();
        p.register(&a, Token(round), Interest::READABLE, Mode::Level)
            .unwrap();
        if round % 2 == 0 {
            p.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
            for e in ev.iter() {
                assert_eq!(e.token(), Token(round), "stale token");
            }
        }
        p.deregister(&a).unwrap();
        p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
        assert!(ev.is_empty(), "event after deregister: {ev:?}");
    }
}

#[test]
fn registration_from_a_thread_that_exits_keeps_working() {
    // With nobody waiting, a registering thread submits its poll itself and
    // so owns it in the kernel. The thread's exit must not lose it.
    let p = uring();
    let (a, mut b) = pair();
    let p2 = p.clone();
    let a = std::thread::spawn(move || {
        p2.register(&a, Token(9), Interest::READABLE, Mode::Level)
            .unwrap();
        a // the socket stays open after the thread is gone
    })
    .join()
    .unwrap();
    let mut ev = Events::with_capacity(8);
    assert_eq!(tokens(&p, &mut ev, 20), Vec::<usize>::new());
    b.write_all(b"x").unwrap();
    assert_eq!(
        tokens(&p, &mut ev, 5000),
        vec![9],
        "event after the registrar exited"
    );
    drop(a);
}

#[test]
fn one_event_per_fd_per_wait() {
    // The multishot poll completes once when armed (writable) and again
    // when data arrives; like epoll's ready list, one wait reports the fd
    // once, with both conditions.
    let p = uring();
    let (a, mut b) = pair();
    p.register(
        &a,
        Token(4),
        Interest::READABLE | Interest::WRITABLE,
        Mode::Edge,
    )
    .unwrap();
    b.write_all(b"x").unwrap();
    let mut ev = Events::with_capacity(8);
    let deadline = Instant::now() + Duration::from_secs(5);
    // The data's completion may trail the write by a moment: wait until
    // readable was seen, counting the events for our token per wait.
    loop {
        p.wait(&mut ev, Some(Duration::from_secs(1))).unwrap();
        let mine: Vec<_> = ev.iter().filter(|e| e.token() == Token(4)).collect();
        assert!(
            mine.len() <= 1,
            "two events for one fd in one wait: {mine:?}"
        );
        if mine.iter().any(|e| e.is_readable()) {
            break;
        }
        assert!(Instant::now() < deadline, "readable never reported");
    }
}
