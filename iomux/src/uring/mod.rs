//! The io_uring core: what every io_uring user in iomux shares (the
//! Poller's io_uring backend, the runtime's completion driver, and the
//! command's uring server and load engine).
//!
//! Public because the command (`iomux serve --model uring`, `iomux load
//! --engine uring`) is built on it: [`BufRing`], a provided-buffer ring.
//! It is a low-level, Linux-only building block, not a portable API.

mod bufring;

pub use bufring::BufRing;
