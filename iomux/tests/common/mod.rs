//! Helpers shared by the conformance suite: every test runs on every backend.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use iomux::{Backend, Event, Events, Poller, Token};

/// The backends the whole suite runs against.
pub const BACKENDS: [Backend; 4] = [
    Backend::Epoll,
    Backend::Poll,
    Backend::Select,
    Backend::IoUring,
];

/// One `#[test]` per backend for `fn $name(backend: Backend)`: a module
/// named like the function, holding `epoll`, `poll`, `select` and
/// `io_uring`, so that a failure on one backend does not hide the others
/// (`cargo test level_repeats_while_readable::select` runs one).
#[allow(unused_macros)] // not every test file has a case for every backend
macro_rules! on_every_backend {
    ($name:ident) => {
        on_backends!($name: epoll = Epoll, poll = Poll, select = Select, io_uring = IoUring);
    };
}

/// Like `on_every_backend!`, for the backends listed (`test = Variant`):
/// for a property only some backends have.
#[allow(unused_macros)]
macro_rules! on_backends {
    ($name:ident: $($test:ident = $backend:ident),+ $(,)?) => {
        mod $name {
            $(
                #[test]
                fn $test() {
                    super::$name(iomux::Backend::$backend);
                }
            )+
        }
    };
}

/// Tests that depend on which descriptor number the kernel hands out (a
/// closed number reused, `dup2` onto a fixed number) or that hold
/// thousands of descriptors take this lock, so the per-backend tests of
/// one file do not race one another for numbers or for RLIMIT_NOFILE.
/// A test that failed while holding it does not poison the others.
pub fn fd_numbers() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A poller on `backend`, or a panic that names it.
pub fn poller(backend: Backend) -> Poller {
    Poller::with_backend(backend).unwrap_or_else(|e| panic!("{backend}: cannot create poller: {e}"))
}

/// A connected, non-blocking socket pair.
pub fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    b.set_nonblocking(true).expect("nonblocking");
    (a, b)
}

/// Writes `data` to `s`, all of it.
pub fn send(mut s: &UnixStream, data: &[u8]) {
    s.write_all(data).expect("write to socket pair");
}

/// Reads until EAGAIN; returns how many bytes were read.
pub fn drain(mut s: &UnixStream) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// One wait; returns the events as a vector.
pub fn wait(poller: &Poller, events: &mut Events, timeout: Duration) -> Vec<Event> {
    poller
        .wait(events, Some(timeout))
        .unwrap_or_else(|e| panic!("{}: wait failed: {e}", poller.backend()));
    events.iter().collect()
}

/// The events of one wait that carry `token`.
pub fn with_token(events: &[Event], token: Token) -> Vec<Event> {
    events
        .iter()
        .copied()
        .filter(|e| e.token() == token)
        .collect()
}

/// How long a test waits for something that must happen.
pub const MUST: Duration = Duration::from_secs(5);
/// How long a test waits to see that something does not happen.
pub const MUST_NOT: Duration = Duration::from_millis(50);

/// True when the peer of a closed socket sees EOF within `MUST`.
pub fn peer_sees_close(b: &UnixStream) -> bool {
    b.set_nonblocking(false).unwrap();
    b.set_read_timeout(Some(MUST)).unwrap();
    let mut buf = [0u8; 1];
    let deadline = std::time::Instant::now() + MUST;
    loop {
        match (&*b).read(&mut buf) {
            Ok(0) => return true,
            // The kernel's io_uring teardown runs task work in this
            // thread, which interrupts a blocking read: read again.
            Err(e)
                if e.kind() == std::io::ErrorKind::Interrupted
                    && std::time::Instant::now() < deadline => {}
            other => {
                eprintln!("peer read: {other:?}");
                return false;
            }
        }
    }
}

/// The reactor tests' handler: every byte back, in order.
pub struct Echo;

impl iomux::conn::Handler for Echo {
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, iomux::conn::Action) {
        output.extend_from_slice(input);
        (input.len(), iomux::conn::Action::Continue)
    }
}

