//! `iomux::rt::net::UdpSocket` on every driver: datagrams echoed without
//! loss, truncation reported (never a silent cut), connected sockets and
//! their addresses, the `try_*` calls and `readable`, socket options, and
//! the way back to std.

#[macro_use]
mod common;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use iomux::rt::net::{DatagramTruncated, UdpSocket};
use iomux::rt::time::timeout;
use iomux::rt::{self, DriverKind};

fn local() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// The `DatagramTruncated` inside a receive's error, or a panic.
fn truncation(e: &std::io::Error) -> DatagramTruncated {
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    *e.get_ref()
        .and_then(|inner| inner.downcast_ref::<DatagramTruncated>())
        .unwrap_or_else(|| panic!("not a DatagramTruncated: {e:?}"))
}

const DATAGRAMS: u32 = 10_000;
/// Datagrams in flight at once: far below what the socket buffers hold
/// (a small loopback datagram costs about 1 KiB of a 208 KiB buffer), so
/// none may be dropped.
const WINDOW: u32 = 32;

/// 10,000 datagrams, each numbered, go through an echo task and come back,
/// every one exactly once.
fn ten_thousand_datagrams_echoed(driver: DriverKind) {
    common::on_runtime(driver, 120, "10,000 datagrams echoed", move || async move {
        let server = UdpSocket::bind(local()).expect("bind server");
        let server_addr = server.local_addr().expect("server addr");
        let echo = rt::spawn_local(async move {
            let mut buf = [0u8; 64];
            for _ in 0..DATAGRAMS {
                let (n, from) = server.recv_from(&mut buf).await.expect("server recv");
                let sent = server.send_to(&buf[..n], from).await.expect("echo");
                assert_eq!(sent, n);
            }
        });
        let client = UdpSocket::bind(local()).expect("bind client");
        let mut seen = vec![false; DATAGRAMS as usize];
        let mut buf = [0u8; 64];
        for first in (0..DATAGRAMS).step_by(WINDOW as usize) {
            let last = (first + WINDOW).min(DATAGRAMS);
            for seq in first..last {
                let mut datagram = [0xa5u8; 24];
                datagram[..4].copy_from_slice(&seq.to_le_bytes());
                let n = client.send_to(&datagram, server_addr).await.expect("send");
                assert_eq!(n, datagram.len());
            }
            for _ in first..last {
                let (n, from) = timeout(Duration::from_secs(5), client.recv_from(&mut buf))
                    .await
                    .unwrap_or_else(|_| panic!("{driver}: an echo of {first}..{last} was lost"))
                    .expect("client recv");
                assert_eq!((n, from), (24, server_addr));
                assert!(buf[4..24].iter().all(|&b| b == 0xa5), "{driver}: payload");
                let seq = u32::from_le_bytes(buf[..4].try_into().unwrap());
                assert!(
                    (first..last).contains(&seq),
                    "{driver}: {seq} out of its window"
                );
                assert!(!seen[seq as usize], "{driver}: {seq} came back twice");
                seen[seq as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s), "{driver}: a datagram is missing");
        echo.await.expect("echo task");
    });
}
on_every_driver!(ten_thousand_datagrams_echoed);

/// A datagram larger than the buffer fails the receive with
/// `DatagramTruncated` (its real size, what was kept, its sender), the
/// kept bytes are its first ones, and the next datagram is whole. One that
/// fits exactly is not truncated.
fn truncated_datagram_is_reported(driver: DriverKind) {
    common::on_runtime(driver, 20, "truncated datagram", move || async move {
        let rx = UdpSocket::bind(local()).expect("bind rx");
        let tx = UdpSocket::bind(local()).expect("bind tx");
        let to = rx.local_addr().expect("rx addr");
        let big: Vec<u8> = (0..100u8).collect();
        tx.send_to(&big, to).await.expect("send big");
        tx.send_to(b"after", to).await.expect("send after");
        tx.send_to(&big[..10], to).await.expect("send exact");

        let mut buf = [0u8; 10];
        let e = rx.recv_from(&mut buf).await.expect_err("a cut datagram");
        let t = truncation(&e);
        assert_eq!((t.size(), t.kept()), (100, 10), "{driver}: {e}");
        assert_eq!(t.from(), Some(tx.local_addr().unwrap()));
        assert!(e.to_string().contains("100 bytes"), "{driver}: {e}");
        assert_eq!(&buf, &big[..10], "{driver}: the kept bytes");

        let (n, _) = rx.recv_from(&mut buf).await.expect("the next datagram");
        assert_eq!(&buf[..n], b"after");
        let (n, _) = rx
            .recv_from(&mut buf)
            .await
            .expect("a datagram that fits exactly");
        assert_eq!(&buf[..n], &big[..10]);

        // The same on a connected socket's recv and try_recv.
        rx.connect(tx.local_addr().unwrap()).expect("connect");
        tx.send_to(&big, to).await.expect("send big");
        assert_eq!(
            truncation(&rx.recv(&mut buf).await.unwrap_err()).size(),
            100
        );
        tx.send_to(&big[..11], to).await.expect("send 11");
        rx.readable().await.expect("readable");
        assert_eq!(truncation(&rx.try_recv(&mut buf).unwrap_err()).size(), 11);
    });
}
on_every_driver!(truncated_datagram_is_reported);

/// Connected sockets: peer and local addresses, send and recv both ways.
fn connected_send_recv(driver: DriverKind) {
    common::on_runtime(driver, 20, "connected UDP", move || async move {
        let a = UdpSocket::bind(local()).expect("bind a");
        let b = UdpSocket::bind(local()).expect("bind b");
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert!(a.peer_addr().is_err(), "{driver}: a peer before connect");
        a.connect(b_addr).expect("connect a");
        b.connect(a_addr).expect("connect b");
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        assert_eq!(b.peer_addr().unwrap(), a_addr);
        let waiting = rt::spawn_local(async move {
            let mut buf = [0u8; 16];
            let n = b.recv(&mut buf).await.expect("b recv");
            b.send(&buf[..n]).await.expect("b send");
            b
        });
        rt::yield_now().await; // b waits first: its wakeup is tested too
        assert_eq!(a.send(b"ping").await.expect("a send"), 4);
        let mut buf = [0u8; 16];
        let n = a.recv(&mut buf).await.expect("a recv");
        assert_eq!(&buf[..n], b"ping");
        waiting.await.expect("b task");
    });
}
on_every_driver!(connected_send_recv);

/// `try_recv` says WouldBlock with nothing queued, takes a datagram once
/// `readable` said so, and then `readable` waits again (no spin on a
/// stale readiness); `try_send` sends.
fn try_calls_and_readable(driver: DriverKind) {
    common::on_runtime(driver, 20, "UDP try calls", move || async move {
        let rx = UdpSocket::bind(local()).expect("bind rx");
        let tx = UdpSocket::bind(local()).expect("bind tx");
        let to = rx.local_addr().unwrap();
        let mut buf = [0u8; 16];
        let e = rx.try_recv_from(&mut buf).expect_err("nothing queued");
        assert_eq!(e.kind(), ErrorKind::WouldBlock, "{driver}: {e}");
        tx.writable().await.expect("writable");
        assert_eq!(tx.try_send_to(b"one", to).expect("try_send_to"), 3);
        rx.readable().await.expect("readable");
        let (n, from) = rx.try_recv_from(&mut buf).expect("try_recv_from");
        assert_eq!((&buf[..n], from), (&b"one"[..], tx.local_addr().unwrap()));
        assert_eq!(
            rx.try_recv_from(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(
            timeout(Duration::from_millis(50), rx.readable())
                .await
                .is_err(),
            "{driver}: readable with nothing queued"
        );
        tx.connect(to).expect("connect");
        assert_eq!(tx.try_send(b"two").expect("try_send"), 3);
        rx.readable().await.expect("readable again");
        assert_eq!(rx.try_recv(&mut buf).expect("try_recv"), 3);
    });
}
on_every_driver!(try_calls_and_readable);

/// The options std has, set and read back; the socket handed back to std
/// still receives.
fn options_and_into_std(driver: DriverKind) {
    common::on_runtime(driver, 20, "UDP options", move || async move {
        let s = UdpSocket::bind(local()).expect("bind");
        s.set_broadcast(true).unwrap();
        assert!(s.broadcast().unwrap());
        s.set_ttl(42).unwrap();
        assert_eq!(s.ttl().unwrap(), 42);
        s.set_multicast_loop_v4(false).unwrap();
        assert!(!s.multicast_loop_v4().unwrap());
        s.set_multicast_ttl_v4(7).unwrap();
        assert_eq!(s.multicast_ttl_v4().unwrap(), 7);
        s.set_recv_buffer_size(64 * 1024).unwrap();
        assert!(s.recv_buffer_size().unwrap() >= 64 * 1024);
        s.set_send_buffer_size(64 * 1024).unwrap();
        assert!(s.send_buffer_size().unwrap() >= 64 * 1024);
        let group = Ipv4Addr::new(239, 255, 0, 42);
        s.join_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .expect("join");
        s.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
            .expect("leave");
        assert!(s.take_error().unwrap().is_none());

        let v6 = UdpSocket::bind("[::1]:0").expect("bind v6");
        v6.set_multicast_loop_v6(false).unwrap();
        assert!(!v6.multicast_loop_v6().unwrap());

        // Waiting once leaves a request (POLL_ADD) or a registration
        // behind on the fd: into_std must end it.
        let mut buf = [0u8; 8];
        assert!(
            timeout(Duration::from_millis(20), s.recv_from(&mut buf))
                .await
                .is_err()
        );
        let addr = s.local_addr().unwrap();
        let std = s.into_std().expect("into_std");
        let tx = std::net::UdpSocket::bind(local()).unwrap();
        tx.send_to(b"std", addr).unwrap();
        std.set_nonblocking(false).unwrap();
        std.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (n, _) = std.recv_from(&mut buf).expect("std recv");
        assert_eq!(&buf[..n], b"std");
    });
}
on_every_driver!(options_and_into_std);

/// Bytes the kernel still holds for `socket` (SIOCINQ: the next
/// datagram's size, 0 with none).
fn kernel_queued(socket: &UdpSocket) -> i32 {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`, which outlives the call.
    let r = unsafe { libc::ioctl(socket.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n
}

/// On the io_uring completion driver a socket receives by one multishot
/// recvmsg: datagrams that arrive before any receive is asked for are
/// taken from the kernel into the runtime's buffers (no request, no
/// syscall per datagram), and read from there, in order, none lost.
#[test]
fn uring_receives_without_a_request_per_datagram() {
    common::on_runtime(DriverKind::Uring, 60, "multishot recvmsg", || async {
        let server = UdpSocket::bind(local()).expect("bind server");
        let client = std::net::UdpSocket::bind(local()).expect("bind client");
        client
            .connect(server.local_addr().unwrap())
            .expect("connect");
        for i in 0..10u8 {
            client.send(&[i; 100]).expect("send");
        }
        // A few turns of the loop: the driver's receive takes them in.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while kernel_queued(&server) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the datagrams stayed in the kernel: no receive was armed before one was asked for"
            );
            rt::time::sleep(Duration::from_millis(5)).await;
        }
        let mut buf = [0u8; 200];
        for i in 0..10u8 {
            let (n, from) = server.recv_from(&mut buf).await.expect("recv");
            assert_eq!((n, from), (100, client.local_addr().unwrap()));
            assert_eq!(buf[..n], [i; 100], "datagram {i} in order");
        }
        assert_eq!(
            server.try_recv(&mut buf).map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock)
        );
    });
}
