//! `iomux load --engine uring`: an echo and HTTP client on io_uring that
//! costs less than the servers it measures, so that a server's saturation
//! throughput, not the client's, is what a run reports. Built on the
//! library's io_uring core (`iomux::uring`).
//!
//! - One multishot receive per connection into a provided-buffer ring
//!   (consumed incrementally where the kernel can): the kernel receives
//!   every response without a request per response.
//! - Sends are queued as submission entries and go to the kernel with the
//!   wait that reaps completions: one `io_uring_enter` per loop turn, for as
//!   many requests as completed in that turn (printed as enters/request).
//! - `--pipeline D` sends D requests at once and waits for their D
//!   responses; every response is checked: echo byte for byte (payloads
//!   differ per connection and per request), HTTP framed (status 200,
//!   Content-Length, the body `Hello, World!`).
//! - `--rate R` caps the requests sent per second (the same load for every
//!   server, for CPU per request and latency at a fixed load); without it
//!   the loop is closed: each connection sends its next batch as soon as
//!   the last response of the previous one arrives.
//!
//! A connection the server closes (after `Connection: close`, or without
//! warning) is replaced at once by a new one, as wrk does; a close without
//! warning counts as `closed` in the report.

use std::collections::VecDeque;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use iomux::uring::{BufRing, Completion, Feature, Options, Ring, Target, TaskRun, UserData, op};

use super::exchange::{HTTP_REQUEST, Verdict, echo_payload};
use super::report::{self, LoadReport};
use super::responses::Responses;
use super::{LoadArgs, Pace, connect, cpu_seconds};
use crate::proto::Proto;

/// Provided buffers: enough for every active connection's burst.
const BUFFERS: u16 = 4096;
const BUFFER_SIZE: usize = 4096;
const BUFFER_GROUP: u16 = 7;

/// The ops of the user data (slot: the connection's index).
const OP_RECV: u8 = 1;
const OP_SEND: u8 = 2;

/// How a connection's responses are checked.
enum Check {
    Http(Responses),
    /// Echo: bytes of the batch matched so far.
    Echo(usize),
}

struct Conn {
    sock: TcpStream,
    generation: u32,
    check: Check,
    /// The batch's requests. Not touched while a send of them is in flight.
    out: Vec<u8>,
    /// Batches started on this connection (echo payloads differ per batch).
    seq: u64,
    /// Responses still owed for the batch in flight.
    awaited: usize,
    /// Bytes of the batch's requests not yet accepted by the kernel.
    unsent: usize,
    send_inflight: bool,
    /// The batch was answered while its send's completion was still out:
    /// the next one starts when it comes.
    next_due: bool,
    sent_at: Instant,
    /// The server said it will close: replace the connection at EOF.
    closing: bool,
}

impl Conn {
    fn new(sock: TcpStream, proto: Proto) -> Conn {
        Conn {
            sock,
            generation: 0,
            check: match proto {
                Proto::Http => Check::Http(Responses::default()),
                Proto::Echo => Check::Echo(0),
            },
            out: Vec::new(),
            seq: 0,
            awaited: 0,
            unsent: 0,
            send_inflight: false,
            next_due: false,
            sent_at: Instant::now(),
            closing: false,
        }
    }
}

/// What the run counts, in and out of the window.
struct Tally {
    report: LoadReport,
    hist: hdrhistogram::Histogram<u64>,
    measuring: bool,
}

