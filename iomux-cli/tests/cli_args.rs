//! Arguments that cannot mean anything are refused up front, with a message
//! that names the problem, instead of being bent into something else
//! (`--threads 0` quietly serving on one thread) or failing later in a
//! misleading way (`--conns 0` reporting that no connection completed).

mod spawn;

use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs `iomux args…` and returns its exit code and stderr.
fn iomux(args: &[&str]) -> (Option<i32>, String) {
    let err_path = std::env::temp_dir().join(format!(
        "iomux-cli-args-{}-{}.err",
        std::process::id(),
        args.join("_").replace(['/', ' '], "_")
    ));
    let err_file = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_iomux"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .expect("spawn iomux");
    let status = spawn::exit_within(&mut child, LIMIT, &format!("iomux {}", args.join(" ")));
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    (status.code(), err)
}

fn refused(args: &[&str], code: i32, says: &str) {
    let (got, err) = iomux(args);
    assert_eq!(got, Some(code), "iomux {args:?} should fail; stderr: {err}");
    assert!(
        err.contains(says),
        "iomux {args:?}: stderr should say {says:?}, got: {err}"
    );
}

#[test]
fn serve_refuses_zero_threads() {
    refused(
        &["serve", "--threads", "0", "--addr", "127.0.0.1:0"],
        2,
        "must be at least 1",
    );
}

#[test]
fn serve_refuses_a_runtime_driver_it_does_not_have() {
    refused(
        &[
            "serve",
            "--model",
            "rt",
            "--driver",
            "kqueue",
            "--addr",
            "127.0.0.1:0",
        ],
        2,
        "unknown driver \"kqueue\": expected epoll, poll, select, uring-poll or uring",
    );
}

#[test]
fn serve_refuses_a_collect_interval_without_a_unit_it_knows() {
    refused(
        &["serve", "--collect-interval", "5h", "--addr", "127.0.0.1:0"],
        2,
        "unknown unit",
    );
}

#[test]
fn load_refuses_zero_connections_and_empty_requests() {
    refused(&["load", "--conns", "0"], 2, "must be at least 1");
    refused(&["load", "--size", "0"], 2, "must be at least 1");
}

#[test]
fn load_refuses_times_and_rates_that_mean_nothing() {
    refused(&["load", "--duration", "inf"], 2, "not a duration");
    refused(&["load", "--duration", "0"], 2, "must be above 0");
    refused(
        &["load", "--connect-rate", "NaN"],
        2,
        "must be a finite number",
    );
}

#[test]
fn pipes_refuses_empty_runs_and_an_idle_chain() {
    refused(&["pipes", "--runs", "0"], 2, "must be at least 1");
    refused(&["pipes", "--fds", "10,0"], 2, "must be at least 1");
    refused(
        &[
            "pipes",
            "--fds",
            "10",
            "--active",
            "0",
            "--backends",
            "epoll",
        ],
        1,
        "at least 1 active pair",
    );
}

#[test]
fn lab_refuses_unknown_models_and_an_empty_matrix() {
    let out = std::env::temp_dir().join(format!("iomux-cli-args-lab-{}", std::process::id()));
    let out = out.to_str().expect("utf-8 temp dir");
    refused(
        &[
            "lab",
            "--quick",
            "--models",
            "epoll-lt,nosuch",
            "--out",
            out,
        ],
        1,
        "unknown model \"nosuch\"",
    );
    refused(
        &["lab", "--quick", "--max-conns", "0", "--out", out],
        1,
        "no cell has at most 0 connections",
    );
    assert!(
        !std::path::Path::new(out).join("report.json").exists(),
        "a refused run writes no report"
    );
}

#[test]
fn lab_refuses_an_output_directory_it_cannot_write_before_measuring() {
    refused(
        &["lab", "--quick", "--out", "/proc/iomux-lab-nowhere"],
        1,
        "cannot write the report to /proc/iomux-lab-nowhere",
    );
}

/// `iomux soak` refuses a plan it cannot run before it starts a server.
#[test]
fn soak_refuses_what_it_cannot_run() {
    refused(&["soak", "--conns", "150"], 1, "leaves no slowloris peers");
    refused(
        &["soak", "--models", "epoll,kqueue"],
        1,
        "kqueue is not one of select, poll, epoll, uring",
    );
    refused(&["soak", "--duration", "0"], 2, "--duration");
}
