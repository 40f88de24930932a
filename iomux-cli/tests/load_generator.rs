//! `iomux load` against real servers: its JSON line, its counts, that it
//! notices wrong echo bytes and wrong HTTP answers, and that `--rate` holds
//! on every engine and protocol.

mod models_common;
mod serve_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use models_common::{Served, WAIT};
use serde_json::Value;

/// Runs `iomux load` with `args` (bounded by WAIT) and parses its JSON line.
fn load(addr: SocketAddr, args: &[&str]) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iomux"))
        .args(["load", "--json", "--addr", &addr.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn iomux load");
    let status = serve_common::spawn::exit_within(&mut child, WAIT, "iomux load");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "iomux load failed: {status}: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {out:?}");
    serde_json::from_str(lines[0]).expect("JSON")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn echo_load_reports_counts_and_latencies() {
    let server = Served::start("blocking", "echo", &[]);
    let v = load(
        server.addr,
        &[
            "--conns",
            "200",
            "--active",
            "20",
            "--size",
            "512",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
        ],
    );
    for key in [
        "requests", "rps", "p50_us", "p99_us", "p999_us", "max_us", "errors",
    ] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }
    assert!(num(&v, "requests") > 0.0, "{v}");
    assert_eq!(num(&v, "errors"), 0.0, "{v}");
    assert_eq!(num(&v, "connected"), 200.0, "{v}");
    assert_eq!(num(&v, "active"), 20.0, "{v}");
    let (p50, p99, p999, max) = (
        num(&v, "p50_us"),
        num(&v, "p99_us"),
        num(&v, "p999_us"),
        num(&v, "max_us"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max, "{v}");
    let rps = num(&v, "rps");
    assert!(
        (rps - num(&v, "requests") / 0.5).abs() < 1.0,
        "rps = requests / window: {v}"
    );
}

#[test]
fn http_load_reconnects_when_the_server_closes_at_its_limit() {
    // After 10 requests the server answers with Connection: close; the load
    // generator opens a new connection and goes on, without an error.
    let server = Served::start_with("sigio", "http", &[], &["--max-requests", "10"]);
    let v = load(
        server.addr,
        &[
            "--proto",
            "http",
            "--conns",
            "20",
            "--active",
            "5",
            "--duration",
            "500ms",
            "--warmup",
            "100ms",
        ],
    );
    let window = num(&v, "duration_s");
    assert!(
        (0.5..1.0).contains(&window),
        "--duration 500ms gave a window of {window} s: {v}"
    );
    assert!(
        num(&v, "requests") > 5.0 * 10.0,
        "past the per-connection limit: {v}"
    );
    assert_eq!(num(&v, "errors"), 0.0, "{v}");
}

/// A server that echoes every byte but the 100th of each connection, which
/// it flips.
fn corrupting_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = 0usize;
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    if (seen..seen + n).contains(&99) {
                        buf[99 - seen] ^= 0x20;
                    }
                    seen += n;
                    if conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_wrong_echo_byte_is_an_error() {
    let addr = corrupting_echo();
    for engine in [
        &["--engine", "poller"][..],
        &["--engine", "uring", "--pipeline", "2"],
    ] {
        let mut args = vec![
            "--conns",
            "4",
            "--active",
            "4",
            "--size",
            "64",
            "--duration",
            "0.3",
            "--warmup",
            "0",
        ];
        args.extend_from_slice(engine);
        let v = load(addr, &args);
        assert!(
            num(&v, "bad_replies") >= 1.0,
            "the flipped byte is caught ({engine:?}): {v}"
        );
        assert!(num(&v, "errors") >= num(&v, "bad_replies"), "{v}");
    }
}

/// An HTTP server that answers 200 to the first request of a connection
/// and 503 to every later one.
fn failing_http() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut answered = 0;
                while let Ok(n) = conn.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let reply: &[u8] = if answered == 0 {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
                        } else {
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                        };
                        answered += 1;
                        if conn.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_status_other_than_200_is_an_error() {
    let addr = failing_http();
    let v = load(
        addr,
        &[
            "--proto",
            "http",
            "--conns",
            "3",
            "--active",
            "3",
            "--duration",
            "0.3",
            "--warmup",
            "0",
        ],
    );
    assert_eq!(
        num(&v, "connect_errors"),
        0.0,
        "connects and first answers were right: {v}"
    );
    assert_eq!(num(&v, "requests"), 0.0, "no 503 counts as a request: {v}");
    assert!(
        num(&v, "bad_replies") >= 3.0,
        "each 503 is a bad reply: {v}"
    );
}

#[test]
fn a_server_that_never_answers_right_fails_the_run() {
    // An echo server returns the request itself: no status line at all.
    let server = Served::start("nonblocking", "echo", &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_iomux"))
        .args([
            "load",
            "--json",
            "--proto",
            "http",
            "--conns",
            "3",
            "--active",
            "3",
            "--duration",
            "0.3",
        ])
        .args(["--addr", &server.addr.to_string()])
        .output()
        .expect("run iomux load");
    assert!(!out.status.success(), "nothing to measure: the run fails");
    assert!(out.stdout.is_empty(), "no JSON line for a failed run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("first reply was wrong"),
        "a clear reason: {err}"
    );
}

/// `--engine uring` arguments for an HTTP run of `conns` connections, all
/// active, `pipeline` deep.
fn uring_args(conns: &str, pipeline: &str) -> Vec<String> {
    [
        "--engine",
        "uring",
        "--proto",
        "http",
        "--conns",
        conns,
        "--active",
        conns,
        "--pipeline",
        pipeline,
        "--duration",
        "400ms",
        "--warmup",
        "100ms",
    ]
    .map(String::from)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn the_uring_engine_checks_pipelined_responses_and_reports_its_own_cost() {
    let server = Served::start("epoll", "http", &[]);
    let v = load(server.addr, &strs(&uring_args("8", "16")));
    assert!(num(&v, "requests") > 0.0, "{v}");
    assert_eq!(num(&v, "errors"), 0.0, "{v}");
    assert_eq!(num(&v, "connected"), 8.0, "{v}");
    assert!(num(&v, "client_cpu_us_per_req") > 0.0, "{v}");
    let enters = num(&v, "enters_per_req");
    assert!(
        enters > 0.0 && enters < 1.0,
        "16-deep pipelining needs far fewer than one io_uring_enter per request: {v}"
    );
}

#[test]
fn the_uring_engine_reconnects_when_the_server_closes_mid_batch() {
    // 10 requests per connection, sent 4 at a time: the server answers the
    // 10th with Connection: close and never sees (or answers) the last two
    // of the third batch. The engine starts over on a new connection.
    let server = Served::start_with("epoll", "http", &[], &["--max-requests", "10"]);
    let v = load(server.addr, &strs(&uring_args("4", "4")));
    assert!(
        num(&v, "requests") > 4.0 * 10.0,
        "past the per-connection limit: {v}"
    );
    assert_eq!(num(&v, "errors"), 0.0, "{v}");
}

#[test]
fn the_uring_engine_counts_wrong_answers() {
    let addr = failing_http();
    let v = load(addr, &strs(&uring_args("3", "1")));
    assert!(
        num(&v, "bad_replies") >= 3.0,
        "each 503 is a bad reply: {v}"
    );
    assert!(num(&v, "errors") >= num(&v, "bad_replies"), "{v}");
}

/// `--rate 2000` on a run of 4 connections: the rate held, with no error.
fn keeps_to_the_rate(server: &Served, args: &[&str]) {
    let mut all = vec![
        "--conns",
        "4",
        "--active",
        "4",
        "--size",
        "100",
        "--duration",
        "400ms",
        "--warmup",
        "100ms",
        "--rate",
        "2000",
    ];
    all.extend_from_slice(args);
    let v = load(server.addr, &all);
    let rps = num(&v, "rps");
    // Tokens accrue from the start of the warm-up, so the window can spend
    // at most the warm-up's unspent ones on top of its own.
    assert!(
        rps > 0.0 && rps <= 2000.0 * 1.3,
        "--rate 2000 {args:?} gave {rps} req/s: {v}"
    );
    assert_eq!(num(&v, "errors"), 0.0, "{args:?}: {v}");
    assert!(num(&v, "client_cpu_us_per_req") > 0.0, "{args:?}: {v}");
}

#[test]
fn every_engine_and_protocol_keeps_to_its_rate() {
    let http = Served::start("epoll", "http", &[]);
    let echo = Served::start("epoll", "echo", &[]);
    for engine in ["poller", "uring"] {
        keeps_to_the_rate(&http, &["--engine", engine, "--proto", "http"]);
        keeps_to_the_rate(&echo, &["--engine", engine, "--proto", "echo"]);
    }
    // Pipelined: a batch of 4 goes when the rate has room for all 4.
    keeps_to_the_rate(
        &echo,
        &["--engine", "uring", "--proto", "echo", "--pipeline", "4"],
    );
}

#[test]
fn the_rate_is_shared_by_client_processes() {
    let echo = Served::start("epoll", "echo", &[]);
    keeps_to_the_rate(&echo, &["--procs", "2"]);
}

#[test]
fn the_uring_engine_checks_pipelined_echoes() {
    let server = Served::start("epoll", "echo", &[]);
    let v = load(
        server.addr,
        &[
            "--engine",
            "uring",
            "--conns",
            "6",
            "--active",
            "6",
            "--size",
            "300",
            "--pipeline",
            "8",
            "--duration",
            "400ms",
            "--warmup",
            "100ms",
        ],
    );
    assert!(num(&v, "requests") > 0.0, "{v}");
    assert_eq!(num(&v, "errors"), 0.0, "{v}");
    assert!(
        num(&v, "enters_per_req") < 1.0,
        "8-deep pipelining needs fewer than one io_uring_enter per request: {v}"
    );
}

#[test]
fn pipelining_needs_the_uring_engine() {
    let out = Command::new(env!("CARGO_BIN_EXE_iomux"))
        .args(["load", "--proto", "http", "--addr", "127.0.0.1:9"])
        .args(["--pipeline", "2"])
        .output()
        .expect("run iomux load");
    assert!(!out.status.success(), "--pipeline 2 on the poller engine");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--engine uring"), "a clear reason: {err}");
}
