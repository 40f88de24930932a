//! Counting a server's system calls with `perf stat` on the kernel's
//! syscall tracepoints: exact counts, at a small cost per call, for every
//! model alike (no model has to count for itself).
//!
//! perf attaches to the threads that exist when it starts, so the lab starts
//! it once the connections are up, disabled, and switches it on and off
//! through a control FIFO exactly around the measurement window.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

/// Syscalls a model sleeps in, waiting for readiness or completions.
pub const WAIT_SYSCALLS: &[&str] = &[
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "select",
    "pselect6",
    "poll",
    "ppoll",
    "rt_sigtimedwait",
    "io_uring_enter",
];

/// Other syscalls worth naming in the report.
pub const OTHER_SYSCALLS: &[&str] = &[
    "read",
    "recvfrom",
    "write",
    "sendto",
    "epoll_ctl",
    "mmap",
    "accept4",
];

/// All syscalls, by tracepoint.
pub const ALL: &str = "raw_syscalls:sys_enter";

/// perf opens one counter per thread per event; stay well below the fd limit.
const FD_BUDGET: u64 = 12_000;

/// What perf counted.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Calls by syscall name ("all" for every syscall).
    pub calls: BTreeMap<String, u64>,
}

impl Counts {
    /// Calls of `name`, if it was counted.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.calls.get(name).copied()
    }

    /// Calls of every wait syscall together, if any was counted.
    pub fn waits(&self) -> Option<u64> {
        let mut any = false;
        let total = WAIT_SYSCALLS
            .iter()
            .filter_map(|s| {
                let v = self.get(s);
                any |= v.is_some();
                v
            })
            .sum();
        any.then_some(total)
    }
}

/// A running, initially disabled `perf stat` attached to one process.
pub struct Perf {
    child: Child,
    dir: PathBuf,
    ctl: File,
    ack: File,
}

fn tracepoint_exists(name: &str) -> bool {
    [
        "/sys/kernel/tracing/events/syscalls",
        "/sys/kernel/debug/tracing/events/syscalls",
    ]
    .iter()
    .any(|d| Path::new(d).join(format!("sys_enter_{name}")).exists())
}

fn mkfifo(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Perf {
    /// Attaches to `pid` (with `threads` threads), disabled.
    pub fn start(pid: u32, threads: u64, tag: &str) -> io::Result<Perf> {
        let mut events: Vec<String> = WAIT_SYSCALLS
            .iter()
            .chain(OTHER_SYSCALLS)
            .filter(|s| tracepoint_exists(s))
            .map(|s| format!("syscalls:sys_enter_{s}"))
            .collect();
        events.push(ALL.to_string());
        if threads * events.len() as u64 > FD_BUDGET {
            if threads > FD_BUDGET {
                return Err(io::Error::other(format!(
                    "{threads} threads: too many to count"
                )));
            }
            events = vec![ALL.to_string()];
        }
        let dir = std::env::temp_dir().join(format!("iomux-lab-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let (ctl_path, ack_path) = (dir.join("ctl"), dir.join("ack"));
        mkfifo(&ctl_path)?;
        mkfifo(&ack_path)?;
        let mut cmd = Command::new("perf");
        cmd.args(["stat", "-x", ",", "-D", "-1", "-o"])
            .arg(dir.join("out.csv"))
            .arg("--control")
            .arg(format!(
                "fifo:{},{}",
                ctl_path.display(),
                ack_path.display()
            ));
        for e in &events {
            cmd.args(["-e", e]);
        }
        cmd.args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        super::sched::detach(&mut cmd, false);
        let mut child = cmd.spawn()?;
        // perf attaches to thousands of threads while both cores are busy.
        super::sched::boost(child.id());
        // Our read end first: perf may open its write end blocking.
        let ack = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ack_path)?;
        // The write end opens (without blocking) once perf has the read end open.
        let deadline = Instant::now() + Duration::from_secs(10);
        let ctl = loop {
            match OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&ctl_path)
            {
                Ok(f) => break f,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                    if let Some(status) = child.try_wait()? {
                        let _ = fs::remove_dir_all(&dir);
                        return Err(io::Error::other(format!("perf exited: {status}")));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = fs::remove_dir_all(&dir);
                    return Err(io::Error::other(format!("perf did not start: {e}")));
                }
            }
        };
        Ok(Perf {
            child,
            dir,
            ctl,
            ack,
        })
    }

    fn command(&mut self, what: &str) -> io::Result<()> {
        self.ctl.write_all(format!("{what}\n").as_bytes())?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while !got.contains(&b'\n') {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::other(format!("perf did not acknowledge {what}")));
            }
            let ts = Timespec::try_from(left).map_err(io::Error::other)?;
            let mut fds = [PollFd::new(&self.ack, PollFlags::IN)];
            rustix::event::poll(&mut fds, Some(&ts))?;
            let mut buf = [0u8; 64];
            match self.ack.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Starts counting; returns when counting began.
    pub fn enable(&mut self) -> io::Result<Instant> {
        self.command("enable")?;
        Ok(Instant::now())
    }

    /// Stops counting.
    pub fn disable(&mut self) -> io::Result<()> {
        self.command("disable")
    }

    /// Stops perf and reads its counts.
    pub fn finish(mut self) -> io::Result<Counts> {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let text = fs::read_to_string(self.dir.join("out.csv")).unwrap_or_default();
        let _ = fs::remove_dir_all(&self.dir);
        let mut counts = Counts::default();
        for line in text.lines() {
            let cols: Vec<&str> = line.split(',').collect();
            if cols.len() < 3 {
                continue;
            }
            let Ok(value) = cols[0].trim().parse::<u64>() else {
                continue;
            };
            let name = if cols[2] == ALL {
                "all".to_string()
            } else if let Some(s) = cols[2].strip_prefix("syscalls:sys_enter_") {
                s.to_string()
            } else {
                continue;
            };
            counts.calls.insert(name, value);
        }
        if counts.calls.is_empty() {
            return Err(io::Error::other("perf reported no counts"));
        }
        Ok(counts)
    }
}

/// Whether `perf` can be run at all.
pub fn available() -> bool {
    Command::new("perf")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
