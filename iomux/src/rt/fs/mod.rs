//! Files on the runtime: [`File`], [`OpenOptions`], and the [`read`],
//! [`read_to_string`] and [`write()`] helpers.
//!
//! A regular file is always "ready" to epoll, poll and select (epoll even
//! refuses to watch one, which is why [`AsyncFd`](super::AsyncFd) refuses
//! it), so a read from a slow disk would block the runtime's thread. On a
//! readiness driver every operation here runs on the blocking pool (see
//! [`spawn_blocking`](super::spawn_blocking)). On the io_uring completion
//! driver reads, writes and syncs are requests of the runtime's ring (no
//! thread involved); opening, `read_to_end`, `set_len`, metadata and
//! closing still go to the pool. The API and its guarantees are the same
//! on both.
//!
//! ```
//! use iomux::rt;
//!
//! rt::block_on(async {
//!     let path = std::env::temp_dir().join(format!("iomux-doc-fs-{}", std::process::id()));
//!     rt::fs::write(&path, b"some bytes").await?;
//!     assert_eq!(rt::fs::read(&path).await?, b"some bytes");
//!     std::fs::remove_file(&path)
//! })??;
//! # Ok::<_, std::io::Error>(())
//! ```
//!
//! What it is not: a directory API (no `read_dir`, `create_dir`, `rename`:
//! use `std::fs` inside [`spawn_blocking`](super::spawn_blocking)) or
//! memory-mapped I/O.

mod engine;
mod file;

use std::io;
use std::path::Path;

pub use file::{File, MAX_OP, OpenOptions};

/// The whole content of the file at `path`.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut f = File::open(path).await?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).await?;
    f.close().await?;
    Ok(out)
}

/// The whole content of the file at `path`, which must be UTF-8.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let bytes = read(path).await?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Makes the file at `path` hold `contents` (created if missing, cut if
/// not), closed when this returns.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await?;
    f.write_all(contents.as_ref()).await?;
    f.close().await
}
