//! A minimal closed-loop echo client on io_uring: N connections, each with
//! one request of SIZE bytes in flight, a linked send → recv per request and
//! no system call per request. It exists to check how much of a server
//! comparison the load generator's own cost decides (BENCHMARKS.md, issue
//! 5): `iomux load` pays two system calls per request, this client none.
//! Every reply is checked byte for byte; any error ends the run with a
//! non-zero status. Its ring is the library's io_uring core
//! (`iomux::uring`), as every io_uring user's in the repository.
//!
//! `cargo run --release -p iomux-cli --example uring_echo_client -- ADDR [CONNS] [SECONDS] [SIZE]`
//! prints `requests/s` over the window after a one-second warm-up.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use iomux::uring::{Options, Ring, Sqe, Target, TaskRun, UserData, op};

struct Conn {
    sock: TcpStream,
    out: Vec<u8>,
    inp: Vec<u8>,
    /// Bytes of the current reply received so far.
    got: usize,
}

const SEND: u8 = 0;
const RECV: u8 = 1;

/// A request and its reply: the send, linked to the recv of the reply.
/// user_data: op SEND or RECV, slot the connection's index.
fn requests(c: &mut Conn, i: usize) -> [Sqe; 2] {
    let target = Target::Fd(c.sock.as_raw_fd());
    // SAFETY: `out` lives in `conns`, which outlives the ring's requests
    // (the process exits with them in flight, never frees), and is never
    // written after it is made.
    let send = unsafe { op::send(target, &c.out, UserData::new(SEND, i as u32, 0)) };
    [send.linked().skip_success(), recv_only(c, i, 0)]
}

/// A recv of the rest of the reply, from byte `from` on.
fn recv_only(c: &mut Conn, i: usize, from: usize) -> Sqe {
    let rest = &mut c.inp[from..];
    let target = Target::Fd(c.sock.as_raw_fd());
    // SAFETY: `inp` lives in `conns` (see `requests`) and is read only once
    // this recv's completion is in.
    unsafe {
        op::recv(
            target,
            rest.as_mut_ptr(),
            rest.len() as u32,
            UserData::new(RECV, i as u32, 0),
        )
    }
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
    let mut ring = Ring::open(
        &Options::new("uring_echo_client")
            .entries(entries, 2 * entries)
            .task_run(TaskRun::Defer)
            .register_ring_fd(true),
    )?;
    for (i, c) in conns.iter_mut().enumerate() {
        for e in requests(c, i) {
            ring.push(e);
        }
    }
    let warm = Instant::now() + Duration::from_secs(1);
    let end = warm + Duration::from_secs_f64(secs);
    let (mut done, mut at_warm) = (0u64, None);
    while Instant::now() < end {
        // Bounded, so that a server that stops answering ends the run.
        ring.enter(1, Some(end.saturating_duration_since(Instant::now())))?;
        if at_warm.is_none() && Instant::now() >= warm {
            at_warm = Some(done);
        }
        let mut cqes = Vec::new();
        ring.reap(&mut cqes);
        for cqe in cqes {
            let i = cqe.user_data().slot() as usize;
            let res = cqe.result();
            if cqe.user_data().op() == SEND || res <= 0 {
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
                ring.push(e);
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
