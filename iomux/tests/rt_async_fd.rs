//! `AsyncFd` on every driver: a pipe watched for readability, woken by a
//! write from another thread; `try_io` clears readiness on `WouldBlock`.

#[macro_use]
mod common;

use std::io;
use std::os::fd::OwnedFd;

use iomux::rt::{AsyncFd, DriverKind, Runtime};

fn pipe_readable_from_another_thread(driver: DriverKind) {
    common::bounded(30, "AsyncFd pipe", move || {
        let (r, w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::NONBLOCK | rustix::pipe::PipeFlags::CLOEXEC,
        )
        .expect("pipe");
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async move {
            let fd = AsyncFd::new(r).expect("AsyncFd");
            let mut got = Vec::new();
            let writer = std::thread::spawn(move || {
                let w: OwnedFd = w;
                for i in 0..10u8 {
                    rustix::io::write(&w, &[i; 100]).expect("write pipe");
                    std::thread::yield_now();
                }
                w
            });
            while got.len() < 1000 {
                let mut guard = fd.readable().await.expect("readable");
                let mut buf = [0u8; 256];
                match guard.try_io(|r| Ok::<_, io::Error>(rustix::io::read(r, &mut buf)?)) {
                    Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                    Ok(Err(e)) => panic!("read: {e}"),
                    Err(_would_block) => continue,
                }
            }
            // The write end stays open, so an empty pipe would block
            // (rather than read as end of file).
            let _w = writer.join().expect("writer thread");
            let want: Vec<u8> = (0..10u8).flat_map(|i| [i; 100]).collect();
            assert_eq!(got, want);
            // Nothing left: a read says WouldBlock and clears readiness.
            let mut guard = fd.readable().await.expect("readable");
            let mut buf = [0u8; 8];
            assert!(
                guard
                    .try_io(|r| Ok::<_, io::Error>(rustix::io::read(r, &mut buf)?))
                    .is_err()
            );
            let r = fd.into_inner();
            drop(r);
        });
    });
}
on_every_driver!(pipe_readable_from_another_thread);
