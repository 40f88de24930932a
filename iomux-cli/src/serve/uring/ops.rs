//! What each request's `user_data` says: the operation, the connection's
//! slot, and the slot's generation when the request was made, so that a
//! completion arriving for a slot that has since been reused is recognised.

/// The kind of request a completion belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Accept,
    Recv,
    Send,
    /// ASYNC_CANCEL; its own completion carries nothing we need.
    Cancel,
    /// The poll on the signalfd (SIGINT, SIGTERM).
    Signal,
    /// A poll on the listener, used instead of accept while out of fds.
    Listen,
}

impl Op {
    fn code(self) -> u64 {
        match self {
            Op::Accept => 1,
            Op::Recv => 2,
            Op::Send => 3,
            Op::Cancel => 4,
            Op::Signal => 5,
            Op::Listen => 6,
        }
    }

    fn from_code(c: u64) -> Option<Op> {
        Some(match c {
            1 => Op::Accept,
            2 => Op::Recv,
            3 => Op::Send,
            4 => Op::Cancel,
            5 => Op::Signal,
            6 => Op::Listen,
            _ => return None,
        })
    }
}

/// Packs `op`, `slot` (24 bits) and `generation` (32 bits).
pub(super) fn encode(op: Op, slot: usize, generation: u32) -> u64 {
    debug_assert!(slot < 1 << 24);
    (op.code() << 56) | ((slot as u64 & 0xff_ffff) << 32) | generation as u64
}

/// The inverse of [`encode`].
pub(super) fn decode(user_data: u64) -> Option<(Op, usize, u32)> {
    let op = Op::from_code(user_data >> 56)?;
    Some((
        op,
        ((user_data >> 32) & 0xff_ffff) as usize,
        user_data as u32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for op in [
            Op::Accept,
            Op::Recv,
            Op::Send,
            Op::Cancel,
            Op::Signal,
            Op::Listen,
        ] {
            for (slot, generation) in [(0, 0), (1, u32::MAX), ((1 << 24) - 1, 7)] {
                assert_eq!(
                    decode(encode(op, slot, generation)),
                    Some((op, slot, generation))
                );
            }
        }
        assert_eq!(decode(0), None);
    }
}
