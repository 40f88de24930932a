//! A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19), shared by
//! the runtime's completion driver, the uring server model and the uring
//! engine of `iomux load`; consumed incrementally (IOU_PBUF_RING_INC, Linux
//! 6.12) where the kernel has it and the user asks for it.
//!
//! Receives do not name a buffer: the kernel picks one from this ring when
//! data arrives and says which in the completion. So a thousand idle
//! connections with a multishot recv each hold no memory at all; buffers are
//! only in use between a completion and our handling of it, after which we
//! give them straight back.
//!
//! The ring is an array of `{addr, len, bid}` entries shared with the
//! kernel: it consumes from the head, we append at the tail (a u16 that
//! lives in the first entry's reserved field) and publish the tail with a
//! release store.
//!
//! **Incremental consumption.** A classic ring spends a whole buffer on
//! each completion, however few bytes it holds. An incremental one lets the
//! kernel fill a buffer a piece at a time: each completion names the buffer
//! and says (IORING_CQE_F_BUF_MORE) whether the kernel keeps filling it;
//! the piece's offset is the sum of the pieces before it, which the ring
//! tracks. [`BufRing::pick`], [`BufRing::bytes`] and [`BufRing::release`]
//! work for both kinds; [`BufRing::get`] and [`BufRing::give_back`] only
//! for a classic ring.
//!
//! **Bundles.** A receive with IORING_RECVSEND_BUNDLE (6.10) may fill
//! several buffers in one completion, which names only the first: the
//! others are the entries that followed it in the ring. So the ring keeps
//! its own copy of the kernel's head, moved as completions are picked (a
//! completion consumed the buffers from the head on, in the order the
//! completions were posted), and [`BufRing::pick_each`] walks from it. A
//! ring read with `get` does not track the head and takes no bundles.
//!
//! Dropped, the entry array and the buffers are deliberately not freed: the
//! kernel may still touch them while it tears a closed ring down
//! asynchronously (a server's ring lives as long as its process anyway).
//! [`BufRing::close`] frees them once the caller knows no request can
//! still pick a buffer (every request of the ring has completed).
//!
//! Not for: buffers the caller names in a request (send buffers, `recv`
//! into a buffer of the caller's); only kernel-picked receive buffers live
//! here.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

use super::ring::{Completion, Registrar};
use super::sys;

/// IOU_PBUF_RING_INC.
pub(super) const PBUF_RING_INC: u16 = 2;

/// The part of a provided buffer one completion filled: from
/// [`BufRing::pick`], read with [`BufRing::bytes`], handed back with
/// [`BufRing::release`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a picked piece must be released, or its buffer is lost to the ring"]
pub struct Buf {
    bid: u16,
    start: u32,
    len: u32,
}

impl Buf {
    /// The buffer's id.
    pub fn id(&self) -> u16 {
        self.bid
    }

    /// Bytes in this piece.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the piece is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A ring of `count` buffers of `size` bytes that the kernel picks from for
/// receives naming its buffer group (IOSQE_BUFFER_SELECT).
///
/// Not for: buffers held for long (a held buffer is one fewer for every
/// receive of the group; receives fail with ENOBUFS when none is left).
pub struct BufRing {
    entries: NonNull<BufRingEntry>,
    base: NonNull<u8>,
    count: u16,
    size: usize,
    bgid: u16,
    /// Our tail, published to the kernel by `publish`.
    tail: u16,
    /// Our copy of the kernel's head: the entry its next receive takes
    /// first (moved by `pick_each`).
    head: u16,
    unpublished: bool,
    /// Incremental: each buffer's pieces.
    used: Option<Box<[Pieces]>>,
}

/// An incrementally consumed buffer's pieces: the buffer goes back to the
/// kernel only when the kernel is done filling it *and* every piece it
/// handed out has been released (pieces of one buffer may belong to
/// different connections and be released in any order).
#[derive(Clone, Copy, Default)]
struct Pieces {
    /// Bytes handed out so far.
    used: u32,
    /// Pieces picked and not released yet.
    held: u32,
    /// The kernel's last piece of the buffer has been picked.
    done: bool,
}

impl BufRing {
    /// Maps `count` buffers of `size` bytes (count a power of two, at most
    /// 32768) and registers them with `ring` as buffer group `bgid`: a
    /// classic ring, one buffer per completion.
    pub fn new(ring: &impl Registrar, bgid: u16, count: u16, size: usize) -> io::Result<BufRing> {
        BufRing::register(ring, bgid, count, size, false)
    }

