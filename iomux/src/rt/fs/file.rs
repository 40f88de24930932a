//! `File` and `OpenOptions`.
//!
//! Not for: where an operation runs (`engine.rs` decides: the pool or the
//! ring).

use std::cell::Cell;
use std::fmt;
use std::fs::Metadata;
use std::io::{self, Seek, SeekFrom};
use std::marker::PhantomData;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use super::engine::{Engine, FileShared, Opts, Reply, Request};

/// The most one operation moves; a larger read is short, a larger write
/// is done in several operations by `write_all`.
pub const MAX_OP: usize = 16 << 20;

fn unexpected(what: &str) -> io::Error {
    io::Error::other(format!("iomux::rt::fs: unexpected reply to {what}"))
}

/// How to open a [`File`]: the options of [`std::fs::OpenOptions`].
///
/// ```
/// use iomux::rt::{self, fs::OpenOptions};
///
/// rt::block_on(async {
///     let path = std::env::temp_dir().join(format!("iomux-doc-opts-{}", std::process::id()));
///     let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&path).await?;
///     f.write_all(b"hello").await?;
///     f.close().await?;
///     assert_eq!(rt::fs::read(&path).await?, b"hello");
///     std::fs::remove_file(&path)
/// })??;
/// # Ok::<_, std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct OpenOptions(Opts);

impl OpenOptions {
    /// Nothing set (open would fail: set `read`, `write` or `append`).
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }
    /// Open for reading.
    pub fn read(&mut self, yes: bool) -> &mut OpenOptions {
        self.0.read = yes;
        self
    }
    /// Open for writing.
    pub fn write(&mut self, yes: bool) -> &mut OpenOptions {
        self.0.write = yes;
        self
    }
    /// Open for appending: [`File::write`] goes to the end of the file
    /// (`write_at` too: Linux's `pwrite` ignores the offset with `O_APPEND`).
    pub fn append(&mut self, yes: bool) -> &mut OpenOptions {
        self.0.append = yes;
        self
    }
    /// Cut the file to length 0 on open.
    pub fn truncate(&mut self, yes: bool) -> &mut OpenOptions {
        self.0.truncate = yes;
        self
    }
    /// Create the file if it does not exist.
    pub fn create(&mut self, yes: bool) -> &mut OpenOptions {
        self.0.create = yes;
        self
    }
    /// Create the file, failing if it exists.
    pub fn create_new(&mut self, yes: bool) -> &mut OpenOptions {
        self.0.create_new = yes;
        self
    }
    /// The permission bits of a file created (before the umask; 0o666 by
    /// default).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.0.mode = mode;
        self
    }
    /// More `open(2)` flags (`O_DIRECT`, `O_NOATIME`, ...).
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.0.custom_flags = flags;
        self
    }
    /// Opens `path` with these options.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let req = Request::Open {
            path: path.as_ref().to_path_buf(),
            opts: self.0.clone(),
        };
        match Engine::current().submit(None, req).await? {
            Reply::Opened(f) => Ok(File::with_pos(f, self.0.append, 0)),
            _ => Err(unexpected("open")),
        }
    }
}

/// A file, read and written without blocking the runtime's thread.
///
/// Regular files are always "ready" to epoll, poll and select, so a
/// readiness driver cannot wait for them: there each operation runs on the
/// blocking pool ([`spawn_blocking`](crate::rt::spawn_blocking)'s). On the
/// io_uring driver, reads, writes and syncs are requests of the runtime's
/// ring, the buffer moving into the request and back; the other operations
/// use the pool there too.
///
/// - Sequential operations ([`read`](File::read), [`write`](File::write),
///   [`read_to_end`](File::read_to_end)) use the file's own cursor, kept
///   here, not the kernel's file offset; positional ones
///   ([`read_at`](File::read_at), [`write_at`](File::write_at)) leave it
///   alone.
/// - One operation at a time runs on a file, in turn; each moves at most
///   [`MAX_OP`] bytes.
/// - A dropped future does not lose or corrupt anything: its operation
///   still finishes before the file's next one starts. A dropped read does
///   not move the cursor (its bytes are read again); a dropped write (or
///   `sync_all`, `set_len`) counts as done: the cursor moves past what it
///   wrote, and its error, if any, is returned by the next operation.
/// - [`close`](File::close) reports `close(2)`'s error; dropping the file
///   closes it and ignores the error, like `std::fs::File`.
///
/// Made and used inside an iomux runtime; not `Send`, like the runtime's
/// other I/O objects.
///
/// ```
/// use iomux::rt::{self, fs::File};
///
/// rt::block_on(async {
///     let path = std::env::temp_dir().join(format!("iomux-doc-file-{}", std::process::id()));
///     let mut f = File::create(&path).await?;
///     f.write_all(b"hello, world").await?;
///     f.sync_all().await?;
///     let mut word = [0u8; 5];
///     let n = f.read_at(&mut word, 7).await?;
///     assert_eq!(&word[..n], b"world");
///     assert_eq!(f.metadata().await?.len(), 12);
///     f.close().await?;
///     std::fs::remove_file(&path)
/// })??;
/// # Ok::<_, std::io::Error>(())
/// ```
pub struct File {
    shared: Arc<FileShared>,
    /// A buffer lent to each operation and given back by it.
    spare: Cell<Vec<u8>>,
    _not_send: PhantomData<Rc<()>>,
}

