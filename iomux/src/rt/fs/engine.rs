//! The seam under `rt::fs`: what a file operation is ([`Request`]), and
//! where it runs ([`Engine`]).
//!
//! On a readiness driver every operation runs on the blocking pool (a
//! regular file is always "ready"). On the io_uring completion driver,
//! reads, writes and syncs are io_uring requests (READ, WRITE, FSYNC
//! through the core); opening, `read_to_end`, `set_len`, metadata and
//! closing still run on the pool. A request owns its buffer while it is in
//! flight and gives it back in its [`Reply`], which is what a completion
//! needs; and what happens to a dropped operation (below) is decided here,
//! not by the caller, the same on both engines.
//!
//! Operations on one file run one at a time (like `tokio::fs::File`): each
//! holds the file's [`Gate`] from before it is submitted until it has
//! ended, and the gate is released where it ends (on the pool thread),
//! whether or not its future is still there. So an operation whose future
//! was dropped still finishes before the next one on the file starts: a
//! dropped write cannot land after a later one, and a read started after
//! it sees it. The error of a dropped write (or sync, or `set_len`) is kept
//! and returned by the file's next operation. A future dropped while it
//! still waited for the file's turn started nothing.
//!
//! The cursor is read once an operation has the file's turn, not before,
//! so that it includes what a dropped write moved it by.
//!
//! Not for: the public API (`file.rs`, `fs/mod.rs`), which is the same on
//! both engines.

use std::fs::{File as StdFile, Metadata};
use std::io::{self, Read, Seek, Write};
use std::os::fd::IntoRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::rt::blocking;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a file is opened (the fields of `std::fs::OpenOptions`, kept so
/// that an engine can turn them into `openat` flags itself).
#[derive(Clone, Debug)]
pub(super) struct Opts {
    pub(super) read: bool,
    pub(super) write: bool,
    pub(super) append: bool,
    pub(super) truncate: bool,
    pub(super) create: bool,
    pub(super) create_new: bool,
    pub(super) mode: u32,
    pub(super) custom_flags: i32,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }
}

impl Opts {
    fn to_std(&self) -> std::fs::OpenOptions {
        let mut o = std::fs::OpenOptions::new();
        o.read(self.read)
            .write(self.write)
            .append(self.append)
            .truncate(self.truncate)
            .create(self.create)
            .create_new(self.create_new)
            .mode(self.mode)
            .custom_flags(self.custom_flags);
        o
    }
}

/// One file operation, with the buffer it owns while in flight.
pub(super) enum Request {
    Open {
        path: PathBuf,
        opts: Opts,
    },
    /// Up to `len` bytes at `at` into `buf` (grown to `len` if shorter).
    Read {
        buf: Vec<u8>,
        len: usize,
        at: u64,
    },
    /// Everything from `at` to the end of the file.
    ReadToEnd {
        at: u64,
    },
    /// All of `buf` at `at`, or at the file's cursor (which the operation
    /// moves past what it wrote) when `at` is `None`.
    Write {
        buf: Vec<u8>,
        at: Option<u64>,
    },
    SyncAll,
    SyncData,
    SetLen(u64),
    Metadata,
    Close,
}

impl Request {
    /// What it is, for a runtime's shutdown report.
    fn name(&self) -> &'static str {
        match self {
            Request::Open { .. } => "iomux::rt::fs open",
            Request::Read { .. } => "iomux::rt::fs read",
            Request::ReadToEnd { .. } => "iomux::rt::fs read_to_end",
            Request::Write { .. } => "iomux::rt::fs write",
            Request::SyncAll => "iomux::rt::fs sync_all",
            Request::SyncData => "iomux::rt::fs sync_data",
            Request::SetLen(_) => "iomux::rt::fs set_len",
            Request::Metadata => "iomux::rt::fs metadata",
            Request::Close => "iomux::rt::fs close",
        }
    }

    /// Whether its error must outlive a dropped future.
    fn changes_the_file(&self) -> bool {
        matches!(
            self,
            Request::Write { .. } | Request::SyncAll | Request::SyncData | Request::SetLen(_)
        )
    }
}

/// What an operation gives back.
pub(super) enum Reply {
    Opened(StdFile),
    /// `buf[..n]` holds what was read; the whole `buf` is lent back.
    Read {
        buf: Vec<u8>,
        n: usize,
    },
    Wrote {
        buf: Vec<u8>,
        n: usize,
    },
    Metadata(Box<Metadata>),
    Done,
}

