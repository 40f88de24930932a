//! What the scale lab reads from /proc beyond one process: a server's
//! process tree (the master of `serve --workers` and its workers), and the
//! kernel's memory for sockets (/proc/meminfo, /proc/net/sockstat).

use std::fs;

use super::super::procfs;

/// The process and its descendants (the master and its workers).
pub fn tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        for task in iomux_harness::sched::tasks(p) {
            if let Ok(kids) = fs::read_to_string(format!("/proc/{p}/task/{task}/children")) {
                out.extend(
                    kids.split_whitespace()
                        .filter_map(|k| k.parse::<u32>().ok()),
                );
            }
        }
        i += 1;
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// CPU seconds, RSS and threads summed over a process tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct TreeSample {
    /// CPU time, seconds (schedstat of the live threads, see procfs).
    pub cpu_s: f64,
    /// RSS, KiB.
    pub rss_kib: u64,
    /// Threads.
    pub threads: u64,
    /// Processes sampled.
    pub procs: usize,
}

/// Samples every process of `pid`'s tree; processes that vanish between
/// the listing and the read are skipped.
pub fn sample_tree(pid: u32) -> TreeSample {
    let mut t = TreeSample::default();
    for p in tree(pid) {
        if let Ok(s) = procfs::sample(p) {
            t.cpu_s += s.cpu_s;
            t.rss_kib += s.rss_kib;
            t.threads += s.threads;
            t.procs += 1;
        }
    }
    t
}

/// The kernel's memory for sockets, system-wide (both ends of every
/// loopback connection are on this machine).
#[derive(Clone, Copy, Debug, Default)]
pub struct Kernel {
    /// `Slab:` of /proc/meminfo, KiB: sockets, inodes, dentries, epoll
    /// items, TCP control blocks.
    pub slab_kib: u64,
    /// `MemAvailable:`, KiB.
    pub available_kib: u64,
    /// sockstat `TCP: mem`, pages of socket buffers.
    pub tcp_mem_pages: u64,
    /// sockstat `TCP: inuse`, sockets.
    pub tcp_inuse: u64,
}

fn meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A `TCP:` field of /proc/net/sockstat (`inuse`, `mem`…).
fn sockstat(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| *w == key)?;
    words.get(i + 1)?.parse().ok()
}

/// Reads the kernel's figures now.
pub fn kernel() -> Option<Kernel> {
    let mem = fs::read_to_string("/proc/meminfo").ok()?;
    let sock = fs::read_to_string("/proc/net/sockstat").ok()?;
    Some(Kernel {
        slab_kib: meminfo(&mem, "Slab:")?,
        available_kib: meminfo(&mem, "MemAvailable:")?,
        tcp_mem_pages: sockstat(&sock, "mem").unwrap_or(0),
        tcp_inuse: sockstat(&sock, "inuse").unwrap_or(0),
    })
}

/// A kernel setting from /proc/sys (`kernel/pid_max`…).
pub fn sysctl(path: &str) -> Option<u64> {
    fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sockstat_and_meminfo() {
        let s =
            "sockets: used 180\nTCP: inuse 53 orphan 0 tw 2 alloc 60 mem 3\nUDP: inuse 1 mem 0\n";
        assert_eq!(sockstat(s, "inuse"), Some(53));
        assert_eq!(sockstat(s, "mem"), Some(3));
        let m = "MemTotal: 100 kB\nSlab:   850400 kB\nMemAvailable: 7 kB\n";
        assert_eq!(meminfo(m, "Slab:"), Some(850_400));
        assert_eq!(meminfo(m, "MemAvailable:"), Some(7));
    }

    #[test]
    fn this_process_is_its_own_tree() {
        let me = std::process::id();
        assert!(tree(me).contains(&me));
        let t = sample_tree(me);
        assert!(t.rss_kib > 0 && t.procs >= 1);
        assert!(kernel().is_some_and(|k| k.slab_kib > 0));
    }
}
