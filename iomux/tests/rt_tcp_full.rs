//! TCP and Unix streams in full, on every driver: owned halves used by two
//! tasks, `readable`/`writable`/`try_read`/`try_write`, `peek`,
//! `into_std` without losing a byte, socket options, the `TcpSocket`
//! builder, and `accept` through a shared reference.

#[macro_use]
mod common;

use std::future::poll_fn;
use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_util::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use iomux::rt::net::{TcpListener, TcpSocket, TcpStream, UnixListener, UnixStream};
use iomux::rt::{self, DriverKind};

/// A connected pair of runtime TCP streams (client, server).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    (client, server)
}

/// Byte `i` of the test stream.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Echoes everything `stream` reads until its end, then shuts down.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = stream.read(&mut buf).await.expect("echo read");
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await.expect("echo write");
    }
    stream.close().await.expect("echo shutdown");
}

/// One task writes `total` bytes through the write half while the caller
/// reads the echo through the read half: with an echo that writes back
/// what it reads, neither could finish without the other running.
async fn through_halves<R, W>(mut read: R, mut write: W, total: usize) -> (R, W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + 'static,
{
    let writer = rt::spawn_local(async move {
        let chunk: Vec<u8> = (0..total).map(pattern).collect();
        for part in chunk.chunks(60_000) {
            write.write_all(part).await.expect("write half");
        }
        write
            .close()
            .await
            .expect("shutdown through the write half");
        write
    });
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = read.read(&mut buf).await.expect("read half");
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, pattern(got + i), "byte {}", got + i);
        }
        got += n;
    }
    assert_eq!(got, total, "the echo ended early");
    (read, writer.await.expect("writer task"))
}

const SPLIT_BYTES: usize = 4 << 20;

/// A TCP stream's halves in two tasks: 4 MiB written and echoed back at
/// once; then the halves reunite, and halves of different streams do not.
fn tcp_halves_in_two_tasks(driver: DriverKind) {
    common::on_runtime(driver, 60, "TCP halves", move || async move {
        let (client, server) = tcp_pair().await;
        let echoing = rt::spawn_local(echo(server));
        let (read, write) = client.into_split();
        assert_eq!(
            read.as_ref().peer_addr().unwrap(),
            write.as_ref().peer_addr().unwrap()
        );
        let (read, write) = through_halves(read, write, SPLIT_BYTES).await;
        echoing.await.expect("echo task");
        let (other, _keep) = tcp_pair().await;
        let (other_read, other_write) = other.into_split();
        let err = read
            .reunite(other_write)
            .expect_err("halves of two streams");
        let (read, other_write) = (err.0, err.1);
        let stream = write.reunite(read).expect("the halves of one stream");
        assert!(stream.local_addr().is_ok());
        other_read
            .reunite(other_write)
            .expect("the other stream's halves");
    });
}
on_every_driver!(tcp_halves_in_two_tasks);

/// The same for a Unix stream.
fn unix_halves_in_two_tasks(driver: DriverKind) {
    common::on_runtime(driver, 60, "Unix halves", move || async move {
        let (client, server) = UnixStream::pair().expect("pair");
        let echoing = rt::spawn_local(echo(server));
        let (read, write) = client.into_split();
        let (read, write) = through_halves(read, write, SPLIT_BYTES).await;
        echoing.await.expect("echo task");
        read.reunite(write).expect("the halves of one stream");
    });
}
on_every_driver!(unix_halves_in_two_tasks);

/// `try_read` says WouldBlock with nothing there and takes what
/// `readable` announced; `try_write` writes until the socket (or, on the
/// completion driver, the send queue) is full, says WouldBlock, and
/// `writable` waits until a reader makes room; no byte is lost.
fn try_read_write_with_readiness(driver: DriverKind) {
    common::on_runtime(driver, 60, "try_read / try_write", move || async move {
        let (a, mut b) = tcp_pair().await;
        let mut buf = [0u8; 16];
        assert_eq!(
            a.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        b.write_all(b"ping").await.expect("write");
        b.flush().await.expect("flush");
        let mut got = Vec::new();
        while got.len() < 4 {
            a.readable().await.expect("readable");
            match a.try_read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{driver}: try_read: {e}"),
            }
        }
        assert_eq!(got, b"ping");

        // Fill: the peer does not read yet.
        let chunk = vec![7u8; 64 * 1024];
        let mut written = 0usize;
        loop {
            match a.try_write(&chunk) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{driver}: try_write: {e}"),
            }
            assert!(written < 256 << 20, "{driver}: try_write never filled up");
        }
        assert!(written > 0);
        let reader = rt::spawn_local(async move {
            let mut all = Vec::new();
            b.read_to_end(&mut all).await.expect("drain");
            assert!(all.iter().all(|&x| x == 7));
            all.len()
        });
        let mut a = a;
        let mut more = 0;
        while more == 0 {
            a.writable().await.expect("writable");
            match a.try_write(&chunk) {
                Ok(n) => more = n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{driver}: try_write after writable: {e}"),
            }
        }
        a.shutdown().await.expect("shutdown");
        assert_eq!(reader.await.expect("reader"), written + more);
    });
}
on_every_driver!(try_read_write_with_readiness);

