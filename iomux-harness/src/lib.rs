//! What the `iomux` command's measuring tools share across processes, and
//! nothing else: the load generator's report ([`LoadReport`], the JSON line
//! `iomux load --json` prints and the lab reads back) and the scheduling of
//! measured child processes ([`sched`]: a session of their own, weighted up,
//! pinned to a core), used by the lab and the soak.
//!
//! It sits below both the command (`iomux-cli`) and the lab (`iomux-lab`),
//! so that the lab needs none of the command's code: the two meet only
//! through these pieces and the `iomux` binary the lab runs as children.
//! It is not a library for other programs, and holds no I/O model.

mod load_report;
pub mod sched;

pub use load_report::LoadReport;
