//! The server under soak: `iomux serve --proto echo` as a child process
//! pinned to its own CPU, its RSS sampled every second, and SIGTERM with a
//! bounded wait for its exit.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal, kill_process, pidfd_open};

use super::clock::now_ns;

/// A running `iomux serve`.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id.
    pub pid: u32,
    stderr: Option<JoinHandle<Vec<String>>>,
}

/// Starts `iomux serve --model MODEL --proto echo` on a free port and waits
/// (at most 10 s) for its "listening on" line; pins it to `cpu`. Its
/// graceful stop on SIGTERM is bounded by `shutdown_timeout`.
pub fn start(
    model: &str,
    send_timeout: Duration,
    shutdown_timeout: Duration,
    cpu: Option<usize>,
) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "serve",
        "--model",
        model,
        "--proto",
        "echo",
        "--addr",
        "127.0.0.1:0",
    ])
    .arg("--send-timeout")
    .arg(format!("{}ms", send_timeout.as_millis()))
    .arg("--shutdown-timeout")
    .arg(format!("{}ms", shutdown_timeout.as_millis()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // A session of its own, weighted up like the lab's children, so that
    // other work on a shared host does not starve it; killed with us.
    iomux_harness::sched::detach(&mut cmd, true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawning the {model} server: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let stderr = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    let Some(addr) = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "the {model} server did not announce itself: {line:?}"
        ));
    };
    let pid = child.id();
    iomux_harness::sched::boost(pid);
    if let Some(cpu) = cpu {
        iomux_harness::sched::pin(pid, cpu);
    }
    Ok(Server {
        child,
        addr,
        pid,
        stderr: Some(stderr),
    })
}

impl Server {
    /// Whether the server is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits at most `bound` for the exit (killing it
    /// past that): the exit status and how long the exit took, or None
    /// if it had to be killed.
    pub fn terminate(&mut self, bound: Duration) -> Option<(ExitStatus, Duration)> {
        let pid = Pid::from_raw(self.pid as i32).expect("a child pid is positive");
        let exited = pidfd_open(pid, PidfdFlags::empty()).ok();
        let sent = now_ns();
        let _ = kill_process(pid, Signal::TERM);
        let in_time = match &exited {
            Some(fd) => {
                let timeout = Timespec::try_from(bound).expect("fits");
                let mut fds = [PollFd::from_borrowed_fd(fd.as_fd(), PollFlags::IN)];
                matches!(poll(&mut fds, Some(&timeout)), Ok(1))
            }
            None => false,
        };
        if !in_time {
            let _ = self.child.kill();
            let _ = self.child.wait();
            return None;
        }
        let took = Duration::from_nanos(now_ns() - sent);
        self.child.wait().ok().map(|status| (status, took))
    }

    /// What the server wrote to stderr (after it has exited).
    pub fn stderr(&mut self) -> Vec<String> {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The server's resident set, sampled every second from /proc/PID/status.
pub struct RssSampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Vec<(u64, u64)>>,
}

/// VmRSS of `pid`, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl RssSampler {
    /// Starts sampling `pid` now and every second after.
    pub fn start(pid: u32) -> RssSampler {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            loop {
                if let Some(kib) = rss_kib(pid) {
                    samples.push((now_ns(), kib));
                }
                match stopped.recv_timeout(Duration::from_secs(1)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => return samples,
                }
            }
        });
        RssSampler { stop, thread }
    }

    /// Stops and returns the (CLOCK_MONOTONIC ns, KiB) samples.
    pub fn finish(self) -> Vec<(u64, u64)> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}
