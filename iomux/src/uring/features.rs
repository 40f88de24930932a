//! What this kernel's io_uring can do, found out once per process.
//!
//! Setup flags are tried (an unknown flag makes `io_uring_setup` fail with
//! EINVAL); registrations are tried on a probe ring (the registered ring
//! fd, provided-buffer rings with and without incremental consumption); a
//! cancel-any request is submitted and its answer read (a count: known,
//! EINVAL: not). Where the kernel offers no direct test, a feature is
//! inferred from an opcode of the same release in the kernel's own opcode
//! probe (multishot accept from IORING_OP_SOCKET, 5.19; multishot recv from
//! IORING_OP_SEND_ZC, 6.0) or from a feature flag of the same release
//! (multishot poll from IORING_FEAT_RSRC_TAGS, 5.13).
//!
//! The probe costs two to six small `io_uring_setup` calls and a few
//! registrations, once: the result is kept for the life of the process.
//! `tests/uring_core.rs` checks it against the order of releases on the
//! kernel the tests run on.
//! A failed probe (io_uring unavailable) is not kept, so that the next
//! caller gets the diagnosis afresh.
//!
//! Not for: choosing what to use (that is [`Options`](super::Options) and
//! the levers); this only finds out what the kernel offers.

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

use io_uring::types::CancelBuilder;
use io_uring::{IoUring, Probe, opcode};

use super::sys;

/// An io_uring capability the core may use, with the kernel release that
/// brought it (named in the error when a ring's [`Options::require`]
/// lists it and the kernel lacks it).
///
/// [`Options::require`]: super::Options::require
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// IORING_FEAT_NODROP (5.5): completions that do not fit the CQ are
    /// kept, not lost.
    NoDrop,
    /// IORING_FEAT_EXT_ARG (5.11): a wait's timeout is passed to
    /// `io_uring_enter` itself.
    ExtArg,
    /// Multishot POLL_ADD (5.13).
    PollMultishot,
    /// IORING_SETUP_SUBMIT_ALL (5.18): a failing entry does not stop the
    /// submission of those behind it.
    SubmitAll,
    /// IORING_REGISTER_RING_FDS (5.18): `io_uring_enter` skips the fd
    /// lookup.
    RegisteredRingFd,
    /// IORING_SETUP_COOP_TASKRUN (5.19): completion work waits for the
    /// task's next kernel entry instead of interrupting it.
    CoopTaskrun,
    /// IORING_ASYNC_CANCEL_ANY (5.19): one request cancels every request
    /// of the ring (and CANCEL_FD|ALL every request on one file).
    CancelAny,
    /// Multishot accept, also into the fixed-file table with a slot the
    /// kernel picks (5.19).
    MultishotAccept,
    /// Provided-buffer rings, IORING_REGISTER_PBUF_RING (5.19).
    PbufRing,
    /// Multishot recv (6.0).
    MultishotRecv,
    /// IORING_SETUP_SINGLE_ISSUER + IORING_SETUP_DEFER_TASKRUN (6.1):
    /// completion work runs only when the ring's one thread asks for
    /// completions.
    DeferTaskrun,
    /// IORING_SETUP_NO_SQARRAY (6.6): no indirection array in the SQ.
    NoSqArray,
    /// IORING_RECVSEND_BUNDLE (6.10): one recv completion for several
    /// provided buffers.
    RecvBundle,
    /// IOU_PBUF_RING_INC (6.12): provided buffers consumed a piece at a
    /// time.
    PbufRingInc,
}

impl Feature {
    /// The kernel's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Feature::NoDrop => "IORING_FEAT_NODROP",
            Feature::ExtArg => "IORING_FEAT_EXT_ARG",
            Feature::PollMultishot => "multishot IORING_OP_POLL_ADD",
            Feature::SubmitAll => "IORING_SETUP_SUBMIT_ALL",
            Feature::RegisteredRingFd => "IORING_REGISTER_RING_FDS",
            Feature::CoopTaskrun => "IORING_SETUP_COOP_TASKRUN",
            Feature::CancelAny => "IORING_ASYNC_CANCEL_ANY",
            Feature::MultishotAccept => "multishot IORING_OP_ACCEPT",
            Feature::PbufRing => "IORING_REGISTER_PBUF_RING",
            Feature::MultishotRecv => "multishot IORING_OP_RECV",
            Feature::DeferTaskrun => "IORING_SETUP_DEFER_TASKRUN",
            Feature::NoSqArray => "IORING_SETUP_NO_SQARRAY",
            Feature::RecvBundle => "IORING_RECVSEND_BUNDLE",
            Feature::PbufRingInc => "IOU_PBUF_RING_INC",
        }
    }

    /// The first Linux release that has it.
    pub fn since(self) -> &'static str {
        match self {
            Feature::NoDrop => "5.5",
            Feature::ExtArg => "5.11",
            Feature::PollMultishot => "5.13",
            Feature::SubmitAll | Feature::RegisteredRingFd => "5.18",
            Feature::CoopTaskrun
            | Feature::CancelAny
            | Feature::MultishotAccept
            | Feature::PbufRing => "5.19",
            Feature::MultishotRecv => "6.0",
            Feature::DeferTaskrun => "6.1",
            Feature::NoSqArray => "6.6",
            Feature::RecvBundle => "6.10",
            Feature::PbufRingInc => "6.12",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (Linux {})", self.name(), self.since())
    }
}