/// The engine's state: the ring, the buffers and the connections.
struct Engine<'a> {
    args: &'a LoadArgs,
    ring: Ring,
    bufs: BufRing,
    conns: Vec<Conn>,
    /// `--rate`: connections waiting for their next batch to be let go.
    pace: Option<Pace>,
    held: VecDeque<usize>,
    /// The batches of replaced connections whose send was in flight, by
    /// (connection, generation), until that send completes.
    retired: Vec<(usize, u32, Vec<u8>)>,
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
            conns.push(Conn::new(sock, args.proto));
        } else {
            idle.push(sock);
        }
    }
    let ring = Ring::open(
        &Options::new("`iomux load --engine uring`")
            .entries(1024, 8192)
            .task_run(TaskRun::Defer)
            .register_ring_fd(true)
            .require(&[Feature::MultishotRecv, Feature::PbufRing]),
    )?;
    let bufs = BufRing::incremental(&ring, BUFFER_GROUP, BUFFERS, BUFFER_SIZE)?;
    let mut engine = Engine {
        args,
        ring,
        bufs,
        conns,
        pace: args.rate.map(Pace::new),
        held: VecDeque::new(),
        retired: Vec::new(),
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
        },
    };
    // Tokens for --rate accrue from here, the start of the warm-up.
    let rate_start = Instant::now();
    if let Some(p) = &mut engine.pace {
        p.start(rate_start);
    }
    for i in 0..k {
        engine.arm_recv(i);
        engine.next_batch(i);
    }
    let start = rate_start + Duration::from_secs_f64(args.warmup);
    let end = start + Duration::from_secs_f64(args.duration);
    let mut cpu_at_start = 0.0;
    let mut enters_at_start = 0;
    let mut completions = Vec::with_capacity(8192);
    loop {
        let now = Instant::now();
        if !engine.tally.measuring && now >= start {
            engine.tally.measuring = true;
            cpu_at_start = cpu_seconds();
            enters_at_start = engine.ring.stats().enters;
        }
        if now >= end {
            break;
        }
        engine.release_held(now);
        let phase_end = if engine.tally.measuring { end } else { start };
        let mut wake = phase_end.saturating_duration_since(now);
        if let Some(p) = &engine.pace
            && !engine.held.is_empty()
        {
            wake = wake.min(p.next_due(args.pipeline).saturating_duration_since(now));
        }
        engine.ring.enter(1, Some(wake))?;
        completions.clear();
        engine.ring.reap(&mut completions);
        for c in &completions {
            engine.complete(c)?;
        }
        engine.bufs.publish();
    }
    let window = end - start;
    let cpu = cpu_seconds() - cpu_at_start;
    let enters = engine.ring.stats().enters - enters_at_start;
    let t = &mut engine.tally;
    let r = &mut t.report;
    r.duration_s = window.as_secs_f64();
    r.rps = r.requests as f64 / r.duration_s;
    r.errors = r.bad_replies + r.closed + r.connect_errors;
    if r.requests > 0 {
        r.client_cpu_us_per_req = Some(cpu * 1e6 / r.requests as f64);
        r.enters_per_req = Some(enters as f64 / r.requests as f64);
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
    fn target(&self, i: usize) -> Target {
        Target::Fd(self.conns[i].sock.as_raw_fd())
    }

    fn arm_recv(&mut self, i: usize) {
        let ud = UserData::new(OP_RECV, i as u32, self.conns[i].generation);
        self.ring
            .push(op::recv_multi(self.target(i), BUFFER_GROUP, ud));
    }

    /// Starts connection `i`'s next batch, or holds it for `--rate`.
    fn next_batch(&mut self, i: usize) {
        if self.pace.is_some() {
            if !self.held.contains(&i) {
                self.held.push_back(i);
            }
            return;
        }
        self.send_now(i);
    }

    /// Lets held batches go as far as `--rate` allows.
    fn release_held(&mut self, now: Instant) {
        let Some(pace) = &mut self.pace else {
            return;
        };
        let mut go = Vec::new();
        while !self.held.is_empty() && pace.take(now, self.args.pipeline) {
            go.extend(self.held.pop_front());
        }
        for i in go {
            self.send_now(i);
        }
    }

    fn send_now(&mut self, i: usize) {
        let (pipeline, size) = (self.args.pipeline, self.args.size);
        let c = &mut self.conns[i];
        match &mut c.check {
            Check::Http(_) => {
                if c.out.is_empty() {
                    c.out = HTTP_REQUEST.repeat(pipeline);
                }
            }
            Check::Echo(matched) => {
                *matched = 0;
                c.out.resize(pipeline * size, 0);
                for (j, piece) in c.out.chunks_mut(size).enumerate() {
                    echo_payload(piece, i, c.seq * pipeline as u64 + j as u64);
                }
            }
        }
        c.seq += 1;
        c.awaited = pipeline;
        c.unsent = c.out.len();
        c.sent_at = Instant::now();
        self.push_send(i);
    }

    fn push_send(&mut self, i: usize) {
        let target = self.target(i);
        let c = &mut self.conns[i];
        let from = &c.out[c.out.len() - c.unsent..];
        c.send_inflight = true;
        let ud = UserData::new(OP_SEND, i as u32, c.generation);
        // SAFETY: `out` is not touched while `send_inflight` (the next
        // batch waits for the completion: `next_due`), and the connections
        // outlive the ring's requests: the engine drops them together, and
        // a replaced connection keeps its `out`.
        let e = unsafe { op::send(target, from, ud) };
        self.ring.push(e);
    }

    fn complete(&mut self, cqe: &Completion) -> io::Result<()> {
        let ud = cqe.user_data();
        let i = ud.slot() as usize;
        let result = cqe.result();
        // Picked first: pieces of an incremental buffer count in order.
        let buf = self.bufs.pick(cqe);
        let Some(c) = self.conns.get(i) else {
            if let Some(b) = buf {
                self.bufs.release(b);
            }
            return Ok(());
        };
        let current = ud.is_generation(c.generation);
        match ud.op() {
            OP_RECV => {
                if let Some(b) = buf {
                    if current && result > 0 {
                        let c = &mut self.conns[i];
                        let due = check(c, &mut self.tally, self.bufs.bytes(&b), self.args.size);
                        if due {
                            self.next_batch(i);
                        }
                    }
                    self.bufs.release(b);
                }
                if !current {
                    return Ok(());
                }
                if result == 0 || (result < 0 && result != -libc::ENOBUFS) {
                    return self.replace(i);
                }
                if !cqe.more() {
                    // Out of buffers, or the kernel ended the multishot.
                    self.arm_recv(i);
                }
                Ok(())
            }
            OP_SEND => {
                let c = &mut self.conns[i];
                if !current {
                    // A replaced connection's last send: its bytes can go.
                    self.retired
                        .retain(|(r, g, _)| (*r, *g) != (i, ud.generation()));
                    return Ok(());
                }
                c.send_inflight = false;
                if result < 0 {
                    // The receive side sees the close and replaces it.
                    return Ok(());
                }
                c.unsent = c.unsent.saturating_sub(result as usize);
                if c.unsent > 0 {
                    self.push_send(i);
                } else if std::mem::take(&mut c.next_due) {
                    self.next_batch(i);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The server closed connection `i`: a new one takes its place.
    fn replace(&mut self, i: usize) -> io::Result<()> {
        let c = &mut self.conns[i];
        if !c.closing && self.tally.measuring {
            self.tally.report.closed += 1;
        }
        let sock = connect_blocking(self.args, i)?;
        let old = std::mem::replace(&mut self.conns[i], Conn::new(sock, self.args.proto));
        let c = &mut self.conns[i];
        c.generation = UserData::next_generation(old.generation);
        c.seq = old.seq;
        if old.send_inflight {
            // The old send may still read its bytes: they stay until its
            // completion comes.
            self.retired.push((i, old.generation, old.out));
        }
        self.held.retain(|&h| h != i);
        self.arm_recv(i);
        self.next_batch(i);
        Ok(())
    }
}

/// Frames and checks response bytes of connection `c`; true when its
/// batch is answered and the next one is due now.
fn check(c: &mut Conn, t: &mut Tally, bytes: &[u8], size: usize) -> bool {
    let latency = c.sent_at.elapsed().as_nanos() as u64;
    let mut good = 0;
    let mut closing = false;
    let mut bad = false;
    match &mut c.check {
        Check::Http(responses) => responses.feed(bytes, |v| match v {
            Verdict::Good => good += 1,
            Verdict::GoodThenClose => {
                good += 1;
                closing = true;
            }
            Verdict::Bad | Verdict::Partial => bad = true,
        }),
        Check::Echo(matched) => {
            let want = &c.out[*matched..];
            if bytes.len() > want.len() || bytes != &want[..bytes.len()] {
                bad = true;
            } else {
                good = (*matched + bytes.len()) / size - *matched / size;
                *matched += bytes.len();
            }
        }
    }
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
        return false;
    }
    if c.awaited > 0 || c.closing {
        return false;
    }
    if c.send_inflight {
        c.next_due = true;
        return false;
    }
    true
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