/// Where operations run.
#[derive(Clone, Copy, Debug)]
pub(super) enum Engine {
    /// The blocking pool: a regular file is always "ready", so readiness
    /// drivers cannot wait for it; the syscall runs on a pool thread.
    Pool,
    /// The current runtime's io_uring completion driver, for reads, writes
    /// and syncs (the rest goes to the pool).
    #[cfg(feature = "uring")]
    Uring,
}

impl Engine {
    /// The engine for an operation made now (the pool, on every driver,
    /// until the io_uring driver has file operations of its own).
    pub(super) fn current() -> Engine {
        #[cfg(feature = "uring")]
        if let Some(core) = crate::rt::executor::Core::current()
            && core
                .driver
                .try_borrow()
                .is_ok_and(|d| d.kind() == crate::rt::DriverKind::Uring)
        {
            return Engine::Uring;
        }
        Engine::Pool
    }

    /// Starts `req` on the file that `gate` holds (`None` for `Open`).
    pub(super) fn submit(self, gate: Option<Gate>, req: Request) -> Op {
        let sink = match &gate {
            Some(g) if req.changes_the_file() => Some(Arc::clone(&g.0)),
            _ => None,
        };
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState::Waiting(None)),
            sink,
        });
        #[cfg(feature = "uring")]
        let (gate, req) = match self {
            Engine::Uring => match uring::submit(gate, req, &slot) {
                None => return Op { slot },
                Some(back) => back,
            },
            Engine::Pool => (gate, req),
        };
        #[cfg(not(feature = "uring"))]
        let Engine::Pool = self;
        // The pool: every operation of a readiness driver, and those the
        // completion driver does not run itself.
        let completer = Completer(Some(Arc::clone(&slot)));
        let name = req.name();
        blocking::execute(
            name,
            Box::new(move || {
                let reply = run(gate.as_ref().map(|g| &*g.0), req);
                completer.complete(reply, gate);
            }),
        );
        Op { slot }
    }
}

fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Writes all of `buf` at `at` (or the cursor); a failure after some
/// bytes is a short write, and the failure comes back on the next call.
fn write_all(
    shared: &FileShared,
    file: &StdFile,
    buf: &[u8],
    at: Option<u64>,
) -> io::Result<usize> {
    let mut done = 0;
    let mut at = match at {
        Some(at) => Some(at),
        None if shared.append => None,
        None => Some(lock(&shared.state).pos),
    };
    while done < buf.len() {
        let r = match at {
            Some(off) => retry(|| file.write_at(&buf[done..], off)),
            None => retry(|| (&*file).write(&buf[done..])),
        };
        match r {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "the file took no more bytes");
                return if done == 0 { Err(e) } else { Ok(done) };
            }
            Ok(n) => {
                done += n;
                at = at.map(|a| a + n as u64);
            }
            Err(e) if done == 0 => return Err(e),
            Err(e) => {
                log::debug!("iomux::rt::fs: short write ({done} bytes): {e}");
                break;
            }
        }
    }
    Ok(done)
}

/// Reads at an offset, for `read_to_end`.
struct At<'a>(&'a StdFile, u64);

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read_at(buf, self.1)?;
        self.1 += n as u64;
        Ok(n)
    }
}

/// Runs `req` here (on a pool thread).
fn run(shared: Option<&FileShared>, req: Request) -> io::Result<Reply> {
    if let Request::Open { path, opts } = &req {
        return retry(|| opts.to_std().open(path)).map(Reply::Opened);
    }
    let Some(shared) = shared else {
        return Err(io::Error::other(
            "iomux::rt::fs: an operation without its file",
        ));
    };
    let mut guard = lock(&shared.file);
    if let Request::Close = req {
        let Some(file) = guard.take() else {
            return Err(io::Error::other("iomux::rt::fs: the file is closed"));
        };
        let fd = file.into_raw_fd();
        // SAFETY: `fd` was just released by its `File`, so this is its one
        // close; close's error is what this operation reports.
        let r = unsafe { libc::close(fd) };
        return if r == 0 {
            Ok(Reply::Done)
        } else {
            Err(io::Error::last_os_error())
        };
    }
    let Some(file) = guard.as_ref() else {
        return Err(io::Error::other("iomux::rt::fs: the file is closed"));
    };
    match req {
        Request::Read { mut buf, len, at } => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            let n = retry(|| file.read_at(&mut buf[..len], at))?;
            Ok(Reply::Read { buf, n })
        }
        Request::ReadToEnd { at } => {
            let hint = file
                .metadata()
                .map(|m| m.len().saturating_sub(at))
                .unwrap_or(0);
            let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0).saturating_add(1));
            let n = At(file, at).read_to_end(&mut buf)?;
            Ok(Reply::Read { buf, n })
        }
        Request::Write { buf, at } => {
            let n = write_all(shared, file, &buf, at)?;
            if at.is_none() {
                let mut st = lock(&shared.state);
                if shared.append {
                    st.pos = (&*file).stream_position()?;
                } else {
                    st.pos += n as u64;
                }
            }
            Ok(Reply::Wrote { buf, n })
        }
        Request::SyncAll => retry(|| file.sync_all()).map(|()| Reply::Done),
        Request::SyncData => retry(|| file.sync_data()).map(|()| Reply::Done),
        Request::SetLen(len) => retry(|| file.set_len(len)).map(|()| Reply::Done),
        Request::Metadata => file.metadata().map(|m| Reply::Metadata(Box::new(m))),
        Request::Open { .. } | Request::Close => unreachable!("handled above"),
    }
}

