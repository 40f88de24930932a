//! A server handle for the cases of the thread models (blocking,
//! nonblocking, sigio: `serve_echo`, `serve_http`, `models_sigio`) and of
//! the load generator: it can pass an environment variable and read the
//! server's exit statistics. A test that includes it includes
//! `serve_common` too (whose `spawn` it uses).
#![allow(dead_code)]

use crate::serve_common::spawn;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Every bounded wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// A server whose stderr is kept, stopped with SIGTERM.
pub struct Served {
    child: Child,
    pub addr: SocketAddr,
}

impl Served {
    /// `iomux serve --model M --proto P --addr 127.0.0.1:0` with `env` set.
    pub fn start(model: &str, proto: &str, env: &[(&str, &str)]) -> Served {
        Served::start_with(model, proto, env, &[])
    }

    /// The same, with more arguments.
    pub fn start_with(model: &str, proto: &str, env: &[(&str, &str)], extra: &[&str]) -> Served {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
        cmd.args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--model",
            model,
            "--proto",
            proto,
        ])
        .args(extra)
        .envs(env.iter().copied())
        .stderr(Stdio::piped());
        let what = format!("iomux serve --model {model}");
        let (child, addr) = spawn::serve_until_ready(cmd, &what, WAIT);
        Served { child, addr }
    }

    /// A connection to the server, its reads and writes bounded by `WAIT`.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        s
    }

    /// Sends SIGTERM; returns the exit status and everything on stderr.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
        let status = spawn::exit_within(&mut self.child, WAIT, "the server, on SIGTERM,");
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .expect("piped stderr")
            .read_to_string(&mut err)
            .expect("stderr");
        (status, err)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=` in the server's `iomux-stats:` exit line.
pub fn stat(stderr: &str, key: &str) -> Option<u64> {
    stderr
        .lines()
        .find(|l| l.starts_with("iomux-stats:"))?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}
