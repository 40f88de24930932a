//! States of a socket in which a runtime must neither spin, starve, lie nor
//! leak (issue 27), on every driver: an error event, a task that polls
//! many idle streams, a connect still in its handshake, a stream dropped
//! with a send stuck, a read cut short at an urgent mark or an SCM_RIGHTS
//! boundary, a guard cleared after a newer event, an I/O object polled in
//! the wrong runtime.

#[macro_use]
mod common;

use std::future::poll_fn;
use std::io::{ErrorKind, IoSlice, Write};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::task::Poll;
use std::time::{Duration, Instant};

use iomux::rt::net::{TcpListener, TcpStream, UnixStream};
use iomux::rt::time::{sleep, timeout};
use iomux::rt::{self, AsyncFd, DriverKind, Runtime};

/// Waits (5 s at most, looking every few ms) until `done` holds; fails
/// with `what` when it never does.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        sleep(Duration::from_millis(2)).await;
    }
}

/// A few turns of the runtime's loop, so that its driver takes in the
/// events of what was just sent.
async fn settle() {
    for _ in 0..4 {
        rt::yield_now().await;
    }
}

/// Every driver's runtime, or a panic that names it.
fn runtime(driver: DriverKind) -> Runtime {
    Runtime::with_driver(driver).unwrap_or_else(|e| panic!("{driver}: runtime: {e}"))
}

/// Defect 1: a UDP socket connected to a closed port gets an ICMP
/// port-unreachable, which raises an error event. Once the error has been
/// consumed, reads say WouldBlock and `readable()` must wait again: the
/// loop ends by its timeout instead of spinning forever.
fn consumed_udp_error_does_not_spin(driver: DriverKind) {
    common::bounded(20, "consumed UDP error", move || {
        runtime(driver).block_on(async {
            // A port nobody listens on: bind one, learn it, close it.
            let closed = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let target = closed.local_addr().expect("addr");
            drop(closed);
            let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
            sock.connect(target).expect("connect");
            sock.set_nonblocking(true).expect("nonblocking");
            let fd = AsyncFd::new(sock).expect("AsyncFd");
            fd.get_ref().send(b"ping").expect("send");
            // Let the driver take in the error event before anyone reads.
            settle().await;
            let mut errors = 0;
            let mut turns = 0u64;
            let looped = timeout(Duration::from_millis(500), async {
                let mut buf = [0u8; 16];
                loop {
                    let mut guard = fd.readable().await.expect("readable");
                    turns += 1;
                    match guard.try_io(|s| s.recv(&mut buf)) {
                        Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => errors += 1,
                        Ok(other) => panic!("{driver}: unexpected recv result {other:?}"),
                        Err(_would_block) => {}
                    }
                }
            })
            .await;
            assert!(
                looped.is_err(),
                "{driver}: the wait loop ended without its timeout"
            );
            assert!(
                errors <= 1,
                "{driver}: the one ICMP error was reported {errors} times"
            );
            // A spin would have run the loop millions of times; waiting for
            // events runs it a handful (poll and select may report the
            // error once more before it is consumed).
            assert!(
                turns < 1000,
                "{driver}: the loop turned {turns} times in 500 ms"
            );
        });
    });
}
on_every_driver!(consumed_udp_error_does_not_spin);

