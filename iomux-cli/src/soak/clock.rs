//! A clock that every process of a soak reads alike (CLOCK_MONOTONIC), so
//! that a worker's timestamps can be set against the moment the
//! orchestrator sent SIGTERM; and a small deterministic byte generator.

use rustix::time::{ClockId, clock_gettime};

/// Nanoseconds on CLOCK_MONOTONIC, the same in every process of the host.
pub fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// xorshift64*: reproducible payloads per connection, cheap enough that
/// generating them never becomes the soak's bottleneck.
pub struct Bytes(u64);

impl Bytes {
    /// A generator for connection `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Bytes {
        Bytes(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `1..=max`.
    pub fn size(&mut self, max: usize) -> usize {
        (self.next_u64() % max as u64) as usize + 1
    }

    /// Fills `buf`.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
