//! `ConnId`: the name a driver gives one of its connections.
//!
//! Not for: looking a connection up (each driver has its slab) or naming a
//! connection across processes.

use crate::Token;

/// Names a connection: its loop, and the connection within that loop.
///
/// Unique in the process: every loop has a number of its own
/// ([`LoopHandle::loop_id`](crate::reactor::LoopHandle::loop_id)), so the
/// connections of the loops of a
/// [`LoopGroup`](crate::reactor::LoopGroup) never share an id and a
/// fan-out server can key them by `ConnId` alone; an id given to another
/// loop names none of its connections (`NotFound`). A closed connection's
/// id never names a later one, even when the socket's fd number is reused.
///
/// Shown (`Display` and `Debug`) as `loop:slot.generation`, e.g. `2:0.1`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    token: Token,
    event_loop: u32,
}

impl ConnId {
    /// The connection in slot `index` with `generation` (in the upper half
    /// of its token) of loop number `event_loop`.
    pub(crate) fn new(event_loop: u32, index: usize, generation: u32) -> ConnId {
        ConnId {
            token: Token(((generation as usize) << 32) | index),
            event_loop,
        }
    }

    /// The poller token of this connection (unique within its loop only).
    pub fn token(self) -> Token {
        self.token
    }

    /// The number of the loop the connection belongs to
    /// ([`LoopHandle::loop_id`](crate::reactor::LoopHandle::loop_id)).
    pub fn loop_id(self) -> u32 {
        self.event_loop
    }

    /// The slot index and the generation.
    pub(crate) fn split(self) -> (usize, u32) {
        (self.token.0 & 0xffff_ffff, (self.token.0 >> 32) as u32)
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (index, generation) = self.split();
        write!(f, "{}:{index}.{generation}", self.event_loop)
    }
}

impl std::fmt::Debug for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnId({self})")
    }
}