/// Defect 1, TCP: a MSG_ZEROCOPY send leaves a notification on the socket's
/// error queue, which raises EPOLLERR until someone reads the queue. A
/// reader of the data must still wait for data, not spin.
fn tcp_error_queue_entry_does_not_spin(driver: DriverKind) {
    common::bounded(20, "TCP error queue", move || {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind");
        let client = StdStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (_server, _) = listener.accept().expect("accept");
        let one: libc::c_int = 1;
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `&one`,
        // which lives across the call; the fd is the open client socket.
        let set = unsafe {
            libc::setsockopt(
                client.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ZEROCOPY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0, "SO_ZEROCOPY: {}", std::io::Error::last_os_error());
        let payload = [7u8; 4096];
        // SAFETY: send reads `payload.len()` bytes from `payload`, alive
        // across the call (the kernel pins the pages it sends from).
        let sent = unsafe {
            libc::send(
                client.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                libc::MSG_ZEROCOPY,
            )
        };
        assert_eq!(sent, payload.len() as isize, "zerocopy send");
        client.set_nonblocking(true).expect("nonblocking");
        runtime(driver).block_on(async {
            let fd = AsyncFd::new(client).expect("AsyncFd");
            let mut turns = 0u64;
            let looped = timeout(Duration::from_millis(500), async {
                let mut buf = [0u8; 16];
                loop {
                    let mut guard = fd.readable().await.expect("readable");
                    turns += 1;
                    match guard.try_io(|mut s| std::io::Read::read(&mut s, &mut buf)) {
                        Ok(r) => {
                            panic!("{driver}: nothing was sent to the client, read gave {r:?}")
                        }
                        Err(_would_block) => {}
                    }
                }
            })
            .await;
            assert!(
                looped.is_err(),
                "{driver}: the loop ended without its timeout"
            );
            // poll, select and the completion driver's one-shot POLL_ADD
            // are level-triggered: the pending POLLERR ends every wait (a
            // busy wait through the kernel, which still lets the timer
            // fire); epoll and io_uring's multishot poll report it once.
            if !matches!(driver.name(), "poll" | "select" | "uring") {
                assert!(turns < 1000, "{driver}: the loop turned {turns} times");
            }
        });
    });
}
on_every_driver!(tcp_error_queue_entry_does_not_spin);

/// A guard taken before an event and cleared after it must not wipe it:
/// the next `readable()` sees the data that came meanwhile.
fn clear_keeps_a_newer_event(driver: DriverKind) {
    common::bounded(20, "clear after a newer event", move || {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().expect("pair");
        a.set_nonblocking(true).expect("nonblocking");
        runtime(driver).block_on(async {
            let fd = AsyncFd::new(a).expect("AsyncFd");
            let mut guard = fd.readable().await.expect("readable");
            b.write_all(b"x").expect("write");
            // A few turns of the loop: the driver takes in the new event.
            settle().await;
            guard.clear_ready();
            let again = timeout(Duration::from_millis(500), fd.readable()).await;
            assert!(
                again.is_ok(),
                "{driver}: the byte written while the guard was held was forgotten"
            );
        });
    });
}
on_every_driver!(clear_keeps_a_newer_event);

/// Defect 2: one task polls 200 idle streams and the last one has a byte.
/// Reads that find nothing must not spend the task's I/O budget.
fn idle_reads_do_not_spend_the_budget(driver: DriverKind) {
    common::bounded(30, "200 streams in one poll", move || {
        runtime(driver).block_on(async {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for _ in 0..200 {
                let (a, b) = UnixStream::pair().expect("pair");
                ours.push(a);
                theirs.push(b);
            }
            theirs[199].write_all(b"!").await.expect("write");
            theirs[199].flush().await.expect("flush");
            let mut buf = [0u8; 8];
            let first = timeout(
                Duration::from_secs(1),
                poll_fn(|cx| {
                    for (i, s) in ours.iter_mut().enumerate() {
                        let mut read = std::pin::pin!(s.read(&mut buf));
                        if let Poll::Ready(r) = read.as_mut().poll(cx) {
                            r.expect("read");
                            return Poll::Ready(i);
                        }
                    }
                    Poll::Pending
                }),
            )
            .await;
            assert_eq!(
                first.ok(),
                Some(199),
                "{driver}: the ready stream behind 199 idle ones was not reached"
            );
        });
    });
}
on_every_driver!(idle_reads_do_not_spend_the_budget);

/// A TCP listener with a backlog of one whose queue is full: further SYNs
/// are dropped, and a connect stays in SYN_SENT.
fn full_listener() -> (StdListener, Vec<StdStream>) {
    let fd = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        None,
    )
    .expect("socket");
    rustix::net::bind(&fd, &"127.0.0.1:0".parse::<SocketAddr>().unwrap()).expect("bind");
    rustix::net::listen(&fd, 0).expect("listen");
    let listener = StdListener::from(fd);
    let addr = listener.local_addr().expect("addr");
    let mut queued = Vec::new();
    for _ in 0..16 {
        match StdStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => return (listener, queued),
            Err(e) => panic!("filling the backlog: {e}"),
        }
    }
    panic!("the listener's queue never filled");
}

/// Sockets in SYN_SENT towards `port`, from /proc/net/tcp.
fn syn_sent_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3
                && f[3] == "02"
                && f[2]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
        })
        .count()
}

/// Defect 3: `connect` returns only once the handshake is done, so a
/// timeout bounds it; dropped mid-handshake, its socket is closed.
fn connect_waits_for_the_handshake(driver: DriverKind) {
    common::bounded(30, "connect in SYN_SENT", move || {
        let (listener, _queued) = full_listener();
        let addr = listener.local_addr().expect("addr");
        runtime(driver).block_on(async {
            let before = syn_sent_to(addr.port());
            let started = Instant::now();
            let connected = timeout(Duration::from_millis(300), TcpStream::connect(addr)).await;
            assert!(
                connected.is_err(),
                "{driver}: connect returned {:?} after {:?} while the SYN went unanswered",
                connected.map(|r| r.map(|s| s.local_addr())),
                started.elapsed()
            );
            // The dropped connect closed its socket: no SYN_SENT left.
            let what = format!("{driver}: the dropped connect's socket is still in SYN_SENT");
            eventually(&what, || syn_sent_to(addr.port()) <= before).await;
        });
    });
}
on_every_driver!(connect_waits_for_the_handshake);

