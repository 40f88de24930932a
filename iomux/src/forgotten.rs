//! Registrations whose fd was closed without `deregister`: found on demand
//! (`Poller::purge_closed`) and, where the backend keeps such files open
//! (io_uring), reported when the poller is dropped. Both speak through the
//! `log` crate, never to stderr.
//!
//! Not for: closing anything a user still holds, or deregistering on a
//! timer; it acts only when asked (or at drop).

use std::os::fd::RawFd;

use crate::event::Token;
use crate::poller::{Inner, Poller};
use crate::table::{Files, Identity, Table, stat_identity};

impl Poller {
    /// Finds the registrations whose fd was closed without
    /// [`deregister`](Poller::deregister) (or whose fd number now names
    /// another file), removes them, logs a warning for each through the
    /// `log` crate, and returns their tokens.
    ///
    /// On io_uring such a registration keeps the closed file open in the
    /// kernel ([`Backend::pins_registered_files`](crate::Backend::pins_registered_files)):
    /// a socket closed that way sends no FIN until this is called, the
    /// number is registered again or the poller is dropped (both of which
    /// also log a warning). Elsewhere it only tidies the interest table. It
    /// looks at every registration: call it from time to time, not at every
    /// wait.
    pub fn purge_closed(&self) -> Vec<Token> {
        let inner = &self.inner;
        let mut table = inner.table.lock().unwrap();
        let closed = closed_registrations(&table, inner.files.as_ref());
        for &(fd, token) in &closed {
            log::warn!(
                "iomux: fd {fd} (token {}) was closed without deregister; removed from the {} poller{}",
                token.0,
                inner.backend,
                if inner.backend.pins_registered_files() {
                    ", which kept its file open until now"
                } else {
                    ""
                }
            );
            if let Some(slot) = table.get_mut(fd as usize) {
                slot.registered = false;
                slot.refresh(fd);
            }
            let _ = inner.sys.forget(fd);
        }
        closed.into_iter().map(|(_, token)| token).collect()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Elsewhere a closed fd holds nothing: no need to look.
        if !self.backend.pins_registered_files() {
            return;
        }
        let table = self.table.get_mut().unwrap_or_else(|e| e.into_inner());
        let closed = closed_registrations(table, self.files.as_ref());
        if !closed.is_empty() {
            let tokens: Vec<usize> = closed.iter().map(|(_, t)| t.0).collect();
            log::warn!(
                "iomux: {} registration(s) of the {} poller (tokens {tokens:?}) had their fd closed \
                 without deregister; their files stayed open until this poller was dropped",
                closed.len(),
                self.backend
            );
        }
    }
}

/// The registrations (not wakers) whose fd number no longer names the
/// registered file: closed, or closed and reused.
fn closed_registrations(table: &Table, files: Option<&Files>) -> Vec<(RawFd, Token)> {
    table
        .registered()
        .filter(|(_, slot, _)| !slot.waker)
        .filter(|&(fd, _, identity)| match (files, identity) {
            // epoll's own entries: only a closed number can be seen here.
            (None, _) | (_, Identity::Kernel) => stat_identity(fd).is_none(),
            // An error other than "not the same" leaves the registration be.
            (Some(files), identity) => matches!(files.same(fd, identity), Ok(false)),
        })
        .map(|(fd, slot, _)| (fd, slot.token))
        .collect()
}
