//! `rt::fs` on every driver: a 256 MiB file written and read back with
//! equal SHA-256; dropped read and write futures lose and corrupt nothing;
//! the open options, metadata and helpers; `AsyncFd` refusing a regular
//! file with a message that says what to use; `TryIoError` with `?`.

#[macro_use]
mod common;

use std::future::{Future, poll_fn};
use std::io;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::Poll;
use std::time::Duration;

use iomux::rt::fs::{self, File, OpenOptions};
use iomux::rt::{self, AsyncFd, DriverKind, Runtime};
use sha2::{Digest, Sha256};

const BIG: usize = 256 << 20;
const CHUNK: usize = 1 << 20;

/// A path in the temp directory, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(what: &str, driver: DriverKind) -> TempPath {
        TempPath(std::env::temp_dir().join(format!(
            "iomux-rt-fs-{what}-{driver}-{}",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// 1 MiB of pseudo-random bytes (xorshift), made once.
fn noise() -> &'static [u8] {
    static NOISE: OnceLock<Vec<u8>> = OnceLock::new();
    NOISE.get_or_init(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut v = Vec::with_capacity(CHUNK);
        while v.len() < CHUNK {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    })
}

/// Chunk `i` of the big file: the noise, stamped with its number.
fn chunk(i: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(noise());
    out[..8].copy_from_slice(&(i as u64).to_le_bytes());
    out[CHUNK / 2..CHUNK / 2 + 8].copy_from_slice(&(!(i as u64)).to_le_bytes());
}

fn runtime(driver: DriverKind) -> Runtime {
    Runtime::with_driver(driver).unwrap_or_else(|e| panic!("{driver}: runtime: {e}"))
}

fn big_file_round_trip(driver: DriverKind) {
    common::bounded(600, "256 MiB round trip", move || {
        let path = TempPath::new("big", driver);
        runtime(driver).block_on(async {
            let mut f = File::create(&path.0).await.expect("create");
            let mut written = Sha256::new();
            let mut buf = Vec::with_capacity(CHUNK);
            for i in 0..BIG / CHUNK {
                chunk(i, &mut buf);
                written.update(&buf);
                f.write_all(&buf).await.expect("write");
            }
            f.sync_all().await.expect("sync_all");
            assert_eq!(f.position(), BIG as u64);
            assert_eq!(f.metadata().await.expect("metadata").len(), BIG as u64);
            f.close().await.expect("close");

            let mut f = File::open(&path.0).await.expect("open");
            let mut read = Sha256::new();
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0;
            loop {
                let n = f.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                read.update(&buf[..n]);
                total += n;
            }
            assert_eq!(total, BIG);
            assert_eq!(
                read.finalize(),
                written.clone().finalize(),
                "{driver}: SHA-256 of what was read differs from what was written"
            );
            // Reads at an offset: the stamps of a few chunks.
            for i in [0usize, 1, 77, BIG / CHUNK - 1] {
                let mut stamp = [0u8; 8];
                let n = f
                    .read_at(&mut stamp, (i * CHUNK + CHUNK / 2) as u64)
                    .await
                    .expect("read_at");
                assert_eq!(n, 8);
                assert_eq!(u64::from_le_bytes(stamp), !(i as u64), "chunk {i}");
            }
            let mut past = [0u8; 4];
            assert_eq!(
                f.read_at(&mut past, BIG as u64)
                    .await
                    .expect("read past the end"),
                0
            );
            f.close().await.expect("close");
        });
    });
}
on_every_driver!(big_file_round_trip);

/// Polls `fut` once (it submits its operation) and drops it.
async fn poll_once_then_drop<F: Future>(fut: F) -> bool {
    let mut fut = pin!(fut);
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await
}

fn dropped_futures_lose_nothing(driver: DriverKind) {
    common::bounded(120, "dropped futures", move || {
        let path = TempPath::new("dropped", driver);
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        std::fs::write(&path.0, &data).expect("std write");
        runtime(driver).block_on(async {
            // Sequential reads, every other one dropped after its first
            // poll: the cursor does not move past bytes never delivered.
            let mut f = File::open(&path.0).await.expect("open");
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 << 10];
            let mut i = 0;
            loop {
                if i % 2 == 1 {
                    let mut lost = vec![0u8; 48 << 10];
                    let before = f.position();
                    if poll_once_then_drop(f.read(&mut lost)).await {
                        // It finished in its one poll: its bytes were
                        // delivered, and count.
                        let n = (f.position() - before) as usize;
                        got.extend_from_slice(&lost[..n]);
                    }
                }
                i += 1;
                let n = f.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert!(
                got == data,
                "{driver}: the bytes read differ after dropped reads"
            );

            // A dropped write still happens, before the next operation,
            // and counts: the cursor moved past it.
            let mut f = File::create(&path.0).await.expect("create");
            let dropped_ready = poll_once_then_drop(f.write_all(b"first;")).await;
            f.write_all(b"second;")
                .await
                .expect("write after a dropped one");
            poll_once_then_drop(f.write(b"third;")).await;
            let mut all = Vec::new();
            f.seek(io::SeekFrom::Start(0)).await.expect("seek");
            f.read_to_end(&mut all).await.expect("read_to_end");
            assert_eq!(
                String::from_utf8_lossy(&all),
                "first;second;third;",
                "{driver}: (the first write was ready at once: {dropped_ready})"
            );

            // A dropped positional write is done before a later one to the
            // same place: the later one wins.
            for round in 0..50u8 {
                poll_once_then_drop(f.write_all_at(&[b'a' + round % 26; 4096], 0)).await;
                f.write_all_at(&[b'Z'; 100], 0).await.expect("write_at");
                let mut head = [0u8; 101];
                assert_eq!(f.read_at(&mut head, 0).await.expect("read_at"), 101);
                assert_eq!(&head[..100], &[b'Z'; 100][..], "{driver}: round {round}");
                assert_eq!(head[100], b'a' + round % 26, "{driver}: round {round}");
            }
            f.close().await.expect("close");
        });
    });
}
on_every_driver!(dropped_futures_lose_nothing);

/// Holds every pool thread on a job until released, so that a file
/// operation submitted meanwhile is certainly still queued when its
/// future is dropped (the pool is FIFO).
struct PoolPlug {
    release: Arc<(Mutex<bool>, Condvar)>,
    jobs: Vec<rt::JoinHandle<()>>,
}

impl PoolPlug {
    fn new() -> PoolPlug {
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let jobs = (0..rt::blocking::stats().max_threads)
            .map(|_| {
                let release = Arc::clone(&release);
                rt::spawn_blocking(move || {
                    let (lock, cond) = &*release;
                    let r = cond
                        .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(60), |r| !*r)
                        .unwrap();
                    assert!(*r.0, "the plug was never pulled");
                })
            })
            .collect();
        PoolPlug { release, jobs }
    }

    async fn pull(self) {
        *self.release.0.lock().unwrap() = true;
        self.release.1.notify_all();
        for j in self.jobs {
            j.await.expect("plug job");
        }
    }
}

fn dropped_while_queued(driver: DriverKind) {
    common::bounded(120, "dropped while queued", move || {
        let path = TempPath::new("queued", driver);
        std::fs::write(&path.0, b"0123456789").expect("std write");
        runtime(driver).block_on(async {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path.0)
                .await
                .expect("open");
            // A read dropped while queued on the pool: it runs after, and
            // neither moves the cursor nor touches the caller's buffer.
            let plug = PoolPlug::new();
            let mut lost = [0u8; 4];
            assert!(
                !poll_once_then_drop(f.read(&mut lost)).await,
                "a read finished while the pool was plugged"
            );
            plug.pull().await;
            // The file's next operation waits for the dropped read to end
            // (on io_uring the read is a request of the ring, not a job of
            // the pool).
            f.metadata().await.expect("metadata");
            assert_eq!(
                lost, [0; 4],
                "a dropped read wrote into the caller's buffer"
            );
            assert_eq!(f.position(), 0);

            // A write dropped while queued: it lands before the next
            // operation on the file, which sees it.
            let plug = PoolPlug::new();
            assert!(
                !poll_once_then_drop(f.write_all_at(b"abcd", 2)).await,
                "a write finished while the pool was plugged"
            );
            assert!(
                !poll_once_then_drop(f.write(b"XY")).await,
                "a write finished while the pool was plugged"
            );
            plug.pull().await;
            let mut all = Vec::new();
            f.read_to_end(&mut all).await.expect("read_to_end");
            // The cursor write was still waiting for the file's turn when
            // dropped: it never started.
            assert_eq!(all, b"01abcd6789");
            f.close().await.expect("close");
        });
    });
}
on_every_driver!(dropped_while_queued);

