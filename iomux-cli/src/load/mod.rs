//! `iomux load`: a load generator on the iomux Poller (epoll), in one
//! thread (or on io_uring: uring_engine.rs).
//!
//! It opens N connections at a paced rate, keeps K of them busy (each sends
//! a request, waits for the whole reply, checks it, and sends the next) and
//! leaves the others connected and idle. After a warm-up it measures for a
//! fixed window: completed requests, their latencies, and the client's own
//! CPU per request. The loop is closed (the next request goes as soon as a
//! reply is in), or, with `--rate R`, paced: R requests a second over all
//! connections, the same load for every server whichever engine and
//! protocol drive it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use clap::Args;
use iomux::{Event, Events, Interest, Mode, Poller, Token};

use crate::CliResult;
use crate::proto::Proto;

mod connect;
mod exchange;
mod procs;
mod report;
mod responses;
mod uring_engine;

use exchange::{Exchange, Verdict};
pub use report::LoadReport;

/// Connections opened but not yet proved accepted (see the probe in
/// `on_event`): enough to be fast, far fewer than the server's accept queue
/// holds, so that it never overflows (a dropped SYN costs a 1 s retry).
const MAX_INFLIGHT: usize = 512;

/// Arguments of `iomux load`.
#[derive(Args, Clone, Debug)]
pub struct LoadArgs {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The protocol: echo (checked byte for byte) or http (GET /plaintext).
    #[arg(long, value_enum, default_value = "echo")]
    pub proto: Proto,
    /// Connections to open (N), at least 1.
    #[arg(long, default_value_t = 100, value_parser = crate::args::at_least_one)]
    pub conns: usize,
    /// Connections kept busy (K ≤ N); the rest stay idle.
    #[arg(long, default_value_t = 10)]
    pub active: usize,
    /// Echo request size in bytes, at least 1.
    #[arg(long, default_value_t = 64, value_parser = crate::args::at_least_one)]
    pub size: usize,
    /// Measurement window, above 0: seconds, or with a unit (`500ms`, `10s`, `1m`).
    #[arg(long, default_value_t = 5.0, value_parser = crate::args::positive_seconds)]
    pub duration: f64,
    /// Warm-up before the window: seconds, or with a unit.
    #[arg(long, default_value_t = 1.0, value_parser = crate::args::seconds)]
    pub warmup: f64,
    /// Print one JSON line instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Connects per second at most (above 0).
    #[arg(long, default_value_t = 20_000.0, value_parser = crate::args::positive)]
    pub connect_rate: f64,
    /// The client's machinery: `poller` (the iomux Poller, epoll) or `uring`
    /// (io_uring: multishot receives into provided buffers, sends batched
    /// into one system call per loop turn); both speak echo and http.
    #[arg(long, value_enum, default_value = "poller")]
    pub engine: Engine,
    /// Requests sent back to back on a connection before its responses are
    /// awaited (pipelining, echo or HTTP; at least 1; above 1 needs
    /// `--engine uring`).
    #[arg(long, default_value_t = 1, value_parser = crate::args::at_least_one)]
    pub pipeline: usize,
    /// Requests per second at most, over all connections (above 0; every
    /// engine and protocol): CPU per request and latency at a fixed load,
    /// the same for every server, instead of at saturation (where a closed
    /// loop measures the client as much as the server).
    #[arg(long, value_parser = crate::args::positive)]
    pub rate: Option<f64>,
    /// For `iomux lab`: print `WARM` when the connections are up and `MEASURE`
    /// when the window opens; after the report, run `--count` more seconds
    /// between `COUNT-START` and `COUNT-END <requests>` (the lab counts the
    /// server's syscalls there, apart from the timed window), then keep the
    /// connections open until stdin closes.
    #[arg(long, hide = true)]
    pub marks: bool,
    /// With `--marks`: seconds of the counting phase after the window.
    #[arg(long, hide = true, default_value_t = 0.0, value_parser = crate::args::seconds)]
    pub count: f64,
    /// Client processes to spread the connections over (each may hold
    /// fewer than RLIMIT_NOFILE); their results are merged into one, and
    /// the idle connections are checked alive at the end (echo).
    #[arg(long, value_parser = crate::args::at_least_one)]
    pub procs: Option<usize>,
    /// With --procs: show the connect progress on stderr even when it is
    /// not a terminal (a line a second).
    #[arg(long)]
    pub progress: bool,
    /// Set by the parent of --procs in each client process it starts.
    #[arg(long, hide = true)]
    pub proc_child: bool,
    /// The index of this process's first connection among all of --procs
    /// (source addresses go round from there).
    #[arg(long, hide = true, default_value_t = 0)]
    pub source_offset: usize,
}

