//! File reads, writes and syncs on the completion driver: `rt::fs` on
//! io_uring, through the core's READ, WRITE and FSYNC requests instead of a
//! thread of the blocking pool.
//!
//! The buffer moves into the request and comes back in its reply, so a
//! dropped future leaves nothing dangling: the request runs to its end with
//! the driver holding the buffer, and its callback (which `rt::fs` gives)
//! says what became of it. A write is written whole: a short write is
//! followed by a request for the rest, and a failure after some bytes is a
//! short write (the failure comes back on the next call), as on the pool.
//!
//! Not for: opening, metadata or `read_to_end` (still the blocking pool's:
//! `rt/fs/engine.rs`).

use std::io;
use std::os::fd::RawFd;
use std::task::Waker;

use super::{Op, UringDriver, errno, with_driver};
use crate::rt::executor::Core;
use crate::rt::slab::Key;
use crate::uring::{Completion, Target, op};

/// A file operation the driver can run.
pub(crate) enum FileIo {
    /// Up to `len` bytes at `at` into `buf` (grown to `len`).
    Read {
        fd: RawFd,
        buf: Vec<u8>,
        len: usize,
        at: u64,
    },
    /// All of `buf` at `at`, or (`None`) at the file's position: its end
    /// for an O_APPEND file.
    Write {
        fd: RawFd,
        buf: Vec<u8>,
        at: Option<u64>,
    },
    /// fsync(2), or fdatasync(2) when `data_only`.
    Sync { fd: RawFd, data_only: bool },
}

/// A finished operation: its buffer back, and the bytes read or written.
pub(crate) struct FileDone {
    pub(crate) buf: Vec<u8>,
    pub(crate) n: usize,
}

/// Called once with the operation's outcome (inside the driver: it must
/// not reach the driver again).
pub(crate) type FileCallback = Box<dyn FnOnce(io::Result<FileDone>)>;

pub(super) struct FileOpState {
    io: FileIo,
    /// Bytes written so far (a write goes on after a short one).
    done: usize,
    callback: Option<FileCallback>,
}

/// A file operation's request.
struct FileRequest;

impl Op for FileRequest {
    const CODE: u8 = 7;
    fn complete(d: &mut UringDriver, owner: Key, c: Completion, _: &mut Vec<Waker>) {
        let res = c.result();
        let Some(f) = d.files.get_mut(owner) else {
            return;
        };
        let outcome = match &mut f.io {
            // Interrupted: the same request again.
            _ if res == -libc::EINTR || res == -libc::EAGAIN => {
                d.submit_file_request(owner);
                return;
            }
            FileIo::Read { .. } | FileIo::Sync { .. } if res < 0 => Err(errno(res)),
            FileIo::Read { .. } => Ok(res as usize),
            FileIo::Sync { .. } => Ok(0),
            FileIo::Write { buf, at, .. } => {
                if res > 0 {
                    f.done += res as usize;
                    if f.done < buf.len() && !d.closing {
                        if let Some(at) = at {
                            *at += res as u64;
                        }
                        d.submit_file_request(owner);
                        return;
                    }
                }
                match (res, f.done) {
                    (0, 0) => Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the file took no more bytes",
                    )),
                    (r, 0) if r < 0 => Err(errno(r)),
                    (r, done) => {
                        if r <= 0 {
                            log::debug!("iomux::rt::fs: short write ({done} bytes): {r}");
                        }
                        Ok(done)
                    }
                }
            }
        };
        let Some(mut f) = d.files.remove(owner) else {
            return;
        };
        let reply = outcome.map(|n| match f.io {
            FileIo::Read { buf, .. } | FileIo::Write { buf, .. } => FileDone { buf, n },
            FileIo::Sync { .. } => FileDone { buf: Vec::new(), n },
        });
        if let Some(callback) = f.callback.take() {
            callback(reply);
        }
    }
}

impl UringDriver {
    /// Submits (again) the request of file operation `key`: the part of a
    /// write not written yet.
    fn submit_file_request(&mut self, key: Key) {
        let Some(f) = self.files.get_mut(key) else {
            return;
        };
        let done = f.done;
        match &mut f.io {
            FileIo::Read { fd, buf, len, at } => {
                let (target, at) = (Target::Fd(*fd), *at);
                let (ptr, len) = (buf.as_mut_ptr(), *len as u32);
                // SAFETY: `buf` (at least `len` bytes, grown at submission)
                // is owned by the operation's state, which lives until the
                // request's completion; nothing touches it meanwhile.
                self.push::<FileRequest>(key, |ud| unsafe { op::read(target, ptr, len, at, ud) });
            }
            FileIo::Write { fd, buf, at } => {
                let (target, at) = (Target::Fd(*fd), at.unwrap_or(u64::MAX));
                let rest = &buf[done..];
                let (ptr, len) = (rest.as_ptr(), rest.len());
                // SAFETY: as for a read: the operation's state owns `buf`
                // until the completion, and nothing modifies it.
                self.push::<FileRequest>(key, |ud| unsafe {
                    op::write(target, std::slice::from_raw_parts(ptr, len), at, ud)
                });
            }
            FileIo::Sync { fd, data_only } => {
                let (target, data_only) = (Target::Fd(*fd), *data_only);
                self.push::<FileRequest>(key, |ud| op::fsync(target, data_only, ud));
            }
        }
    }
}

/// Starts `io` on `core`'s completion driver; `callback` gets its outcome
/// (an error at once when the runtime is shutting down, or has no
/// completion driver).
pub(crate) fn submit_file(core: &Core, mut io: FileIo, callback: FileCallback) {
    if let FileIo::Read { buf, len, .. } = &mut io
        && buf.len() < *len
    {
        buf.resize(*len, 0);
    }
    let mut pending = Some((io, callback));
    with_driver(core, |d| {
        if d.closing {
            return;
        }
        if let Some((io, callback)) = pending.take() {
            let key = d.files.insert(FileOpState {
                io,
                done: 0,
                callback: Some(callback),
            });
            d.submit_file_request(key);
        }
    });
    if let Some((_, callback)) = pending {
        callback(Err(io::Error::other(
            "iomux::rt::fs: the runtime's io_uring driver is shutting down",
        )));
    }
}
