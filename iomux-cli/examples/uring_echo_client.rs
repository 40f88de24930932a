//! A minimal closed-loop echo client on io_uring: N connections, each with
//! one request of SIZE bytes in flight, a linked send → recv per request and
//! no system call per request. It exists to check how much of a server
//! comparison the load generator's own cost decides (BENCHMARKS.md, issue
//! 5): `iomux load` pays two system calls per request, this client none.
//! Every reply is checked byte for byte; any error ends the run with a
//! non-zero status.
//!
//! `cargo run --release -p iomux-cli --example uring_echo_client -- ADDR [CONNS] [SECONDS] [SIZE]`
//! prints `requests/s` over the window after a one-second warm-up.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::types::{Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, opcode, squeue};

struct Conn {
    sock: TcpStream,
    out: Vec<u8>,
    inp: Vec<u8>,
    /// Bytes of the current reply received so far.
    got: usize,
}

/// A request and its reply: the send, linked to the recv of the reply.
/// user_data: connection index << 1 | 1 for the recv, | 0 for the send.
fn requests(c: &mut Conn, i: usize) -> [squeue::Entry; 2] {
    let send = opcode::Send::new(Fd(c.sock.as_raw_fd()), c.out.as_ptr(), c.out.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .flags(squeue::Flags::IO_LINK | squeue::Flags::SKIP_SUCCESS)
        .user_data((i as u64) << 1);
    [send, recv_only(c, i, 0)]
}

/// A recv of the rest of the reply, from byte `from` on.
fn recv_only(c: &mut Conn, i: usize, from: usize) -> squeue::Entry {
    let rest = &mut c.inp[from..];
    opcode::Recv::new(Fd(c.sock.as_raw_fd()), rest.as_mut_ptr(), rest.len() as u32)
        .build()
        .user_data(((i as u64) << 1) | 1)
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .ok_or_else(|| io::Error::other("usage: uring_echo_client ADDR [CONNS] [SECONDS] [SIZE]"))?
        .parse()
        .map_err(io::Error::other)?;
    let mut num = |default: f64| -> io::Result<f64> {
        let v = args
            .next()
            .map_or(Ok(default), |s| s.parse().map_err(io::Error::other))?;
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(io::Error::other("CONNS, SECONDS and SIZE must be above 0"))
        }
    };
    let (n, secs, size) = (num(1000.0)? as usize, num(5.0)?, num(64.0)? as usize);
    if n == 0 || size == 0 {
        return Err(io::Error::other("CONNS and SIZE must be at least 1"));
    }

    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        conns.push(Conn {
            sock,
            out: vec![b'x'; size],
            inp: vec![0; size],
            got: 0,
        });
    }
    // One send and one recv per connection in flight, and room to spare.
    let entries = (2 * n).next_power_of_two().max(64) as u32;
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries)?;
    for (i, c) in conns.iter_mut().enumerate() {
        for e in requests(c, i) {
            // SAFETY: the buffers live in `conns`, which outlives the ring's
            // requests (the process exits with them in flight, never frees).
            unsafe { ring.submission().push(&e) }.map_err(io::Error::other)?;
        }
    }
    let warm = Instant::now() + Duration::from_secs(1);
    let end = warm + Duration::from_secs_f64(secs);
    let (mut done, mut at_warm) = (0u64, None);
    while Instant::now() < end {
        // Bounded, so that a server that stops answering ends the run.
        let ts = Timespec::from(end.saturating_duration_since(Instant::now()));
        match ring
            .submitter()
            .submit_with_args(1, &SubmitArgs::new().timespec(&ts))
        {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
        if at_warm.is_none() && Instant::now() >= warm {
            at_warm = Some(done);
        }
        let cqes: Vec<_> = ring.completion().collect();
        for cqe in cqes {
            let i = (cqe.user_data() >> 1) as usize;
            let res = cqe.result();
            if cqe.user_data() & 1 == 0 || res <= 0 {
                // A failed send (its recv is cancelled), or a recv that
                // failed or saw the peer close.
                return Err(io::Error::other(format!("connection {i}: result {res}")));
            }
            let c = &mut conns[i];
            c.got += res as usize;
            let next = if c.got < size {
                vec![recv_only(c, i, c.got)]
            } else {
                if c.inp != c.out {
                    return Err(io::Error::other(format!("connection {i}: wrong echo")));
                }
                c.got = 0;
                done += 1;
                requests(c, i).to_vec()
            };
            for e in next {
                // SAFETY: as above.
                while unsafe { ring.submission().push(&e) }.is_err() {
                    ring.submit()?;
                }
            }
        }
    }
    let measured = done - at_warm.unwrap_or(done);
    if measured == 0 {
        return Err(io::Error::other("no reply in the window"));
    }
    println!("{:.0} requests/s", measured as f64 / secs);
    Ok(())
}