/// The machinery `iomux load` drives its connections with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Readiness on the iomux Poller (epoll), one read and write per reply.
    Poller,
    /// Completions on io_uring (the library's io_uring core).
    Uring,
}

/// Runs `iomux load`.
pub fn run(args: LoadArgs) -> CliResult {
    let print = |report: &LoadReport| {
        let line = if args.json {
            serde_json::to_string(report).expect("a report serialises")
        } else {
            report.summary()
        };
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    if let Some(p) = args.procs {
        return procs::run(&args, p);
    }
    if args.proc_child {
        generate(&args, |_| {})?;
        return Ok(());
    }
    match args.engine {
        Engine::Poller if args.pipeline > 1 => {
            return Err("--pipeline above 1 needs --engine uring".into());
        }
        Engine::Poller => generate(&args, print)?,
        Engine::Uring if args.marks => {
            return Err("--engine uring runs outside the lab only".into());
        }
        Engine::Uring => uring_engine::generate(&args, print)?,
    };
    Ok(())
}

/// `--rate`: requests are let go at a fixed rate over all connections.
/// Tokens accrue from `start` on (the start of the warm-up); a connection
/// whose reply is in waits for one before its next request.
pub(crate) struct Pace {
    rate: f64,
    since: Option<Instant>,
    /// Requests let go so far.
    sent: u64,
}

impl Pace {
    fn new(rate: f64) -> Pace {
        Pace {
            rate,
            since: None,
            sent: 0,
        }
    }

    /// Tokens accrue from `at` on.
    fn start(&mut self, at: Instant) {
        self.since.get_or_insert(at);
    }

    /// Lets `n` requests go if the rate allows them by `now`.
    fn take(&mut self, now: Instant, n: usize) -> bool {
        let Some(since) = self.since else {
            return false;
        };
        let allowed = (now.saturating_duration_since(since).as_secs_f64() * self.rate) as u64;
        if self.sent + n as u64 > allowed {
            return false;
        }
        self.sent += n as u64;
        true
    }

    /// When the next `n` requests may go (far off before `start`).
    fn next_due(&self, n: usize) -> Instant {
        match self.since {
            Some(since) => {
                since + Duration::from_secs_f64((self.sent + n as u64) as f64 / self.rate)
            }
            None => Instant::now() + Duration::from_secs(3600),
        }
    }
}

/// User + system CPU time of this process, seconds.
fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Tells a supervising `iomux lab` which phase began.
fn mark(what: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{what}");
    let _ = out.flush();
}

enum State {
    Connecting,
    /// Connected; one small exchange proves the server has accepted it.
    Probing(Box<Exchange>),
    Idle,
    Busy(Box<Exchange>),
}

struct Conn {
    sock: TcpStream,
    state: State,
    /// Reconnecting after the server closed at a request limit: stays busy.
    rejoining: bool,
    seq: u64,
    started: Instant,
    want_write: bool,
    /// Its reply is in and it waits in `Counters::held` for `--rate`.
    held: bool,
}

/// What happened to a connection after an event.
enum Outcome {
    Open,
    /// The server announced a close after a good reply: reconnect, stay busy.
    Reconnect,
    Connected,
    ConnectFailed,
    Closed,
    Bad,
}

struct Counters {
    report: LoadReport,
    hist: hdrhistogram::Histogram<u64>,
    measuring: bool,
    /// In the counting phase: completed requests are counted here.
    counting: bool,
    counted: u64,
    busy: usize,
    /// `--rate`, and the busy connections waiting for it to let their next
    /// request go.
    pace: Option<Pace>,
    held: VecDeque<usize>,
    /// The process's CPU time when the window opened.
    cpu_at_start: f64,
}

/// Runs the load and hands the report to `emit` while the connections are
/// still open (closing 19,000 sockets takes a while and is not measured).
pub fn generate(args: &LoadArgs, emit: impl FnOnce(&LoadReport)) -> io::Result<LoadReport> {
    let n = args.conns;
    let k = args.active.min(n);
    let poller = Poller::new()?;
    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(n);
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut c = Counters {
        report: LoadReport {
            conns: n,
            active: k,
            ..LoadReport::default()
        },
        hist: report::histogram(),
        measuring: false,
        counting: false,
        counted: 0,
        busy: 0,
        pace: args.rate.map(Pace::new),
        held: VecDeque::new(),
        cpu_at_start: 0.0,
    };
    let rate = args.connect_rate.max(1.0);
    let t0 = Instant::now();
    // Generous: a slow accepter (a thread spawn per connection, a select
    // scan over thousands of fds) paces the connects, and dropped SYNs come
    // back after 1, 3, 7 … s.
    // A client process of --procs shares the host with many others: five
    // minutes of slack (the parent bounds the whole run as well).
    let slack = if args.proc_child { 300.0 } else { 30.0 };
    let connect_deadline = t0 + Duration::from_secs_f64(n as f64 / rate + slack);
    let (mut inflight, mut connected, mut first_error) = (0usize, 0usize, None::<io::Error>);
    let mut phase_end: Option<(Instant, Instant)> = None; // (window start, window end)
    let mut emit = Some(emit);
    let count = if args.marks { args.count.max(0.0) } else { 0.0 };
    let mut count_end: Option<Instant> = None;
    let mut last_progress = None;

    loop {
        let now = Instant::now();
        match phase_end {
            None => {
                let allowed = ((now - t0).as_secs_f64() * rate) as usize + 1;
                while conns.len() < n && conns.len() < allowed && inflight < MAX_INFLIGHT {
                    let token = Token(conns.len());
                    match connect::start(args.addr, args.source_offset + conns.len()).and_then(
                        |s| {
                            poller.register(&s, token, Interest::WRITABLE, Mode::Level)?;
                            Ok(s)
                        },
                    ) {
                        Ok(sock) => {
                            inflight += 1;
                            conns.push(Some(Conn {
                                sock,
                                state: State::Connecting,
                                rejoining: false,
                                seq: 0,
                                started: now,
                                want_write: false,
                                held: false,
                            }));
                        }
                        Err(e) => {
                            c.report.connect_errors += 1;
                            first_error.get_or_insert(e);
                            conns.push(None);
                        }
                    }
                }
                if args.proc_child {
                    procs::child::progress(&mut last_progress, connected);
                }
                let settled = conns.len() == n && inflight == 0;
                if settled || now >= connect_deadline {
                    c.report.connect_errors += inflight as u64;
                    if connected == 0 {
                        let why = match first_error {
                            Some(e) => e.to_string(),
                            None if c.report.bad_replies > 0 => format!(
                                "every connection's first reply was wrong ({} bad replies)",
                                c.report.bad_replies
                            ),
                            None => "no connection completed".into(),
                        };
                        return Err(io::Error::other(format!(
                            "cannot connect to {}: {why}",
                            args.addr
                        )));
                    }
                    c.report.connect_s = (now - t0).as_secs_f64();
                    let now = if args.proc_child {
                        // The windows of all the processes open together.
                        procs::child::ready_then_wait(connected)?;
                        Instant::now()
                    } else {
                        now
                    };
                    let start = now + Duration::from_secs_f64(args.warmup.max(0.0));
                    // Tokens for --rate accrue from the start of the warm-up.
                    if let Some(p) = &mut c.pace {
                        p.start(now);
                    }
                    phase_end = Some((
                        start,
                        start + Duration::from_secs_f64(args.duration.max(0.001)),
                    ));
                    if args.marks {
                        mark("WARM");
                    }
                }
            }
            Some((start, end)) => {
                if !c.measuring && !c.counting && now >= start {
                    c.measuring = true;
                    c.cpu_at_start = cpu_seconds();
                    c.report.connected = connected;
                    if args.marks {
                        mark("MEASURE");
                    }
                }
                if now >= end && count_end.is_none() {
                    finish(&mut c, start, end);
                    if args.proc_child {
                        c.report.latency_ns = report::buckets(&c.hist);
                    }
                    if let Some(emit) = emit.take() {
                        emit(&c.report);
                    }
                    c.measuring = false;
                    c.counting = true;
                    if count > 0.0 {
                        mark("COUNT-START");
                    }
                    count_end = Some(now + Duration::from_secs_f64(count));
                }
                if count_end.is_some_and(|e| now >= e) {
                    if count > 0.0 {
                        mark(&format!("COUNT-END {}", c.counted));
                    }
                    break;
                }
            }
        }
        let timeout = match phase_end {
            None if conns.len() < n => Duration::from_millis(1),
            None => Duration::from_millis(50),
            Some((start, end)) => match count_end {
                Some(e) => e,
                None if c.measuring => end,
                None => start,
            }
            .saturating_duration_since(now),
        };
        release_held(&mut c, &mut conns, &poller, now);
        let timeout = match &c.pace {
            Some(p) if !c.held.is_empty() => {
                timeout.min(p.next_due(1).saturating_duration_since(now))
            }
            _ => timeout,
        };
        poller.wait(&mut events, Some(timeout))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(conn) = conns[i].as_mut() else {
                continue;
            };
            let was_connecting = matches!(conn.state, State::Connecting | State::Probing(_));
            let rejoining = conn.rejoining;
            match on_event(conn, i, ev, &poller, &mut scratch, &mut c, k, args) {
                Outcome::Open => {}
                Outcome::Reconnect => {
                    let _ = poller.deregister(&conn.sock);
                    let fresh = connect::start(args.addr, args.source_offset + i).and_then(|s| {
                        poller.register(&s, Token(i), Interest::WRITABLE, Mode::Level)?;
                        Ok(s)
                    });
                    match fresh {
                        Ok(sock) => {
                            conn.sock = sock;
                            conn.state = State::Connecting;
                            conn.rejoining = true;
                            conn.want_write = false;
                        }
                        Err(_) => {
                            c.report.connect_errors += 1;
                            c.busy -= 1;
                            connected -= 1;
                            conns[i] = None;
                        }
                    }
                }
                Outcome::Connected if rejoining => {}
                Outcome::Connected => {
                    inflight -= 1;
                    connected += 1;
                }
                outcome => {
                    match outcome {
                        Outcome::ConnectFailed => {
                            c.report.connect_errors += 1;
                        }
                        Outcome::Bad => c.report.bad_replies += 1,
                        _ => c.report.closed += 1,
                    }
                    if was_connecting && !rejoining {
                        inflight -= 1;
                    } else {
                        connected -= 1;
                    }
                    if let Some(conn) = conns[i].take() {
                        if matches!(conn.state, State::Busy(_)) || conn.rejoining {
                            c.busy -= 1;
                        }
                        let _ = poller.deregister(&conn.sock);
                    }
                }
            }
        }
    }
    if args.proc_child && args.proto == Proto::Echo {
        procs::child::check_idle(&poller, &mut conns, &mut events, &mut c.report)?;
    } else if args.proc_child {
        c.report.lost = Some(c.report.closed);
    }
    if args.proc_child {
        // Before the connections close: closing thousands takes a while,
        // and the parent need not wait for it.
        procs::child::print_result(&c.report);
    }
    if args.marks {
        // The lab samples the server with every connection still open, and
        // closes our stdin when it is done.
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    }
    for conn in conns.iter().flatten() {
        connect::abort(&conn.sock);
    }
    Ok(c.report)
}

