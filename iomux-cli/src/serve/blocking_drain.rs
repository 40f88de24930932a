//! The blocking model's graceful stop. Every connection thread sleeps in
//! read(2), so the stop reaches them through their sockets: each is shut
//! down for reading, which lets its read return what the socket already
//! holds and then end (an EOF), so the handler answers what has arrived and
//! the thread sends it and closes. Idle connections so end at once. At the
//! deadline the sockets still open are shut down both ways (a write stuck
//! on a peer that reads nothing fails) and counted as cut.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustix::net::Shutdown;

#[derive(Default)]
struct Open {
    fds: HashMap<u64, RawFd>,
    next: u64,
    draining: bool,
}

/// The open connections' sockets, for the stop to reach them.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<(Mutex<Open>, Condvar)>,
}

/// A connection's entry; removed (under the lock) when dropped, which its
/// thread does before its socket closes.
pub struct Entry {
    registry: Registry,
    id: u64,
}

fn shut(fd: RawFd, how: Shutdown) {
    // SAFETY: only called under the registry's lock on an fd still in it,
    // and an entry leaves the registry (under that lock) before its socket
    // is closed: the number names that connection's socket.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = rustix::net::shutdown(fd, how);
}

impl Registry {
    /// Registers `sock`; if the stop has begun, it is shut for reading now.
    pub fn add(&self, sock: &impl AsRawFd) -> Entry {
        let (lock, _) = &*self.inner;
        let mut open = lock.lock().unwrap_or_else(|p| p.into_inner());
        let id = open.next;
        open.next += 1;
        open.fds.insert(id, sock.as_raw_fd());
        if open.draining {
            shut(sock.as_raw_fd(), Shutdown::Read);
        }
        Entry {
            registry: self.clone(),
            id,
        }
    }

    /// Begins the stop: every socket is shut for reading.
    pub fn drain(&self) {
        let (lock, _) = &*self.inner;
        let mut open = lock.lock().unwrap_or_else(|p| p.into_inner());
        open.draining = true;
        for &fd in open.fds.values() {
            shut(fd, Shutdown::Read);
        }
    }

    /// Waits until no connection is left or `deadline`; then cuts what is
    /// left (shut both ways) and returns how many were cut. Waits a little
    /// more (bounded) for their threads to end.
    pub fn wait_drained(&self, deadline: Instant) -> u64 {
        let (lock, cv) = &*self.inner;
        let open = lock.lock().unwrap_or_else(|p| p.into_inner());
        let left = deadline.saturating_duration_since(Instant::now());
        let (open, _) = cv
            .wait_timeout_while(open, left, |o| !o.fds.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        let cut = open.fds.len() as u64;
        for &fd in open.fds.values() {
            shut(fd, Shutdown::Both);
        }
        let _ = cv
            .wait_timeout_while(open, Duration::from_secs(1), |o| !o.fds.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        cut
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let (lock, cv) = &*self.registry.inner;
        let mut open = lock.lock().unwrap_or_else(|p| p.into_inner());
        open.fds.remove(&self.id);
        if open.fds.is_empty() {
            cv.notify_all();
        }
    }
}