/// Defect 3: a refused connect is an error, not a stream.
fn refused_connect_is_an_error(driver: DriverKind) {
    common::bounded(20, "refused connect", move || {
        let closed = StdListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("addr");
        drop(closed);
        runtime(driver).block_on(async {
            let r = TcpStream::connect(addr).await;
            assert_eq!(
                r.as_ref().err().map(|e| e.kind()),
                Some(ErrorKind::ConnectionRefused),
                "{driver}: connect to a closed port gave {r:?}"
            );
        });
    });
}
on_every_driver!(refused_connect_is_an_error);

/// Defect 3, Unix: a listener whose backlog is full makes connect say
/// EAGAIN, which is `WouldBlock`, not a connection.
fn unix_connect_to_a_full_backlog_is_wouldblock(driver: DriverKind) {
    common::bounded(20, "Unix connect, full backlog", move || {
        let dir = std::env::temp_dir().join(format!(
            "iomux-full-{}-{}",
            std::process::id(),
            driver.name()
        ));
        let _ = std::fs::remove_file(&dir);
        let fd = rustix::net::socket(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            None,
        )
        .expect("socket");
        let path = rustix::net::SocketAddrUnix::new(&dir).expect("path");
        rustix::net::bind(&fd, &path).expect("bind");
        rustix::net::listen(&fd, 0).expect("listen");
        let mut fillers = Vec::new();
        loop {
            let s = rustix::net::socket_with(
                rustix::net::AddressFamily::UNIX,
                rustix::net::SocketType::STREAM,
                rustix::net::SocketFlags::NONBLOCK,
                None,
            )
            .expect("socket");
            match rustix::net::connect(&s, &path) {
                Ok(()) => fillers.push(s),
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => panic!("filling the backlog: {e}"),
            }
            assert!(fillers.len() < 64, "the Unix backlog never filled");
        }
        runtime(driver).block_on(async {
            let r = UnixStream::connect(&dir).await;
            assert_eq!(
                r.as_ref().err().map(|e| e.kind()),
                Some(ErrorKind::WouldBlock),
                "{driver}: connect to a full backlog gave {r:?}"
            );
        });
        let _ = std::fs::remove_file(&dir);
    });
}
on_every_driver!(unix_connect_to_a_full_backlog_is_wouldblock);

/// The socket inode behind fd number `fd`, if it is open.
fn socket_inode(fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Defect 4: a stream dropped while a send is stuck on a peer that never
/// reads closes its fd at once (on io_uring the send was in flight, and
/// held the fd until the runtime ended).
fn dropped_stream_with_a_stuck_send_closes(driver: DriverKind) {
    common::bounded(30, "dropped stream, stuck send", move || {
        runtime(driver).block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            // The client never reads.
            let _client = StdStream::connect(addr).expect("connect");
            let (mut server, _) = listener.accept().await.expect("accept");
            let chunk = vec![1u8; 64 * 1024];
            let mut stuck = false;
            for _ in 0..1024 {
                if timeout(Duration::from_millis(50), server.write(&chunk))
                    .await
                    .is_err()
                {
                    stuck = true;
                    break;
                }
            }
            assert!(stuck, "{driver}: 64 MiB went to a peer that never reads");
            let raw = server.as_raw_fd();
            let inode = socket_inode(raw).expect("the server's fd is open");
            drop(server);
            let what = format!("{driver}: the dropped stream's fd {raw} ({inode}) is still open");
            eventually(&what, || {
                socket_inode(raw).as_deref() != Some(inode.as_str())
            })
            .await;
        });
    });
}
on_every_driver!(dropped_stream_with_a_stuck_send_closes);

/// Defect 5, TCP: a read stops at the urgent mark with data still queued;
/// the next read must get it without the peer sending again.
fn read_after_the_urgent_mark(driver: DriverKind) {
    common::bounded(20, "read past the urgent mark", move || {
        runtime(driver).block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let client = StdStream::connect(addr).expect("connect");
            client.set_nodelay(true).expect("nodelay");
            let (mut server, _) = listener.accept().await.expect("accept");
            rustix::net::send(&client, b"AAAA", rustix::net::SendFlags::empty()).expect("AAAA");
            rustix::net::send(&client, b"B", rustix::net::SendFlags::OOB).expect("B");
            rustix::net::send(&client, b"CCCC", rustix::net::SendFlags::empty()).expect("CCCC");
            // The driver takes in the event of all three before the read,
            // which then stops at the mark.
            settle().await;
            let mut buf = [0u8; 64];
            let n = server.read(&mut buf).await.expect("first read");
            assert_eq!(&buf[..n], b"AAAA", "{driver}: the first read");
            let mut rest = Vec::new();
            while rest.len() < 4 {
                match timeout(Duration::from_millis(500), server.read(&mut buf)).await {
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => rest.extend_from_slice(&buf[..n]),
                    Ok(Err(e)) => panic!("{driver}: read: {e}"),
                    Err(_) => panic!(
                        "{driver}: the data after the urgent mark ({rest:?} so far) never came"
                    ),
                }
            }
            assert_eq!(rest, b"CCCC", "{driver}: the data after the mark");
            drop(client);
        });
    });
}
on_every_driver!(read_after_the_urgent_mark);

