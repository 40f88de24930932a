//! A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19), shared by
//! the runtime's completion driver, the uring server model and the uring
//! engine of `iomux load`.
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
//! Dropped, the entry array and the buffers are deliberately not freed: the
//! kernel may still touch them while it tears a closed ring down
//! asynchronously (a server's ring lives as long as its process anyway).
//! [`BufRing::close`] frees them once the caller knows no request can
//! still pick a buffer (every request of the ring has completed).

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

/// A ring of `count` buffers of `size` bytes that the kernel picks from for
/// receives naming its buffer group (IOSQE_BUFFER_SELECT).
pub struct BufRing {
    entries: NonNull<BufRingEntry>,
    base: NonNull<u8>,
    count: u16,
    size: usize,
    bgid: u16,
    /// Our tail, published to the kernel by `publish`.
    tail: u16,
    unpublished: bool,
}

impl BufRing {
    /// Maps `count` buffers of `size` bytes (count a power of two, at most
    /// 32768) and registers them with `ring` as buffer group `bgid`.
    pub fn new(ring: &IoUring, bgid: u16, count: u16, size: usize) -> io::Result<BufRing> {
        assert!(count.is_power_of_two() && count <= 32768);
        let entries = map(count as usize * std::mem::size_of::<BufRingEntry>())?.cast();
        let base = map(count as usize * size)?;
        let mut br = BufRing {
            entries,
            base,
            count,
            size,
            bgid,
            tail: 0,
            unpublished: false,
        };
        for bid in 0..count {
            br.give_back(bid);
        }
        br.publish();
        // SAFETY: the entry array is page-aligned (mmap) and holds `count`
        // entries; it is never unmapped (see the module comment).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries.as_ptr() as u64,
                count,
                bgid,
                0,
            )?;
        }
        Ok(br)
    }

    /// The first `len` bytes of buffer `bid`, which a completion has just
    /// handed to us.
    pub fn get(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.count && len <= self.size);
        // SAFETY: in bounds (checked above); the kernel wrote this buffer
        // before posting the completion that named it and will not touch it
        // again until `give_back` returns it to the ring.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(bid as usize * self.size), len) }
    }

    /// Returns buffer `bid` to the kernel (visible after `publish`).
    pub fn give_back(&mut self, bid: u16) {
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
    pub fn close(self, ring: &IoUring) -> io::Result<()> {
        ring.submitter().unregister_buf_ring(self.bgid)?;
        let entries = self.count as usize * std::mem::size_of::<BufRingEntry>();
        let bufs = self.count as usize * self.size;
        // SAFETY: both mappings were made by `map` with these lengths, the
        // kernel no longer refers to them (the group is unregistered and,
        // by the caller's contract, no request is in flight), and `self`
        // is consumed, so no slice from `get` outlives them.
        unsafe {
            libc::munmap(self.entries.as_ptr().cast(), entries);
            libc::munmap(self.base.as_ptr().cast(), bufs);
        }
        Ok(())
    }
}

fn map(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping: no file, no aliasing with
    // anything else; the result is checked for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}
