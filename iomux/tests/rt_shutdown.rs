//! Graceful shutdown on every driver: a triggered `Shutdown` ends the
//! accept loop, the request in flight is answered, and the report says
//! nothing was cut; a connection that outlives the grace period is cut and
//! named. And in a child process (this test binary run again): SIGTERM
//! during a request ends the accept loops of a group of two runtimes, the
//! request is answered, and the process exits 0.
//!
//! The server's protocol: the client sends `GET\n`, the server answers
//! `started\n`, waits for `finish\n`, answers `done\n` and closes.

#[macro_use]
mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use iomux::rt::net::{TcpListener, TcpStream};
use iomux::rt::shutdown::{Connections, Report, Shutdown};
use iomux::rt::signal::SignalKind;
use iomux::rt::{DriverKind, Runtime, group};

/// Reads one line (up to `\n`) from a runtime stream.
async fn read_line(conn: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if conn.read(&mut byte).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            return String::from_utf8(line)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        }
        line.push(byte[0]);
    }
}

/// One request of the protocol.
async fn serve(mut conn: TcpStream) {
    let r: io::Result<()> = async {
        assert_eq!(read_line(&mut conn).await?, "GET");
        conn.write_all(b"started\n").await?;
        assert_eq!(read_line(&mut conn).await?, "finish");
        conn.write_all(b"done\n").await?;
        Ok(())
    }
    .await;
    if let Err(e) = r {
        println!("connection error: {e}");
    }
}

/// Accepts until `shutdown`, then closes the listener, says so on
/// `stopped`, and drains within `grace`.
async fn server(
    listener: TcpListener,
    shutdown: Shutdown,
    grace: Duration,
    stopped: impl FnOnce(),
) -> io::Result<Report> {
    let conns = Connections::new();
    while let Some(accepted) = shutdown.until(listener.accept()).await {
        let (conn, peer) = accepted?;
        conns.spawn(peer.to_string(), serve(conn));
    }
    drop(listener);
    stopped();
    Ok(conns.drain(grace).await)
}

fn client_line(reader: &mut BufReader<StdStream>) -> String {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .expect("read a line from the server");
    line
}

fn connect(addr: SocketAddr) -> (StdStream, BufReader<StdStream>) {
    let s = StdStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(common::MUST)).expect("timeout");
    let r = BufReader::new(s.try_clone().expect("clone"));
    (s, r)
}

/// A connection made after the accept loop ended is not served: refused,
/// or (on io_uring, where a dropped listener's fd is closed when its
/// cancelled accept completes, at the runtime's next turn) closed unserved:
/// reset during the handshake if the listener closes while the connection
/// waits in its backlog, or reset or ended afterwards.
fn not_served(addr: SocketAddr) {
    match StdStream::connect(addr) {
        Err(e) => assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
            ),
            "a late connect failed otherwise than refused or reset: {e}"
        ),
        Ok(mut late) => {
            late.set_read_timeout(Some(common::MUST)).expect("timeout");
            let _ = late.write_all(b"GET\n");
            let mut buf = [0u8; 16];
            match late.read(&mut buf) {
                Ok(0) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                other => panic!("a connection after the shutdown was served: {other:?}"),
            }
        }
    }
}

fn in_flight_request_is_answered(driver: DriverKind) {
    common::bounded(60, "graceful shutdown", move || {
        let shutdown = Shutdown::new();
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stopped_tx, stopped_rx) = mpsc::channel();
        let server_side = shutdown.clone();
        let server_thread = std::thread::spawn(move || {
            let rt = Runtime::with_driver(driver).expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")?;
                addr_tx.send(listener.local_addr()?).expect("test alive");
                server(listener, server_side, common::MUST, move || {
                    stopped_tx.send(()).expect("test alive");
                })
                .await
            })
        });
        let addr = addr_rx.recv_timeout(common::MUST).expect("server address");
        let (mut s, mut r) = connect(addr);
        s.write_all(b"GET\n").expect("send");
        assert_eq!(client_line(&mut r), "started\n");
        shutdown.trigger();
        stopped_rx
            .recv_timeout(common::MUST)
            .expect("the accept loop ends once shutdown is triggered");
        not_served(addr);
        s.write_all(b"finish\n").expect("send");
        assert_eq!(
            client_line(&mut r),
            "done\n",
            "the request in flight is answered"
        );
        let report = server_thread
            .join()
            .expect("server thread")
            .expect("server");
        assert_eq!(report.finished, 1, "{report}");
        assert!(report.cut.is_empty(), "{report}");
    });
}
on_every_driver!(in_flight_request_is_answered);

