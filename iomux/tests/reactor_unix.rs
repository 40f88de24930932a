//! Unix-domain listeners: the reactor serves them like TCP ones, and the
//! handler sees a Unix peer address. On every backend.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iomux::Backend;
use iomux::conn::{Context, Handler};
use iomux::reactor::EventLoop;
use iomux::socket::PeerAddr;

/// Says what kind of peer it has, then echoes.
struct Who(Arc<Mutex<Option<PeerAddr>>>);

impl Handler for Who {
    fn on_open(&mut self, cx: &mut Context<'_>) {
        *self.0.lock().unwrap() = cx.peer_addr().cloned();
    }
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, iomux::conn::Action) {
        output.extend_from_slice(input);
        (input.len(), iomux::conn::Action::Continue)
    }
}

#[test]
fn unix_listeners_serve_on_every_backend() {
    let dir = std::env::temp_dir().join(format!("iomux-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for backend in common::reactor_variants(&[
        Backend::Select,
        Backend::Poll,
        Backend::Epoll,
        Backend::IoUring,
    ]) {
        let path = dir.join(format!("{}-{}.sock", backend.driver, backend.backend));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let mut el = EventLoop::new(backend.config()).unwrap();
        let peer = Arc::new(Mutex::new(None));
        let seen = Arc::clone(&peer);
        el.add_unix_listener(listener, Arc::new(move || Box::new(Who(Arc::clone(&seen)))))
            .unwrap();
        let mut client = UnixStream::connect(&path).unwrap();
        client.set_nonblocking(true).unwrap();
        client.write_all(b"over unix").unwrap();
        let mut got = Vec::new();
        let end = Instant::now() + common::MUST;
        while got.len() < 9 {
            assert!(
                Instant::now() < end,
                "{backend}: no echo over the Unix socket"
            );
            el.turn(Some(Duration::from_millis(10))).unwrap();
            let mut buf = [0u8; 64];
            if let Ok(n) = client.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(got, b"over unix", "{backend}");
        assert_eq!(
            *peer.lock().unwrap(),
            Some(PeerAddr::Unix(None)),
            "{backend}"
        );
        assert_eq!(el.connections(), 1);
        drop(el);
        std::fs::remove_file(&path).unwrap();
    }
    let _ = std::fs::remove_dir(&dir);
}
