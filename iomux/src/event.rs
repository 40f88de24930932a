//! `Token`, `Event` and `Events`: what `Poller::wait` hands back.
//!
//! Not for: readiness as a caller asks for it (that is
//! [`Interest`](crate::Interest)) or how it is triggered
//! ([`Mode`](crate::Mode)).

use std::fmt;
use std::mem::MaybeUninit;

/// The caller's name for a registration; it comes back in every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

/// Readiness bits, normalised across backends.
pub(crate) mod flags {
    pub const READABLE: u8 = 1;
    pub const WRITABLE: u8 = 2;
    pub const PRIORITY: u8 = 4;
    pub const READ_CLOSED: u8 = 8;
    pub const WRITE_CLOSED: u8 = 16;
    pub const ERROR: u8 = 32;
    /// The fd was found closed behind the poller's back (POLLNVAL / EBADF):
    /// the registration is dropped after this one error event.
    pub const INVALID: u8 = 64;
}

/// One readiness event. It is `Copy`: keep it as long as you like.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Event {
    token: Token,
    flags: u8,
}

impl Event {
    pub(crate) const fn new(token: Token, flags: u8) -> Event {
        Event { token, flags }
    }
    /// The token given at registration.
    pub const fn token(&self) -> Token {
        self.token
    }
    /// Data can be read, or a read will not block (EOF or error included).
    pub const fn is_readable(&self) -> bool {
        self.flags & flags::READABLE != 0
    }
    /// A write will not block.
    pub const fn is_writable(&self) -> bool {
        self.flags & flags::WRITABLE != 0
    }
    /// Priority (out-of-band) data is pending.
    pub const fn is_priority(&self) -> bool {
        self.flags & flags::PRIORITY != 0
    }
    /// The peer closed its writing side (EPOLLRDHUP / POLLRDHUP / HUP).
    /// select cannot see this: there a read returning 0 tells it.
    pub const fn is_read_closed(&self) -> bool {
        self.flags & flags::READ_CLOSED != 0
    }
    /// Writing is no longer possible (HUP, or an error on a writable fd).
    pub const fn is_write_closed(&self) -> bool {
        self.flags & flags::WRITE_CLOSED != 0
    }
    /// An error is pending on the fd, or the fd was closed behind the poller's back.
    pub const fn is_error(&self) -> bool {
        self.flags & (flags::ERROR | flags::INVALID) != 0
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("token", &self.token)
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .field("priority", &self.is_priority())
            .field("read_closed", &self.is_read_closed())
            .field("write_closed", &self.is_write_closed())
            .field("error", &self.is_error())
            .finish()
    }
}

/// A raw readiness report from a backend, before the interest table has
/// checked its generation: `key` is `generation << 32 | fd`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ready {
    pub key: u64,
    pub flags: u8,
}

/// Raw reports of one wait, in a buffer that never grows: its slots are
/// allocated and initialised once, and a scan writes them by index with a
/// length kept in a local (a `Vec::push` per report, with its capacity check
/// and grow path, costs measurably more when a wait reports thousands).
pub(crate) struct ReadyList {
    slots: Box<[Ready]>,
    len: usize,
}

impl ReadyList {
    fn with_capacity(capacity: usize) -> ReadyList {
        ReadyList {
            slots: vec![Ready::default(); capacity].into_boxed_slice(),
            len: 0,
        }
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Appends one report; false (and nothing kept) when full.
    #[inline]
    #[must_use = "a report that did not fit is lost unless the caller keeps it"]
    pub fn push(&mut self, r: Ready) -> bool {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = r;
                self.len += 1;
                true
            }
            None => false,
        }
    }
    /// The reports so far.
    pub fn as_slice(&self) -> &[Ready] {
        &self.slots[..self.len]
    }
    /// The report at `i` (which must be in use).
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Ready> {
        self.slots[..self.len].get_mut(i)
    }
}

/// A reusable buffer of events. `Poller::wait` fills it without allocating.
pub struct Events {
    /// Every slot allocated up front; the first `len` hold the last wait's
    /// events (see `ReadyList` for why not a `Vec`).
    pub(crate) list: Box<[Event]>,
    pub(crate) len: usize,
    /// Memory a backend's kernel writes its own records into (epoll's
    /// `struct epoll_event` array), read back by that backend only.
    pub(crate) raw: RawBuf,
    /// Raw reports the Poller translates after the backend's wait (io_uring's
    /// completions, select's closed fds).
    pub(crate) ready: ReadyList,
}

/// Untyped, uninitialised scratch of 16 bytes per event, 8-aligned: room for
/// one kernel record of any backend per event (epoll_event is 12 bytes on
/// x86_64, 16 elsewhere). The backend that uses it picks the record type, so
/// `Events` names no backend's types.
pub(crate) struct RawBuf {
    cells: Box<[MaybeUninit<[u64; 2]>]>,
}

impl RawBuf {
    fn with_capacity(capacity: usize) -> RawBuf {
        RawBuf {
            cells: Box::new_uninit_slice(capacity),
        }
    }

    /// The buffer as `capacity` uninitialised records of type `T` (at least;
    /// a smaller `T` gets a few more).
    pub(crate) fn records<T>(&mut self) -> &mut [MaybeUninit<T>] {
        const {
            assert!(size_of::<T>() <= 16 && size_of::<T>() > 0 && align_of::<T>() <= 8);
        }
        let len = self.cells.len() * 16 / size_of::<T>();
        // SAFETY: the cells are owned and exclusively borrowed for the
        // returned lifetime, `len` records of `T` fit in their bytes, and
        // their alignment (8) is at least `T`'s (both asserted above).
        // `MaybeUninit<T>` has no validity requirement, so any bytes are a
        // valid value of it.
        unsafe { std::slice::from_raw_parts_mut(self.cells.as_mut_ptr().cast(), len) }
    }
}

impl Events {
    /// A buffer that holds up to `capacity` events per wait (at least 1).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            list: vec![Event::new(Token(0), 0); capacity].into_boxed_slice(),
            len: 0,
            raw: RawBuf::with_capacity(capacity),
            ready: ReadyList::with_capacity(capacity),
        }
    }
    /// How many events one wait can deliver.
    pub fn capacity(&self) -> usize {
        self.list.len()
    }
    /// Number of events from the last wait.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when the last wait delivered nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Forget the events; capacity is kept.
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// Every event slot, and the count of those in use, for a backend that
    /// fills the list itself; `set_len` commits the new count.
    pub(crate) fn parts(&mut self) -> (&mut [Event], usize) {
        (&mut self.list, self.len)
    }
    /// Commits the count of a fill made through `parts`.
    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(self.list.len());
    }
    /// The events of the last wait.
    pub fn iter(&self) -> std::iter::Copied<std::slice::Iter<'_, Event>> {
        self.list[..self.len].iter().copied()
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = Event;
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, Event>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.list[..self.len].iter())
            .finish()
    }
}