/// What the running kernel's io_uring offers: probed once per process
/// ([`Features::probe`]), and consulted by every ring the core opens to
/// choose its setup flags and to check what its user requires.
///
/// A caller with a fallback looks here (say, a classic provided-buffer
/// ring where `pbuf_ring_inc` is false); one without lists the feature in
/// [`Options::require`](super::Options::require) and gets a clear error at
/// setup instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Features {
    /// [`Feature::NoDrop`].
    pub nodrop: bool,
    /// [`Feature::ExtArg`].
    pub ext_arg: bool,
    /// [`Feature::PollMultishot`].
    pub poll_multishot: bool,
    /// [`Feature::SubmitAll`].
    pub submit_all: bool,
    /// [`Feature::RegisteredRingFd`].
    pub registered_ring_fd: bool,
    /// [`Feature::CoopTaskrun`].
    pub coop_taskrun: bool,
    /// [`Feature::CancelAny`].
    pub cancel_any: bool,
    /// [`Feature::MultishotAccept`].
    pub multishot_accept: bool,
    /// [`Feature::PbufRing`].
    pub pbuf_ring: bool,
    /// [`Feature::MultishotRecv`].
    pub multishot_recv: bool,
    /// [`Feature::DeferTaskrun`].
    pub defer_taskrun: bool,
    /// [`Feature::NoSqArray`].
    pub no_sqarray: bool,
    /// [`Feature::RecvBundle`].
    pub recv_bundle: bool,
    /// [`Feature::PbufRingInc`].
    pub pbuf_ring_inc: bool,
}

static PROBED: OnceLock<Features> = OnceLock::new();

impl Features {
    /// The running kernel's features, probed on the first call and kept.
    ///
    /// Fails (`ErrorKind::Unsupported`, with the reason: no io_uring in
    /// this kernel, disabled by `kernel.io_uring_disabled`, forbidden by a
    /// sandbox) where io_uring cannot be had at all.
    pub fn probe() -> io::Result<&'static Features> {
        probe_raw().map_err(|e| super::setup::diagnose("io_uring", e))
    }

    /// Whether the kernel has `feature`.
    pub fn has(&self, feature: Feature) -> bool {
        match feature {
            Feature::NoDrop => self.nodrop,
            Feature::ExtArg => self.ext_arg,
            Feature::PollMultishot => self.poll_multishot,
            Feature::SubmitAll => self.submit_all,
            Feature::RegisteredRingFd => self.registered_ring_fd,
            Feature::CoopTaskrun => self.coop_taskrun,
            Feature::CancelAny => self.cancel_any,
            Feature::MultishotAccept => self.multishot_accept,
            Feature::PbufRing => self.pbuf_ring,
            Feature::MultishotRecv => self.multishot_recv,
            Feature::DeferTaskrun => self.defer_taskrun,
            Feature::NoSqArray => self.no_sqarray,
            Feature::RecvBundle => self.recv_bundle,
            Feature::PbufRingInc => self.pbuf_ring_inc,
        }
    }

    /// `Ok` if the kernel has every feature in `required`; otherwise an
    /// `Unsupported` error, `"{user} is unavailable: the kernel lacks …"`,
    /// naming the first one missing and the release that has it.
    pub fn require(&self, required: &[Feature], user: &str) -> io::Result<()> {
        match required.iter().find(|f| !self.has(**f)) {
            None => Ok(()),
            Some(f) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{user} is unavailable: the kernel lacks {f}"),
            )),
        }
    }
}

