//! The one `user_data` encoding of iomux's io_uring users: what kind of
//! request it was, whose (a slot in the user's table), and which use of
//! that slot (a generation), so that a completion arriving for a slot that
//! has since been reused is recognised and dropped.
//!
//! Not for: the slabs the slots index (each user's own) or the Poller
//! backend's sequence numbers beyond carrying them.

use std::fmt;

/// A request's `user_data`: an operation code (8 bits, the user's own
/// numbering), a generation (24 bits) and a slot (32 bits).
///
/// A user bumps a slot's generation with [`UserData::next_generation`]
/// whenever the slot changes hands (a connection closed, an fd number
/// registered anew); a completion whose generation is not the slot's
/// current one belongs to an earlier owner. 24 bits wrap after 16 million
/// reuses of one slot, far beyond what one request can stay in flight for.
///
/// Not for: carrying pointers (a slot indexes the user's own table).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserData(u64);

impl UserData {
    /// The largest generation; generations wrap to 0 after it.
    pub const MAX_GENERATION: u32 = (1 << 24) - 1;

    /// Packs `op`, `slot` and `generation` (taken modulo 2^24).
    pub const fn new(op: u8, slot: u32, generation: u32) -> UserData {
        UserData(
            (op as u64) << 56 | ((generation & Self::MAX_GENERATION) as u64) << 32 | slot as u64,
        )
    }

    /// The generation after `generation`, wrapping within 24 bits.
    pub const fn next_generation(generation: u32) -> u32 {
        generation.wrapping_add(1) & Self::MAX_GENERATION
    }

    /// The operation code.
    pub const fn op(self) -> u8 {
        (self.0 >> 56) as u8
    }

    /// The slot.
    pub const fn slot(self) -> u32 {
        self.0 as u32
    }

    /// The generation (24 bits).
    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32 & Self::MAX_GENERATION
    }

    /// Whether this is `generation`'s request (compared modulo 2^24).
    pub const fn is_generation(self, generation: u32) -> bool {
        self.generation() == generation & Self::MAX_GENERATION
    }

    /// The 64-bit value the kernel carries.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The inverse of [`UserData::raw`].
    pub const fn from_raw(raw: u64) -> UserData {
        UserData(raw)
    }
}

impl fmt::Debug for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UserData(op {}, slot {}, gen {})",
            self.op(),
            self.slot(),
            self.generation()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for op in [0, 1, 7, 255] {
            for (slot, generation) in [(0, 0), (1, UserData::MAX_GENERATION), (u32::MAX, 7)] {
                let u = UserData::new(op, slot, generation);
                assert_eq!((u.op(), u.slot(), u.generation()), (op, slot, generation));
                assert!(u.is_generation(generation));
                assert_eq!(UserData::from_raw(u.raw()), u);
            }
        }
    }

    #[test]
    fn generations_wrap_in_24_bits() {
        let last = UserData::MAX_GENERATION;
        assert_eq!(UserData::next_generation(last), 0);
        let u = UserData::new(1, 2, last + 1);
        assert_eq!(u.generation(), 0);
        assert_eq!(u.op(), 1, "a generation never spills into the op");
        assert!(u.is_generation(1 << 24));
        assert!(!u.is_generation(1));
    }
}