    /// As [`BufRing::new`], consumed incrementally where the kernel has
    /// IOU_PBUF_RING_INC (6.12; see [`BufRing::is_incremental`]), classic
    /// elsewhere. Read it with [`BufRing::pick`].
    pub fn incremental(
        ring: &impl Registrar,
        bgid: u16,
        count: u16,
        size: usize,
    ) -> io::Result<BufRing> {
        let inc = super::Features::probe().is_ok_and(|f| f.pbuf_ring_inc);
        BufRing::register(ring, bgid, count, size, inc)
    }

    fn register(
        ring: &impl Registrar,
        bgid: u16,
        count: u16,
        size: usize,
        inc: bool,
    ) -> io::Result<BufRing> {
        assert!(count.is_power_of_two() && count <= 32768);
        assert!(size <= u32::MAX as usize);
        let entries = sys::map(count as usize * std::mem::size_of::<BufRingEntry>())?.cast();
        let base = sys::map(count as usize * size)?;
        let mut br = BufRing {
            entries,
            base,
            count,
            size,
            bgid,
            tail: 0,
            head: 0,
            unpublished: false,
            used: inc.then(|| vec![Pieces::default(); count as usize].into_boxed_slice()),
        };
        for bid in 0..count {
            br.append(bid);
        }
        br.publish();
        let flags = if inc { PBUF_RING_INC } else { 0 };
        // SAFETY: the entry array is page-aligned (mmap) and holds `count`
        // entries; it is never unmapped while registered (see the module
        // comment).
        unsafe {
            ring.io_uring().submitter().register_buf_ring_with_flags(
                entries.as_ptr() as u64,
                count,
                bgid,
                flags,
            )?;
        }
        Ok(br)
    }

    /// Whether the kernel consumes the buffers a piece at a time.
    pub fn is_incremental(&self) -> bool {
        self.used.is_some()
    }

    /// The piece of a provided buffer that `c` filled, if it names one
    /// (only a successful receive does): a receive without a bundle fills
    /// one piece. Pieces must be picked in the order their completions
    /// were reaped.
    pub fn pick(&mut self, c: &Completion) -> Option<Buf> {
        let mut one = None;
        self.pick_each(c, |b| {
            debug_assert!(one.is_none(), "pick on a bundle: use pick_each");
            one = Some(b);
        });
        one
    }

    /// Hands `each` the pieces `c` filled, in order: one for a plain
    /// receive, one per buffer for a bundle (IORING_RECVSEND_BUNDLE).
    /// Completions must be picked in the order they were reaped.
    pub fn pick_each(&mut self, c: &Completion, mut each: impl FnMut(Buf)) {
        let Some(first) = c.buffer() else { return };
        assert!(first < self.count, "a buffer id from another group");
        if self.bid_at(self.head) != first && !self.resync(first) {
            // Not where the head says: take the named buffer alone.
            debug_assert!(false, "buffer {first} is not in the ring");
            log::error!(
                "iomux::uring: buffer {first} of group {} is not at the head",
                self.bgid
            );
            let len = c.result().max(0) as u32;
            each(self.piece(first, len, c.buffer_more()));
            return;
        }
        let mut left = c.result().max(0) as u32;
        loop {
            let bid = self.bid_at(self.head);
            let start = self.used.as_ref().map_or(0, |u| u[bid as usize].used);
            let take = left.min(self.size as u32 - start);
            left -= take;
            // Every buffer of a bundle but the last is full; the last stays
            // at the head while an incremental ring keeps filling it.
            let kept = left == 0 && c.buffer_more();
            each(self.piece(bid, take, kept));
            if !kept {
                self.head = self.head.wrapping_add(1);
            }
            if left == 0 {
                return;
            }
            if self.head == self.tail {
                debug_assert!(false, "a bundle longer than the ring");
                log::error!(
                    "iomux::uring: group {}: a bundle longer than the ring",
                    self.bgid
                );
                return;
            }
        }
    }

    /// The buffer id in the ring entry at position `at`.
    fn bid_at(&self, at: u16) -> u16 {
        let slot = (at & (self.count - 1)) as usize;
        // SAFETY: `slot` < count; the kernel never writes an entry's bid.
        unsafe { (*self.entries.as_ptr().add(slot)).bid() }
    }

