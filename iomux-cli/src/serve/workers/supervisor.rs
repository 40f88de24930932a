//! The master of `iomux serve --workers P`: starts the workers, prints the
//! ready line once every one is listening, restarts a worker that dies
//! (backing off when one keeps dying young), forwards SIGINT/SIGTERM, waits
//! (bounded) for the workers to exit, and prints their counters summed.
//!
//! One thread per worker pipe reads its lines: stdout for the worker's
//! ready line, stderr to pass on (prefixed `[worker i]`) and to collect its
//! exit report. The main thread alone spawns and reaps, and waits for
//! signals (SIGCHLD among them) with sigtimedwait(2).

use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};

use super::stats::Counters;
use crate::CliResult;
use crate::reexec;
use crate::serve::shutdown::{block, signal_set};
use crate::serve::{Model, ServeArgs, WorkerSharing, announce};

/// Flags the master acts on; the workers get the resolved `--addr`.
const MASTER_ONLY: [&str; 3] = ["--workers", "--worker-sharing", "--addr"];
/// How long the workers get to start; and to exit after a signal, on top
/// of their own `--shutdown-timeout` drain.
const START_WAIT: Duration = Duration::from_secs(30);
const EXIT_SLACK: Duration = Duration::from_secs(5);
/// A worker that dies younger than this counts towards a crash loop.
const YOUNG: Duration = Duration::from_secs(10);
/// The first restart waits this long; each young death doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the pipe readers tell the main thread.
enum Note {
    Ready { slot: usize, pid: u32 },
    Report { slot: usize, counters: Counters },
}

/// One worker position: the process in it now, and its crash history.
struct Slot {
    child: Option<Child>,
    started: Instant,
    ready: bool,
    young_deaths: u32,
    restart_at: Option<Instant>,
    readers: Vec<JoinHandle<()>>,
}

/// What the master shares with its workers.
struct Plan {
    exe: std::path::PathBuf,
    passed: Vec<std::ffi::OsString>,
    addr: SocketAddr,
    /// The listener every worker inherits (`exclusive`).
    shared: Option<TcpListener>,
}

/// Runs the master until SIGINT or SIGTERM.
pub fn supervise(args: &ServeArgs, workers: usize) -> CliResult {
    check_model(args)?;
    // Blocked before any thread exists; the workers start with an empty
    // mask (std resets it in the child).
    let set = signal_set(&[libc::SIGINT, libc::SIGTERM, libc::SIGCHLD]);
    block(&set)?;
    let (plan, _reservation) = plan(args)?;
    let (tx, rx) = mpsc::channel();
    let mut slots = Vec::with_capacity(workers);
    for i in 0..workers {
        let mut slot = Slot {
            child: None,
            started: Instant::now(),
            ready: false,
            young_deaths: 0,
            restart_at: None,
            readers: Vec::new(),
        };
        if let Err(e) = start(&plan, i, &mut slot, &tx) {
            slots.push(slot);
            stop_all(&mut slots, libc::SIGKILL);
            return Err(format!("cannot start worker {i}: {e}").into());
        }
        slots.push(slot);
    }
    let mut totals = Vec::new();
    if let Err(e) = wait_ready(&mut slots, &rx, &set, &mut totals) {
        stop_all(&mut slots, libc::SIGKILL);
        return Err(e.into());
    }
    announce(plan.addr)?;
    let (restarts, signal) = run(&plan, &mut slots, &tx, &rx, &set, &mut totals)?;
    eprintln!(
        "iomux: master: {}, stopping {workers} workers",
        signal_name(signal)
    );
    stop_all(&mut slots, signal);
    let exit_wait = args.shutdown_timeout + EXIT_SLACK;
    let clean = reap_all(&mut slots, exit_wait);
    drop(tx);
    for slot in &mut slots {
        for r in slot.readers.drain(..) {
            let _ = r.join();
        }
    }
    totals.extend(rx.try_iter());
    report(workers, restarts, &totals);
    if clean {
        Ok(())
    } else {
        Err(format!("a worker did not exit within {exit_wait:?} and was killed").into())
    }
}

/// Refuses, with the reason, what cannot run as workers.
fn check_model(args: &ServeArgs) -> Result<(), String> {
    match args.model {
        Model::Select | Model::Poll | Model::Epoll | Model::Uring | Model::Rt => {}
        other => {
            return Err(format!(
                "--workers: the {} model binds a plain listener of its own, which workers cannot share \
                 (no SO_REUSEPORT, no inherited listener); use select, poll, epoll, uring or rt",
                model_name(other)
            ));
        }
    }
    if args.worker_sharing == WorkerSharing::Exclusive && args.model != Model::Epoll {
        return Err(format!(
            "--worker-sharing exclusive needs EPOLLEXCLUSIVE, which only the epoll model has (not {}); \
             use --worker-sharing reuseport",
            model_name(args.model)
        ));
    }
    Ok(())
}

