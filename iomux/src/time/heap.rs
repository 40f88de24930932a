//! A 4-ary min-heap of deadlines (libev's choice: shallower than a binary
//! heap, and the four children of a node share a cache line or two).
//!
//! Insert is O(log₄ n). Cancel is O(1) and lazy: the owner forgets the entry
//! and drops it when it reaches the top, or earlier in a bulk prune
//! ([`TimerHeap::retain`]) once stale entries outnumber live ones (as the
//! reactor does, `reactor/event_loop/timers.rs`), so churn cannot grow the
//! heap without bound.
//!
//! Not for: futures or sleeping (`rt::time`), or keyed lookups: an owner
//! that cancels skips the key when it comes out.

use std::time::Instant;

/// One scheduled deadline: when, and what it belongs to. Equal deadlines
/// come out in the order they were pushed.
#[derive(Clone, Copy, Debug)]
pub struct Deadline<K> {
    /// When it is due.
    pub at: Instant,
    /// Breaks ties: the order of the pushes.
    seq: u64,
    /// What the deadline belongs to.
    pub key: K,
}

impl<K> Deadline<K> {
    fn before(&self, other: &Deadline<K>) -> bool {
        (self.at, self.seq) < (other.at, other.seq)
    }
}

/// The heap itself; `K` says what a deadline belongs to (a connection, a
/// timer's slot), and is all the heap keeps besides the instant. It never
/// looks a key up: an owner that cancels forgets the key, and skips it when
/// it comes out.
#[derive(Debug)]
pub struct TimerHeap<K> {
    heap: Vec<Deadline<K>>,
    seq: u64,
}

impl<K: Copy> Default for TimerHeap<K> {
    fn default() -> TimerHeap<K> {
        TimerHeap::new()
    }
}

const ARITY: usize = 4;

impl<K: Copy> TimerHeap<K> {
    /// An empty heap.
    pub fn new() -> TimerHeap<K> {
        TimerHeap {
            heap: Vec::with_capacity(64),
            seq: 0,
        }
    }

    /// Entries in the heap, cancelled ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Schedules `key` at `at`.
    pub fn push(&mut self, at: Instant, key: K) {
        self.seq += 1;
        self.heap.push(Deadline {
            at,
            seq: self.seq,
            key,
        });
        let mut i = self.heap.len() - 1;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !self.heap[i].before(&self.heap[parent]) {
                break;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    /// Whether the heap holds no entry.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The earliest deadline, if any.
    pub fn peek(&self) -> Option<Instant> {
        self.heap.first().map(|e| e.at)
    }

    /// The earliest deadline, cancelled or not (its owner knows).
    pub fn first(&self) -> Option<&Deadline<K>> {
        self.heap.first()
    }

    /// Removes and returns the earliest deadline if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Deadline<K>> {
        if self.heap.first()?.at > now {
            return None;
        }
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        let top = self.heap.pop();
        self.sift_down(0);
        top
    }

    /// Keeps only the entries `keep` accepts, and restores the heap order
    /// bottom-up: O(n), for dropping lazily cancelled entries in bulk.
    pub fn retain(&mut self, keep: impl FnMut(&Deadline<K>) -> bool) {
        self.heap.retain(keep);
        if self.heap.len() > 1 {
            let last_parent = (self.heap.len() - 2) / ARITY;
            for i in (0..=last_parent).rev() {
                self.sift_down(i);
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                return;
            }
            let mut best = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.heap[c].before(&self.heap[best]) {
                    best = c;
                }
            }
            if !self.heap[best].before(&self.heap[i]) {
                return;
            }
            self.heap.swap(i, best);
            i = best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_never_early() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let offsets = [50u64, 3, 99, 3, 17, 0, 42, 8, 8, 77, 1, 64, 5];
        for (i, ms) in offsets.iter().enumerate() {
            h.push(base + Duration::from_millis(*ms), i);
        }
        assert!(h.pop_due(base - Duration::from_millis(1)).is_none());
        let mut got = Vec::new();
        while let Some(e) = h.pop_due(base + Duration::from_millis(60)) {
            assert!(e.at <= base + Duration::from_millis(60));
            got.push(e.key);
        }
        let mut want: Vec<usize> = (0..offsets.len()).filter(|&i| offsets[i] <= 60).collect();
        want.sort_by_key(|&i| (offsets[i], i));
        assert_eq!(got, want);
        assert_eq!(h.len(), 3);
        assert_eq!(h.peek(), Some(base + Duration::from_millis(64)));
    }

    #[test]
    fn retain_keeps_the_order_of_what_it_keeps() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        // A pseudo-random spread of deadlines, with ties.
        let offsets: Vec<u64> = (0..500u64).map(|i| (i * 7919) % 97).collect();
        for (i, ms) in offsets.iter().enumerate() {
            h.push(base + Duration::from_millis(*ms), i);
        }
        h.retain(|e| e.key % 3 != 0);
        let mut want: Vec<usize> = (0..offsets.len()).filter(|i| i % 3 != 0).collect();
        assert_eq!(h.len(), want.len());
        want.sort_by_key(|&i| (offsets[i], i));
        let mut got = Vec::new();
        while let Some(e) = h.pop_due(base + Duration::from_secs(1)) {
            got.push(e.key);
        }
        assert_eq!(got, want, "deadline order, ties in insertion order");
    }
}
