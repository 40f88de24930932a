//! A dropped runtime closes its kernel objects (epoll fd, eventfd, io_uring
//! ring) even while its wakers, `Handle`s and `JoinHandle`s live on in
//! other code. One test in this binary, so that no other test opens or
//! closes descriptors while it counts them.

use std::collections::BTreeSet;
use std::task::Waker;

use iomux::rt::{DriverKind, Runtime};

/// The runtime-like descriptors open in this process: (fd, what it is).
fn kernel_objects() -> BTreeSet<(u32, String)> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let fd: u32 = e.file_name().to_str()?.parse().ok()?;
            let what = std::fs::read_link(e.path()).ok()?;
            let what = what.to_string_lossy().into_owned();
            ["eventpoll", "eventfd", "io_uring"]
                .iter()
                .any(|k| what.contains(k))
                .then_some((fd, what))
        })
        .collect()
}

#[test]
fn a_dropped_runtime_releases_its_fds_while_handles_live() {
    for driver in DriverKind::ALL {
        let before = kernel_objects();
        let rt = Runtime::with_driver(driver).unwrap_or_else(|e| panic!("{driver}: {e}"));
        let handle = rt.handle();
        let (join, waker) = rt.block_on(async {
            let join = iomux::rt::spawn_local(std::future::pending::<()>());
            iomux::rt::yield_now().await;
            let waker: Waker =
                std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone())).await;
            (join, waker)
        });
        let during = kernel_objects();
        assert!(
            during.len() > before.len(),
            "{driver}: the runtime opened no eventfd, epoll or io_uring fd: the test sees nothing"
        );
        drop(rt);
        let after = kernel_objects();
        let left: Vec<_> = after.difference(&before).collect();
        assert!(
            left.is_empty(),
            "{driver}: the dropped runtime left {left:?} open while a Handle, a JoinHandle and a waker live"
        );
        // They still work, and say the runtime is gone.
        waker.wake_by_ref();
        assert!(
            join.is_finished(),
            "{driver}: the task outlived its runtime"
        );
        let late = handle.spawn(async {});
        assert!(
            late.is_finished(),
            "{driver}: a spawn on a dropped runtime was accepted"
        );
    }
}