/// Resolves the address and opens what the workers share. The second value
/// holds the port while the master lives (`reuseport`).
fn plan(args: &ServeArgs) -> io::Result<(Plan, Option<OwnedFd>)> {
    let argv: Vec<_> = std::env::args_os().collect();
    let passed = reexec::passed_through(&argv, "serve", &MASTER_ONLY, &[]);
    let exe = std::env::current_exe()?;
    match args.worker_sharing {
        WorkerSharing::Reuseport => {
            let reservation = reserve(args.addr)?;
            let addr = rustix::net::getsockname(&reservation)?
                .try_into()
                .map_err(|_| io::Error::other("the reserved port has no IP address"))?;
            let plan = Plan {
                exe,
                passed,
                addr,
                shared: None,
            };
            Ok((plan, Some(reservation)))
        }
        WorkerSharing::Exclusive => {
            let listener = iomux::socket::bind_reuseport(args.addr)?;
            let addr = listener.local_addr()?;
            let plan = Plan {
                exe,
                passed,
                addr,
                shared: Some(listener),
            };
            Ok((plan, None))
        }
    }
}

/// A SO_REUSEPORT socket bound to `addr` but not listening: it takes no
/// connections, and keeps the port for the workers' listeners.
fn reserve(addr: SocketAddr) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    Ok(fd)
}

/// Starts worker `i` in `slot`, with readers on its pipes.
fn start(plan: &Plan, i: usize, slot: &mut Slot, tx: &Sender<Note>) -> io::Result<()> {
    let mut cmd = Command::new(&plan.exe);
    cmd.arg("serve")
        .args(&plan.passed)
        .arg("--addr")
        .arg(plan.addr.to_string())
        .arg("--worker-index")
        .arg(i.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(listener) = &plan.shared {
        let fd = listener.as_raw_fd();
        cmd.arg("--listen-fd").arg(fd.to_string());
        // The listener is CLOEXEC in the master; only the worker's copy
        // loses the flag, between fork and exec.
        // SAFETY: the closure only calls fcntl, which is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let ready = tx.clone();
    let out = std::thread::Builder::new()
        .name(format!("worker-{i}-out"))
        .spawn(move || read_ready(stdout, i, pid, ready))?;
    let reports = tx.clone();
    let err = std::thread::Builder::new()
        .name(format!("worker-{i}-err"))
        .spawn(move || read_stderr(stderr, i, reports))?;
    slot.readers.retain(|r| !r.is_finished());
    slot.readers.extend([out, err]);
    slot.child = Some(child);
    slot.started = Instant::now();
    slot.ready = false;
    slot.restart_at = None;
    Ok(())
}

/// Waits for the worker's `listening on` line; the rest of stdout is
/// drained so that the worker never blocks on it.
fn read_ready(stdout: impl Read, slot: usize, pid: u32, tx: Sender<Note>) {
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let Ok(line) = line else { return };
        if line.starts_with("listening on ") {
            let _ = tx.send(Note::Ready { slot, pid });
            break;
        }
    }
    lines.for_each(drop);
}

/// Passes the worker's stderr on and sums its statistics lines.
fn read_stderr(stderr: impl Read, slot: usize, tx: Sender<Note>) {
    let mut counters = Counters::default();
    let mut reported = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        reported |= counters.parse_line(&line);
        eprintln!("[worker {slot}] {line}");
    }
    if reported {
        let _ = tx.send(Note::Report { slot, counters });
    }
}

/// Waits until every worker has printed its ready line.
fn wait_ready(
    slots: &mut [Slot],
    rx: &Receiver<Note>,
    set: &libc::sigset_t,
    totals: &mut Vec<Note>,
) -> Result<(), String> {
    let deadline = Instant::now() + START_WAIT;
    while slots.iter().any(|s| !s.ready) {
        if let Some(sig) = wait_signal(set, Duration::from_millis(20))
            && sig != libc::SIGCHLD
        {
            return Err(format!(
                "{} while the workers were starting",
                signal_name(sig)
            ));
        }
        collect(slots, rx, totals);
        for (i, slot) in slots.iter_mut().enumerate() {
            if let Some(status) = exited(slot) {
                return Err(format!("worker {i} exited while starting ({status})"));
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the workers were not all listening within {START_WAIT:?}"
            ));
        }
    }
    Ok(())
}

