//! The signal-driven model when its real-time signal queue overflows: the
//! kernel raises SIGIO instead, the server falls back to a full scan, and
//! no byte is lost.

mod models_common;
mod serve_common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use models_common::{Served, WAIT, stat};

#[test]
fn overflow_falls_back_to_a_full_scan_without_losing_data() {
    // A queue of 2 signals for 100 busy connections overflows at once.
    let server = Served::start("sigio", "echo", &[("IOMUX_SIGIO_QUEUE", "2")]);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for i in 0..100u32 {
            let addr = server.addr;
            handles.push(scope.spawn(move || {
                let mut w = TcpStream::connect(addr).expect("connect");
                w.set_read_timeout(Some(WAIT)).unwrap();
                let mut r = w.try_clone().unwrap();
                let data: Vec<u8> = (0..200_000u32)
                    .map(|b| (b.wrapping_mul(31) ^ i) as u8)
                    .collect();
                let sent = data.clone();
                let writer = std::thread::spawn(move || {
                    for chunk in sent.chunks(1000) {
                        w.write_all(chunk).expect("write");
                    }
                    w.shutdown(Shutdown::Write).unwrap();
                });
                let mut got = Vec::new();
                r.read_to_end(&mut got)
                    .unwrap_or_else(|e| panic!("conn {i}: {e}"));
                writer.join().unwrap();
                assert!(
                    got == data,
                    "conn {i}: echoed bytes differ ({} of {})",
                    got.len(),
                    data.len()
                );
            }));
        }
        for h in handles {
            h.join().expect("connection");
        }
    });
    let (status, err) = server.stop();
    assert!(status.success(), "{status}; {err}");
    let overflows = stat(&err, "overflows").expect("overflows in the exit line");
    let scans = stat(&err, "full_scans").expect("full_scans in the exit line");
    assert!(overflows > 0, "the queue should have overflowed: {err}");
    assert_eq!(scans, overflows, "one full scan per overflow: {err}");
}