    /// Moves our head forward to the entry holding `bid` if it lies
    /// before the tail (the kernel took entries no completion named);
    /// false if it is not there.
    fn resync(&mut self, bid: u16) -> bool {
        let mut at = self.head;
        while at != self.tail {
            if self.bid_at(at) == bid {
                debug_assert!(false, "the kernel's head moved without a completion");
                log::warn!(
                    "iomux::uring: group {}: head moved over {} entries",
                    self.bgid,
                    at.wrapping_sub(self.head)
                );
                self.head = at;
                return true;
            }
            at = at.wrapping_add(1);
        }
        false
    }

    /// A piece of `len` bytes of buffer `bid`, counted; `kept`: the kernel
    /// goes on filling the buffer.
    fn piece(&mut self, bid: u16, len: u32, kept: bool) -> Buf {
        match &mut self.used {
            None => Buf { bid, start: 0, len },
            Some(used) => {
                let p = &mut used[bid as usize];
                let start = p.used;
                p.used = if kept { start + len } else { 0 };
                p.held += 1;
                p.done |= !kept;
                Buf { bid, start, len }
            }
        }
    }

    /// The bytes of a picked piece.
    pub fn bytes(&self, b: &Buf) -> &[u8] {
        let (start, len) = (b.start as usize, b.len as usize);
        assert!(b.bid < self.count && start + len <= self.size);
        // SAFETY: in bounds (checked above); the kernel wrote this piece
        // before posting the completion that named it and does not write it
        // again until the buffer is given back (an incremental ring fills
        // only the part after it).
        unsafe {
            std::slice::from_raw_parts(
                self.base.as_ptr().add(b.bid as usize * self.size + start),
                len,
            )
        }
    }

    /// Done with a piece: the buffer goes back to the kernel (visible after
    /// [`BufRing::publish`]) once the kernel is done with it and every
    /// piece of it has been released, in whatever order.
    pub fn release(&mut self, b: Buf) {
        match &mut self.used {
            None => self.append(b.bid),
            Some(used) => {
                let p = &mut used[b.bid as usize];
                p.held -= 1;
                if p.done && p.held == 0 {
                    p.done = false;
                    self.append(b.bid);
                }
            }
        }
    }

    /// The first `len` bytes of buffer `bid`, which a completion has just
    /// handed to us (a classic ring: see [`BufRing::pick`] for both kinds).
    pub fn get(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.count && len <= self.size);
        debug_assert!(self.used.is_none(), "get on an incremental ring");
        // SAFETY: in bounds (checked above); the kernel wrote this buffer
        // before posting the completion that named it and will not touch it
        // again until `give_back` returns it to the ring.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(bid as usize * self.size), len) }
    }

    /// Returns buffer `bid` to the kernel (visible after `publish`): a
    /// classic ring (see [`BufRing::release`] for both kinds).
    pub fn give_back(&mut self, bid: u16) {
        debug_assert!(self.used.is_none(), "give_back on an incremental ring");
        self.append(bid);
    }

    fn append(&mut self, bid: u16) {
        let slot = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `slot` < count; the kernel only reads entries between its
        // head and the published tail, and this one lies beyond the tail.
        let e = unsafe { &mut *self.entries.as_ptr().add(slot) };
        e.set_addr(self.base.as_ptr() as u64 + bid as u64 * self.size as u64);
        e.set_len(self.size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.unpublished = true;
    }

    /// Makes the buffers given back so far visible to the kernel.
    pub fn publish(&mut self) {
        if !self.unpublished {
            return;
        }
        // SAFETY: the tail field lies inside the first entry of our mapping;
        // the kernel reads it with an acquire load, so a release store
        // orders the entry writes before it.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
        self.unpublished = false;
    }
}

impl BufRing {
    /// The size of each buffer.
    pub fn buf_size(&self) -> usize {
        self.size
    }

    /// The buffer group id the ring is registered under.
    pub fn group(&self) -> u16 {
        self.bgid
    }

    /// Unregisters the group from `ring` and frees the memory. Call it only
    /// when no request of `ring` is in flight (none can pick a buffer any
    /// more); if the kernel refuses the unregister the memory is kept.
    pub fn close(self, ring: &impl Registrar) -> io::Result<()> {
        ring.io_uring().submitter().unregister_buf_ring(self.bgid)?;
        let entries = self.count as usize * std::mem::size_of::<BufRingEntry>();
        let bufs = self.count as usize * self.size;
        // SAFETY: both mappings were made by `map` with these lengths, the
        // kernel no longer refers to them (the group is unregistered and,
        // by the caller's contract, no request is in flight), and `self`
        // is consumed, so no slice from `get` outlives them.
        unsafe {
            sys::unmap(self.entries.cast(), entries);
            sys::unmap(self.base, bufs);
        }
        Ok(())
    }
}