impl File {
    /// Opens `path` for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` for reading and writing, created if missing and cut to
    /// length 0 if not.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// [`OpenOptions::new`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Takes `file`; the cursor starts at its file offset.
    pub fn from_std(mut file: std::fs::File) -> io::Result<File> {
        let pos = file.stream_position()?;
        let flags = rustix::fs::fcntl_getfl(&file)?;
        let append = flags.contains(rustix::fs::OFlags::APPEND);
        Ok(File::with_pos(file, append, pos))
    }

    fn with_pos(file: std::fs::File, append: bool, pos: u64) -> File {
        File {
            shared: FileShared::new(file, append, pos),
            spare: Cell::new(Vec::new()),
            _not_send: PhantomData,
        }
    }

    async fn submit(&self, req: Request) -> io::Result<Reply> {
        let gate = self.shared.acquire().await?;
        Engine::current().submit(Some(gate), req).await
    }

    /// Reads at `at`, or at the cursor (read once the file's turn has
    /// come, and moved past what was delivered) when `at` is `None`.
    async fn read_inner(&self, buf: &mut [u8], at: Option<u64>) -> io::Result<usize> {
        let len = buf.len().min(MAX_OP);
        let gate = self.shared.acquire().await?;
        let cursor = at.is_none();
        let at = at.unwrap_or_else(|| self.shared.pos());
        let req = Request::Read {
            buf: self.spare.take(),
            len,
            at,
        };
        match Engine::current().submit(Some(gate), req).await? {
            Reply::Read { buf: data, n } => {
                buf[..n].copy_from_slice(&data[..n]);
                self.spare.set(data);
                if cursor {
                    self.shared.set_pos(at + n as u64);
                }
                Ok(n)
            }
            _ => Err(unexpected("read")),
        }
    }

    async fn write_inner(&self, buf: &[u8], at: Option<u64>) -> io::Result<usize> {
        let n = buf.len().min(MAX_OP);
        let mut owned = self.spare.take();
        owned.clear();
        owned.extend_from_slice(&buf[..n]);
        match self.submit(Request::Write { buf: owned, at }).await? {
            Reply::Wrote { buf, n } => {
                self.spare.set(buf);
                Ok(n)
            }
            _ => Err(unexpected("write")),
        }
    }

    /// Reads up to `buf.len()` bytes at the cursor and moves it past them;
    /// 0 at the end of the file.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf, None).await
    }

    /// Reads up to `buf.len()` bytes at `offset`; 0 at or past the end.
    pub async fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.read_inner(buf, Some(offset)).await
    }

    /// Reads from the cursor to the end of the file, appended to `buf`, in
    /// one operation; returns how many bytes.
    pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let gate = self.shared.acquire().await?;
        let at = self.shared.pos();
        match Engine::current()
            .submit(Some(gate), Request::ReadToEnd { at })
            .await?
        {
            Reply::Read { buf: data, n } => {
                if buf.is_empty() {
                    *buf = data;
                } else {
                    buf.extend_from_slice(&data[..n]);
                }
                self.shared.set_pos(at + n as u64);
                Ok(n)
            }
            _ => Err(unexpected("read_to_end")),
        }
    }

    /// Writes up to [`MAX_OP`] bytes of `buf` at the cursor (the end with
    /// [`append`](OpenOptions::append)) and moves it past them.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_inner(buf, None).await
    }

    /// Writes all of `buf` at the cursor.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_inner(buf, None).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Writes up to [`MAX_OP`] bytes of `buf` at `offset`.
    pub async fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.write_inner(buf, Some(offset)).await
    }

    /// Writes all of `buf` at `offset`.
    pub async fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_inner(buf, Some(offset)).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    /// Where the next sequential operation reads or writes, as far as the
    /// operations that have ended say (a dropped write still running moves
    /// it when it ends).
    pub fn position(&self) -> u64 {
        self.shared.pos()
    }

    /// Moves the cursor once the operations still running on the file have
    /// ended; returns the new position. `SeekFrom::End` asks the file its
    /// length.
    pub async fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = match to {
            SeekFrom::End(_) => self.metadata().await?.len(),
            _ => 0,
        };
        let _turn = self.shared.acquire().await?;
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.shared.pos().checked_add_signed(d),
            SeekFrom::End(d) => len.checked_add_signed(d),
        };
        let pos = pos.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        self.shared.set_pos(pos);
        Ok(pos)
    }

    /// Flushes the file's data and metadata to the device (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        match self.submit(Request::SyncAll).await? {
            Reply::Done => Ok(()),
            _ => Err(unexpected("sync_all")),
        }
    }

    /// Flushes the file's data to the device (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        match self.submit(Request::SyncData).await? {
            Reply::Done => Ok(()),
            _ => Err(unexpected("sync_data")),
        }
    }

    /// Cuts or extends the file to `len` bytes (the cursor stays).
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        match self.submit(Request::SetLen(len)).await? {
            Reply::Done => Ok(()),
            _ => Err(unexpected("set_len")),
        }
    }

    /// The file's metadata (`fstat`).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        match self.submit(Request::Metadata).await? {
            Reply::Metadata(m) => Ok(*m),
            _ => Err(unexpected("metadata")),
        }
    }

    /// Closes the file once its pending operations have ended, and reports
    /// an error kept from a dropped one or `close(2)`'s own.
    pub async fn close(self) -> io::Result<()> {
        let (gate, kept) = match self.shared.acquire().await {
            Ok(gate) => (gate, None),
            // The kept error is taken: the next turn is the close's.
            Err(e) => (self.shared.acquire().await?, Some(e)),
        };
        let closed = Engine::current().submit(Some(gate), Request::Close).await;
        match kept {
            Some(e) => Err(e),
            None => closed.map(|_| ()),
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("position", &self.position())
            .finish_non_exhaustive()
    }
}