/// The same calls on a Unix stream.
fn unix_try_read(driver: DriverKind) {
    common::on_runtime(driver, 20, "Unix try_read", move || async move {
        let (a, b) = UnixStream::pair().expect("pair");
        let mut buf = [0u8; 8];
        assert_eq!(
            a.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        b.writable().await.expect("writable");
        assert_eq!(b.try_write(b"unix").expect("try_write"), 4);
        loop {
            a.readable().await.expect("readable");
            match a.try_read(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], b"unix");
                    break;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{driver}: {e}"),
            }
        }
    });
}
on_every_driver!(unix_try_read);

/// `peek` shows the bytes and leaves them: the read after it gets them;
/// at the end of the stream it says 0.
fn peek_leaves_the_bytes(driver: DriverKind) {
    common::on_runtime(driver, 20, "peek", move || async move {
        let (mut a, mut b) = tcp_pair().await;
        b.write_all(b"hello").await.expect("write");
        b.shutdown().await.expect("shutdown");
        let mut buf = [0u8; 16];
        let mut n = 0;
        while n < 5 {
            n = a.peek(&mut buf).await.expect("peek");
            assert_eq!(&buf[..n], &b"hello"[..n]);
            if n < 5 {
                // A first segment only: what follows is still coming.
                rt::yield_now().await;
            }
        }
        assert_eq!(a.peek(&mut buf[..2]).await.expect("peek 2"), 2);
        let mut read = [0u8; 5];
        a.read_exact(&mut read).await.expect("read");
        assert_eq!(&read, b"hello");
        assert_eq!(a.peek(&mut buf).await.expect("peek at the end"), 0);
    });
}
on_every_driver!(peek_leaves_the_bytes);

/// `into_std` hands the socket over without losing a byte: on the
/// readiness drivers at once; on the completion driver, bytes received
/// but not read, or written but not sent, keep the stream in the runtime
/// (the error gives it back) until they are read or flushed.
fn into_std_loses_nothing(driver: DriverKind) {
    common::on_runtime(driver, 30, "into_std", move || async move {
        let (mut a, mut b) = tcp_pair().await;
        b.write_all(b"abcdef").await.expect("write");
        b.flush().await.expect("flush");
        let mut one = [0u8; 1];
        a.read_exact(&mut one).await.expect("read one");
        let mut rest = Vec::new();
        let std = match a.into_std() {
            Ok(std) => {
                assert_ne!(driver, DriverKind::Uring, "bytes held in the runtime went");
                std
            }
            Err(e) => {
                assert_eq!(driver, DriverKind::Uring, "{e}");
                assert!(e.to_string().contains("not read"), "{e}");
                let mut a = e.into_stream();
                let mut buf = [0u8; 5];
                a.read_exact(&mut buf).await.expect("read the rest first");
                rest.extend_from_slice(&buf);
                // A read-ahead receive is in flight now: into_std
                // cancels it.
                a.into_std().expect("into_std with nothing held")
            }
        };
        b.write_all(b"xyz").await.expect("write more");
        b.flush().await.expect("flush");
        std.set_nonblocking(false).unwrap();
        std.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut std = std;
        let want = if rest.is_empty() { 8 } else { 3 };
        let mut buf = vec![0u8; want];
        std.read_exact(&mut buf).expect("std read");
        rest.extend_from_slice(&buf);
        assert_eq!(&rest, b"bcdefxyz");

        // Written, not yet flushed.
        let (mut c, mut d) = tcp_pair().await;
        c.write_all(&[9u8; 100_000]).await.expect("write");
        let std = match c.into_std() {
            Ok(std) => std,
            Err(e) => {
                assert_eq!(driver, DriverKind::Uring, "{e}");
                assert!(e.to_string().contains("flush"), "{e}");
                let mut c = e.into_stream();
                c.flush().await.expect("flush");
                c.into_std().expect("into_std once flushed")
            }
        };
        drop(std);
        let mut all = Vec::new();
        d.read_to_end(&mut all).await.expect("read");
        assert_eq!(
            all.len(),
            100_000,
            "{driver}: written bytes lost on into_std"
        );
    });
}
on_every_driver!(into_std_loses_nothing);

