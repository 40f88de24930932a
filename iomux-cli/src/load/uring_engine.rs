//! `iomux load --engine uring`: an HTTP client on io_uring that costs less
//! than the servers it measures, so that a server's saturation throughput,
//! not the client's, is what a run reports.
//!
//! - One multishot receive per connection into a provided-buffer ring: the
//!   kernel receives every response without a request per response.
//! - Sends are queued as submission entries and go to the kernel with the
//!   wait that reaps completions: one `io_uring_enter` per loop turn, for as
//!   many requests as completed in that turn (printed as enters/request).
//! - `--pipeline D` sends D requests at once and waits for their D
//!   responses; every response is framed and checked (status 200,
//!   Content-Length, the body `Hello, World!`).
//! - `--rate R` caps the requests sent per second (for latency at a fixed
//!   load); without it the loop is closed: each connection sends its next
//!   batch as soon as the last response of the previous one arrives.
//!
//! A connection the server closes (after `Connection: close`, or without
//! warning) is replaced at once by a new one, as wrk does; a close without
//! warning counts as `closed` in the report.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, squeue, types};

use super::exchange::{HTTP_REQUEST, Verdict};
use super::report::{self, LoadReport};
use super::responses::Responses;
use super::{LoadArgs, connect};
use iomux::uring::BufRing;

/// Provided buffers: enough for every active connection's burst.
const BUFFERS: u16 = 4096;
const BUFFER_SIZE: usize = 4096;
const BUFFER_GROUP: u16 = 7;

const OP_RECV: u64 = 1 << 56;
const OP_SEND: u64 = 2 << 56;
const OP_MASK: u64 = 0xff << 56;

/// The user data of a request: operation, the connection's generation (so
/// a completion for a connection since replaced is ignored) and its index.
fn user_data(op: u64, gen_: u32, index: usize) -> u64 {
    op | (u64::from(gen_ & 0xff_ffff) << 32) | index as u64
}

struct Conn {
    sock: TcpStream,
    generation: u32,
    responses: Responses,
    /// Responses still owed for the batch in flight.
    awaited: usize,
    /// Bytes of the batch's requests not yet accepted by the kernel.
    unsent: usize,
    sent_at: Instant,
    /// The server said it will close: replace the connection at EOF.
    closing: bool,
}

/// What the run counts, in and out of the window.
struct Tally {
    report: LoadReport,
    hist: hdrhistogram::Histogram<u64>,
    measuring: bool,
    /// Requests handed to the kernel, for `--rate`.
    sent: u64,
    enters: u64,
}

/// The engine's state: the ring, the buffers and the connections.
struct Engine<'a> {
    args: &'a LoadArgs,
    ring: IoUring,
    bufs: BufRing,
    conns: Vec<Conn>,
    /// The requests of one batch, back to back.
    batch: Vec<u8>,
    /// Connections waiting for `--rate` to let their next batch go.
    held: Vec<usize>,
    tally: Tally,
}

