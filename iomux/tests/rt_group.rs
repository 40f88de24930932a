//! `rt::group::run` on every driver: one runtime per thread, each made
//! inside its runtime (so it may bind its own SO_REUSEPORT listener there),
//! serving connections on one shared port; outputs in thread order; a
//! runtime whose future panics is an error, not a hang.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use iomux::rt::{self, DriverKind, net::TcpListener};

const THREADS: usize = 2;
/// Connections per runtime; SO_REUSEPORT hashes them, so the client keeps
/// connecting until every runtime has served its share.
const EACH: usize = 4;

fn runtimes_share_one_port(driver: DriverKind) {
    common::bounded(30, "a group of runtimes on one port", move || {
        // Port 0 on the first runtime, then the others on the port it got.
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("probe a free port");
        let addr: SocketAddr = first.local_addr().unwrap();
        drop(first);
        let bound = Arc::new(Barrier::new(THREADS + 1));
        let served = Arc::new(AtomicUsize::new(0));
        let client = {
            let (bound, served) = (bound.clone(), served.clone());
            std::thread::spawn(move || {
                bound.wait();
                let mut n = 0u32;
                while served.load(Ordering::SeqCst) < THREADS * EACH {
                    n += 1;
                    // A connection to a runtime that has served its share
                    // is refused or closed at once: try again.
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        continue;
                    };
                    let msg = n.to_le_bytes();
                    if s.write_all(&msg).is_err() {
                        continue;
                    }
                    let mut back = [0u8; 4];
                    if s.read_exact(&mut back).is_ok() {
                        assert_eq!(back, msg, "echoed unchanged");
                    }
                    assert!(n < 100_000, "the runtimes never served their shares");
                }
            })
        };
        let outputs = rt::group::run(THREADS, driver, move |i| {
            // Made here, synchronously, inside the runtime.
            let listener = TcpListener::bind_reuseport(addr);
            let (bound, served) = (bound.clone(), served.clone());
            async move {
                let listener = listener?;
                bound.wait();
                let name = std::thread::current().name().map(str::to_owned);
                for _ in 0..EACH {
                    let (mut conn, _) = listener.accept().await?;
                    let mut buf = [0u8; 4];
                    let mut got = 0;
                    while got < 4 {
                        let n = conn.read(&mut buf[got..]).await?;
                        assert!(n > 0, "the client closed early");
                        got += n;
                    }
                    conn.write_all(&buf).await?;
                    served.fetch_add(1, Ordering::SeqCst);
                }
                Ok((i, name))
            }
        })
        .expect("the group runs");
        client.join().expect("the client");
        let want: Vec<_> = (0..THREADS)
            .map(|i| (i, Some(format!("iomux-rt-{i}"))))
            .collect();
        assert_eq!(
            outputs, want,
            "one output per runtime, in order, on its own thread"
        );
    });
}
on_every_driver!(runtimes_share_one_port);

#[test]
fn a_panicking_runtime_is_an_error() {
    common::bounded(30, "a group with a panicking runtime", || {
        let err = rt::group::run(
            2,
            DriverKind::Readiness(iomux::Backend::Epoll),
            |i| async move {
                if i == 1 {
                    panic!("runtime 1 fails on purpose");
                }
                Ok(i)
            },
        )
        .expect_err("a panicking runtime fails the group");
        assert!(
            err.to_string().contains("runtime thread 1 panicked"),
            "{err}"
        );
    });
}