/// A file as its operations share it.
pub(super) struct FileShared {
    /// `None` once closed. Only the operation holding the gate locks it.
    file: Mutex<Option<StdFile>>,
    state: Mutex<FileState>,
    /// Opened with `O_APPEND`: a cursor write goes to the end.
    append: bool,
}

struct FileState {
    busy: bool,
    waiters: Vec<Waker>,
    /// The cursor of the sequential operations.
    pos: u64,
    /// The error of an operation whose future was dropped.
    error: Option<io::Error>,
}

impl FileShared {
    pub(super) fn new(file: StdFile, append: bool, pos: u64) -> Arc<FileShared> {
        Arc::new(FileShared {
            file: Mutex::new(Some(file)),
            state: Mutex::new(FileState {
                busy: false,
                waiters: Vec::new(),
                pos,
                error: None,
            }),
            append,
        })
    }

    pub(super) fn pos(&self) -> u64 {
        lock(&self.state).pos
    }

    pub(super) fn set_pos(&self, pos: u64) {
        lock(&self.state).pos = pos;
    }

    /// Waits for the file's turn; an error kept from a dropped operation
    /// comes back instead (once).
    pub(super) fn acquire(self: &Arc<Self>) -> Acquire<'_> {
        Acquire(self)
    }
}

/// The future of [`FileShared::acquire`].
pub(super) struct Acquire<'a>(&'a Arc<FileShared>);

impl Future for Acquire<'_> {
    type Output = io::Result<Gate>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<Gate>> {
        let mut st = lock(&self.0.state);
        if let Some(e) = st.error.take() {
            return Poll::Ready(Err(e));
        }
        if !st.busy {
            st.busy = true;
            return Poll::Ready(Ok(Gate(Arc::clone(self.0))));
        }
        if !st.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            st.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The file's turn: one operation at a time holds it.
pub(super) struct Gate(Arc<FileShared>);

impl Drop for Gate {
    fn drop(&mut self) {
        let waiters = {
            let mut st = lock(&self.0.state);
            st.busy = false;
            std::mem::take(&mut st.waiters)
        };
        for w in waiters {
            w.wake();
        }
    }
}

enum SlotState {
    Waiting(Option<Waker>),
    Done(io::Result<Reply>),
    /// The future was dropped first.
    Orphaned,
    Taken,
}

/// Where an operation's reply meets its future.
struct Slot {
    state: Mutex<SlotState>,
    /// Keeps the error of a dropped operation that changed the file.
    sink: Option<Arc<FileShared>>,
}

impl Slot {
    fn orphaned(&self, reply: io::Result<Reply>) {
        if let (Some(file), Err(e)) = (&self.sink, reply) {
            log::debug!("iomux::rt::fs: a dropped operation failed: {e}");
            lock(&file.state).error.get_or_insert(e);
        }
    }
}

/// Delivers the reply; dropped unused (the pool could not run the job),
/// it delivers an error.
struct Completer(Option<Arc<Slot>>);

impl Completer {
    fn complete(mut self, reply: io::Result<Reply>, gate: Option<Gate>) {
        if let Some(slot) = self.0.take() {
            deliver(&slot, reply, gate);
        }
    }
}

/// Gives the file's turn away, then hands `reply` to the future: a future
/// that sees its reply (woken, or polled for another reason) always finds
/// the file free for its next operation. A dropped future's error is kept
/// before the turn goes, so that the file's next operation reports it.
fn deliver(slot: &Slot, reply: io::Result<Reply>, gate: Option<Gate>) {
    let mut st = lock(&slot.state);
    match std::mem::replace(&mut *st, SlotState::Taken) {
        SlotState::Waiting(w) => {
            // Under the slot's lock: the future cannot see `Done` (nor be
            // dropped) until the turn is given away.
            drop(gate);
            *st = SlotState::Done(reply);
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
        }
        _ => {
            drop(st);
            slot.orphaned(reply);
            drop(gate);
        }
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            // The job was dropped unrun: its gate goes with it.
            deliver(
                &slot,
                Err(io::Error::other(
                    "iomux::rt::fs: the blocking pool could not run the operation",
                )),
                None,
            );
        }
    }
}

