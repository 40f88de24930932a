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
    /// (only a successful receive does). Pieces must be picked in the order
    /// their completions were reaped.
    pub fn pick(&mut self, c: &Completion) -> Option<Buf> {
        let bid = c.buffer()?;
        let len = c.result().max(0) as u32;
        assert!(bid < self.count, "a buffer id from another group");
        match &mut self.used {
            None => Some(Buf { bid, start: 0, len }),
            Some(used) => {
                let p = &mut used[bid as usize];
                let start = p.used;
                let last = !c.buffer_more();
                p.used = if last { 0 } else { start + len };
                p.held += 1;
                p.done |= last;
                Some(Buf { bid, start, len })
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
