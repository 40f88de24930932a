//! `iomux serve --workers P`: the master ends every worker on SIGTERM and
//! SIGINT, restarts a worker killed under load while the load goes on, and
//! refuses what cannot run as workers.

mod scale_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use rustix::process::Signal;
use scale_common::{Master, WAIT, alive, count_of, load, load_report};

/// Every model and sharing that runs as workers.
const VARIANTS: [&[&str]; 5] = [
    &["--model", "epoll"],
    &[
        "--model",
        "epoll",
        "--worker-sharing",
        "exclusive",
        "--threads",
        "2",
    ],
    &["--model", "poll"],
    &["--model", "select"],
    &["--model", "uring"],
];

fn echo_once(addr: std::net::SocketAddr, msg: &[u8]) {
    let mut s = TcpStream::connect(addr).expect("connect to the workers");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).expect("the echo");
    assert_eq!(got, msg);
}

#[test]
fn a_signal_to_the_master_ends_every_worker() {
    for variant in VARIANTS {
        for signal in [Signal::TERM, Signal::INT] {
            let mut master = Master::start(3, variant);
            let pids = master.wait_workers(3, &[]);
            for i in 0..30 {
                echo_once(master.addr, format!("hello {i}").as_bytes());
            }
            let status = master.signal_and_wait(signal);
            assert!(
                status.success(),
                "{variant:?}: the master's exit after {signal:?}: {status}"
            );
            for pid in pids {
                assert!(!alive(pid), "{variant:?}: worker {pid} outlived the master");
            }
            let summary = master.summary().to_string();
            assert!(
                summary.contains("3 workers, 0 restarts; summed over 3 exit reports"),
                "{variant:?}: {summary}"
            );
            assert_eq!(count_of(&summary, "accepted"), 30, "{variant:?}: {summary}");
        }
    }
}

/// A worker killed with SIGKILL while the load runs: the master starts a
/// new one in its place, the load goes on (its window opens after the
/// kill and completes requests), the connections the dead worker held are
/// counted lost (reset: `closed`, never reconnected), and every connection
/// on the other workers answers the alive check. Fresh connections after
/// the restart reach the new worker too (its exit report counts them).
#[test]
fn a_killed_worker_is_restarted_and_the_load_goes_on() {
    let mut master = Master::start(3, &["--model", "epoll"]);
    let pids = master.wait_workers(3, &[]);
    let conns = 600u64;
    let mut run = load(
        master.addr,
        &["--procs", "2", "--conns", "600", "--active", "60"],
    )
    .args(["--warmup", "1", "--duration", "2", "--progress"])
    .spawn()
    .expect("spawn iomux load");
    let progress = std::io::BufReader::new(run.stderr.take().unwrap());
    wait_for_line(progress, &format!("connected {conns}/{conns}"));
    let victim = pids[1];
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(victim).unwrap(),
        Signal::KILL,
    )
    .unwrap();
    let restarted = master.wait_line("restarted (pid");
    let slot: usize = restarted
        .split("worker ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no worker number in {restarted:?}"));
    master.wait_workers(3, &[victim]);
    let report = load_report(run, Duration::from_secs(60));
    let closed = report["closed"].as_u64().unwrap();
    let lost = report["lost"].as_u64().unwrap();
    assert!(
        report["requests"].as_u64().unwrap() > 0,
        "the load stopped: {report}"
    );
    assert!(
        closed > 0 && closed < conns,
        "the dead worker's connections, and only those, are lost: {report}"
    );
    assert_eq!(
        lost, closed,
        "a surviving connection failed the alive check: {report}"
    );
    // Each connection is idle and checked, lost, or one of the 60 busy.
    let checked = report["idle_checked"].as_u64().unwrap();
    assert!(
        checked + closed <= conns && checked + closed + 60 >= conns,
        "connections unaccounted for: {report}"
    );
    for i in 0..60 {
        echo_once(master.addr, format!("after {i}").as_bytes());
    }
    assert!(master.signal_and_wait(Signal::TERM).success());
    let summary = master.summary().to_string();
    assert!(summary.contains("3 workers, 1 restarts"), "{summary}");
    let new_worker = format!("iomux: worker {slot}: ");
    let line = master
        .lines
        .iter()
        .find(|l| l.starts_with(&new_worker))
        .unwrap_or_else(|| panic!("no exit report from the restarted worker {slot}"));
    assert!(
        count_of(line, "accepted") > 0,
        "the restarted worker served nothing: {line}"
    );
}

fn wait_for_line(reader: impl std::io::BufRead + Send + 'static, needle: &str) {
    let (tx, rx) = std::sync::mpsc::channel();
    let needle_owned = needle.to_string();
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            if line.contains(&needle_owned) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("no {needle:?} from iomux load within {WAIT:?}"));
}

#[test]
fn models_that_cannot_run_as_workers_are_refused() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--model", "blocking"],
            "the blocking model binds a plain listener",
        ),
        (
            &["--model", "sigio"],
            "the sigio model binds a plain listener",
        ),
        (
            &["--model", "nonblocking"],
            "the nonblocking model binds a plain listener",
        ),
        (
            &["--model", "uring", "--worker-sharing", "exclusive"],
            "--worker-sharing exclusive needs EPOLLEXCLUSIVE",
        ),
    ];
    for (args, message) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_iomux"))
            .args(["serve", "--addr", "127.0.0.1:0", "--workers", "2"])
            .args(args)
            .output()
            .expect("run iomux serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a ready line");
    }
}