/// Options set and read back, on a stream and on a `TcpSocket`.
fn socket_options(driver: DriverKind) {
    common::on_runtime(driver, 20, "socket options", move || async move {
        let (a, _b) = tcp_pair().await;
        a.set_nodelay(true).unwrap();
        assert!(a.nodelay().unwrap());
        a.set_keepalive(true).unwrap();
        assert!(a.keepalive().unwrap());
        a.set_keepalive_idle(Duration::from_secs(30)).unwrap();
        assert_eq!(a.keepalive_idle().unwrap(), Duration::from_secs(30));
        a.set_keepalive_interval(Duration::from_secs(5)).unwrap();
        assert_eq!(a.keepalive_interval().unwrap(), Duration::from_secs(5));
        a.set_keepalive_retries(4).unwrap();
        assert_eq!(a.keepalive_retries().unwrap(), 4);
        a.set_linger(Some(Duration::from_secs(1))).unwrap();
        assert_eq!(a.linger().unwrap(), Some(Duration::from_secs(1)));
        a.set_ttl(33).unwrap();
        assert_eq!(a.ttl().unwrap(), 33);
        a.set_send_buffer_size(64 * 1024).unwrap();
        assert!(a.send_buffer_size().unwrap() >= 64 * 1024);
        a.set_recv_buffer_size(64 * 1024).unwrap();
        assert!(a.recv_buffer_size().unwrap() >= 64 * 1024);
        assert!(a.take_error().unwrap().is_none());

        let s = TcpSocket::new_v4().unwrap();
        s.set_keepalive(true).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_recv_buffer_size(128 * 1024).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_ttl(20).unwrap();
        assert_eq!(listener.ttl().unwrap(), 20);
        let stream = s
            .connect(listener.local_addr().unwrap())
            .await
            .expect("connect");
        assert!(stream.keepalive().unwrap() && stream.nodelay().unwrap());
        assert!(stream.recv_buffer_size().unwrap() >= 128 * 1024);
    });
}
on_every_driver!(socket_options);

/// `TcpSocket`: bind before connect (the connection comes from the bound
/// address), SO_REUSEADDR and SO_REUSEPORT, and listen.
fn tcp_socket_builder(driver: DriverKind) {
    common::on_runtime(driver, 20, "TcpSocket", move || async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        assert!(socket.reuseaddr().unwrap());
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let bound = socket.local_addr().unwrap();
        assert_ne!(bound.port(), 0);
        let mut client = socket
            .connect(listener.local_addr().unwrap())
            .await
            .expect("connect");
        let (mut server, peer) = listener.accept().await.expect("accept");
        assert_eq!(
            peer, bound,
            "{driver}: the connection did not come from the bound address"
        );
        assert_eq!(client.local_addr().unwrap(), bound);
        client.write_all(b"hi").await.unwrap();
        client.flush().await.unwrap();
        let mut buf = [0u8; 2];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");

        // Two listeners on one port through SO_REUSEPORT.
        let first = TcpSocket::for_addr("127.0.0.1:0".parse().unwrap()).unwrap();
        first.set_reuseport(true).unwrap();
        assert!(first.reuseport().unwrap());
        first.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr: SocketAddr = first.local_addr().unwrap();
        let second = TcpSocket::new_v4().unwrap();
        second.set_reuseport(true).unwrap();
        second.bind(addr).expect("a second bind with SO_REUSEPORT");
        let first = first.listen(16).expect("listen");
        let _second = second.listen(16).expect("listen");
        assert_eq!(first.local_addr().unwrap(), addr);
    });
}
on_every_driver!(tcp_socket_builder);

