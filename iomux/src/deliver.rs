//! Delivery: a backend's raw reports (key, flags) checked against the
//! interest table and turned into events. It sits below the Poller and the
//! backends, which both call it: poll, select and epoll while they scan
//! their kernel's output, the Poller for the reports of io_uring.
//!
//! Not for: waiting or any syscall; it filters and translates what a
//! backend already got.

use std::os::fd::{BorrowedFd, RawFd};

use crate::event::{Event, flags};
use crate::eventfd;
use crate::table::{Table, split_key};

/// Appends the events of `reports` (key, flags) to `list[*n..]`, dropping
/// stale ones. Backends report at most `list.len()` raw events, so every
/// accepted one has a slot. Kept tight, with `n` in a register: it runs once
/// per ready fd, and for poll and select at small N it is most of what a
/// wait adds to the raw syscall.
#[inline(always)]
pub(crate) fn translate(
    table: &mut Table,
    reports: impl Iterator<Item = (u64, u8)>,
    list: &mut [Event],
    n: &mut usize,
) {
    let mut at = *n;
    for (key, bits) in reports {
        let Some(ev) = translate_one(table, key, bits) else {
            continue;
        };
        if let Some(out) = list.get_mut(at) {
            *out = ev;
            at += 1;
        }
    }
    *n = at;
}

/// One report turned into an event, or `None` if stale.
#[inline(always)]
pub(crate) fn translate_one(table: &mut Table, key: u64, bits: u8) -> Option<Event> {
    let (fd, _) = split_key(key);
    match table.get_mut(fd) {
        // The common case: a live plain registration reporting readiness.
        Some(slot) if slot.plain_key == key && bits & flags::INVALID == 0 => {
            Some(Event::new(slot.token, bits))
        }
        _ => accept(table, key, bits),
    }
}

/// Checks one raw report against the interest table: `None` for a stale
/// one (wrong generation, deregistered, or a oneshot that already fired).
/// Drains a waker (and retires one whose `Waker` is gone, once its last
/// wake is delivered); forgets an fd found closed.
#[cold]
fn accept(table: &mut Table, key: u64, bits: u8) -> Option<Event> {
    let (fd, generation) = split_key(key);
    let slot = table.get_mut(fd)?;
    if !slot.registered || slot.generation != generation {
        return None;
    }
    if slot.mode.is_oneshot() {
        if !slot.armed {
            return None;
        }
        slot.armed = false;
    }
    if slot.waker {
        drain_eventfd(fd as RawFd);
        if slot.orphan {
            // The Poller removes it from the backend after this wait.
            slot.registered = false;
        }
    }
    if bits & flags::INVALID != 0 {
        slot.registered = false;
    }
    slot.refresh(fd as RawFd);
    Some(Event::new(slot.token, bits))
}

/// Resets a waker's eventfd. Called with the table locked: a waker's fd is
/// closed only under that lock (by `Waker::drop`, or by the Poller once it
/// has retired an orphaned one), after its slot is no longer registered, so
/// the fd of a registered waker slot is open here.
fn drain_eventfd(fd: RawFd) {
    // SAFETY: see above; the table lock held by the caller keeps the waker's
    // eventfd open for the duration of this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    eventfd::reset(fd);
}
