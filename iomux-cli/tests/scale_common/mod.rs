//! Shared by the `scale_*` tests: an `iomux serve --workers P` master whose
//! stderr is collected line by line, its workers' pids, and `iomux load
//! --procs` runs.
#![allow(dead_code)]

#[path = "../spawn/mod.rs"]
pub mod spawn;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// Every bounded wait of these tests that is not a whole load run.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running master; killed (with its workers, by their death signal) when dropped.
pub struct Master {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: Receiver<String>,
    /// Every stderr line read so far.
    pub lines: Vec<String>,
}

impl Master {
    /// `iomux serve --workers P --addr 127.0.0.1:0 --proto echo extra...`
    pub fn start(workers: usize, extra: &[&str]) -> Master {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--proto", "echo"])
            .args(["--workers", &workers.to_string()])
            .args(extra)
            .stderr(Stdio::piped());
        let what = format!("iomux serve --workers {workers} {extra:?}");
        let (mut child, addr) = spawn::serve_until_ready(cmd, &what, WAIT);
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Master {
            child,
            addr,
            stderr: rx,
            lines: Vec::new(),
        }
    }

    /// The master's children now (its workers).
    pub fn worker_pids(&self) -> Vec<i32> {
        let pid = self.child.id();
        let path = format!("/proc/{pid}/task/{pid}/children");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect()
    }

    /// Waits (bounded) until the master has `n` children, none in `not`.
    pub fn wait_workers(&self, n: usize, not: &[i32]) -> Vec<i32> {
        let end = Instant::now() + WAIT;
        loop {
            let pids = self.worker_pids();
            if pids.len() == n && pids.iter().all(|p| !not.contains(p)) {
                return pids;
            }
            assert!(
                Instant::now() < end,
                "the master did not have {n} workers (other than {not:?}) within {WAIT:?}: {pids:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) for a stderr line containing `needle`.
    pub fn wait_line(&mut self, needle: &str) -> String {
        if let Some(l) = self.lines.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let end = Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no stderr line with {needle:?} from the master within {WAIT:?}"),
            }
        }
    }

    /// Sends `signal` to the master, waits (bounded) for its exit, and
    /// reads the rest of its stderr.
    pub fn signal_and_wait(&mut self, signal: rustix::process::Signal) -> ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("kill the master");
        let status = spawn::exit_within(&mut self.child, WAIT, "the master");
        while let Ok(line) = self.stderr.recv_timeout(WAIT) {
            self.lines.push(line);
        }
        status
    }

    /// The master's summary line of its exit report.
    pub fn summary(&self) -> &str {
        self.lines
            .iter()
            .find(|l| l.contains("exit reports:"))
            .unwrap_or_else(|| panic!("no summed exit report in {:#?}", self.lines))
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` still exists.
pub fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The count before `name` in a `12 accepted, 0 shed` summary.
pub fn count_of(summary: &str, name: &str) -> u64 {
    let tail = summary.split(": ").last().unwrap_or("");
    tail.split(", ")
        .find_map(|part| {
            let (n, k) = part.split_once(' ')?;
            (k == name).then(|| n.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {name:?} count in {summary:?}"))
}

/// `iomux load --addr ADDR --proto echo --json extra...`, spawned.
pub fn load(addr: SocketAddr, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
    cmd.args([
        "load",
        "--addr",
        &addr.to_string(),
        "--proto",
        "echo",
        "--json",
    ])
    .args(extra)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Waits (bounded by `wait`) for a load run and returns its JSON report.
pub fn load_report(child: Child, wait: Duration) -> serde_json::Value {
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(wait) else {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        panic!("iomux load did not finish within {wait:?}");
    };
    let out = out.expect("wait for iomux load");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "iomux load failed ({}): {stderr}",
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no report; stderr: {stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad report {line:?}: {e}"))
}
