//! Pipelining: the answers to every complete request found in one read go
//! out in one send. Counted with strace attached to the running server
//! (CI installs it; `.ci/run`).

mod serve_common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serve_common::{Server, WAIT, read_response};

const GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
const PIPELINED: usize = 32;

/// strace following every thread of `pid`, writing to `out`; returns once
/// it has attached (it says "Process N attached", "… with K threads" after
/// attaching to all of them), so that nothing sent after is missed.
fn attach_strace(pid: u32, out: &std::path::Path) -> Child {
    let mut strace = Command::new("strace")
        .args([
            "-f",
            "-e",
            "trace=recvfrom,read,sendto,sendmsg,write,writev",
        ])
        .arg("-o")
        .arg(out)
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace is needed for this test (apt-get install strace)");
    let mut lines = BufReader::new(strace.stderr.take().unwrap()).lines();
    let started = Instant::now();
    loop {
        let line = lines
            .next()
            .expect("strace exited before attaching")
            .unwrap();
        if line.contains("attached") {
            break;
        }
        assert!(started.elapsed() < WAIT, "strace did not attach: {line}");
    }
    // Keep reading its stderr so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    strace
}

/// Stops strace (it detaches on SIGINT and flushes its output), bounded.
fn detach(mut strace: Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&strace),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let _ = serve_common::spawn::exit_within(&mut strace, WAIT, "strace");
}

/// The byte counts that the server's socket reads and sends returned, in
/// order: `R n` or `S n`. Only calls that moved data count (a read that
/// says EAGAIN is no read).
fn data_calls(trace: &str) -> Vec<(char, usize)> {
    trace
        .lines()
        .filter_map(|line| {
            let kind = if line.contains("recvfrom(") || line.contains(" read(") {
                'R'
            } else if ["sendto(", "sendmsg(", " write(", "writev("]
                .iter()
                .any(|c| line.contains(c))
            {
                'S'
            } else {
                return None;
            };
            let ret = line.rsplit_once(" = ")?.1.split_whitespace().next()?;
            match ret.parse::<usize>() {
                Ok(n) if n > 0 => Some((kind, n)),
                _ => None,
            }
        })
        .collect()
}

fn answers_in_one_send(model: &str, mode: &str) {
    let server = Server::start(model, mode, "http", &[]);
    let mut s = server.connect();
    // One warm-up exchange: the connection is accepted and set up before
    // strace watches, so only the pipelined batch is in the trace.
    s.write_all(GET).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r).status, 200);

    let out = std::env::temp_dir().join(format!(
        "iomux-one-send-{}-{model}-{mode}.trace",
        std::process::id()
    ));
    let strace = attach_strace(server.pid(), &out);
    let mut batch = GET.repeat(PIPELINED);
    batch.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    s.write_all(&batch).unwrap();
    for i in 0..PIPELINED {
        assert_eq!(read_response(&mut r).status, 200, "answer {i}");
    }
    assert_eq!(read_response(&mut r).body, b"hello");
    // One more exchange: the server reads it only after strace has seen the
    // batch's send return, so that send is whole in the trace.
    s.write_all(GET).unwrap();
    assert_eq!(read_response(&mut r).status, 200);
    detach(strace);
    let trace = std::fs::read_to_string(&out).expect("strace's output");
    let _ = std::fs::remove_file(&out);

    let calls = data_calls(&trace);
    assert_eq!(
        calls.first(),
        Some(&('R', batch.len())),
        "{model} {mode}: the batch (one write of ours) should arrive in one read:\n{trace}"
    );
    let sends = calls[1..]
        .iter()
        .take_while(|c| c.0 == 'S')
        .map(|c| c.1)
        .collect::<Vec<_>>();
    assert!(
        calls[1 + sends.len()..].first() == Some(&('R', GET.len())),
        "{model} {mode}: the follow-up request should be read next:\n{trace}"
    );
    assert_eq!(
        sends.len(),
        1,
        "{model} {mode}: {} answers to one read left in {} sends:\n{trace}",
        PIPELINED + 1,
        sends.len()
    );
}
per_variant!(answers_in_one_send: event_loops);
