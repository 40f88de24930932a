//! Child processes of the tests: starting the built `iomux serve` and reading
//! its ready line, and waiting (bounded) for a child to exit. For the
//! test helper modules (`serve_common`, `models_common`) and the tests.

#![allow(dead_code)] // each test crate uses its own part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Spawns `cmd` (an `iomux serve … --addr 127.0.0.1:0`) with stdout piped,
/// and waits at most `wait` for its one ready line, `listening on ADDR`.
/// Kills the child and panics, naming `what`, if the line does not come.
pub fn serve_until_ready(mut cmd: Command, what: &str, wait: Duration) -> (Child, SocketAddr) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn iomux serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let Ok(line) = rx.recv_timeout(wait) else {
        let _ = child.kill();
        panic!("no ready line from {what} within {wait:?}");
    };
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected ready line {line:?} from {what}"))
        .parse()
        .expect("address in the ready line");
    (child, addr)
}

/// Waits at most `wait` for `child` to exit. If it does not, kills it and
/// panics, naming `what`.
pub fn exit_within(child: &mut Child, wait: Duration, what: &str) -> std::process::ExitStatus {
    let end = std::time::Instant::now() + wait;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!("{what} did not exit within {wait:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
