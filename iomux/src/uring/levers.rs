//! Levers: the kernel features the core and its users pick up where the
//! kernel has them, each of which a measurement can turn off, one at a
//! time, to see what it pays (`scripts/bench-levers.sh`).
//!
//! Read once per process from `IOMUX_URING_OFF`, a comma-separated list of
//! [`Lever`] names (`IOMUX_URING_OFF=defer_taskrun,fixed_files`). Not for
//! tuning a deployment: every lever is on by default because it measured
//! better; the variable exists so that claim can be checked.

use std::sync::OnceLock;

/// A feature that can be turned off for a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lever {
    /// `defer_taskrun`: SINGLE_ISSUER + DEFER_TASKRUN (falls back to
    /// COOP_TASKRUN).
    DeferTaskrun,
    /// `registered_ring_fd`: the ring's fd registered for `io_uring_enter`.
    RegisteredRingFd,
    /// `no_sqarray`: IORING_SETUP_NO_SQARRAY.
    NoSqArray,
    /// `fixed_files`: requests name a socket by its slot in the ring's
    /// fixed-file table rather than by fd.
    FixedFiles,
    /// `multishot_recv`: one multishot recv per stream (off: one recv into
    /// a provided buffer per arrival, re-armed after each completion).
    MultishotRecv,
    /// `incremental`: provided buffers consumed a piece at a time
    /// (IOU_PBUF_RING_INC).
    Incremental,
    /// `recv_bundle`: a stream's receive may fill several provided
    /// buffers in one completion (IORING_RECVSEND_BUNDLE, 6.10).
    RecvBundle,
}

impl Lever {
    /// Every lever, in the order the benchmark script turns them off.
    pub const ALL: [Lever; 7] = [
        Lever::DeferTaskrun,
        Lever::RegisteredRingFd,
        Lever::NoSqArray,
        Lever::FixedFiles,
        Lever::MultishotRecv,
        Lever::Incremental,
        Lever::RecvBundle,
    ];

    /// The lever's name in `IOMUX_URING_OFF`.
    pub fn name(self) -> &'static str {
        match self {
            Lever::DeferTaskrun => "defer_taskrun",
            Lever::RegisteredRingFd => "registered_ring_fd",
            Lever::NoSqArray => "no_sqarray",
            Lever::FixedFiles => "fixed_files",
            Lever::MultishotRecv => "multishot_recv",
            Lever::Incremental => "incremental",
            Lever::RecvBundle => "recv_bundle",
        }
    }

    /// Whether the lever is on (not named in `IOMUX_URING_OFF`).
    pub fn is_on(self) -> bool {
        !turned_off().contains(&self)
    }
}

fn turned_off() -> &'static [Lever] {
    static OFF: OnceLock<Vec<Lever>> = OnceLock::new();
    OFF.get_or_init(|| {
        let Some(list) = std::env::var_os("IOMUX_URING_OFF") else {
            return Vec::new();
        };
        let list = list.to_string_lossy();
        let mut off = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Lever::ALL.iter().find(|l| l.name() == name) {
                Some(l) => off.push(*l),
                None => log::warn!(
                    "iomux::uring: IOMUX_URING_OFF names no lever {name:?} (levers: {})",
                    Lever::ALL.map(Lever::name).join(", ")
                ),
            }
        }
        if !off.is_empty() {
            log::info!("iomux::uring: levers off: {list}");
        }
        off
    })
}