/// [`Features::probe`] with the error of `io_uring_setup` as it came.
pub(super) fn probe_raw() -> io::Result<&'static Features> {
    if let Some(f) = PROBED.get() {
        return Ok(f);
    }
    // Two threads may probe at once; both find the same, one is kept.
    let found = probe_kernel()?;
    let f = PROBED.get_or_init(|| found);
    log::debug!("iomux::uring: kernel features {f:?}");
    Ok(f)
}

/// A tiny ring for a probe, with `setup` applied to the builder.
fn tiny(setup: impl FnOnce(&mut io_uring::Builder)) -> io::Result<IoUring> {
    let mut b = IoUring::builder();
    setup(&mut b);
    b.build(4)
}

fn probe_kernel() -> io::Result<Features> {
    let mut f = Features::default();
    // The best set first: on a current kernel, one setup answers for all
    // of these.
    let ring = match tiny(|b| {
        b.setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_no_sqarray()
            .setup_submit_all();
    }) {
        Ok(r) => {
            f.defer_taskrun = true;
            f.no_sqarray = true;
            f.submit_all = true;
            r
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // An older kernel: io_uring itself must work (this setup's
            // error is the diagnosis), then each flag on its own.
            let plain = tiny(|_| {})?;
            f.defer_taskrun = tiny(|b| {
                b.setup_single_issuer().setup_defer_taskrun();
            })
            .is_ok();
            f.no_sqarray = tiny(|b| {
                b.setup_no_sqarray();
            })
            .is_ok();
            f.submit_all = tiny(|b| {
                b.setup_submit_all();
            })
            .is_ok();
            plain
        }
        Err(e) => return Err(e),
    };
    f.coop_taskrun = tiny(|b| {
        b.setup_coop_taskrun().setup_taskrun_flag();
    })
    .is_ok();
    let p = ring.params();
    f.nodrop = p.is_feature_nodrop();
    f.ext_arg = p.is_feature_ext_arg();
    // RSRC_TAGS came with multishot poll, in 5.13.
    f.poll_multishot = p.is_feature_resource_tagging();
    f.recv_bundle = p.is_feature_recvsend_bundle();
    let mut ops = Probe::new();
    if ring.submitter().register_probe(&mut ops).is_ok() {
        // IORING_OP_SOCKET came with multishot accept (5.19), SEND_ZC with
        // multishot recv (6.0).
        f.multishot_accept = ops.is_supported(opcode::Socket::CODE);
        f.multishot_recv = ops.is_supported(opcode::SendZc::CODE);
    }
    if let Ok(i) = sys::register_ring_fd(ring.as_raw_fd()) {
        f.registered_ring_fd = true;
        if let Err(e) = sys::unregister_ring_fd(ring.as_raw_fd(), i) {
            log::debug!("iomux::uring: probe: unregistering the ring fd: {e}");
        }
    }
    (f.pbuf_ring, f.pbuf_ring_inc) = probe_pbuf_ring(&ring);
    f.cancel_any = probe_cancel_any(ring);
    Ok(f)
}

/// (provided-buffer rings, with incremental consumption).
fn probe_pbuf_ring(ring: &IoUring) -> (bool, bool) {
    const PAGE: usize = 4096;
    let Ok(mem) = sys::map(PAGE) else {
        return (false, false);
    };
    let mut found = (false, false);
    for (flags, inc) in [(super::bufring::PBUF_RING_INC, true), (0, false)] {
        // SAFETY: a one-entry ring in a page of our own, which stays mapped
        // until after the group is unregistered below.
        let r = unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(mem.as_ptr() as u64, 1, 0, flags)
        };
        if r.is_ok() {
            found = (true, inc);
            if let Err(e) = ring.submitter().unregister_buf_ring(0) {
                // Keep the page: the kernel may still refer to it.
                log::debug!("iomux::uring: probe: unregistering a buffer ring: {e}");
                return found;
            }
            break;
        }
    }
    // SAFETY: mapped above with this length; the group using it is
    // unregistered (or was never registered).
    unsafe { sys::unmap(mem, PAGE) };
    found
}

/// Submits a cancel-any on an idle ring: the number cancelled (0) where the
/// kernel knows the flag, EINVAL where it does not.
fn probe_cancel_any(mut ring: IoUring) -> bool {
    let e = opcode::AsyncCancel2::new(CancelBuilder::any())
        .build()
        .user_data(1);
    // SAFETY: a cancel request points at no memory of ours.
    if unsafe { ring.submission().push(&e) }.is_err() || ring.submit_and_wait(1).is_err() {
        return false;
    }
    ring.completion()
        .next()
        .is_some_and(|c| c.result() >= 0 || c.result() == -libc::ENOENT)
}