/// Fills in the report at the end of the window.
fn finish(c: &mut Counters, start: Instant, end: Instant) {
    let window = (end - start).as_secs_f64();
    let cpu = cpu_seconds() - c.cpu_at_start;
    let r = &mut c.report;
    if r.requests > 0 {
        r.client_cpu_us_per_req = Some(cpu * 1e6 / r.requests as f64);
    }
    r.duration_s = window;
    r.rps = r.requests as f64 / window;
    r.errors = r.bad_replies + r.closed + r.connect_errors;
    report::set_latencies(r, &c.hist);
}

#[allow(clippy::too_many_arguments)]
fn on_event(
    conn: &mut Conn,
    index: usize,
    ev: Event,
    poller: &Poller,
    scratch: &mut [u8],
    c: &mut Counters,
    k: usize,
    args: &LoadArgs,
) -> Outcome {
    if matches!(conn.state, State::Connecting) {
        if !matches!(conn.sock.take_error(), Ok(None)) {
            return Outcome::ConnectFailed;
        }
        let _ = conn.sock.set_nodelay(true);
        if poller
            .modify(&conn.sock, Token(index), Interest::READABLE, Mode::Level)
            .is_err()
        {
            return Outcome::ConnectFailed;
        }
        conn.want_write = false;
        if conn.rejoining {
            // Back after a server-side close at a request limit: straight
            // to work (the window may be open; a probe would not be counted).
            return promote(conn, index, poller, c, k, args);
        }
        // The handshake completes in the kernel even while the server's
        // accept queue is full; only a reply proves the server has the
        // connection. Probing keeps the unanswered connects (≤ 512) below
        // the accept queue (4096), so no SYN is dropped and 19,000
        // connections come up at the pace the server accepts them.
        let mut probe = Box::new(Exchange::new(args.proto, 1));
        probe.start(index, u64::MAX);
        conn.state = State::Probing(probe);
        conn.started = Instant::now();
        return send(conn, index, poller).unwrap_or(Outcome::Open);
    }
    if ev.is_writable()
        && conn.want_write
        && let Some(bad) = send(conn, index, poller)
    {
        return bad;
    }
    if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
        return Outcome::Open;
    }
    loop {
        let n = match conn.sock.read(scratch) {
            Ok(0) => return Outcome::Closed,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Open,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Outcome::Closed,
        };
        // A short read emptied the socket: stop here rather than pay for a
        // read that returns EAGAIN (the registration is level-triggered, so
        // anything that arrives later is reported by the next wait).
        let drained = n < scratch.len();
        let ex = match &mut conn.state {
            State::Busy(ex) => ex,
            State::Probing(probe) => match probe.receive(&scratch[..n]) {
                Verdict::Partial if drained => return Outcome::Open,
                Verdict::Partial => continue,
                Verdict::Good => return promote(conn, index, poller, c, k, args),
                // A wrong answer, or one that closes the connection at once:
                // the connection is of no use.
                Verdict::GoodThenClose | Verdict::Bad => return Outcome::Bad,
            },
            // An idle connection got bytes it never asked for.
            State::Idle | State::Connecting => return Outcome::Bad,
        };
        match ex.receive(&scratch[..n]) {
            Verdict::Partial if drained => return Outcome::Open,
            Verdict::Partial => {}
            Verdict::Bad => return Outcome::Bad,
            verdict @ (Verdict::Good | Verdict::GoodThenClose) => {
                if c.measuring {
                    let ns = conn.started.elapsed().as_nanos() as u64;
                    c.hist.saturating_record(ns.max(1));
                    c.report.requests += 1;
                } else if c.counting {
                    c.counted += 1;
                }
                conn.seq += 1;
                if verdict == Verdict::GoodThenClose {
                    return Outcome::Reconnect;
                }
                if c.pace.is_some() {
                    hold(conn, index, c);
                    return Outcome::Open;
                }
                if let Some(bad) = begin(conn, index, poller) {
                    return bad;
                }
                // One request in flight per connection: nothing more can
                // come before the server answers the one just sent (bytes
                // past a whole reply were caught as Bad above).
                return Outcome::Open;
            }
        }
    }
}