/// A submitted operation's future. Dropped before its reply, the
/// operation still runs to its end (see the module's doc).
pub(super) struct Op {
    slot: Arc<Slot>,
}

impl Future for Op {
    type Output = io::Result<Reply>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<Reply>> {
        let mut st = lock(&self.slot.state);
        match &mut *st {
            SlotState::Waiting(w) => {
                match w {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            SlotState::Done(_) => match std::mem::replace(&mut *st, SlotState::Taken) {
                SlotState::Done(r) => Poll::Ready(r),
                _ => unreachable!(),
            },
            SlotState::Orphaned | SlotState::Taken => Poll::Ready(Err(io::Error::other(
                "iomux::rt::fs: operation polled after it ended",
            ))),
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let mut st = lock(&self.slot.state);
        match std::mem::replace(&mut *st, SlotState::Taken) {
            SlotState::Waiting(_) => *st = SlotState::Orphaned,
            SlotState::Done(r) => {
                drop(st);
                self.slot.orphaned(r);
            }
            SlotState::Orphaned | SlotState::Taken => {}
        }
    }
}

/// Reads, writes and syncs as requests of the io_uring completion driver.
#[cfg(feature = "uring")]
mod uring {
    use std::io::{self, Seek};
    use std::os::fd::AsRawFd;
    use std::sync::Arc;

    use super::{Gate, Reply, Request, Slot, deliver, lock};
    use crate::rt::executor::Core;
    use crate::rt::uring::{FileDone, FileIo, submit_file};

    /// Submits `req` to the driver, with the file's turn (`gate`) held
    /// until it ends; gives both back, for the pool, when it is not a
    /// read, write or sync.
    pub(super) fn submit(
        gate: Option<Gate>,
        req: Request,
        slot: &Arc<Slot>,
    ) -> Option<(Option<Gate>, Request)> {
        let (Some(core), Some(gate)) = (Core::current(), gate) else {
            return Some((None, req));
        };
        let shared = Arc::clone(&gate.0);
        let Some(fd) = lock(&shared.file).as_ref().map(|f| f.as_raw_fd()) else {
            return Some((Some(gate), req));
        };
        // A cursor write starts at the cursor, read now that the operation
        // has the file's turn; an O_APPEND file's writes go to its end.
        let mut moves = false;
        let io = match req {
            Request::Read { buf, len, at } => FileIo::Read { fd, buf, len, at },
            Request::Write { buf, at } => {
                moves = at.is_none();
                let at = match at {
                    None if !shared.append => Some(lock(&shared.state).pos),
                    at => at,
                };
                FileIo::Write { fd, buf, at }
            }
            Request::SyncAll => FileIo::Sync {
                fd,
                data_only: false,
            },
            Request::SyncData => FileIo::Sync {
                fd,
                data_only: true,
            },
            other => return Some((Some(gate), other)),
        };
        let kind = match io {
            FileIo::Read { .. } => 0,
            FileIo::Write { .. } => 1,
            FileIo::Sync { .. } => 2,
        };
        let slot = Arc::clone(slot);
        submit_file(
            &core,
            io,
            Box::new(move |done: io::Result<FileDone>| {
                let reply = done.map(|FileDone { buf, n }| match kind {
                    0 => Reply::Read { buf, n },
                    1 => {
                        if moves {
                            advance_cursor(&gate, n);
                        }
                        Reply::Wrote { buf, n }
                    }
                    _ => Reply::Done,
                });
                deliver(&slot, reply, Some(gate));
            }),
        );
        None
    }

    /// Moves the cursor past a cursor write of `n` bytes (an O_APPEND
    /// file's cursor goes where the kernel left the file's position).
    fn advance_cursor(gate: &Gate, n: usize) {
        let shared = &gate.0;
        let end = if shared.append {
            lock(&shared.file)
                .as_ref()
                .and_then(|f| (&*f).stream_position().ok())
        } else {
            None
        };
        let mut st = lock(&shared.state);
        st.pos = end.unwrap_or(st.pos + n as u64);
    }
}