fn options_metadata_and_helpers(driver: DriverKind) {
    common::bounded(60, "options and helpers", move || {
        let path = TempPath::new("opts", driver);
        runtime(driver).block_on(async {
            let missing = File::open(&path.0).await.expect_err("no such file yet");
            assert_eq!(missing.kind(), io::ErrorKind::NotFound);

            fs::write(&path.0, "hello").await.expect("fs::write");
            assert_eq!(fs::read_to_string(&path.0).await.expect("read"), "hello");
            let exists = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path.0)
                .await
                .expect_err("create_new on an existing file");
            assert_eq!(exists.kind(), io::ErrorKind::AlreadyExists);

            let mut f = OpenOptions::new()
                .append(true)
                .open(&path.0)
                .await
                .expect("append");
            f.write_all(b", world").await.expect("append write");
            assert_eq!(f.position(), 12);
            f.close().await.expect("close");
            assert_eq!(fs::read(&path.0).await.expect("read"), b"hello, world");

            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path.0)
                .await
                .expect("open rw");
            f.set_len(5).await.expect("set_len");
            let meta = f.metadata().await.expect("metadata");
            assert!(meta.is_file());
            assert_eq!(meta.len(), 5);
            assert_eq!(f.seek(io::SeekFrom::End(-2)).await.expect("seek"), 3);
            let mut two = [0u8; 8];
            assert_eq!(f.read(&mut two).await.expect("read"), 2);
            assert_eq!(&two[..2], b"lo");
            assert_eq!(f.read(&mut two).await.expect("read at the end"), 0);
            f.sync_data().await.expect("sync_data");
            f.close().await.expect("close");

            let from_std = std::fs::File::open(&path.0).expect("std open");
            let mut f = File::from_std(from_std).expect("from_std");
            let mut all = Vec::new();
            f.read_to_end(&mut all).await.expect("read_to_end");
            assert_eq!(all, b"hello");
        });
    });
}
on_every_driver!(options_metadata_and_helpers);

