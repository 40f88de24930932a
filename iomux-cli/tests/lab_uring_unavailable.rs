//! Where io_uring cannot be had (here: a seccomp filter that makes
//! `io_uring_setup` fail, inherited by the lab's server children), the lab
//! reports the uring model as unavailable, cell by cell with the reason,
//! and its claim as not measured, instead of failing; the other models are
//! measured as usual.

#[path = "../../iomux/tests/seccomp/mod.rs"]
mod seccomp;

mod spawn;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn lab_reports_uring_as_unavailable() {
    let out = std::env::temp_dir().join(format!("iomux-lab-nouring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
    cmd.args(["lab", "--quick", "--no-perf", "--max-conns", "10"])
        .args(["--models", "uring,epoll-lt", "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: (test) the closure only makes system calls.
    unsafe {
        cmd.pre_exec(|| seccomp::deny_io_uring_setup(libc::EPERM as u32));
    }
    let mut child = cmd.spawn().expect("spawn iomux lab");
    let status = spawn::exit_within(&mut child, LIMIT, "iomux lab");
    assert!(status.success(), "the lab must not fail: {status}");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("valid JSON");
    let cells = json["cells"].as_array().expect("cells");
    let of =
        |model: &str| -> Vec<&Value> { cells.iter().filter(|c| c["model"] == model).collect() };
    let (uring, epoll) = (of("uring"), of("epoll-lt"));
    assert!(
        !uring.is_empty() && !epoll.is_empty(),
        "both models have cells"
    );
    for c in uring {
        assert_eq!(c["status"], "unavailable", "{c}");
        let why = c["error"].as_str().unwrap_or_default();
        assert!(why.contains("unavailable"), "the cell says why: {c}");
    }
    for c in epoll {
        assert_eq!(c["status"], "ok", "{c}");
    }
    let aio = json["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .find(|c| c["id"] == "aio")
        .expect("the asynchronous-I/O claim");
    assert_eq!(aio["verdict"], "not measured.", "{aio}");
    let _ = std::fs::remove_dir_all(&out);
}