/// `accept` and `poll_accept` through a shared reference: a task accepts
/// on an `Rc`'d listener while another holds it too.
fn accept_through_a_shared_listener(driver: DriverKind) {
    common::on_runtime(driver, 20, "shared accept", move || async move {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let shared = Rc::clone(&listener);
        let accepting = rt::spawn_local(async move {
            let (stream, _) = shared.accept().await.expect("accept");
            stream
        });
        let _c1 = TcpStream::connect(addr).await.expect("connect");
        let accepted = accepting.await.expect("accept task");
        assert_eq!(accepted.local_addr().unwrap(), addr);
        let _c2 = TcpStream::connect(addr).await.expect("connect");
        let listener_ref: &TcpListener = &listener;
        poll_fn(|cx| listener_ref.poll_accept(cx))
            .await
            .expect("poll_accept");

        let dir = std::env::temp_dir().join(format!(
            "iomux-rt-tcp-full-{}-{}",
            std::process::id(),
            driver.name()
        ));
        let _ = std::fs::remove_file(&dir);
        let unix = Rc::new(UnixListener::bind(&dir).expect("bind unix"));
        let shared = Rc::clone(&unix);
        let accepting = rt::spawn_local(async move { shared.accept().await.expect("accept") });
        let _u = UnixStream::connect(&dir).await.expect("connect unix");
        accepting.await.expect("unix accept task");
        let _u2 = UnixStream::connect(&dir).await.expect("connect unix");
        let unix_ref: &UnixListener = &unix;
        poll_fn(|cx| unix_ref.poll_accept(cx))
            .await
            .expect("unix poll_accept");
        let _ = std::fs::remove_file(&dir);
    });
}
on_every_driver!(accept_through_a_shared_listener);

/// `connect` takes a host name (resolved on the blocking pool, not on the
/// runtime's thread) as well as an address.
fn connect_by_name(driver: DriverKind) {
    common::on_runtime(driver, 30, "connect by name", move || async move {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accept = iomux::rt::spawn_local(async move { listener.accept().await.map(|_| ()) });
        let stream = TcpStream::connect(format!("localhost:{port}"))
            .await
            .expect("connect to localhost by name");
        assert_eq!(stream.peer_addr().expect("peer").port(), port);
        accept.await.expect("accept task").expect("accept");
    });
}
on_every_driver!(connect_by_name);

/// A vectored write takes the slices as one write, in order (one
/// sendmsg on the readiness drivers, one queue copy on io_uring).
fn vectored_write_keeps_order(driver: DriverKind) {
    common::on_runtime(driver, 30, "vectored write", move || async move {
        let (mut a, mut b) = tcp_pair().await;
        let parts = [
            std::io::IoSlice::new(b"head:"),
            std::io::IoSlice::new(b""),
            std::io::IoSlice::new(b"body"),
        ];
        let n = a.write_vectored(&parts).await.expect("write_vectored");
        assert_eq!(n, 9, "{driver}: both slices taken by one write");
        a.flush().await.expect("flush");
        let mut got = [0u8; 9];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"head:body", "{driver}");
    });
}
on_every_driver!(vectored_write_keeps_order);

/// Two tasks waiting at once on one listener (and on one UDP socket): each
/// is woken by what comes; neither takes the other's wakeup and hangs.
fn two_waiters_on_one_socket(driver: DriverKind) {
    common::on_runtime(driver, 20, "two waiters", move || async move {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let shared = Rc::clone(&listener);
                rt::spawn_local(async move { shared.accept().await.map(|(s, _)| s) })
            })
            .collect();
        // Both are parked in accept before the connections come.
        rt::yield_now().await;
        rt::yield_now().await;
        let _c1 = TcpStream::connect(addr).await.expect("connect 1");
        let _c2 = TcpStream::connect(addr).await.expect("connect 2");
        for t in tasks {
            iomux::rt::time::timeout(Duration::from_secs(5), t)
                .await
                .unwrap_or_else(|_| panic!("{driver}: an accepting task was never woken"))
                .expect("task")
                .expect("accept");
        }

        let socket = Rc::new(iomux::rt::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let to = socket.local_addr().unwrap();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let shared = Rc::clone(&socket);
                rt::spawn_local(async move {
                    let mut buf = [0u8; 16];
                    shared.recv_from(&mut buf).await.map(|(n, _)| n)
                })
            })
            .collect();
        rt::yield_now().await;
        rt::yield_now().await;
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"one", to).unwrap();
        sender.send_to(b"two", to).unwrap();
        for r in receivers {
            let n = iomux::rt::time::timeout(Duration::from_secs(5), r)
                .await
                .unwrap_or_else(|_| panic!("{driver}: a receiving task was never woken"))
                .expect("task")
                .expect("recv");
            assert_eq!(n, 3);
        }
    });
}
on_every_driver!(two_waiters_on_one_socket);
