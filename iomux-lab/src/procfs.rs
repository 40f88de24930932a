//! What the lab reads about a server from /proc: CPU time, memory, context
//! switches, threads and file descriptors.

use std::fs;
use std::io;

/// One sample of a process's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// CPU time of its live threads (schedstat), seconds; utime + stime
    /// from /proc/PID/stat where schedstat is missing.
    pub cpu_s: f64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Voluntary context switches, summed over live threads.
    pub vcsw: u64,
    /// Involuntary context switches, summed over live threads.
    pub ivcsw: u64,
    /// Threads.
    pub threads: u64,
}

/// Clock ticks per second for /proc/PID/stat times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of the whole process (all threads, /proc/PID/stat).
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: count fields
    // after the last ')'. utime and stime are fields 14 and 15 overall.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unreadable /proc/{pid}/stat")))
    };
    // After ')': state is field 3 overall, so field n is at index n - 3.
    Ok((field(14 - 3)? + field(15 - 3)?) as f64 / ticks_per_second())
}

fn status_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Samples CPU, RSS, threads and context switches (summed over threads).
pub fn sample(pid: u32) -> io::Result<Sample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mut s = Sample {
        cpu_s: cpu_seconds(pid)?,
        rss_kib: status_field(&status, "VmRSS:").unwrap_or(0),
        threads: status_field(&status, "Threads:").unwrap_or(1),
        ..Sample::default()
    };
    // /proc/PID/status counts only the main thread's switches: sum the tasks.
    // Their schedstat runtimes (ns) also give CPU time far finer than the
    // clock ticks of /proc/PID/stat (but without threads that have exited).
    let mut runtime_ns = 0u64;
    let mut have_runtime = true;
    for entry in fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        if let Ok(t) = fs::read_to_string(entry.path().join("status")) {
            s.vcsw += status_field(&t, "voluntary_ctxt_switches:").unwrap_or(0);
            s.ivcsw += status_field(&t, "nonvoluntary_ctxt_switches:").unwrap_or(0);
        }
        match fs::read_to_string(entry.path().join("schedstat"))
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<u64>().ok())
        {
            Some(ns) => runtime_ns += ns,
            None => have_runtime = false,
        }
    }
    if have_runtime && runtime_ns > 0 {
        s.cpu_s = runtime_ns as f64 / 1e9;
    }
    Ok(s)
}

/// Busy time of one CPU since boot, seconds (/proc/stat: all but idle and
/// iowait), from every process on it.
pub fn cpu_busy(cpu: usize) -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat
        .lines()
        .find(|l| l.starts_with(&format!("cpu{cpu} ")))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle) as f64 / ticks_per_second())
}

/// Open fds and the highest fd number.
pub fn fds(pid: u32) -> (u64, u64) {
    let mut count = 0;
    let mut max = 0;
    if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            if let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                count += 1;
                max = max.max(fd);
            }
        }
    }
    (count, max)
}

/// Whether any memory mapping of the process is backed by an epoll
/// instance (`anon_inode:[eventpoll]`): the mmap claim says there would be.
pub fn maps_mention_eventpoll(pid: u32) -> Option<bool> {
    fs::read_to_string(format!("/proc/{pid}/maps"))
        .ok()
        .map(|m| m.contains("eventpoll"))
}

/// Whether any fd of the process is an epoll instance.
pub fn has_epoll_fd(pid: u32) -> bool {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten().any(|e| {
                fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("eventpoll"))
            })
        })
        .unwrap_or(false)
}

/// The CPU's model name, from /proc/cpuinfo.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// MemTotal from /proc/meminfo, KiB.
pub fn mem_total_kib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let s = sample(me).expect("sample self");
        assert!(s.rss_kib > 0, "RSS read");
        assert!(s.threads >= 1);
        assert!(cpu_seconds(me).expect("cpu") >= 0.0);
        let (n, max) = fds(me);
        assert!(n >= 3 && max >= 2, "stdin/out/err at least: {n} {max}");
    }

    #[test]
    fn counts_switches_of_other_threads() {
        let me = std::process::id();
        let before = sample(me).expect("sample self");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (back, done) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // Each blocking recv is a voluntary context switch.
            while rx.recv().is_ok() {
                back.send(()).expect("reply");
            }
        });
        for _ in 0..50 {
            tx.send(()).expect("send");
            done.recv().expect("reply");
        }
        let during = sample(me).expect("sample self");
        drop(tx);
        t.join().expect("join");
        assert!(
            during.vcsw >= before.vcsw + 20,
            "switches counted: {} -> {}",
            before.vcsw,
            during.vcsw
        );
    }
}
