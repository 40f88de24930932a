//! A runtime dropped with reads and accepts in flight, on every driver in
//! turn, leaves no descriptor open (the io_uring driver cancels its
//! requests and waits for their completions). Alone in its test binary:
//! it counts the process's descriptors.

mod common;

use iomux::rt::net::{TcpListener, TcpStream};
use iomux::rt::{self, DriverKind, Runtime};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

#[test]
fn a_runtime_dropped_with_io_in_flight_leaks_no_fd() {
    common::bounded(60, "fd leak", || {
        for driver in DriverKind::ALL {
            let before = open_fds();
            {
                let rt = Runtime::with_driver(driver).expect("runtime");
                rt.block_on(async {
                    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                    let addr = listener.local_addr().expect("addr");
                    let mut keep = Vec::new();
                    for _ in 0..20 {
                        let c = TcpStream::connect(addr).await.expect("connect");
                        let (s, _) = listener.accept().await.expect("accept");
                        keep.push((c, s));
                    }
                    // Reads pending on every socket, in tasks left running,
                    // and an accept pending in another.
                    for (c, s) in keep {
                        for mut sock in [c, s] {
                            rt::spawn_local(async move {
                                let mut buf = [0u8; 16];
                                let _ = sock.read(&mut buf).await;
                            });
                        }
                    }
                    rt::spawn_local(async move {
                        let _ = listener.accept().await;
                    });
                    for _ in 0..3 {
                        rt::yield_now().await;
                    }
                });
            }
            assert_eq!(
                open_fds(),
                before,
                "{driver}: descriptors left after the runtime was dropped"
            );
        }
    });
}