/// A connection the server has proved to hold becomes busy (while fewer
/// than K are) or idle.
fn promote(
    conn: &mut Conn,
    index: usize,
    poller: &Poller,
    c: &mut Counters,
    k: usize,
    args: &LoadArgs,
) -> Outcome {
    if conn.rejoining || c.busy < k {
        if !conn.rejoining {
            c.busy += 1;
        }
        conn.rejoining = false;
        conn.state = State::Busy(Box::new(Exchange::new(args.proto, args.size)));
        if c.pace.is_some() {
            hold(conn, index, c);
        } else if let Some(bad) = begin(conn, index, poller) {
            return bad;
        }
    } else {
        conn.state = State::Idle;
    }
    Outcome::Connected
}

/// A busy connection waits for `--rate` to let its next request go.
fn hold(conn: &mut Conn, index: usize, c: &mut Counters) {
    if !conn.held {
        conn.held = true;
        c.held.push_back(index);
    }
}

/// Starts the held requests `--rate` allows by `now`, oldest first. A
/// connection closed or reconnecting meanwhile leaves the queue (it is held
/// again once it is back); a send that fails shows as the socket's close.
fn release_held(c: &mut Counters, conns: &mut [Option<Conn>], poller: &Poller, now: Instant) {
    let Some(pace) = &mut c.pace else {
        return;
    };
    while let Some(&i) = c.held.front() {
        let Some(conn) = conns[i].as_mut() else {
            c.held.pop_front();
            continue;
        };
        if !conn.held || conn.rejoining || !matches!(conn.state, State::Busy(_)) {
            conn.held = false;
            c.held.pop_front();
            continue;
        }
        if !pace.take(now, 1) {
            return;
        }
        c.held.pop_front();
        conn.held = false;
        let _ = begin(conn, i, poller);
    }
}

/// Starts the next request on a busy connection.
fn begin(conn: &mut Conn, index: usize, poller: &Poller) -> Option<Outcome> {
    if let State::Busy(ex) = &mut conn.state {
        ex.start(index, conn.seq);
    }
    conn.started = Instant::now();
    send(conn, index, poller)
}

/// Writes what the socket takes; asks for WRITABLE while something is left.
fn send(conn: &mut Conn, index: usize, poller: &Poller) -> Option<Outcome> {
    let (State::Busy(ex) | State::Probing(ex)) = &mut conn.state else {
        return None;
    };
    while !ex.unsent().is_empty() {
        match conn.sock.write(ex.unsent()) {
            Ok(n) => ex.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(Outcome::Closed),
        }
    }
    let want = !ex.unsent().is_empty();
    if want != conn.want_write {
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if poller
            .modify(&conn.sock, Token(index), interest, Mode::Level)
            .is_err()
        {
            return Some(Outcome::Closed);
        }
        conn.want_write = want;
    }
    None
}
