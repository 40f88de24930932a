//! The reactor's token space, in one place: which poller tokens name a
//! connection, a watch, a listener or the waker, and how a token maps to
//! the slab key ([`crate::slab::Key`]) of what it names.
//!
//! ```text
//!  63   62 ........... 32   31 .......... 0
//! [ W ][ generation + 1 ][ slab slot      ]   connection (W = 0), watch (W = 1)
//! [ 1 ][ 0x7fff_ffff    ][ !i             ]   listener i (i < MAX_LISTENERS)
//! [ 1 ][ 0x7fff_ffff    ][ 0xffff_ffff    ]   the waker (usize::MAX)
//! ```
//!
//! The generation field is the slab's generation (24 bits) plus one, so it
//! is never 0 — the cross-thread `SlotView` uses 0 for "no connection in
//! this slot" — and never reaches the all-ones field of the listener and
//! waker range. A stale token (its entry removed, the slot perhaps reused)
//! carries an old generation, and the slab finds nothing under its key.
//!
//! User timers have no tokens: they never enter the poller, and their heap
//! entries carry their slab key (`timers.rs`). The loop hands out every
//! token of its poller itself, so no user registration can collide.

use crate::Token;
use crate::conn::ConnId;
use crate::slab::Key;

const _: () = assert!(usize::BITS == 64, "tokens pack two u32 halves");

/// Set in a watch's token, clear in a connection's.
const WATCH_BIT: usize = 1 << 63;
/// The largest generation field of a connection or a watch: slab
/// generations are below 2^24.
const GEN_FIELD_MAX: usize = 1 << 24;
const SLOT_MASK: usize = 0xffff_ffff;

/// The token of the loop's [`Waker`](crate::Waker).
pub(super) const WAKER: Token = Token(usize::MAX);
/// Listener i has token `LISTENER_BASE - i`.
const LISTENER_BASE: usize = usize::MAX - 1;
/// Listeners one loop may have.
pub(super) const MAX_LISTENERS: usize = 1 << 16;

/// What a token names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Named {
    Waker,
    Listener(usize),
    /// The connection under this key of the connection slab.
    Conn(Key),
    /// The watch under this key of the watch slab.
    Watch(Key),
    /// Nothing the loop hands out.
    Nothing,
}

/// Reads a token.
pub(super) fn decode(token: Token) -> Named {
    let t = token.0;
    if t & WATCH_BIT == 0 {
        return match key_of(t) {
            Some(key) => Named::Conn(key),
            None => Named::Nothing,
        };
    }
    if t == WAKER.0 {
        return Named::Waker;
    }
    let i = LISTENER_BASE.wrapping_sub(t);
    if i < MAX_LISTENERS {
        return Named::Listener(i);
    }
    match key_of(t & !WATCH_BIT) {
        Some(key) => Named::Watch(key),
        None => Named::Nothing,
    }
}

/// The slab key in a connection's or a watch's token (its kind bit clear).
fn key_of(t: usize) -> Option<Key> {
    let field = t >> 32;
    (field != 0 && field <= GEN_FIELD_MAX)
        .then(|| (((field - 1) as u64) << 32) | (t & SLOT_MASK) as u64)
}

/// The generation field for slab key `key`.
fn field_of(key: Key) -> usize {
    ((key >> 32) as usize) + 1
}

/// The token of the connection under `key`: also its [`ConnId`]'s token.
pub(super) fn conn_id(event_loop: u32, key: Key) -> ConnId {
    ConnId::new(event_loop, (key as usize) & SLOT_MASK, field_of(key) as u32)
}

/// The connection slab key of `id` (whichever loop it names: the caller
/// checks that). An id with a generation field of 0 maps to a key no slab
/// entry has (its generation is out of the slab's 24 bits).
pub(super) fn conn_key(id: ConnId) -> Key {
    let (slot, field) = id.split();
    (u64::from(field.wrapping_sub(1)) << 32) | slot as u64
}

/// The token of the watch under `key`.
pub(super) fn watch_token(key: Key) -> Token {
    Token(WATCH_BIT | (field_of(key) << 32) | (key as usize & SLOT_MASK))
}

/// The token of listener `i` (below [`MAX_LISTENERS`]).
pub(super) fn listener_token(i: usize) -> Token {
    debug_assert!(i < MAX_LISTENERS);
    Token(LISTENER_BASE - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_and_nothing_overlaps() {
        let key: Key = (5 << 32) | 7;
        let id = conn_id(3, key);
        assert_eq!(id.split(), (7, 6), "generation + 1 in the id");
        assert_eq!(conn_key(id), key);
        assert_eq!(decode(id.token()), Named::Conn(key));
        assert_eq!(decode(watch_token(key)), Named::Watch(key));
        let top: Key = (((1 << 24) - 1) << 32) | 0xffff_ffff;
        assert_eq!(decode(conn_id(1, top).token()), Named::Conn(top));
        assert_eq!(decode(watch_token(top)), Named::Watch(top));
        assert_eq!(decode(WAKER), Named::Waker);
        assert_eq!(decode(listener_token(0)), Named::Listener(0));
        let last = MAX_LISTENERS - 1;
        assert_eq!(decode(listener_token(last)), Named::Listener(last));
        assert_eq!(decode(Token(3)), Named::Nothing, "generation field 0");
        assert_eq!(decode(Token(1 << 63)), Named::Nothing);
        assert_eq!(decode(Token(((1 << 24) + 1) << 32)), Named::Nothing);
    }
}
