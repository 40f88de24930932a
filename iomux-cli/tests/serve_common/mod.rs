//! Shared by the `serve_*` integration tests: start the built `iomux serve`
//! on port 0, read its ready line, talk to it over loopback.
#![allow(dead_code)]

#[path = "../spawn/mod.rs"]
pub mod spawn;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every bounded wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// `iomux serve --addr 127.0.0.1:0 --model M --mode D --proto P extra...`;
    /// for the rt model, which has no triggering mode, D is its driver
    /// (`--driver D`).
    pub fn start(model: &str, mode: &str, proto: &str, extra: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iomux"));
        let mode_flag = if model == "rt" { "--driver" } else { "--mode" };
        cmd.args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--model",
            model,
            mode_flag,
            mode,
        ])
        .args(["--proto", proto])
        .args(extra)
        .stderr(Stdio::inherit());
        let what = format!("iomux serve --model {model}");
        let (child, addr) = spawn::serve_until_ready(cmd, &what, WAIT);
        Server { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect to the server");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        s
    }

    /// A connection whose receive buffer is tiny, so that what the server
    /// sends stays queued on the server's side for a while.
    pub fn connect_small_rcvbuf(&self) -> TcpStream {
        use rustix::net::{AddressFamily, SocketType, sockopt};
        let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
        sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
        rustix::net::connect(&fd, &self.addr).expect("connect to the server");
        let s = TcpStream::from(fd);
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        s
    }

    /// Asserts the process is still alive.
    pub fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "the server process died"
        );
    }

    /// Sends `signal` to the server and waits (bounded) for it to exit.
    pub fn signal_and_wait(&mut self, signal: rustix::process::Signal) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("kill");
        let what = format!("the server, on {signal:?},");
        spawn::exit_within(&mut self.child, WAIT, &what)
    }

    /// Sends `signal` to the server and returns at once.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("kill");
    }

    /// Waits at most `within` for the server to exit (panics naming `what`).
    pub fn wait_exit(&mut self, within: Duration, what: &str) -> std::process::ExitStatus {
        spawn::exit_within(&mut self.child, within, what)
    }

    /// Open fds of the server process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// utime + stime of the server process, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    /// Polls `cond` until it holds or `WAIT` passes.
    pub fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let end = Instant::now() + WAIT;
        while !cond() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Defines one `#[test]` per variant of the named groups, each calling
/// `$case(model, mode)`:
///
/// ```ignore
/// per_variant!(echo_integrity: event_loops, uring, rt);
/// ```
///
/// gives `echo_integrity::select_level`, …, `echo_integrity::uring`,
/// `echo_integrity::rt_epoll`, …: a failure names its variant and does not
/// hide the others. The groups (what `Server::start` is given):
/// - `event_loops`: `--model` select, poll and epoll (the reactor), each
///   `--mode` level, edge and oneshot;
/// - `models`: blocking, nonblocking and sigio, mode "level" (the flag
///   means nothing to these models);
/// - `uring`: `--model uring`, mode "level";
/// - `rt`: `--model rt` (iomux::rt), the mode being its `--driver`: epoll,
///   poll (readiness) and uring (completions).
#[macro_export]
macro_rules! per_variant {
    ($case:ident: $($group:ident),+ $(,)?) => {
        mod $case {
            $($crate::per_variant!(@$group $case);)+
        }
    };
    (@event_loops $case:ident) => {
        $crate::per_variant!(@tests $case:
            select_level("select", "level"),
            select_edge("select", "edge"),
            select_oneshot("select", "oneshot"),
            poll_level("poll", "level"),
            poll_edge("poll", "edge"),
            poll_oneshot("poll", "oneshot"),
            epoll_level("epoll", "level"),
            epoll_edge("epoll", "edge"),
            epoll_oneshot("epoll", "oneshot"));
    };
    (@models $case:ident) => {
        $crate::per_variant!(@tests $case:
            blocking("blocking", "level"),
            nonblocking("nonblocking", "level"),
            sigio("sigio", "level"));
    };
    (@uring $case:ident) => {
        $crate::per_variant!(@tests $case: uring("uring", "level"));
    };
    (@rt $case:ident) => {
        $crate::per_variant!(@tests $case:
            rt_epoll("rt", "epoll"),
            rt_poll("rt", "poll"),
            rt_uring("rt", "uring"));
    };
    (@tests $case:ident: $($name:ident($model:literal, $mode:literal)),*) => {
        $(
            #[test]
            fn $name() {
                super::$case($model, $mode);
            }
        )*
    };
}

/// One parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads one response (Content-Length framed) from `r`, which buffers
/// whatever follows it.
pub fn read_response(r: &mut BufReader<TcpStream>) -> Response {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).expect("read a response line");
        assert!(n > 0, "connection closed inside a response head: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head[9..12].parse().expect("status code");
    let mut resp = Response {
        status,
        head,
        body: Vec::new(),
    };
    if status == 100 {
        return resp;
    }
    let len: usize = resp
        .header("content-length")
        .expect("Content-Length")
        .parse()
        .unwrap();
    resp.body = vec![0; len];
    r.read_exact(&mut resp.body).expect("read the body");
    resp
}

/// Asserts the peer closes: EOF (or a reset after everything was read).
pub fn assert_closed(r: &mut impl Read, what: &str) {
    let mut buf = [0u8; 4096];
    match r.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!(
            "{what}: expected close, got {n} more bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: expected close, got {e}"),
    }
}

/// Writes `bytes` then half-closes.
pub fn send_and_shut(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).expect("write");
    s.shutdown(Shutdown::Write).expect("shutdown");
}
