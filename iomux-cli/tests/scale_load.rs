//! `iomux load --procs P` against `iomux serve --workers P`: 40,000
//! connections over 3 workers and 3 load processes (more than one process
//! may hold here), every one of them checked alive at the end; the merged
//! report; and the clear error when a process would need too many fds.

mod scale_common;

use std::process::Command;
use std::time::Duration;

use rustix::process::Signal;
use scale_common::{Master, count_of, load, load_report};

#[test]
fn forty_thousand_connections_over_three_workers_and_three_load_processes() {
    let conns = 40_000u64;
    let mut master = Master::start(3, &["--model", "epoll"]);
    let run = load(
        master.addr,
        &["--procs", "3", "--conns", "40000", "--active", "30"],
    )
    .args([
        "--connect-rate",
        "40000",
        "--warmup",
        "0.5",
        "--duration",
        "1",
    ])
    .spawn()
    .expect("spawn iomux load");
    let report = load_report(run, Duration::from_secs(90));
    assert_eq!(report["procs"], 3, "{report}");
    assert_eq!(report["conns"], conns, "{report}");
    assert_eq!(
        report["connected"], conns,
        "not every connection came up: {report}"
    );
    assert_eq!(report["connect_errors"], 0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(
        report["idle_checked"],
        conns - 30,
        "every idle connection is checked: {report}"
    );
    assert_eq!(report["lost"], 0, "{report}");
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    let p50 = report["p50_us"].as_f64().unwrap();
    let p99 = report["p99_us"].as_f64().unwrap();
    assert!(
        p50 > 0.0 && p50 <= p99,
        "percentiles of the merged histogram: {report}"
    );
    assert!(master.signal_and_wait(Signal::TERM).success());
    // Each connection was accepted once, by one of the workers.
    assert_eq!(
        count_of(master.summary(), "accepted"),
        conns,
        "{}",
        master.summary()
    );
}

#[test]
fn too_many_connections_for_a_process_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_iomux"))
        .args([
            "load",
            "--addr",
            "127.0.0.1:9",
            "--procs",
            "2",
            "--conns",
            "50000",
        ])
        .output()
        .expect("run iomux load");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert!(
        stderr.contains("25000 connections a process") && stderr.contains("use --procs 3 or more"),
        "{stderr}"
    );
}
