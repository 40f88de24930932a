//! The raw-Poller echo example: a large echo that the peer reads only
//! slowly comes back whole (unsent output is buffered and WRITABLE armed,
//! not lost to a failed `write_all`), and out of fds a connection is shed
//! with a clean close instead of the loop spinning on it. On every
//! backend. One test function: the fd exhaustion must not hit other tests.

mod common;

#[path = "../examples/echo_poller.rs"]
mod echo_poller;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::Duration;

use iomux::Backend;
use rustix::net::{AddressFamily, SocketType};

/// Starts the example's server on its own thread (it serves until the
/// test process ends).
fn start(backend: Backend) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server =
        echo_poller::Server::new(listener, backend).unwrap_or_else(|e| panic!("{backend}: {e}"));
    std::thread::spawn(move || server.run());
    addr
}

fn big_echo(backend: Backend, addr: SocketAddr) {
    const TOTAL: usize = 8 * 1024 * 1024;
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = client.try_clone().unwrap();
    // Everything is sent before anything is read: the server's writes
    // fill the socket and must wait for writability.
    let sender = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        for _ in 0..TOTAL / chunk.len() {
            writer.write_all(&chunk).unwrap();
        }
    });
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while got < TOTAL {
        let n = client
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("{backend}: echo broke after {got} bytes: {e}"));
        assert!(n > 0, "{backend}: closed after {got} of {TOTAL} bytes");
        for (k, b) in buf[..n].iter().enumerate() {
            assert_eq!(
                *b,
                ((got + k) % (64 * 1024) % 251) as u8,
                "{backend}: byte {}",
                got + k
            );
        }
        got += n;
    }
    sender.join().unwrap();
}

/// Opens fds until the process has none left; dropping the result frees them.
fn exhaust_fds() -> Vec<OwnedFd> {
    let first: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let mut hoard = Vec::new();
    loop {
        match rustix::io::dup(&first) {
            Ok(fd) => hoard.push(fd),
            Err(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE) => break,
            Err(e) => panic!("dup: {e}"),
        }
    }
    hoard.push(first);
    hoard
}

fn sheds_when_out_of_fds(backend: Backend, addr: SocketAddr) {
    // The client's socket is made first: with no fds left it could not be.
    let sock = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    let hoard = exhaust_fds();
    rustix::net::connect(&sock, &addr).unwrap();
    let mut client = TcpStream::from(sock);
    client.set_read_timeout(Some(common::MUST)).unwrap();
    let mut buf = [0u8; 16];
    let seen = client.read(&mut buf);
    drop(hoard);
    match seen {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("{backend}: out of fds, the connection was not shed: {other:?}"),
    }
    // With fds back, the server serves again.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(common::MUST)).unwrap();
    c.write_all(b"back").unwrap();
    let mut got = [0u8; 4];
    c.read_exact(&mut got)
        .unwrap_or_else(|e| panic!("{backend}: no echo after fds came back: {e}"));
    assert_eq!(&got, b"back");
}

#[test]
fn buffers_unsent_output_and_sheds_when_out_of_fds() {
    for backend in [
        Backend::Select,
        Backend::Poll,
        Backend::Epoll,
        Backend::IoUring,
    ] {
        let addr = start(backend);
        big_echo(backend, addr);
        sheds_when_out_of_fds(backend, addr);
    }
}