fn async_fd_refuses_regular_files(driver: DriverKind) {
    common::bounded(30, "AsyncFd on a file", move || {
        let path = TempPath::new("asyncfd", driver);
        std::fs::write(&path.0, b"x").expect("std write");
        runtime(driver).block_on(async {
            let file = std::fs::File::open(&path.0).expect("std open");
            let err = AsyncFd::new(file).expect_err("AsyncFd on a regular file");
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
            let msg = err.to_string();
            assert!(msg.contains("regular file"), "{msg}");
            assert!(msg.contains("always ready"), "says why: {msg}");
            assert!(msg.contains("iomux::rt::fs"), "says what to use: {msg}");
            let dir = std::fs::File::open(std::env::temp_dir()).expect("open a directory");
            let err = AsyncFd::new(dir).expect_err("AsyncFd on a directory");
            assert!(err.to_string().contains("directory"), "{err}");
        });
    });
}
on_every_driver!(async_fd_refuses_regular_files);

fn try_io_error_with_question_mark(driver: DriverKind) {
    common::bounded(30, "TryIoError", move || {
        let (r, _w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::NONBLOCK | rustix::pipe::PipeFlags::CLOEXEC,
        )
        .expect("pipe");
        runtime(driver).block_on(async move {
            let fd = AsyncFd::new(r).expect("AsyncFd on a pipe");
            // An empty pipe whose writer is open: the read would block.
            async fn read_once(
                fd: &AsyncFd<std::os::fd::OwnedFd>,
            ) -> Result<usize, Box<dyn std::error::Error>> {
                let mut guard = fd.readable().await?;
                let mut buf = [0u8; 8];
                let n = guard.try_io(|r| Ok(rustix::io::read(r, &mut buf)?))??;
                Ok(n)
            }
            let err = read_once(&fd).await.expect_err("an empty pipe would block");
            assert!(err.to_string().contains("would block"), "{err}");
            async fn as_io(fd: &AsyncFd<std::os::fd::OwnedFd>) -> io::Result<usize> {
                let mut guard = fd.readable().await?;
                let mut buf = [0u8; 8];
                guard.try_io(|r| Ok(rustix::io::read(r, &mut buf)?))?
            }
            // Readiness was cleared: wait with a deadline for the error.
            let mut w = pin!(as_io(&fd));
            let first = poll_fn(|cx| Poll::Ready(w.as_mut().poll(cx))).await;
            if let Poll::Ready(r) = first {
                let e = r.expect_err("an empty pipe would block");
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            }
        });
    });
}
on_every_driver!(try_io_error_with_question_mark);

/// On the io_uring completion driver, reads, writes and syncs are requests
/// of the ring: they finish while every thread of the blocking pool is
/// busy (on a readiness driver they would wait for a pool thread).
#[test]
fn uring_file_io_needs_no_pool_thread() {
    let driver = DriverKind::Uring;
    common::bounded(60, "uring file io with the pool plugged", move || {
        let path = TempPath::new("no_pool", driver);
        std::fs::write(&path.0, b"0123456789").expect("std write");
        runtime(driver).block_on(async {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path.0)
                .await
                .expect("open");
            let plug = PoolPlug::new();
            let io = async {
                f.write_all_at(b"abcd", 2).await?;
                f.sync_data().await?;
                let mut head = [0u8; 10];
                let n = f.read_at(&mut head, 0).await?;
                Ok::<_, io::Error>(head[..n].to_vec())
            };
            let got = rt::time::timeout(Duration::from_secs(10), io)
                .await
                .expect(
                    "reads, writes and syncs waited for the plugged pool: not io_uring requests",
                )
                .expect("file io");
            assert_eq!(got, b"01abcd6789");
            plug.pull().await;
            f.close().await.expect("close");
        });
    });
}