/// One `#[test]` per runtime driver for `fn $name(driver: DriverKind)`:
/// the four readiness backends and the io_uring completion driver.
#[allow(unused_macros)]
macro_rules! on_every_driver {
    ($name:ident) => {
        mod $name {
            use iomux::Backend;
            use iomux::rt::DriverKind;
            #[test]
            fn epoll() {
                super::$name(DriverKind::Readiness(Backend::Epoll));
            }
            #[test]
            fn poll() {
                super::$name(DriverKind::Readiness(Backend::Poll));
            }
            #[test]
            fn select() {
                super::$name(DriverKind::Readiness(Backend::Select));
            }
            #[test]
            fn uring_poll() {
                super::$name(DriverKind::Readiness(Backend::IoUring));
            }
            #[test]
            fn uring() {
                super::$name(DriverKind::Uring);
            }
        }
    };
}

/// Runs `f` on a thread of its own and fails the test, naming `what`, if it
/// has not finished within `secs` (a hang becomes a clear failure).
pub fn bounded<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => {
            let _ = worker.join();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => panic!("{what}: the test thread ended without a result"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: did not finish within {secs} s")
        }
    }
}

/// Runs the future `test` makes on a new runtime of `driver`, on a thread
/// of its own; fails, naming `what`, if it has not finished in `secs`.
#[cfg(feature = "rt")]
pub fn on_runtime<F: std::future::Future<Output = ()>>(
    driver: iomux::rt::DriverKind,
    secs: u64,
    what: &str,
    test: impl FnOnce() -> F + Send + 'static,
) {
    let what = format!("{what} on {driver}");
    bounded(secs, &what, move || {
        iomux::rt::Runtime::with_driver(driver)
            .unwrap_or_else(|e| panic!("{driver}: runtime: {e}"))
            .block_on(test())
    });
}

/// One variant of the reactor's table: the readiness driver on a backend,
/// or the completion driver (whose `backend` is not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub backend: Backend,
    pub driver: iomux::reactor::Driver,
}

impl Variant {
    pub fn readiness(backend: Backend) -> Variant {
        Variant {
            backend,
            driver: iomux::reactor::Driver::Readiness,
        }
    }

    /// The completion driver.
    pub const COMPLETION: Variant = Variant {
        backend: Backend::IoUring,
        driver: iomux::reactor::Driver::Completion,
    };

    /// `Config::default()` on this variant.
    pub fn config(self) -> iomux::reactor::Config {
        iomux::reactor::Config::default()
            .with_backend(self.backend)
            .with_driver(self.driver)
    }

    pub fn is_completion(self) -> bool {
        self.driver == iomux::reactor::Driver::Completion
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_completion() {
            f.write_str("completion driver")
        } else {
            write!(f, "{}", self.backend)
        }
    }
}

/// The completion driver, or `None` with the reason printed when this
/// machine cannot run it (no io_uring, or a kernel without what it needs):
/// the case is skipped, not failed.
pub fn completion() -> Option<Variant> {
    // The first check probes the kernel with rings of its own; their
    // teardown runs task work in the thread that made them, which
    // interrupts a blocking call there (EINTR). A thread of its own takes
    // that, not the test's.
    let checked = std::thread::spawn(|| iomux::reactor::Driver::Completion.check())
        .join()
        .expect("the completion driver's check panicked");
    match checked {
        Ok(()) => Some(Variant::COMPLETION),
        Err(e) => {
            eprintln!("skipped on the completion driver: {e}");
            None
        }
    }
}

/// Every variant of the reactor this machine can run: the readiness
/// driver on each backend listed, then the completion driver.
pub fn reactor_variants(backends: &[Backend]) -> Vec<Variant> {
    let mut all: Vec<Variant> = backends.iter().map(|b| Variant::readiness(*b)).collect();
    all.extend(completion());
    all
}

/// One `#[test]` per reactor variant for `fn $name(v: Variant)`: the
/// readiness driver on every backend, and `completion` (skipped, with the
/// reason printed, where io_uring is unavailable).
#[allow(unused_macros)]
macro_rules! on_every_reactor_driver {
    ($name:ident) => {
        on_reactor_drivers!($name: epoll = Epoll, poll = Poll, select = Select, io_uring = IoUring);
    };
}

/// Like `on_every_reactor_driver!`, with the readiness backends listed.
#[allow(unused_macros)]
macro_rules! on_reactor_drivers {
    ($name:ident: $($test:ident = $backend:ident),+ $(,)?) => {
        mod $name {
            $(
                #[test]
                fn $test() {
                    super::$name(crate::common::Variant::readiness(iomux::Backend::$backend));
                }
            )+
            #[test]
            fn completion() {
                if let Some(v) = crate::common::completion() {
                    super::$name(v);
                }
            }
        }
    };
}
