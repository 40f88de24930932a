//! An fd closed without deregister: `purge_closed` finds it on every
//! backend, and on io_uring, whose poll requests keep the file open, the
//! user is told through the `log` crate (on purge, on re-registration of the
//! number, on drop of the poller) and purging releases the file.
#[macro_use]
mod common;
use common::*;
use iomux::{Backend, Interest, Mode, Token};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::{Mutex, Once};

/// Keeps every warning logged by the library, for the tests to look at.
struct Capture;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            LINES.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// Installs the logger, and serialises the tests of this file: one of them
/// waits for a closed fd number to be handed out again, which another
/// test's sockets could take.
fn capture() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Warn);
    });
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The captured warnings that mention `needle`.
fn warnings_with(needle: &str) -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

fn purge_closed_finds_fds_closed_without_deregister(backend: iomux::Backend) {
    let _serial = capture();
    // A token of its own per backend: each backend's test counts only the
    // warnings of its own purge, whichever ran before it.
    let base = 41_001 + 10 * BACKENDS.iter().position(|&b| b == backend).unwrap();
    let p = poller(backend);
    let (a, _b) = pair();
    let (kept, _k) = pair();
    p.register(&a, Token(base), Interest::READABLE, Mode::Level)
        .unwrap();
    p.register(&kept, Token(base + 1), Interest::READABLE, Mode::Level)
        .unwrap();
    drop(a);
    assert_eq!(p.purge_closed(), vec![Token(base)], "{backend}");
    assert_eq!(
        warnings_with(&format!("(token {base})")).len(),
        1,
        "{backend}: one warning per purge"
    );
    // Purged once; the live registration is untouched.
    assert!(p.purge_closed().is_empty(), "{backend}");
    p.deregister(&kept).unwrap();
}
on_every_backend!(purge_closed_finds_fds_closed_without_deregister);

#[test]
fn uring_keeps_a_forgotten_socket_open_until_purged() {
    let _serial = capture();
    let p = poller(Backend::IoUring);
    assert!(Backend::IoUring.pins_registered_files());
    let (a, b) = pair();
    p.register(&a, Token(42_001), Interest::READABLE, Mode::Level)
        .unwrap();
    drop(a);
    // The armed poll holds the file: no FIN yet.
    let mut buf = [0u8; 1];
    let got = (&b).read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the file was released without a purge: {got:?}"
    );
    assert_eq!(p.purge_closed(), vec![Token(42_001)]);
    let said = warnings_with("token 42001");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("kept its file open"), "{said:?}");
    assert!(peer_sees_close(&b), "purge did not release the file");
}

#[test]
fn uring_warns_when_a_pinned_fd_number_is_registered_again() {
    let _serial = capture();
    let p = poller(Backend::IoUring);
    let (a, b) = pair();
    let number = a.as_raw_fd();
    p.register(&a, Token(43_001), Interest::READABLE, Mode::Level)
        .unwrap();
    drop(a);
    // Open files until the number comes back (lowest free first).
    let mut spare = Vec::new();
    let reused = loop {
        let (c, d) = pair();
        if c.as_raw_fd() == number {
            break c;
        }
        if d.as_raw_fd() == number {
            break d;
        }
        assert!(spare.len() < 64, "fd {number} never came back");
        spare.push((c, d));
    };
    p.register(&reused, Token(43_002), Interest::READABLE, Mode::Level)
        .unwrap();
    let said = warnings_with("token 43001");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains(&format!("fd {number}")), "{said:?}");
    assert!(peer_sees_close(&b), "the old file is still open");
    p.deregister(&reused).unwrap();
}

#[test]
fn uring_warns_on_drop_about_forgotten_registrations() {
    let _serial = capture();
    let p = poller(Backend::IoUring);
    let (a, b) = pair();
    p.register(&a, Token(44_001), Interest::READABLE, Mode::Level)
        .unwrap();
    drop(a);
    drop(p);
    let said = warnings_with("44001");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("dropped"), "{said:?}");
    // The ring is gone, and with it the poll that held the file.
    assert!(peer_sees_close(&b), "the file outlived the poller");
}
