//! What each request's `user_data` says, in the core's encoding
//! (`iomux::uring::UserData`): the operation, the connection's slot, and
//! the slot's generation when the request was made, so that a completion
//! arriving for a slot that has since been reused is recognised.

use iomux::uring::UserData;

/// The kind of request a completion belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Accept = 1,
    Recv = 2,
    Send = 3,
    /// ASYNC_CANCEL; its own completion carries nothing we need.
    Cancel = 4,
    /// The poll on the signalfd (SIGINT, SIGTERM).
    Signal = 5,
    /// A poll on the listener, used instead of accept while out of fds.
    Listen = 6,
}

impl Op {
    fn from_code(c: u8) -> Option<Op> {
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

/// The user data of `op` for `slot` in its `generation`.
pub(super) fn encode(op: Op, slot: usize, generation: u32) -> UserData {
    UserData::new(op as u8, slot as u32, generation)
}

/// The inverse of [`encode`].
pub(super) fn decode(user_data: UserData) -> Option<(Op, usize, u32)> {
    let op = Op::from_code(user_data.op())?;
    Some((op, user_data.slot() as usize, user_data.generation()))
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
            for (slot, generation) in [(0, 0), (1, UserData::MAX_GENERATION), ((1 << 24) - 1, 7)] {
                assert_eq!(
                    decode(encode(op, slot, generation)),
                    Some((op, slot, generation))
                );
            }
        }
        assert_eq!(decode(UserData::from_raw(0)), None);
    }
}