/// Marks ready workers; keeps exit reports.
fn collect(slots: &mut [Slot], rx: &Receiver<Note>, totals: &mut Vec<Note>) {
    for note in rx.try_iter() {
        match note {
            Note::Ready { slot, pid } => {
                let s = &mut slots[slot];
                if s.child.as_ref().is_some_and(|c| c.id() == pid) {
                    s.ready = true;
                }
            }
            report @ Note::Report { .. } => totals.push(report),
        }
    }
}

/// The worker's exit status, if it has exited (and is reaped).
fn exited(slot: &mut Slot) -> Option<ExitStatus> {
    let child = slot.child.as_mut()?;
    let status = child.try_wait().ok().flatten()?;
    slot.child = None;
    Some(status)
}

/// Supervises until a signal asks to stop; returns the restarts made and
/// the signal.
fn run(
    plan: &Plan,
    slots: &mut [Slot],
    tx: &Sender<Note>,
    rx: &Receiver<Note>,
    set: &libc::sigset_t,
    totals: &mut Vec<Note>,
) -> io::Result<(u64, libc::c_int)> {
    let mut restarts = 0;
    loop {
        let now = Instant::now();
        let next = slots.iter().filter_map(|s| s.restart_at).min();
        let timeout = next.map_or(Duration::from_millis(200), |t| {
            t.saturating_duration_since(now)
                .min(Duration::from_millis(200))
        });
        if let Some(sig) = wait_signal(set, timeout)
            && sig != libc::SIGCHLD
        {
            collect(slots, rx, totals);
            return Ok((restarts, sig));
        }
        collect(slots, rx, totals);
        let now = Instant::now();
        for (i, slot) in slots.iter_mut().enumerate() {
            if let Some(status) = exited(slot) {
                let age = now - slot.started;
                slot.young_deaths = if age < YOUNG {
                    slot.young_deaths + 1
                } else {
                    0
                };
                let backoff = backoff(slot.young_deaths);
                eprintln!(
                    "iomux: master: worker {i} exited after {:.1} s ({status}); restarting in {backoff:?}",
                    age.as_secs_f64()
                );
                slot.restart_at = Some(now + backoff);
            }
            if slot.restart_at.is_some_and(|t| now >= t) {
                match start(plan, i, slot, tx) {
                    Ok(()) => {
                        restarts += 1;
                        let pid = slot.child.as_ref().map_or(0, Child::id);
                        eprintln!("iomux: master: worker {i} restarted (pid {pid})");
                    }
                    Err(e) => {
                        slot.young_deaths += 1;
                        let backoff = backoff(slot.young_deaths);
                        eprintln!(
                            "iomux: master: cannot restart worker {i}: {e}; again in {backoff:?}"
                        );
                        slot.restart_at = Some(now + backoff);
                    }
                }
            }
        }
    }
}

/// The wait before restarting a worker that died young `deaths` times in a row.
fn backoff(deaths: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << deaths.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// Waits at most `timeout` for one of the blocked signals in `set`.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<libc::c_int> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` is an initialised sigset_t and `ts` a valid timespec; a
    // null siginfo pointer is allowed.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// Sends `signal` to every live worker.
fn stop_all(slots: &mut [Slot], signal: libc::c_int) {
    for slot in slots.iter_mut() {
        slot.restart_at = None;
        if let Some(child) = &slot.child {
            // SAFETY: kill(2) on the pid of a child not yet reaped (so not reused).
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        }
    }
}

/// Waits (bounded) for every worker to exit; kills what is left. Returns
/// whether they all exited by themselves.
fn reap_all(slots: &mut [Slot], exit_wait: Duration) -> bool {
    let deadline = Instant::now() + exit_wait;
    let set = signal_set(&[libc::SIGCHLD]);
    loop {
        for slot in slots.iter_mut() {
            exited(slot);
        }
        if slots.iter().all(|s| s.child.is_none()) {
            return true;
        }
        if Instant::now() > deadline {
            stop_all(slots, libc::SIGKILL);
            for slot in slots.iter_mut() {
                if let Some(mut child) = slot.child.take() {
                    let _ = child.wait();
                }
            }
            return false;
        }
        wait_signal(&set, Duration::from_millis(50));
    }
}

/// The exit report: each worker's counters, and their sum.
fn report(workers: usize, restarts: u64, totals: &[Note]) {
    let mut sum = Counters::default();
    let mut reports = 0;
    for note in totals {
        if let Note::Report { slot, counters } = note {
            eprintln!("iomux: worker {slot}: {}", counters.summary());
            sum.merge(counters);
            reports += 1;
        }
    }
    eprintln!(
        "iomux: {workers} workers, {restarts} restarts; summed over {reports} exit reports: {}",
        sum.summary()
    );
}

fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

fn model_name(model: Model) -> String {
    use clap::ValueEnum;
    model
        .to_possible_value()
        .map_or_else(|| format!("{model:?}"), |v| v.get_name().to_string())
}