/// Runs the load on io_uring; `emit` gets the report at the end of the
/// window, while the connections are still open.
pub fn generate(args: &LoadArgs, emit: impl FnOnce(&LoadReport)) -> io::Result<LoadReport> {
    let n = args.conns;
    let k = args.active.min(n);
    let t0 = Instant::now();
    let mut idle = Vec::with_capacity(n - k);
    let mut conns = Vec::with_capacity(k);
    for i in 0..n {
        let sock = connect_blocking(args, i)?;
        if i < k {
            conns.push(Conn {
                sock,
                generation: 0,
                responses: Responses::default(),
                awaited: 0,
                unsent: 0,
                sent_at: Instant::now(),
                closing: false,
            });
        } else {
            idle.push(sock);
        }
    }
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(8192)
        .build(1024)
        .or_else(|_| IoUring::builder().setup_cqsize(8192).build(1024))
        .map_err(|e| io::Error::new(e.kind(), format!("--engine uring: io_uring_setup: {e}")))?;
    let bufs = BufRing::new(&ring, BUFFER_GROUP, BUFFERS, BUFFER_SIZE)?;
    let mut engine = Engine {
        args,
        ring,
        bufs,
        conns,
        batch: HTTP_REQUEST.repeat(args.pipeline),
        held: Vec::new(),
        tally: Tally {
            report: LoadReport {
                conns: n,
                active: k,
                connected: n,
                connect_s: t0.elapsed().as_secs_f64(),
                ..LoadReport::default()
            },
            hist: report::histogram(),
            measuring: false,
            sent: 0,
            enters: 0,
        },
    };
    for i in 0..k {
        engine.arm_recv(i)?;
        engine.send_batch(i)?;
    }
    let start = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = start + Duration::from_secs_f64(args.duration);
    let mut cpu_at_start = 0.0;
    let mut enters_at_start = 0;
    let mut completions = Vec::with_capacity(8192);
    loop {
        let now = Instant::now();
        if !engine.tally.measuring && now >= start {
            engine.tally.measuring = true;
            cpu_at_start = cpu_seconds();
            enters_at_start = engine.tally.enters;
        }
        if now >= end {
            break;
        }
        let rate_start = start - Duration::from_secs_f64(args.warmup);
        engine.release_held(now, rate_start)?;
        let phase_end = if engine.tally.measuring { end } else { start };
        let mut wake = phase_end.saturating_duration_since(now);
        if let Some(rate) = args.rate
            && !engine.held.is_empty()
        {
            let due = (engine.tally.sent + args.pipeline as u64) as f64 / rate;
            let next = rate_start + Duration::from_secs_f64(due);
            wake = wake.min(next.saturating_duration_since(now));
        }
        engine.enter(wake)?;
        completions.clear();
        completions.extend(
            engine
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(data, result, flags) in &completions {
            engine.complete(data, result, flags)?;
        }
        engine.bufs.publish();
    }
    let window = end - start;
    let cpu = cpu_seconds() - cpu_at_start;
    let t = &mut engine.tally;
    let r = &mut t.report;
    r.duration_s = window.as_secs_f64();
    r.rps = r.requests as f64 / r.duration_s;
    r.errors = r.bad_replies + r.closed + r.connect_errors;
    if r.requests > 0 {
        r.client_cpu_us_per_req = Some(cpu * 1e6 / r.requests as f64);
        r.enters_per_req = Some((t.enters - enters_at_start) as f64 / r.requests as f64);
    }
    report::set_latencies(r, &t.hist);
    emit(r);
    for c in &engine.conns {
        connect::abort(&c.sock);
    }
    for s in &idle {
        connect::abort(s);
    }
    Ok(engine.tally.report)
}

impl Engine<'_> {
    /// Submits what is queued and waits up to `wake` for a completion.
    fn enter(&mut self, wake: Duration) -> io::Result<()> {
        self.tally.enters += 1;
        let ts = types::Timespec::from(wake);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Queues a submission entry, submitting first if the queue is full.
    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every buffer an entry names (the batch, the provided
            // buffers) lives as long as the engine, which outlives the ring's
            // use of it: the ring is dropped with the engine.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.tally.enters += 1;
            self.ring.submit()?;
        }
    }

    fn arm_recv(&mut self, i: usize) -> io::Result<()> {
        let c = &self.conns[i];
        let entry = opcode::RecvMulti::new(types::Fd(c.sock.as_raw_fd()), BUFFER_GROUP)
            .build()
            .user_data(user_data(OP_RECV, c.generation, i));
        self.push(entry)
    }

    /// Starts connection `i`'s next batch, or holds it for `--rate`.
    fn send_batch(&mut self, i: usize) -> io::Result<()> {
        if self.args.rate.is_some() {
            self.held.push(i);
            return Ok(());
        }
        self.send_now(i)
    }

    fn send_now(&mut self, i: usize) -> io::Result<()> {
        let c = &mut self.conns[i];
        c.awaited = self.args.pipeline;
        c.unsent = self.batch.len();
        c.sent_at = Instant::now();
        self.tally.sent += self.args.pipeline as u64;
        self.push_send(i)
    }

    fn push_send(&mut self, i: usize) -> io::Result<()> {
        let c = &self.conns[i];
        let from = &self.batch[self.batch.len() - c.unsent..];
        let entry = opcode::Send::new(
            types::Fd(c.sock.as_raw_fd()),
            from.as_ptr(),
            from.len() as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(OP_SEND, c.generation, i));
        self.push(entry)
    }

    /// Lets held batches go as far as `--rate` allows since `since`.
    fn release_held(&mut self, now: Instant, since: Instant) -> io::Result<()> {
        let Some(rate) = self.args.rate else {
            return Ok(());
        };
        let allowed = ((now - since).as_secs_f64() * rate) as u64;
        while !self.held.is_empty() && self.tally.sent + self.args.pipeline as u64 <= allowed {
            let i = self.held.remove(0);
            self.send_now(i)?;
        }
        Ok(())
    }

    fn complete(&mut self, data: u64, result: i32, flags: u32) -> io::Result<()> {
        let i = (data & 0xffff_ffff) as usize;
        let gen_ = ((data >> 32) & 0xff_ffff) as u32;
        let Some(c) = self.conns.get(i) else {
            return Ok(());
        };
        let current = gen_ == c.generation & 0xff_ffff;
        match data & OP_MASK {
            OP_RECV => {
                if let Some(bid) = cqueue::buffer_select(flags) {
                    if current && result > 0 {
                        self.on_bytes(i, bid, result as usize);
                    }
                    self.bufs.give_back(bid);
                }
                if !current {
                    return Ok(());
                }
                if result == 0 || (result < 0 && result != -libc::ENOBUFS) {
                    return self.replace(i);
                }
                if !cqueue::more(flags) {
                    // Out of buffers, or the kernel ended the multishot.
                    self.arm_recv(i)?;
                }
                Ok(())
            }
            OP_SEND if current => {
                if result < 0 {
                    // The receive side sees the close and replaces it.
                    return Ok(());
                }
                let c = &mut self.conns[i];
                c.unsent = c.unsent.saturating_sub(result as usize);
                if c.unsent > 0 {
                    self.push_send(i)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Frames and checks the response bytes in buffer `bid`.
    fn on_bytes(&mut self, i: usize, bid: u16, len: usize) {
        let bytes = self.bufs.get(bid, len);
        let c = &mut self.conns[i];
        let t = &mut self.tally;
        let latency = c.sent_at.elapsed().as_nanos() as u64;
        let mut good = 0;
        let mut closing = false;
        let mut bad = false;
        c.responses.feed(bytes, |v| match v {
            Verdict::Good => good += 1,
            Verdict::GoodThenClose => {
                good += 1;
                closing = true;
            }
            Verdict::Bad | Verdict::Partial => bad = true,
        });
        let good = good.min(c.awaited);
        c.awaited -= good;
        if t.measuring {
            t.report.requests += good as u64;
            for _ in 0..good {
                t.hist.saturating_record(latency.max(1));
            }
            if bad {
                t.report.bad_replies += 1;
            }
        }
        c.closing |= closing || bad;
        if bad {
            // Nothing after a wrong response can be framed: end the
            // connection; its EOF replaces it.
            let _ = rustix::net::shutdown(&c.sock, rustix::net::Shutdown::Both);
        } else if c.awaited == 0 && !c.closing {
            let _ = self.send_batch(i);
        }
    }

    /// The server closed connection `i`: a new one takes its place.
    fn replace(&mut self, i: usize) -> io::Result<()> {
        let c = &mut self.conns[i];
        if !c.closing && self.tally.measuring {
            self.tally.report.closed += 1;
        }
        let sock = connect_blocking(self.args, i)?;
        let c = &mut self.conns[i];
        c.sock = sock;
        c.generation = c.generation.wrapping_add(1);
        c.responses.reset();
        c.closing = false;
        self.held.retain(|&h| h != i);
        self.arm_recv(i)?;
        self.send_batch(i)
    }
}

/// Connects connection `i` and waits for the handshake (bounded: 10 s).
fn connect_blocking(args: &LoadArgs, i: usize) -> io::Result<TcpStream> {
    let sock = connect::start(args.addr, i)?;
    let mut fds = [rustix::event::PollFd::new(
        &sock,
        rustix::event::PollFlags::OUT,
    )];
    let timeout = rustix::event::Timespec {
        tv_sec: 10,
        tv_nsec: 0,
    };
    let ready = rustix::event::poll(&mut fds, Some(&timeout))?;
    if ready == 0 {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("cannot connect to {}: no answer in 10 s", args.addr),
        ));
    }
    if let Some(e) = sock.take_error()? {
        return Err(io::Error::new(
            e.kind(),
            format!("cannot connect to {}: {e}", args.addr),
        ));
    }
    sock.set_nodelay(true)?;
    Ok(sock)
}

/// User + system CPU time of this process, seconds.
fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}