fn grace_period_cuts_and_names(driver: DriverKind) {
    common::bounded(60, "grace period", move || {
        let shutdown = Shutdown::new();
        let (addr_tx, addr_rx) = mpsc::channel();
        let server_side = shutdown.clone();
        let server_thread = std::thread::spawn(move || {
            let rt = Runtime::with_driver(driver).expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")?;
                addr_tx.send(listener.local_addr()?).expect("test alive");
                server(listener, server_side, Duration::from_millis(100), || {}).await
            })
        });
        let addr = addr_rx.recv_timeout(common::MUST).expect("server address");
        let (mut s, mut r) = connect(addr);
        s.write_all(b"GET\n").expect("send");
        assert_eq!(client_line(&mut r), "started\n");
        let me = s.local_addr().expect("local addr").to_string();
        // Never sends `finish`: the connection outlives the grace period.
        shutdown.trigger();
        let report = server_thread
            .join()
            .expect("server thread")
            .expect("server");
        assert_eq!(report.finished, 0, "{report}");
        assert_eq!(report.cut, vec![me.clone()], "{report}");
        assert!(report.to_string().contains(&me), "{report}");
        // The cut connection is closed.
        let mut rest = Vec::new();
        let n = r.read_to_end(&mut rest).expect("read to the close");
        assert_eq!(n, 0, "{rest:?}");
    });
}
on_every_driver!(grace_period_cuts_and_names);

/// The environment variable that makes [`child_server`] serve.
const CHILD: &str = "IOMUX_RT_SHUTDOWN_CHILD";

/// The child process's server: a group of two runtimes on the driver in
/// `$IOMUX_RT_SHUTDOWN_CHILD`, stopped by SIGTERM. A no-op unless that
/// variable is set (in a normal run of the suite).
#[test]
fn child_server() {
    let Ok(driver) = std::env::var(CHILD) else {
        return;
    };
    let driver: DriverKind = driver.parse().expect("a driver name");
    let shutdown = Shutdown::new();
    shutdown
        .on_signal(SignalKind::terminate())
        .expect("listen for SIGTERM");
    let (port_tx, port_rx) = mpsc::channel::<SocketAddr>();
    let port_rx = std::sync::Mutex::new(port_rx);
    let port_tx = std::sync::Mutex::new(port_tx);
    let reports = group::run_with_shutdown(2, driver, &shutdown, move |i, shutdown| {
        // Runtime 0 binds a free port; runtime 1 the same one.
        let addr = if i == 0 {
            None
        } else {
            Some(
                port_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(common::MUST)
                    .expect("runtime 0's address"),
            )
        };
        let tx = port_tx.lock().unwrap().clone();
        async move {
            let listener = match addr {
                None => {
                    let l = TcpListener::bind_reuseport("127.0.0.1:0".parse().unwrap())?;
                    let addr = l.local_addr()?;
                    // Said before runtime 1 can say it accepts.
                    println!("child: listening {addr}");
                    tx.send(addr).expect("runtime 1 waits");
                    l
                }
                Some(addr) => TcpListener::bind_reuseport(addr)?,
            };
            println!("child: accepting {i}");
            server(listener, shutdown, common::MUST, move || {
                println!("child: stopped accepting {i}");
            })
            .await
        }
    })
    .expect("the group");
    let finished: usize = reports.iter().map(|r| r.finished).sum();
    let cut: usize = reports.iter().map(|r| r.cut.len()).sum();
    println!("child: report finished {finished} cut {cut}");
}

/// Kills the child if the test fails before it has exited.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn sigterm_stops_a_child_server(driver: DriverKind) {
    common::bounded(120, "SIGTERM to a child server", move || {
        let mut child = KillOnDrop(Some(
            Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", "child_server", "--nocapture", "--test-threads=1"])
                .env(CHILD, driver.name())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn the child"),
        ));
        let pid = child.0.as_ref().expect("child").id();
        let (lines_tx, lines) = mpsc::channel::<String>();
        let out = child
            .0
            .as_mut()
            .and_then(|c| c.stdout.take())
            .expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let mut wait_for = |prefix: &str| -> String {
            loop {
                let line = lines.recv_timeout(common::MUST * 2).unwrap_or_else(|_| {
                    panic!("{driver}: no line {prefix:?} from the child; it said {seen:?}")
                });
                seen.push(line.clone());
                // libtest's own words may come first on the line.
                if let Some(at) = line.find("child: ") {
                    let said = &line[at + "child: ".len()..];
                    if let Some(rest) = said.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
            }
        };
        let addr: SocketAddr = wait_for("listening ").parse().expect("the child's address");
        wait_for("accepting ");
        wait_for("accepting ");
        let (mut s, mut r) = connect(addr);
        s.write_all(b"GET\n").expect("send");
        assert_eq!(client_line(&mut r), "started\n");

        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).expect("pid"),
            rustix::process::Signal::TERM,
        )
        .expect("SIGTERM the child");
        wait_for("stopped accepting ");
        wait_for("stopped accepting ");
        not_served(addr);

        s.write_all(b"finish\n").expect("send");
        assert_eq!(
            client_line(&mut r),
            "done\n",
            "the request in flight is answered"
        );
        let report = wait_for("report ");
        assert_eq!(report, "finished 1 cut 0");

        let mut child = child.0.take().expect("child");
        let (status_tx, status_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = status_tx.send(child.wait());
        });
        let status = status_rx
            .recv_timeout(common::MUST * 2)
            .expect("the child exits")
            .expect("wait");
        assert!(status.success(), "{driver}: the child ended with {status}");
    });
}
on_every_driver!(sigterm_stops_a_child_server);
