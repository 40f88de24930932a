//! Child processes of the lab (servers, load generators): stdout read line
//! by line, stderr kept, and exits waited for with a bound.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::sched;

/// A child process whose stdout lines arrive on a channel and whose stderr
/// is kept (the first few KiB).
pub(super) struct Supervised {
    pub(super) child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: Receiver<(Instant, String)>,
    stderr: Arc<Mutex<String>>,
    /// Disconnects when the stderr reader has seen EOF.
    stderr_done: Receiver<()>,
}

/// How long `stderr` waits for the rest of an exited child's stderr.
const STDERR_DRAIN: Duration = Duration::from_secs(2);

impl Supervised {
    pub(super) fn spawn(cmd: &mut Command) -> std::io::Result<Supervised> {
        sched::detach(cmd, true);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        sched::boost(child.id());
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            sched::prompt();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let keep = stderr.clone();
        let mut err = child.stderr.take().expect("piped stderr");
        let (done, stderr_done) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _done = done; // dropped at EOF: disconnects `stderr_done`
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = keep.lock().expect("stderr buffer");
                if s.len() < 16 * 1024 {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Ok(Supervised {
            child,
            stdin,
            lines,
            stderr,
            stderr_done,
        })
    }

    /// Closes the child's stdin (the load generator then closes its connections).
    pub(super) fn release(&mut self) {
        self.stdin.take();
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the child wrote to stderr (its first 16 KiB). Once the child
    /// has exited, first waits (up to `STDERR_DRAIN`) for the reader to
    /// reach EOF, so that the last words of a child that just failed (the
    /// reason it gives) are not lost to the race with the reader thread.
    pub(super) fn stderr(&mut self) -> String {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.stderr_done.recv_timeout(STDERR_DRAIN);
        }
        self.stderr
            .lock()
            .expect("stderr buffer")
            .trim()
            .to_string()
    }

    /// The next stdout line before `deadline`; `Err` says why there is none.
    /// With the time the line arrived.
    pub(super) fn line(&mut self, deadline: Instant) -> Result<(Instant, String), String> {
        match self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(l) => Ok(l),
            Err(RecvTimeoutError::Timeout) => Err("timed out".into()),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait(Duration::from_secs(2));
                Err(format!("exited ({status})"))
            }
        }
    }

    /// Waits up to `limit` for the child to exit, then kills it.
    pub(super) fn wait(&mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = self.child.kill();
                    return self
                        .child
                        .wait()
                        .map_or("killed".into(), |s| format!("killed, {s}"));
                }
            }
        }
    }

    /// SIGKILLs the child's whole process group (the child leads a session
    /// of its own, see `sched::detach`): a `serve --workers` master with its
    /// workers, or a `load --procs` parent with its client processes.
    pub(super) fn kill_group(&mut self) -> String {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        self.wait(Duration::from_secs(5))
    }

    pub(super) fn terminate(&mut self, limit: Duration) -> String {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        self.wait(limit)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
