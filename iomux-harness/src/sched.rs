//! Scheduling for a fair measurement on a machine that may be shared (other
//! builds, say): children pinned and weighted up, the measuring process's
//! own threads prompt. The lab (and the soak) measure the I/O models, not
//! the scheduler's fairness. All of it needs root (or CAP_SYS_NICE); without
//! it nothing changes and the numbers are only noisier.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Nice value for the children and their autogroups.
const NICE: i32 = -20;

/// Runs a child in a session of its own, hence an autogroup of its own that
/// [`boost`] can weight; with `die_with_spawner`, it is killed when the
/// thread that spawned it ends (a Ctrl-C of the lab must not leave a busy
/// poller behind). perf does without: it ends with the process it counts,
/// and is spawned from a short-lived thread.
pub fn detach(cmd: &mut Command, die_with_spawner: bool) {
    // SAFETY: between fork and exec the closure only makes two
    // async-signal-safe syscalls and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if die_with_spawner {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            libc::setsid();
            Ok(())
        });
    }
}

/// Raises the weight of a detached child's autogroup. With autogroups on,
/// per-thread nice values only rank threads inside one session, so this is
/// what keeps other sessions' work from preempting the measured processes.
pub fn boost(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/autogroup"), NICE.to_string());
}

/// Pins every thread of `pid` to `cpu`, at nice −20. Threads created later
/// inherit both from their creator.
pub fn pin(pid: u32, cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    for tid in tasks(pid) {
        if let Some(p) = rustix::process::Pid::from_raw(tid as i32) {
            let _ = rustix::thread::sched_setaffinity(Some(p), &set);
            let _ = rustix::process::setpriority_process(Some(p), NICE);
        }
    }
}

/// Pins the child `cmd` starts to `cpu`, at nice −20, from its first
/// instruction: every process it forks later (the workers of `serve
/// --workers`, the client processes of `load --procs`) inherits both, with
/// no window in which one runs elsewhere.
pub fn pin_at_exec(cmd: &mut Command, cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    // SAFETY: between fork and exec the closure makes two async-signal-safe
    // syscalls on the child itself, with a set built before the fork; it
    // allocates nothing and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            let _ = rustix::thread::sched_setaffinity(None, &set);
            let _ = rustix::process::setpriority_process(None, NICE);
            Ok(())
        });
    }
}

/// Puts the calling thread in the lowest real-time class, so that the
/// lab's sampling happens when the load says so even while the boosted
/// children keep both cores busy. The lab's threads sleep almost always;
/// children and new threads fall back to normal scheduling (reset on fork).
pub fn prompt() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
    let _ = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
}

/// Thread ids of a process (those [`pin`] reaches), from /proc.
pub fn tasks(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