/// Defect 5, Unix: a read stops after a message that carried fds
/// (SCM_RIGHTS), with the next one still queued.
fn read_after_an_scm_rights_boundary(driver: DriverKind) {
    common::bounded(20, "read past SCM_RIGHTS", move || {
        runtime(driver).block_on(async {
            let (mut ours, theirs) = UnixStream::pair().expect("pair");
            let passed = std::fs::File::open("/dev/null").expect("/dev/null");
            let fds = [passed.as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
            assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds)));
            rustix::net::sendmsg(
                &theirs,
                &[IoSlice::new(b"AAAA")],
                &mut control,
                rustix::net::SendFlags::empty(),
            )
            .expect("AAAA with an fd");
            rustix::net::send(&theirs, b"CCCC", rustix::net::SendFlags::empty()).expect("CCCC");
            settle().await;
            let mut buf = [0u8; 64];
            let n = ours.read(&mut buf).await.expect("first read");
            assert_eq!(&buf[..n], b"AAAA", "{driver}: the first read");
            let got = timeout(Duration::from_millis(500), ours.read(&mut buf)).await;
            match got {
                Ok(Ok(n)) => assert_eq!(&buf[..n], b"CCCC", "{driver}: the second read"),
                Ok(Err(e)) => panic!("{driver}: read: {e}"),
                Err(_) => panic!("{driver}: the message after the fds never came"),
            }
        });
    });
}
on_every_driver!(read_after_an_scm_rights_boundary);

/// An I/O object made on one runtime and polled inside another on the same
/// thread panics with a message that says so (its events go to the other
/// driver: it would hang).
fn polled_in_another_runtime_panics(driver: DriverKind) {
    common::bounded(20, "I/O in another runtime", move || {
        let first = runtime(driver);
        let (mut a, _b) = first.block_on(async { UnixStream::pair().expect("pair") });
        let second = runtime(driver);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            second.block_on(async {
                let mut buf = [0u8; 4];
                let _ = a.read(&mut buf).await;
            })
        }));
        let payload = caught.expect_err("polling in another runtime did not panic");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(
            msg.contains("another runtime"),
            "{driver}: the panic does not say what is wrong: {msg:?}"
        );
    });
}
on_every_driver!(polled_in_another_runtime_panics);

/// A task's locals (its sockets) are dropped before its handle says it
/// finished: a joiner that sees "finished" finds the port free.
fn join_completes_after_the_locals_drop(driver: DriverKind) {
    use std::sync::{Arc, Mutex, OnceLock};
    common::bounded(20, "join after drop", move || {
        struct Probe {
            handle: Arc<OnceLock<rt::JoinHandle<()>>>,
            seen: Arc<Mutex<Vec<bool>>>,
        }
        impl Drop for Probe {
            fn drop(&mut self) {
                let finished = self.handle.get().is_some_and(|h| h.is_finished());
                self.seen.lock().unwrap().push(finished);
            }
        }
        runtime(driver).block_on(async {
            let seen = Arc::new(Mutex::new(Vec::new()));
            for end in ["abort", "panic"] {
                let cell = Arc::new(OnceLock::new());
                let probe = Probe {
                    handle: Arc::clone(&cell),
                    seen: Arc::clone(&seen),
                };
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let abort = end == "abort";
                let handle = rt::spawn_local(async move {
                    let _probe = probe;
                    let _listener = listener;
                    if abort {
                        std::future::pending::<()>().await;
                    }
                    rt::yield_now().await;
                    panic!("the task ends by panicking (expected by the test)");
                });
                rt::yield_now().await;
                let _ = cell.set(handle);
                if abort {
                    cell.get().unwrap().abort();
                }
                // Wait for the end through the handle, then take the port.
                let deadline = Instant::now() + Duration::from_secs(5);
                while !cell.get().unwrap().is_finished() {
                    assert!(Instant::now() < deadline, "{driver}: {end}: never finished");
                    rt::yield_now().await;
                }
                StdListener::bind(addr).unwrap_or_else(|e| {
                    panic!("{driver}: {end}: the finished task still holds {addr}: {e}")
                });
            }
            let seen = seen.lock().unwrap().clone();
            assert_eq!(
                seen,
                [false, false],
                "{driver}: the handle said finished before the task's locals were dropped"
            );
        });
    });
}
on_every_driver!(join_completes_after_the_locals_drop);
