//! Dropping a runtime is prompt on every driver, idle streams or not (its
//! own file: the fd count of `rt_release.rs` must not see these).

use iomux::rt::{DriverKind, Runtime};

/// A runtime holding idle streams (a receive armed on each, on io_uring)
/// shuts down without waiting out its drain bound: the cancelled requests
/// complete at once. The bound here only catches a stall (the drain's own
/// limit is 2 s); the figure is printed for BENCHMARKS.md.
#[test]
fn a_runtime_with_idle_streams_drops_promptly() {
    for driver in DriverKind::ALL {
        let rt = Runtime::with_driver(driver).unwrap_or_else(|e| panic!("{driver}: {e}"));
        let streams = rt.block_on(async {
            let listener = iomux::rt::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let mut streams = Vec::new();
            for _ in 0..100 {
                let client = iomux::rt::net::TcpStream::connect(addr)
                    .await
                    .expect("connect");
                let (server, _) = listener.accept().await.expect("accept");
                streams.push((client, server));
            }
            // One turn, so that every receive is armed in the kernel.
            iomux::rt::yield_now().await;
            streams
        });
        let started = std::time::Instant::now();
        drop(streams);
        drop(rt);
        let took = started.elapsed();
        println!("{driver}: dropped a runtime with 200 idle streams in {took:?}");
        assert!(
            took < std::time::Duration::from_millis(1500),
            "{driver}: dropping the runtime took {took:?}: its drain waited for requests that did not end"
        );
    }
}
