//! Every example in iomux/examples answers `--help`: it exits 0 at once
//! and its help names each of its flags (or positional arguments).
//!
//! The test runs the built examples beside this test's binary
//! (`target/<profile>/examples`). `cargo test` builds them; a run that
//! selects targets (`--test examples_help`) needs them built first:
//! `cargo build -p iomux --examples` (with the features of the gated ones).
//! An example whose required features this build lacks is skipped, and
//! named as skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Each example: the cargo features it requires (all on, or it is not
/// built) and the words its help must contain. A new example needs a row.
const EXAMPLES: &[(&str, &[&str], &[&str])] = &[
    ("axum_hello", &["example-axum"], RT_FLAGS),
    (
        "bench_fs",
        &[],
        &[
            "--mib",
            "--chunk-kib",
            "--rounds",
            "--dir",
            "--fsync",
            "--only",
        ],
    ),
    ("chat", &[], &["THREADS"]),
    ("echo_poller", &[], &["BACKEND", "select|poll|epoll|uring"]),
    ("greeter", &[], &["usage: greeter"]),
    (
        "https_hello",
        &["example-tls"],
        &["--addr", "--driver", "--threads", "--cert", "--key"],
    ),
    (
        "hyper_client",
        &["hyper"],
        &["--addr", "--path", "--requests", "--timeout-ms", "--driver"],
    ),
    ("hyper_hello", &["hyper"], RT_FLAGS),
    ("idle_memory", &[], &["--conns", "--driver"]),
    ("nested_poller", &[], &["BACKEND"]),
    ("proxy", &[], &["UPSTREAM"]),
    ("reactor_echo", &[], &["BACKEND", "THREADS", "round-robin"]),
    ("rt_echo", &[], RT_FLAGS),
];

const RT_FLAGS: &[&str] = &["--addr", "--driver", "--threads"];

fn feature_on(name: &str) -> bool {
    match name {
        "hyper" => cfg!(feature = "hyper"),
        "tokio-io" => cfg!(feature = "tokio-io"),
        "example-tls" => cfg!(feature = "example-tls"),
        "example-axum" => cfg!(feature = "example-axum"),
        other => panic!("examples_help: unknown feature {other}: add it to feature_on"),
    }
}

/// Where cargo puts the examples of this build.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/examples_help-HASH -> target/<profile>/examples
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary sits in target/<profile>/deps")
        .join("examples")
}

/// Runs `bin --help`, bounded: (exit code, stdout, stderr).
fn run_help(bin: &Path) -> (Option<i32>, String, String) {
    let child = Command::new(bin)
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(out) => {
            let out = out.expect("the example's output");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, which has not
            // been waited for (the waiting thread is still blocked).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!(
                "{} --help did not exit within 20 s (it ran instead of printing its help?)",
                bin.display()
            );
        }
    }
}

#[test]
fn every_example_prints_its_flags_for_help() {
    // The table covers every example source there is.
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut on_disk: Vec<String> = std::fs::read_dir(&sources)
        .expect("iomux/examples")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    on_disk.sort();
    let listed: Vec<String> = EXAMPLES.iter().map(|(n, _, _)| n.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "the examples on disk and this test's table differ: add a row for each example"
    );

    let dir = examples_dir();
    let (mut checked, mut skipped, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for (name, features, words) in EXAMPLES {
        if !features.iter().all(|f| feature_on(f)) {
            skipped.push(format!("{name} (needs --features {})", features.join(",")));
            continue;
        }
        let bin = dir.join(name);
        if !bin.exists() {
            failures.push(format!(
                "{name}: not built at {} (cargo test builds the examples; with --test, run \
                 `cargo build -p iomux --examples` with this build's features first)",
                bin.display()
            ));
            continue;
        }
        let (code, stdout, stderr) = run_help(&bin);
        if code != Some(0) {
            failures.push(format!(
                "{name} --help exited {code:?}; stderr: {}",
                stderr.trim()
            ));
            continue;
        }
        let missing: Vec<&str> = ["--help"]
            .iter()
            .chain(words.iter())
            .copied()
            .filter(|w| !stdout.contains(w))
            .collect();
        if !missing.is_empty() {
            failures.push(format!(
                "{name} --help does not name {missing:?}:\n{stdout}"
            ));
            continue;
        }
        checked.push(*name);
    }
    eprintln!("examples_help: checked {checked:?}; skipped {skipped:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!checked.is_empty(), "no example was checked");
}
